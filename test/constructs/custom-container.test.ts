/**
 * Custom containers (predictor, transformer, explainer) beyond our ONNX server: what used to go
 * wrong for users of other runtimes (issue 15).
 */
import { Chart, Duration, Testing } from 'cdk8s';
import { Secret } from 'cdk8s-plus-33';
import {
  CanaryRollout, DeploymentMode, ExplainerBackground, InferenceProtocol, KnativeFeature, ModelEndpoint, ModelEndpointProps,
  ModelFormat, StorageUri, TransformerModule,
} from '../../src';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const BAKED = { image: 'example/iris-sklearn-baked:1', port: 8080, readinessPath: '/v2/health/ready' };

function chart() {
  return new Chart(Testing.app(), 'test');
}

function endpoint(props: Partial<ModelEndpointProps>) {
  const c = chart();
  const e = new ModelEndpoint(c, 'Endpoint', { modelName: 'iris', name: 'iris', ...props });
  return { chart: c, endpoint: e };
}

function synth(props: Partial<ModelEndpointProps>) {
  const { chart: c, endpoint: e } = endpoint(props);
  const manifests = Testing.synth(c);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return { manifests, endpoint: e };
}

const podSpecOf = (manifests: any[], name = 'iris') => {
  const ksvc = findByKind(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name });
  return ksvc.length === 1 ? ksvc[0].spec.template.spec : findOne(manifests, 'Deployment', { name }).spec.template.spec;
};

describe('a custom container without storageUri (model baked into the image)', () => {
  test.each([DeploymentMode.SERVERLESS, DeploymentMode.RAW])('synthesizes in %s mode with no init container, no model volume and no flag', (mode) => {
    const { manifests } = synth({ mode, container: BAKED, format: ModelFormat.SKLEARN });
    const spec = podSpecOf(manifests);
    expect(spec.initContainers).toBeUndefined();
    expect(spec.volumes).toEqual([{ name: 'scratch', emptyDir: {} }]);
    expect(spec.containers[0].volumeMounts).toEqual([{ name: 'scratch', mountPath: '/tmp/scratch' }]);
    expect(spec.containers[0].image).toBe(BAKED.image);
    expect(spec.containers[0].args).toBeUndefined();
  });

  test('storage credentials are not mounted when nothing fetches a model', () => {
    const c = chart();
    new ModelEndpoint(c, 'Endpoint', {
      modelName: 'iris',
      name: 'iris',
      container: BAKED,
      format: ModelFormat.SKLEARN,
      storageCredentials: Secret.fromSecretName(c, 'Creds', 's3-creds'),
    });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    expect(JSON.stringify(podSpecOf(manifests))).not.toContain('s3-creds');
  });

  test('a CanaryRollout version may leave storageUri out too', () => {
    const c = chart();
    new CanaryRollout(c, 'Rollout', {
      modelName: 'iris',
      name: 'iris',
      mode: DeploymentMode.RAW,
      stable: { version: 'v1', container: BAKED, format: ModelFormat.SKLEARN },
      canary: { version: 'v2', container: { ...BAKED, image: 'example/iris-sklearn-baked:2' }, format: ModelFormat.SKLEARN },
    });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    for (const d of findByKind(manifests, 'Deployment')) expect(d.spec.template.spec.initContainers).toBeUndefined();
  });

  test('fails: our model server without storageUri, naming the prop and both fixes', () => {
    expect(() => endpoint({})).toThrow(/'storageUri' is required with our model server.*set 'storageUri', or set 'container' to an image that has the model baked in/);
  });

  test('fails: our explainer reading its background from the model dir of an endpoint without storageUri', () => {
    const props = { container: BAKED, format: ModelFormat.SKLEARN };
    expect(() => endpoint(props).endpoint.addExplainer({})).toThrow(/no 'storageUri'; set 'background' to ExplainerBackground.fromRows\(\)/);
    // With inline rows it works.
    const { chart: c, endpoint: e } = endpoint(props);
    e.addExplainer({ background: ExplainerBackground.fromRows([[1, 2, 3, 4]]) });
    expectValidManifests(Testing.synth(c));
  });
});

