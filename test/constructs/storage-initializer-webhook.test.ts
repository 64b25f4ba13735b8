/**
 * `storageInitializerWebhook`: serverless custom containers ask the controller's pod webhook for the
 * storage initializer instead of needing Knative's init-container flag. The last tests run the
 * webhook's patch (in process) on the rendered template, as the API server would on each pod.
 */
import { Chart, JsonPatch, Size, Testing } from 'cdk8s';
import { Secret } from 'cdk8s-plus-33';
import {
  CanaryRollout, DeploymentMode, KnativeFeature, ModelEndpoint, ModelEndpointProps, ModelFormat, StorageAuth, StorageUri,
} from '../../src';
import * as contract from '../../src/contract';
import { podInjection } from '../../src/controller/webhook/pod-injection';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';
import { checkProjectDefaults, checkRestricted } from '../validation/pod-security';
import { offlineManifestErrors } from '../validation/schema-validator';

const URI = 's3://models/iris/model.joblib';
const CUSTOM: Partial<ModelEndpointProps> = {
  container: { image: 'example/sklearn-server:1', readinessPath: '/v1/models/iris' },
  format: ModelFormat.SKLEARN,
};
const A = contract.POD_INJECTION_ANNOTATIONS;

function synth(props: Partial<ModelEndpointProps> = {}) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'models' });
  new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: StorageUri.fromUri(URI), ...props });
  const manifests = Testing.synth(chart);
  // Knative's default feature flags only, unless the test declares more.
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return { manifests, chart };
}

const ksvcTemplate = (manifests: unknown[]) => findOne(manifests as any[], 'Service', { apiVersion: 'serving.knative.dev/v1' }).spec.template;

/**
 * The pod Knative would create from a revision template: the revision-only fields dropped and the
 * probes pointed at the container's port, as its revision reconciler does (its queue-proxy left out).
 */
function podOf(template: any): any {
  const { containerConcurrency: _cc, timeoutSeconds: _t, ...spec } = structuredClone(template.spec);
  for (const c of spec.containers) {
    for (const probe of ['readinessProbe', 'startupProbe', 'livenessProbe']) {
      if (c[probe]?.httpGet) c[probe].httpGet.port = c.ports[0].containerPort;
      if (c[probe]?.tcpSocket) c[probe].tcpSocket.port = c.ports[0].containerPort;
    }
  }
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'iris-00001-deployment-x', labels: template.metadata.labels, annotations: template.metadata.annotations }, spec };
}

describe('storageInitializerWebhook', () => {
  test('a serverless custom container asks the pod webhook instead of needing the Knative flag', () => {
    const template = ksvcTemplate(synth({ ...CUSTOM, storageInitializerWebhook: true }).manifests);
    expect(template.metadata.labels[contract.POD_INJECTION.label]).toBe('true');
    expect(template.metadata.annotations[contract.POD_INJECTION.storageUriAnnotation]).toBe(URI);
    expect(template.spec.initContainers).toBeUndefined();
    // The webhook adds the model volume and its mount; the template has neither.
    expect(template.spec.volumes.map((v: any) => v.name)).toEqual(['scratch']);
    expect(template.spec.containers[0].volumeMounts.map((m: any) => m.mountPath)).not.toContain(contract.MODEL_DIR);
  });

  test('the storage auth, credentials secret and ephemeral-storage limit travel as annotations', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'models' });
    new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      storageUri: StorageUri.fromUri(URI),
      ...CUSTOM,
      storageInitializerWebhook: true,
      storageAuth: StorageAuth.secret(Secret.fromSecretName(chart, 'Keys', 's3-keys')),
      resources: { ephemeralStorage: { limit: Size.gibibytes(4) } },
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const template = ksvcTemplate(manifests);
    expect(template.metadata.annotations).toEqual(expect.objectContaining({
      [A.storageCredentialsSecret]: 's3-keys', [A.storageAuth]: 'secret', [A.modelVolumeSizeLimit]: '4Gi',
    }));
    expect(template.spec.volumes.map((v: any) => v.name)).not.toContain('storage-credentials');
  });

  test('our model server fetches its own model: no label, whatever the prop', () => {
    const template = ksvcTemplate(synth({ storageInitializerWebhook: true }).manifests);
    expect(template.metadata.labels[contract.POD_INJECTION.label]).toBeUndefined();
    expect(template.spec.containers[0].args).toContain(URI);
  });

  test('raw mode keeps the init container in the template', () => {
    const { manifests } = synth({ ...CUSTOM, mode: DeploymentMode.RAW, storageInitializerWebhook: true });
    const template = findOne(manifests as any[], 'Deployment').spec.template;
    expect(template.metadata.labels[contract.POD_INJECTION.label]).toBeUndefined();
    expect(template.spec.initContainers.map((c: any) => c.name)).toEqual(['storage-initializer']);
  });

  test('a cluster that declares the Knative init-container flag keeps the init container in the template', () => {
    const template = ksvcTemplate(synth({ ...CUSTOM, storageInitializerWebhook: true, knativeFeatures: [KnativeFeature.INIT_CONTAINERS] }).manifests);
    expect(template.metadata.labels[contract.POD_INJECTION.label]).toBeUndefined();
    expect(template.spec.initContainers).toHaveLength(1);
  });

  test('fails without the prop or the flag, and the error names both ways out', () => {
    expect(() => synth(CUSTOM)).toThrow(/kubernetes\.podspec-init-containers/);
    expect(() => synth(CUSTOM)).toThrow(/'storageInitializerWebhook: true' with the ModelServingController installed/);
  });

  test('a CanaryRollout of custom containers labels its revision template with the newest version\'s URI', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'models' });
    const container = { image: 'example/sklearn-server:1' };
    new CanaryRollout(chart, 'Rollout', {
      name: 'iris',
      modelName: 'iris',
      storageInitializerWebhook: true,
      stable: { version: 'v1', storageUri: StorageUri.fromUri('s3://models/iris/v1'), container, format: ModelFormat.SKLEARN },
      canary: { version: 'v2', storageUri: StorageUri.fromUri('s3://models/iris/v2'), container, format: ModelFormat.SKLEARN },
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const template = ksvcTemplate(manifests);
    expect(template.metadata.labels[contract.POD_INJECTION.label]).toBe('true');
    expect(template.metadata.annotations[contract.POD_INJECTION.storageUriAnnotation]).toBe('s3://models/iris/v2');
    expect(template.spec.initContainers).toBeUndefined();
  });

  test('the webhook\'s patch on the rendered pod gives a restricted pod that fetches the model and serves it read-only', () => {
    const template = ksvcTemplate(synth({ ...CUSTOM, storageInitializerWebhook: true }).manifests);
    const pod = podOf(template);
    const outcome = podInjection(pod, { image: contract.DEFAULT_SERVER_IMAGE });
    if (outcome.kind !== 'patch') throw new Error(`expected a patch, got ${JSON.stringify(outcome)}`);
    const out = JsonPatch.apply(structuredClone(pod), ...outcome.patch.map((o) => JsonPatch.add(o.path, o.value)));
    expect([...offlineManifestErrors(out), ...checkRestricted(out), ...checkProjectDefaults(out)]).toEqual([]);
    expect(out.spec.initContainers[0].args).toEqual([contract.SERVER_COMMANDS.storageInitializer, URI, contract.MODEL_DIR]);
    expect(out.spec.containers[0].volumeMounts).toContainEqual({ name: 'model-dir', mountPath: contract.MODEL_DIR, readOnly: true });
  });
});
