/**
 * Webhook configurations for the tests (url-based, pointing at 127.0.0.1, limited to one namespace)
 * and the pods they create.
 */
import { X509Certificate } from 'crypto';
import * as net from 'net';
import * as tls from 'tls';
import * as contract from '../../../src/contract';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

export const ADMISSION = '/apis/admissionregistration.k8s.io/v1';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A url-based pair of configurations for one webhook runner, limited to `namespace`. */
export function configurations(name: string, port: number, namespace: string): [Obj, Obj] {
  const common = {
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    timeoutSeconds: 5,
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
  };
  return [{
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: `${name}-pods` },
    webhooks: [{
      ...common,
      name: 'pods.serving.cdk8s-model-serving.io',
      clientConfig: { url: `https://127.0.0.1:${port}${contract.CONTROLLER_PATHS.mutatePods}` },
      // Only labelled pods are sent: an outage of the controller never blocks any other pod.
      objectSelector: { matchLabels: { [contract.POD_INJECTION.label]: 'true' } },
      failurePolicy: 'Fail',
      reinvocationPolicy: 'Never',
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
    }],
  }, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: `${name}-validation` },
    webhooks: [{
      ...common,
      name: 'resources.serving.cdk8s-model-serving.io',
      clientConfig: { url: `https://127.0.0.1:${port}${contract.CONTROLLER_PATHS.validate}` },
      failurePolicy: 'Fail',
      rules: [{
        apiGroups: [contract.CRD_GROUP],
        apiVersions: [contract.CRD_VERSION],
        operations: ['CREATE', 'UPDATE'],
        resources: Object.values(contract.CRD_KINDS).map((k) => k.plural),
        scope: 'Namespaced',
      }],
    }],
  }];
}

/** The serving certificate the webhook presents right now (a fresh TLS connection). */
export function presentedCertificate(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const der = socket.getPeerCertificate().raw;
      socket.end();
      resolve(new X509Certificate(der).fingerprint256);
    });
    socket.on('error', reject);
  });
}

export function labelledPod(name: string, annotations: Record<string, string> = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      labels: { [contract.POD_INJECTION.label]: 'true' },
      annotations: { [contract.POD_INJECTION.storageUriAnnotation]: 's3://models/iris/v1', ...annotations },
    },
    spec: { automountServiceAccountToken: false, containers: [{ name: 'model-server', image: 'example.com/sklearn:1' }] },
  };
}

export function plainPod(name: string): Obj {
  const pod = labelledPod(name);
  pod.metadata.labels = { app: 'unrelated' };
  pod.metadata.annotations = {};
  return pod;
}
