/**
 * ModelServingController: the whole install. Snapshot plus explicit assertions; every object passes
 * the strict offline validation (Pod Security restricted included) and the real API server's dry run
 * (test/cluster/jest-setup.ts); the RBAC covers every kind the constructs render, checked against the
 * API server's discovery.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Duration, Size, Testing } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-33';
import { parseAllDocuments } from 'yaml';

import { ModelServingController, ModelServingControllerProps, WebhookCertificateMode } from '../../src';
import * as contract from '../../src/contract';
import { renderCustomResource } from '../../src/controller/spec';
import { clusterClient } from '../cluster/server-check';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

function synth(props: ModelServingControllerProps = {}) {
  const app = Testing.app();
  const chart = new Chart(app, 'install');
  new ModelServingController(chart, 'Controller', props);
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests);
  return manifests;
}

/**
 * The install without the bodies of its CRDs, for the snapshots: every new prop changes the CRDs, which
 * test/controller/crd-generator.test.ts pins (the committed imports/cdk8s-model-serving-crds.yaml) and the
 * explicit assertions below compare with that file.
 */
const withoutCrdBodies = (manifests: any[]) => manifests.map(m => m.kind === 'CustomResourceDefinition' ? { ...m, spec: '(as in imports/cdk8s-model-serving-crds.yaml: expectGeneratedCrds)' } : m);
const GENERATED_CRDS = parseAllDocuments(fs.readFileSync(path.join(__dirname, '..', '..', 'imports', 'cdk8s-model-serving-crds.yaml'), 'utf8'))
  .map(d => d.toJSON()).filter(Boolean);

/** The install's CRDs are the generated ones, labelled with the install's labels. */
function expectGeneratedCrds(manifests: any[]) {
  const crds = findByKind(manifests, 'CustomResourceDefinition');
  expect(crds.map(c => c.metadata.name)).toEqual(GENERATED_CRDS.map(c => c.metadata.name));
  for (const crd of crds) {
    const generatedCrd = GENERATED_CRDS.find(c => c.metadata.name === crd.metadata.name);
    expect(crd.spec).toEqual(generatedCrd.spec);
    expect(crd.metadata.labels).toMatchObject({ ...generatedCrd.metadata.labels, [contract.LABELS.partOf]: contract.PART_OF });
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.versions.map((v: any) => ({ name: v.name, served: v.served, storage: v.storage, status: v.subresources?.status })))
      .toEqual([{ name: contract.CRD_VERSION, served: true, storage: true, status: {} }]);
  }
}

const deploymentOf = (m: any[]) => findOne(m, 'Deployment');
const containerOf = (m: any[]) => deploymentOf(m).spec.template.spec.containers[0];