describe('custom explainers and transformers call a V1 predictor over V1', () => {
  const V1_PREDICTOR: Partial<ModelEndpointProps> = {
    protocol: InferenceProtocol.V1, container: BAKED, format: ModelFormat.SKLEARN,
  };

  test.each([DeploymentMode.SERVERLESS, DeploymentMode.RAW])('a custom explainer is accepted and told the predictor speaks v1 (%s)', (mode) => {
    const { chart: c, endpoint: e } = endpoint({ ...V1_PREDICTOR, mode });
    const explainer = e.addExplainer({ container: { image: 'example/alibi-explainer:1', args: ['--predictor_host', '$(PREDICTOR_HOST)'] } });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    expect(explainer.predictorProtocol).toBe(InferenceProtocol.V1);
    const env = podSpecOf(manifests, 'iris-explainer').containers[0].env;
    expect(env).toContainEqual({ name: 'PREDICTOR_PROTOCOL', value: 'v1' });
    expect(env).toContainEqual({ name: 'PREDICTOR_HOST', value: 'iris.default.svc.cluster.local:80' });
  });

  test('a custom transformer is accepted in front of a v1 custom predictor', () => {
    const { chart: c, endpoint: e } = endpoint(V1_PREDICTOR);
    const transformer = e.addTransformer({ container: { image: 'example/feast-transformer:1' } });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    expect(transformer.predictorProtocol).toBe(InferenceProtocol.V1);
    expect(podSpecOf(manifests, 'iris-transformer').containers[0].env).toContainEqual({ name: 'PREDICTOR_PROTOCOL', value: 'v1' });
  });

  test('fails: our own explainer in front of a v1 custom predictor, pointing to a container of your own', () => {
    const { endpoint: e } = endpoint(V1_PREDICTOR);
    expect(() => e.addExplainer({ background: ExplainerBackground.fromRows([[1]]) }))
      .toThrow(/our explainer calls the predictor over V2.*speaks v1; set the endpoint's 'protocol' to V2 or GRPC_V2, or give the explainer a 'container' of your own/);
  });

  test('our own transformer still uses our predictor protocols', () => {
    const { chart: c, endpoint: e } = endpoint({ storageUri: StorageUri.s3('models', 'iris') });
    e.addTransformer({ module: TransformerModule.fromCode('exports.preprocess = (r) => r;') });
    expectValidManifests(Testing.synth(c));
  });
});

describe('the init-container error in serverless mode', () => {
  test('fails with a list of the real ways out, and no pvc:// advice', () => {
    let message = '';
    try {
      endpoint({ container: BAKED, format: ModelFormat.SKLEARN, storageUri: StorageUri.s3('models', 'iris') });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^a custom 'container' with a downloaded 'storageUri' needs a storage-initializer init container/);
    expect(message).toMatch(/\(1\) enable the flag .*'knativeFeatures: \[KnativeFeature\.INIT_CONTAINERS\]'/);
    expect(message).toMatch(/\(2\) install the ModelServingController and set 'storageInitializerWebhook: true'/);
    expect(message).toMatch(/\(3\) use 'mode: DeploymentMode\.RAW'/);
    expect(message).toMatch(/\(4\) bake the model into the image and leave 'storageUri' unset/);
    expect(message).not.toMatch(/pvc/);
    expect(message).not.toMatch(/, or$/);
  });

  test('declaring the flag still works', () => {
    const { manifests } = synth({
      container: BAKED, format: ModelFormat.SKLEARN, storageUri: StorageUri.s3('models', 'iris'), knativeFeatures: [KnativeFeature.INIT_CONTAINERS],
    });
    expect(podSpecOf(manifests).initContainers.map((c: any) => c.name)).toEqual(['storage-initializer']);
  });
});

describe('liveness probes of custom containers', () => {
  test('serverless: an HTTP liveness probe on the serving port (Knative fills in the port)', () => {
    const { manifests } = synth({ container: { ...BAKED, livenessPath: '/v2/health/live' }, format: ModelFormat.SKLEARN });
    const c = podSpecOf(manifests).containers[0];
    expect(c.livenessProbe).toEqual({ httpGet: { path: '/v2/health/live' }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready' });
  });

  test('raw: the probe targets the container port, with the timings given', () => {
    const { manifests } = synth({
      mode: DeploymentMode.RAW,
      format: ModelFormat.SKLEARN,
      container: { image: 'example/tfserving:1', port: 8501, livenessPath: '/v1/models/iris', livenessPeriod: Duration.seconds(30), livenessFailureThreshold: 5 },
    });
    const c = podSpecOf(manifests).containers[0];
    expect(c.livenessProbe).toEqual({ httpGet: { path: '/v1/models/iris', port: 8501 }, periodSeconds: 30, timeoutSeconds: 2, failureThreshold: 5 });
    // Without a readiness path the readiness and startup probes stay TCP checks.
    expect(c.readinessProbe.tcpSocket).toEqual({ port: 8501 });
  });

  test('none by default, as before', () => {
    const { manifests } = synth({ container: BAKED, format: ModelFormat.SKLEARN });
    expect(podSpecOf(manifests).containers[0].livenessProbe).toBeUndefined();
  });

  test.each([DeploymentMode.SERVERLESS, DeploymentMode.RAW])('custom transformers and explainers get one too (%s)', (mode) => {
    const { chart: c, endpoint: e } = endpoint({ mode, container: BAKED, format: ModelFormat.SKLEARN });
    e.addTransformer({ container: { image: 'example/transformer:1', livenessPath: '/healthz' } });
    e.addExplainer({ container: { image: 'example/explainer:1', readinessPath: '/ready', livenessPath: '/healthz', livenessFailureThreshold: 6 } });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    const port = mode === DeploymentMode.RAW ? { port: 8080 } : {};
    expect(podSpecOf(manifests, 'iris-transformer').containers[0].livenessProbe)
      .toEqual({ httpGet: { path: '/healthz', ...port }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 });
    expect(podSpecOf(manifests, 'iris-explainer').containers[0].livenessProbe)
      .toEqual({ httpGet: { path: '/healthz', ...port }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 6 });
  });

  test.each<[string, object, RegExp]>([
    ['a path without a leading slash', { livenessPath: 'healthz' }, /'container.livenessPath' must be an HTTP path starting with '\/'.*got 'healthz'/],
    ['a sub-second period', { livenessPath: '/h', livenessPeriod: Duration.millis(500) }, /'container.livenessPeriod' must be a whole number of seconds, at least 1, got 500 ms/],
    ['a zero threshold', { livenessPath: '/h', livenessFailureThreshold: 0 }, /'container.livenessFailureThreshold' must be a positive integer, got 0/],
    ['timings without a path', { livenessPeriod: Duration.seconds(5) }, /tune the liveness probe of 'container.livenessPath', which is not set/],
  ])('fails: %s', (_name, liveness, message) => {
    expect(() => endpoint({ container: { ...BAKED, ...liveness }, format: ModelFormat.SKLEARN })).toThrow(message);
  });

  test("fails: a transformer's bad liveness path names the transformer's container", () => {
    const { endpoint: e } = endpoint({ container: BAKED, format: ModelFormat.SKLEARN });
    expect(() => e.addTransformer({ container: { image: 'example/t:1', livenessPath: 'x' } })).toThrow(/^the transformer's 'container.livenessPath' must be/);
  });
});

describe('custom transformers and explainers with a storageUri of their own', () => {
  test('raw: the transformer gets a storage-initializer init container with the endpoint credentials, and the model read-only', () => {
    const c = chart();
    const e = new ModelEndpoint(c, 'Endpoint', {
      modelName: 'iris',
      name: 'iris',
      mode: DeploymentMode.RAW,
      storageUri: StorageUri.s3('models', 'iris/model.onnx'),
      storageCredentials: Secret.fromSecretName(c, 'Creds', 's3-creds'),
    });
    e.addTransformer({ container: { image: 'example/tokenizer:1' }, storageUri: StorageUri.s3('models', 'iris/tokenizer') });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    const spec = podSpecOf(manifests, 'iris-transformer');
    expect(spec.initContainers).toHaveLength(1);
    const init = spec.initContainers[0];
    expect(init.name).toBe('storage-initializer');
    expect(init.args).toEqual(['storage-initializer', 's3://models/iris/tokenizer', '/mnt/models']);
    expect(init.volumeMounts).toEqual([
      { name: 'model-dir', mountPath: '/mnt/models', readOnly: false },
      { name: 'scratch', mountPath: '/tmp/scratch' },
      { name: 'storage-credentials', mountPath: '/var/run/secrets/model-storage', readOnly: true },
    ]);
    expect(init.env).toContainEqual({ name: 'STORAGE_CREDENTIALS_DIR', value: '/var/run/secrets/model-storage' });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models', readOnly: true });
    // The credentials are the init container's only.
    expect(JSON.stringify(spec.containers[0])).not.toContain('storage-credentials');
    expect(spec.volumes).toEqual([
      { name: 'scratch', emptyDir: {} },
      { name: 'model-dir', emptyDir: {} },
      { name: 'storage-credentials', secret: { secretName: 's3-creds', defaultMode: 0o444 } },
    ]);
  });

  test('serverless with the init-container flag: the explainer gets its model too', () => {
    const { chart: c, endpoint: e } = endpoint({ storageUri: StorageUri.s3('models', 'iris'), knativeFeatures: [KnativeFeature.INIT_CONTAINERS] });
    e.addExplainer({ container: { image: 'example/alibi:1' }, storageUri: StorageUri.gcs('explainers', 'iris/anchors') });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests, { knativeFlags: [KnativeFeature.INIT_CONTAINERS] });
    const spec = podSpecOf(manifests, 'iris-explainer');
    expect(spec.initContainers.map((i: any) => i.args[1])).toEqual(['gs://explainers/iris/anchors']);
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models', readOnly: true });
  });

  test('a pvc:// model is mounted read-only, with no init container', () => {
    const { chart: c, endpoint: e } = endpoint({ mode: DeploymentMode.RAW, storageUri: StorageUri.s3('models', 'iris') });
    e.addTransformer({ container: { image: 'example/tokenizer:1' }, storageUri: StorageUri.pvc('tokenizers', 'iris') });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    const spec = podSpecOf(manifests, 'iris-transformer');
    expect(spec.initContainers).toBeUndefined();
    expect(spec.volumes).toContainEqual({ name: 'model-dir', persistentVolumeClaim: { claimName: 'tokenizers', readOnly: true } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models', readOnly: true, subPath: 'iris' });
  });

  test('fails in serverless mode without the init-container flag, listing the ways out', () => {
    const { endpoint: e } = endpoint({ storageUri: StorageUri.s3('models', 'iris') });
    expect(() => e.addTransformer({ container: { image: 'example/t:1' }, storageUri: StorageUri.s3('models', 'tok') }))
      .toThrow(/^the transformer's custom 'container' with a downloaded 'storageUri' needs a storage-initializer init container.*\(3\) use 'mode: DeploymentMode.RAW'/);
  });

  test('fails with our own transformer or explainer, which need no model of their own', () => {
    const props = { storageUri: StorageUri.s3('models', 'iris'), mode: DeploymentMode.RAW };
    expect(() => endpoint(props).endpoint.addTransformer({ module: TransformerModule.fromCode('exports.preprocess = (r) => r;'), storageUri: StorageUri.s3('m', 't') }))
      .toThrow(/the transformer's 'storageUri' is for a 'container' of your own; our transformer needs no model of its own: remove 'storageUri', or set 'container'/);
    expect(() => endpoint(props).endpoint.addExplainer({ storageUri: StorageUri.s3('m', 't') })).toThrow(/the explainer's 'storageUri' is for a 'container' of your own/);
  });
});