describe('ModelServingController', () => {
  test('defaults: namespace, CRDs, RBAC, Deployment, webhook Service and configurations, PDB, NetworkPolicy, PodMonitor', () => {
    const manifests = synth();
    expect(withoutCrdBodies(manifests)).toMatchSnapshot();
    expectGeneratedCrds(manifests);
    expect(manifests.map(m => `${m.apiVersion}/${m.kind}`).sort()).toEqual([
      'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration',
      'admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration',
      'apiextensions.k8s.io/v1/CustomResourceDefinition',
      'apiextensions.k8s.io/v1/CustomResourceDefinition',
      'apiextensions.k8s.io/v1/CustomResourceDefinition',
      'apps/v1/Deployment',
      'monitoring.coreos.com/v1/PodMonitor',
      'networking.k8s.io/v1/NetworkPolicy',
      'policy/v1/PodDisruptionBudget',
      'rbac.authorization.k8s.io/v1/ClusterRole',
      'rbac.authorization.k8s.io/v1/ClusterRoleBinding',
      'rbac.authorization.k8s.io/v1/Role',
      'rbac.authorization.k8s.io/v1/RoleBinding',
      'v1/Namespace',
      'v1/Service',
      'v1/ServiceAccount',
    ]);
    expect(findByKind(manifests, 'CustomResourceDefinition').map(c => c.metadata.name).sort()).toEqual([
      'canaryrollouts.serving.cdk8s-model-serving.io', 'modelendpoints.serving.cdk8s-model-serving.io', 'modelmeshes.serving.cdk8s-model-serving.io',
    ]);
    const namespaced = manifests.filter(m => !['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].includes(m.kind));
    expect(new Set(namespaced.map(m => m.metadata.namespace))).toEqual(new Set([contract.CONTROLLER_DEFAULTS.namespace]));
    expect(findOne(manifests, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  test('the Deployment: 2 replicas, the controller command and flags, downward-API env, probes, requests and limits, restricted security', () => {
    const manifests = synth();
    const deployment = deploymentOf(manifests);
    expect(deployment.spec.replicas).toBe(2);
    const c = containerOf(manifests);
    expect(c.image).toBe(contract.DEFAULT_SERVER_IMAGE);
    expect(c.command).toEqual(['node', '/app/assets/tool/cli.js', 'controller']);
    expect(c.args).toEqual(expect.arrayContaining([
      '--leader-elect=true',
      '--webhook-cert-mode=self-signed',
      `--webhook-service=${contract.CONTROLLER_DEFAULTS.webhookService}`,
      `--tls-secret=${contract.CONTROLLER_DEFAULTS.tlsSecret}`,
      '--resync-seconds=300',
    ]));
    // Every flag passed is one the controller knows.
    const known = new Set(Object.values(contract.CONTROLLER_FLAGS));
    for (const arg of c.args) expect(known).toContain(arg.split('=')[0]);
    expect(c.env).toEqual([
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    ]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.ports).toEqual([
      { name: 'metrics', containerPort: 8080, protocol: 'TCP' },
      { name: 'webhook', containerPort: 9443, protocol: 'TCP' },
    ]);
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(deployment.spec.template.spec.serviceAccountName).toBe(contract.CONTROLLER_DEFAULTS.name);
    // No automounted token: a projected, expiring one where in-cluster clients read it.
    expect(deployment.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(c.volumeMounts).toContainEqual({ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true });
    const projected = deployment.spec.template.spec.volumes.find((v: any) => v.name === 'kube-api-access').projected.sources;
    expect(projected.map((s: any) => Object.keys(s)[0])).toEqual(['serviceAccountToken', 'configMap', 'downwardAPI']);
  });

  test('the validating webhook covers the three kinds on create and update, Fail, v1, no side effects, the validate path', () => {
    const vwc = findOne(synth(), 'ValidatingWebhookConfiguration');
    expect(vwc.metadata.name).toBe(contract.CONTROLLER_DEFAULTS.validatingWebhookConfiguration);
    expect(vwc.metadata.annotations).toBeUndefined();
    const [hook] = vwc.webhooks;
    expect(hook).toMatchObject({
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
      failurePolicy: 'Fail',
      timeoutSeconds: 5,
      clientConfig: {
        service: {
          name: contract.CONTROLLER_DEFAULTS.webhookService,
          namespace: contract.CONTROLLER_DEFAULTS.namespace,
          path: contract.CONTROLLER_PATHS.validate,
          port: 443,
        },
      },
      rules: [{ apiGroups: [contract.CRD_GROUP], apiVersions: ['v1alpha1'], operations: ['CREATE', 'UPDATE'], resources: ['modelendpoints', 'canaryrollouts', 'modelmeshes'], scope: 'Namespaced' }],
    });
    expect(hook.clientConfig.caBundle).toBeUndefined(); // the controller patches it in
  });

  test('the pod webhook: Fail for labelled pods only, never kube-system or its own namespace', () => {
    const mwc = findOne(synth(), 'MutatingWebhookConfiguration');
    const [hook] = mwc.webhooks;
    expect(hook).toMatchObject({
      failurePolicy: 'Fail',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 5,
      objectSelector: { matchLabels: { [contract.POD_INJECTION.label]: 'true' } },
      namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', contract.CONTROLLER_DEFAULTS.namespace] }] },
      rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
      clientConfig: { service: { path: contract.CONTROLLER_PATHS.mutatePods, port: 443 } },
    });
  });

  test('the webhook Service targets the webhook port; the NetworkPolicy admits only the webhook port and metrics from Prometheus', () => {
    const manifests = synth({ prometheusNamespace: 'observability' });
    const svc = findOne(manifests, 'Service');
    expect(svc.spec.ports).toEqual([{ name: 'webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' }]);
    const np = findOne(manifests, 'NetworkPolicy');
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([
      { ports: [{ protocol: 'TCP', port: 9443 }] },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }], ports: [{ protocol: 'TCP', port: 8080 }] },
    ]);
    expect(findOne(manifests, 'PodDisruptionBudget').spec.minAvailable).toBe(1);
    expect(findOne(manifests, 'PodMonitor').spec.podMetricsEndpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '30s' }]);
  });

  test('RBAC: named access to its Lease, TLS Secret and two webhook configurations; no Secrets or Pods cluster-wide', () => {
    const manifests = synth();
    const cluster = findOne(manifests, 'ClusterRole').rules;
    const role = findOne(manifests, 'Role').rules;
    const clusterResources = cluster.flatMap((r: any) => r.resources);
    expect(clusterResources).not.toContain('secrets');
    expect(clusterResources).not.toContain('pods');
    expect(cluster.filter((r: any) => r.resources.includes('*') || r.verbs.includes('*') || r.apiGroups.includes('*'))).toEqual([]);
    expect(cluster).toContainEqual({
      apiGroups: ['admissionregistration.k8s.io'],
      resources: ['validatingwebhookconfigurations'],
      verbs: ['get', 'patch', 'update'],
      resourceNames: [contract.CONTROLLER_DEFAULTS.validatingWebhookConfiguration],
    });
    expect(cluster).toContainEqual({ apiGroups: [contract.CRD_GROUP], resources: ['modelendpoints/status', 'canaryrollouts/status', 'modelmeshes/status'], verbs: ['get', 'patch', 'update'] });
    expect(role).toContainEqual({ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update', 'patch'], resourceNames: [contract.CONTROLLER_DEFAULTS.leaseName] });
    expect(role).toContainEqual({ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'update', 'patch'], resourceNames: [contract.CONTROLLER_DEFAULTS.tlsSecret] });
    expect(findOne(manifests, 'RoleBinding').subjects).toEqual([{ kind: 'ServiceAccount', name: contract.CONTROLLER_DEFAULTS.name, namespace: contract.CONTROLLER_DEFAULTS.namespace }]);
  });

  test('RBAC covers every kind the constructs render for every mode, ingress, component and monitoring choice (resources from the API server\'s discovery)', async () => {
    const api = 'serving.cdk8s-model-serving.io/v1alpha1';
    const cr = (kind: string, spec: unknown) => ({ apiVersion: api, kind, metadata: { name: 'rbac', namespace: 'models' }, spec });
    const base = { modelName: 'iris', storageUri: 's3://models/iris' };
    const components = { transformer: { module: { code: { code: 'exports.preprocess = (x) => x;' } } }, explainer: {} };
    const versions = { modelName: 'iris', stable: { version: 'v1', storageUri: 's3://m/v1' }, canary: { version: 'v2', storageUri: 's3://m/v2' } };
    const security = { strictMtls: true, jwt: { issuer: 'https://issuer.example.com', jwksUri: 'https://issuer.example.com/jwks' } };
    const resources = [
      cr('ModelEndpoint', { ...base, ...components }),
      cr('ModelEndpoint', { ...base, ...components, mode: 'RawDeployment', ingress: { istio: {} } }),
      cr('ModelEndpoint', { ...base, mode: 'RawDeployment', ingress: { gatewayApi: { gatewayName: 'public' } } }),
      cr('ModelEndpoint', { ...base, mode: 'RawDeployment', ingress: { kubernetes: {} } }),
      cr('ModelEndpoint', { ...base, mode: 'RawDeployment', autoscaler: 'keda', kedaPrometheusAddress: 'http://prometheus:9090' }),
      cr('ModelEndpoint', { ...base, mode: 'RawDeployment', autoscaler: 'keda', minReplicas: 0, ingress: { kubernetes: {} } }),
      // Through KEDA's interceptor with Gateway API: the ReferenceGrant in KEDA's namespace.
      cr('ModelEndpoint', { ...base, mode: 'RawDeployment', autoscaler: 'keda', minReplicas: 0, ingress: { gatewayApi: { gatewayName: 'public' } } }),
      cr('CanaryRollout', { ...versions, security }),
      cr('CanaryRollout', { ...versions, mode: 'RawDeployment', security }),
      cr('CanaryRollout', { ...versions, mode: 'RawDeployment', ingress: { gatewayApi: { gatewayName: 'public' } } }),
      cr('CanaryRollout', { ...versions, mode: 'RawDeployment', autoscaler: 'keda', kedaPrometheusAddress: 'http://prometheus:9090' }),
      cr('ModelMesh', { memoryPerServer: '1Gi', replicas: 2, maxReplicas: 4, ingress: { istio: {} }, models: [{ name: 'iris', storageUri: 's3://m/iris', memoryEstimate: '64Mi' }] }),
    ];
    const kinds = new Set<string>();
    for (const r of resources) for (const o of renderCustomResource(r)) kinds.add(`${o.apiVersion} ${o.kind}`);
    const client = await clusterClient();
    try {
      const rules = findOne(synth(), 'ClusterRole').rules as any[];
      const uncovered: string[] = [];
      for (const gvk of [...kinds].sort()) {
        const [apiVersion, kind] = gvk.split(' ');
        const resource = await client.resourceFor(apiVersion, kind);
        expect(resource).toBeDefined();
        const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
        const ok = rules.some(r => r.apiGroups.includes(group) && r.resources.includes(resource.name) && ['get', 'list', 'watch', 'create', 'patch', 'delete'].every(v => r.verbs.includes(v)));
        if (!ok) uncovered.push(`${group || 'core'}/${resource.name} (${kind})`);
      }
      expect(uncovered).toEqual([]);
      expect(kinds.size).toBeGreaterThanOrEqual(15);
    } finally {
      client.close();
    }
  }, 360_000); // the test cluster may still be starting

  test('cert-manager: a Certificate for the Service\'s DNS names, a self-signed Issuer, and the inject-ca-from annotation on both configurations', () => {
    const manifests = synth({ certificateMode: WebhookCertificateMode.CERT_MANAGER });
    const ns = contract.CONTROLLER_DEFAULTS.namespace;
    const svc = contract.CONTROLLER_DEFAULTS.webhookService;
    const cert = findOne(manifests, 'Certificate');
    expect(cert.spec).toMatchObject({
      secretName: contract.CONTROLLER_DEFAULTS.tlsSecret,
      dnsNames: [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`],
      issuerRef: { kind: 'Issuer', name: findOne(manifests, 'Issuer').metadata.name },
    });
    expect(findOne(manifests, 'Issuer').spec).toEqual({ selfSigned: {} });
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      expect(findOne(manifests, kind).metadata.annotations).toEqual({ 'cert-manager.io/inject-ca-from': `${ns}/${cert.metadata.name}` });
    }
    expect(containerOf(manifests).args).toContain('--webhook-cert-mode=cert-manager');
    // cert-manager writes the Secret; the controller only reads it.
    expect(findOne(manifests, 'Role').rules.filter((r: any) => r.resources.includes('secrets')))
      .toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [contract.CONTROLLER_DEFAULTS.tlsSecret] }]);
  });

  test('full: every prop', () => {
    const manifests = synth({
      namespace: 'serving-system',
      createNamespace: false,
      image: 'registry.example.com/model-server:1.2.3',
      replicas: 3,
      resources: { cpu: { request: Cpu.millis(200), limit: Cpu.units(2) }, memory: { request: Size.mebibytes(256), limit: Size.gibibytes(1) } },
      watchNamespace: 'models',
      certificateMode: WebhookCertificateMode.CERT_MANAGER,
      certManagerIssuer: 'corp-ca',
      certManagerClusterIssuer: true,
      storageInitializerImage: 'registry.example.com/storage-initializer:1.2.3',
      resyncPeriod: Duration.minutes(10),
      webhookTimeout: Duration.seconds(10),
      monitoring: false,
      prometheusNamespace: 'observability',
      prometheusLabels: { release: 'kube-prometheus-stack' },
      prometheusUrl: 'http://prometheus-operated.observability:9090',
    });
    expect(withoutCrdBodies(manifests)).toMatchSnapshot();
    expectGeneratedCrds(manifests);
    expect(findByKind(manifests, 'Namespace')).toEqual([]);
    expect(findByKind(manifests, 'Issuer')).toEqual([]);
    expect(findByKind(manifests, 'PodMonitor')).toEqual([]);
    expect(findOne(manifests, 'Certificate').spec.issuerRef).toEqual({ group: 'cert-manager.io', kind: 'ClusterIssuer', name: 'corp-ca' });
    expect(deploymentOf(manifests).spec.replicas).toBe(3);
    expect(containerOf(manifests).args).toEqual(expect.arrayContaining([
      '--watch-namespace=models', '--storage-initializer-image=registry.example.com/storage-initializer:1.2.3', '--resync-seconds=600',
      '--prometheus-url=http://prometheus-operated.observability:9090',
    ]));
    expect(containerOf(manifests).resources).toEqual({ requests: { cpu: '200m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } });
    expect(findOne(manifests, 'ValidatingWebhookConfiguration').webhooks[0].timeoutSeconds).toBe(10);
    expect(findOne(manifests, 'MutatingWebhookConfiguration').webhooks[0].namespaceSelector.matchExpressions[0].values).toEqual(['kube-system', 'serving-system']);
  });

  test('without webhooks: no webhook Service, configurations or TLS access; the controller runs with --webhook-cert-mode=none', () => {
    const manifests = synth({ webhooks: false });
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'Service', 'Certificate']) expect(findByKind(manifests, kind)).toEqual([]);
    expect(containerOf(manifests).args).toContain('--webhook-cert-mode=none');
    const rules = [...findOne(manifests, 'ClusterRole').rules, ...findOne(manifests, 'Role').rules];
    expect(rules.flatMap((r: any) => r.resources)).not.toEqual(expect.arrayContaining(['secrets']));
    expect(rules.flatMap((r: any) => r.resources)).not.toEqual(expect.arrayContaining(['validatingwebhookconfigurations']));
    expect(findOne(manifests, 'NetworkPolicy').spec.ingress.map((i: any) => i.ports[0].port)).toEqual([8080]);
    expect(() => new ModelServingController(new Chart(Testing.app(), 'i'), 'C', { webhooks: false, certificateMode: WebhookCertificateMode.CERT_MANAGER }))
      .toThrow("'certificateMode' and 'webhookTimeout' configure the webhooks, but 'webhooks' is false");
  });

  test('fails on replicas below 1, a cert-manager issuer without cert-manager, and a webhook timeout above 30 seconds', () => {
    const chart = () => new Chart(Testing.app(), 'install');
    expect(() => new ModelServingController(chart(), 'C', { replicas: 0 })).toThrow(/'replicas' must be a positive integer, got 0/);
    expect(() => new ModelServingController(chart(), 'C', { prometheusUrl: 'prometheus:9090' })).toThrow("'prometheusUrl' must be an absolute http:// or https:// URL, got 'prometheus:9090'");
    expect(() => new ModelServingController(chart(), 'C', { certManagerIssuer: 'ca' })).toThrow(/'certManagerIssuer' and 'certManagerClusterIssuer' need 'certificateMode: WebhookCertificateMode.CERT_MANAGER'/);
    expect(() => new ModelServingController(chart(), 'C', { webhookTimeout: Duration.seconds(31) })).toThrow(/'webhookTimeout' must be at most 30 seconds/);
    expect(() => new ModelServingController(chart(), 'C', { namespace: 'Bad_NS' })).toThrow(/'namespace'/);
  });
});
