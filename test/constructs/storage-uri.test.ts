// hf:// and oci:// storage URIs in the constructs (issue 15): parsing, the Hugging Face token,
// and the three ways an oci:// model reaches the pod (modelcar sidecar, image volume, fetch).
import { Chart, Size, Testing } from 'cdk8s';
import { Secret } from 'cdk8s-plus-33';
import {
  CanaryRollout, DeploymentMode, KnativeFeature, ModelEndpoint, ModelEndpointProps, ModelFormat, ModelImageMount, ModelMesh, ServingRuntime,
  StorageAuth, StorageUri,
} from '../../src';
import { findOne } from '../util';
import { expectValidManifests, validateManifests } from '../validation';
import { KUBERNETES_VERSIONS } from '../validation/schema-validator';

const IMAGE = 'registry.example.com/models/iris:v1';

function synth(props: Partial<ModelEndpointProps>) {
  const app = Testing.app();
  const chart = new Chart(app, 'test');
  new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: StorageUri.s3('models', 'iris'), ...props });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return manifests;
}

function podSpecOf(manifests: any[], mode: DeploymentMode): any {
  return mode === DeploymentMode.RAW
    ? findOne(manifests, 'Deployment').spec.template.spec
    : findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' }).spec.template.spec;
}

const server = (spec: any) => spec.containers.find((c: any) => c.name === 'model-server');

describe('hf:// URIs', () => {
  test.each([
    [StorageUri.hf('openai-community/gpt2'), 'hf://openai-community/gpt2'],
    [StorageUri.hf('openai-community/gpt2', 'v1.0'), 'hf://openai-community/gpt2@v1.0'],
    [StorageUri.hf('org/repo', 'a'.repeat(40)), `hf://org/repo@${'a'.repeat(40)}`],
    [StorageUri.fromUri('hf://org/repo:main'), 'hf://org/repo:main'],
  ])('%s parses as hf://, fetched rather than mounted', (uri, text) => {
    expect(uri.uri).toBe(text);
    expect(uri.scheme).toBe('hf');
    expect(uri.isMounted).toBe(false);
    expect(uri.modelImageMount).toBeUndefined();
  });

  test.each([
    ['hf://gpt2', /not a Hugging Face repo.*hf:\/\/<org>\/<repo>/],
    ['hf://org/repo/extra', /not a Hugging Face repo/],
    ['hf://-org/repo', /invalid org '-org'/],
    ['hf://org/re..po', /invalid repo name 're\.\.po'/],
    ['hf://org/repo@../../etc', /invalid revision '\.\.\/\.\.\/etc'/],
    ['hf://org/repo@a b', /invalid revision/],
  ])('fails: %s is refused with the fix', (uri, message) => {
    expect(() => StorageUri.fromUri(uri)).toThrow(message);
  });

  test('our server fetches an hf:// model itself, with the token mounted from a secret', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test');
    new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'gpt2',
      storageUri: StorageUri.hf('openai-community/gpt2', 'main'),
      storageAuth: StorageAuth.huggingFaceToken(Secret.fromSecretName(chart, 'Token', 'hf-token')),
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const spec = podSpecOf(manifests, DeploymentMode.SERVERLESS);
    const args: string[] = server(spec).args;
    expect(args[args.indexOf('--storage-uri') + 1]).toBe('hf://openai-community/gpt2@main');
    expect(spec.volumes).toContainEqual({ name: 'storage-credentials', secret: { secretName: 'hf-token', defaultMode: 0o444 } });
    expect(server(spec).env).toContainEqual({ name: 'STORAGE_CREDENTIALS_DIR', value: '/var/run/secrets/model-storage' });
    expect(server(spec).env).toContainEqual({ name: 'STORAGE_AUTH', value: 'secret' });
  });

  test('fails: a Hugging Face token for an s3:// model', () => {
    const chart = Testing.chart();
    expect(() => new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      storageUri: StorageUri.s3('models', 'iris'),
      storageAuth: StorageAuth.huggingFaceToken(Secret.fromSecretName(chart, 'Token', 'hf-token')),
    })).toThrow(/StorageAuth.huggingFaceToken\(\) reads hf:\/\/ storage, but 'storageUri' is 's3:\/\/models\/iris'/);
  });

  test('a runtime (MLServer) gets the storage initializer for hf://, with the token mounted there only', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test');
    new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      format: ModelFormat.SKLEARN,
      runtime: ServingRuntime.MLSERVER,
      storageUri: StorageUri.hf('acme/iris-sklearn', 'v1'),
      storageAuth: StorageAuth.huggingFaceToken(Secret.fromSecretName(chart, 'Token', 'hf-token')),
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const spec = podSpecOf(manifests, DeploymentMode.RAW);
    const [init] = spec.initContainers;
    expect(init.args).toEqual(['storage-initializer', 'hf://acme/iris-sklearn@v1', '/mnt/models']);
    expect(init.env).toContainEqual({ name: 'STORAGE_CREDENTIALS_DIR', value: '/var/run/secrets/model-storage' });
    expect(init.volumeMounts).toContainEqual({ name: 'storage-credentials', mountPath: '/var/run/secrets/model-storage', readOnly: true });
    // The runtime itself never sees the token.
    expect(server(spec).volumeMounts.map((m: any) => m.name)).not.toContain('storage-credentials');
  });

  test('a custom container gets the storage initializer for hf:// in raw mode', () => {
    const manifests = synth({
      mode: DeploymentMode.RAW,
      storageUri: StorageUri.hf('org/repo'),
      container: { image: 'example.com/server:1', port: 8080 },
      format: ModelFormat.SKLEARN,
    });
    const init = podSpecOf(manifests, DeploymentMode.RAW).initContainers;
    expect(init.map((c: any) => c.name)).toEqual(['storage-initializer']);
    expect(init[0].args).toEqual(['storage-initializer', 'hf://org/repo', '/mnt/models']);
  });
});

describe('oci:// URIs', () => {
  test.each([
    'registry.example.com/models/iris:v1',
    'localhost:5000/iris',
    'iris',
    'kserve/sklearn-modelcar:v1@sha256:' + 'a'.repeat(64),
    '[::1]:5000/models/iris:latest',
  ])('%s is an image reference', (ref) => {
    const uri = StorageUri.fromUri(`oci://${ref}`);
    expect(uri.scheme).toBe('oci');
    expect(uri.modelImageMount).toBe(ModelImageMount.MODELCAR);
    expect(uri.isMounted).toBe(true);
  });

  test.each(['Registry.example.com/Models/Iris:v1', 'example.com/iris:', 'example.com/iris@sha256:abc', 'example.com//iris'])('fails: oci://%s is not an image reference', (ref) => {
    expect(() => StorageUri.fromUri(`oci://${ref}`)).toThrow(/is not an OCI image reference; use 'oci:\/\/<registry>\/<repository>:<tag>'/);
  });

  test('fails: oci+fetch:// is an unsupported scheme, and the message lists the supported ones', () => {
    expect(() => StorageUri.fromUri('oci+fetch://registry.example.com/iris:v1'))
      .toThrow("'storageUri' has an unknown scheme 'oci+fetch://' in 'oci+fetch://registry.example.com/iris:v1': it is not supported; use one of s3://, gs://, https://, http://, pvc://, hf://, oci://");
  });

  test('StorageUri.oci() chooses the mount; FETCH is downloaded, not mounted', () => {
    expect(StorageUri.oci(IMAGE).modelImageMount).toBe(ModelImageMount.MODELCAR);
    const fetched = StorageUri.oci(IMAGE, { mount: ModelImageMount.FETCH });
    expect(fetched.uri).toBe(`oci://${IMAGE}`);
    expect(fetched.isMounted).toBe(false);
    expect(StorageUri.oci(IMAGE, { mount: ModelImageMount.IMAGE_VOLUME }).isMounted).toBe(true);
  });
});

describe('oci:// through a modelcar sidecar', () => {
  test('raw mode: a native sidecar links the model dir through /proc before the server starts; the pod shares its process namespace', () => {
    const manifests = synth({ mode: DeploymentMode.RAW, storageUri: StorageUri.fromUri(`oci://${IMAGE}`) });
    const spec = podSpecOf(manifests, DeploymentMode.RAW);
    expect(spec.shareProcessNamespace).toBe(true);
    expect(spec.containers.map((c: any) => c.name)).toEqual(['model-server']);
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['modelcar']);
    const sidecar = spec.initContainers[0];
    // A native sidecar: the kubelet starts the server once the startup probe sees the linked model dir.
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.startupProbe).toEqual({ exec: { command: ['sh', '-c', 'test -d /mnt/models/'] }, periodSeconds: 1, failureThreshold: 120 });
    expect(sidecar.image).toBe(IMAGE);
    // Kubernetes turns $$ into $: the shell gets $$, its own pid.
    expect(sidecar.command).toEqual(['sh', '-c', 'ln -sf /proc/$$$$/root/models /mnt/ && exec sleep infinity']);
    expect(sidecar.volumeMounts).toEqual([{ name: 'model-dir', mountPath: '/mnt' }]);
    expect(sidecar.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(spec.volumes).toContainEqual({ name: 'model-dir', emptyDir: {} });
    expect(server(spec).volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt', readOnly: true });
    expect(server(spec).args).not.toContain('--storage-uri');
    const args: string[] = server(spec).args;
    expect(args[args.indexOf('--model-dir') + 1]).toBe('/mnt/models');
    // Native sidecars (restartPolicy on an init container) are in the oldest supported release's schema too.
    expect(validateManifests(manifests, KUBERNETES_VERSIONS.oldest)).toEqual([]);
  });

  test('a runtime (MLServer) reads the model the modelcar links: no storage initializer, the native sidecar before it', () => {
    const manifests = synth({ mode: DeploymentMode.RAW, format: ModelFormat.SKLEARN, runtime: ServingRuntime.MLSERVER, storageUri: StorageUri.fromUri(`oci://${IMAGE}`) });
    const spec = podSpecOf(manifests, DeploymentMode.RAW);
    expect(spec.containers.map((c: any) => c.name)).toEqual(['model-server']);
    expect(server(spec).command).toEqual(['mlserver', 'start', '/mnt/models']);
    expect(server(spec).volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt', readOnly: true });
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['modelcar']);
  });

  test('fails: serverless without the shareProcessNamespace flag, and says which flag and the way out', () => {
    expect(() => synth({ storageUri: StorageUri.fromUri(`oci://${IMAGE}`) }))
      .toThrow(/ModelImageMount.MODELCAR \(ModelImageMount.FETCH needs no flag\) needs the Knative feature flag 'kubernetes.podspec-shareprocessnamespace'.*KnativeFeature.SHARE_PROCESS_NAMESPACE/);
  });

  test('serverless with the flag: a plain sidecar container (Knative takes no native sidecars), and no init container', () => {
    const manifests = synth({ storageUri: StorageUri.fromUri(`oci://${IMAGE}`), knativeFeatures: [KnativeFeature.SHARE_PROCESS_NAMESPACE] });
    const spec = podSpecOf(manifests, DeploymentMode.SERVERLESS);
    expect(spec.shareProcessNamespace).toBe(true);
    expect(spec.containers.map((c: any) => c.name)).toEqual(['model-server', 'modelcar']);
    expect(spec.initContainers).toBeUndefined();
    expect(spec.containers[1].restartPolicy).toBeUndefined();
    expect(spec.containers[1].startupProbe).toBeUndefined();
    // rt-finish: the sidecar may link the model dir after the server's first look; the server waits for it.
    const args: string[] = server(spec).args;
    expect(args[args.indexOf('--model-dir-wait-seconds') + 1]).toBe('120');
  });

  test('raw mode needs no wait: the native sidecar links the model dir before the server starts', () => {
    const spec = podSpecOf(synth({ mode: DeploymentMode.RAW, storageUri: StorageUri.fromUri(`oci://${IMAGE}`) }), DeploymentMode.RAW);
    expect(server(spec).args).not.toContain('--model-dir-wait-seconds');
  });

  test('a raw CanaryRollout gives each version its own modelcar', () => {
    const chart = Testing.chart();
    new CanaryRollout(chart, 'Rollout', {
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      stable: { version: 'v1', storageUri: StorageUri.fromUri('oci://registry.example.com/models/iris:v1') },
      canary: { version: 'v2', storageUri: StorageUri.fromUri('oci://registry.example.com/models/iris:v2') },
      trafficPercent: 10,
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const images = manifests.filter((m: any) => m.kind === 'Deployment').map((d: any) => {
      const spec = d.spec.template.spec;
      expect(spec.shareProcessNamespace).toBe(true);
      return spec.initContainers.find((c: any) => c.name === 'modelcar').image;
    });
    expect(images.sort()).toEqual(['registry.example.com/models/iris:v1', 'registry.example.com/models/iris:v2']);
  });

  test('fails: an explainer that reads its background from a modelcar model dir', () => {
    const chart = Testing.chart();
    const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: StorageUri.fromUri(`oci://${IMAGE}`), mode: DeploymentMode.RAW });
    expect(() => endpoint.addExplainer({})).toThrow(/modelcar, linked only in the predictor's pod; use ExplainerBackground.fromRows\(\)/);
  });
});

describe('oci:// as an image volume', () => {
  test('raw mode on Kubernetes 1.33: the image mounted read-only, its /models at the model dir', () => {
    const storageUri = StorageUri.oci(IMAGE, { mount: ModelImageMount.IMAGE_VOLUME });
    const manifests = synth({ mode: DeploymentMode.RAW, kubernetesVersion: '1.33', storageUri });
    const spec = podSpecOf(manifests, DeploymentMode.RAW);
    expect(spec.volumes).toContainEqual({ name: 'model-dir', image: { reference: IMAGE, pullPolicy: 'IfNotPresent' } });
    expect(server(spec).volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models', subPath: 'models', readOnly: true });
    expect(spec.shareProcessNamespace).toBeUndefined();
    expect(spec.containers.map((c: any) => c.name)).toEqual(['model-server']);
    expect(server(spec).args).not.toContain('--storage-uri');
    // The image volume source exists in the 1.33 and 1.36 schemas.
    expect(validateManifests(manifests, KUBERNETES_VERSIONS.newest)).toEqual([]);
  });

  test.each([[undefined, "'1.30' (the default)"], ['1.32', "'1.32'"]])('fails: kubernetesVersion %s is older than 1.33', (version, shown) => {
    const storageUri = StorageUri.oci(IMAGE, { mount: ModelImageMount.IMAGE_VOLUME });
    expect(() => synth({ mode: DeploymentMode.RAW, kubernetesVersion: version, storageUri }))
      .toThrow(`needs Kubernetes 1.33 or later, but 'kubernetesVersion' is ${shown}`);
  });

  test('fails: a kubernetesVersion that is not a version', () => {
    expect(() => synth({ kubernetesVersion: 'latest' })).toThrow("'kubernetesVersion' must be a Kubernetes version such as '1.33', got 'latest'");
  });

  test('fails: serverless without the image volume flag', () => {
    expect(() => synth({ kubernetesVersion: '1.33', storageUri: StorageUri.oci(IMAGE, { mount: ModelImageMount.IMAGE_VOLUME }) }))
      .toThrow(/needs the Knative feature flag 'kubernetes.podspec-volumes-image'.*KnativeFeature.IMAGE_VOLUMES/);
  });

  test('fails: storageAuth on a mounted image, which the kubelet pulls', () => {
    const chart = Testing.chart();
    expect(() => new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      storageUri: StorageUri.fromUri(`oci://${IMAGE}`),
      storageAuth: StorageAuth.secret(Secret.fromSecretName(chart, 'Pull', 'registry')),
    })).toThrow(/has no effect on a oci:\/\/ 'storageUri'.*pass the registry's Secret as 'imagePullSecrets', use ModelImageMount.FETCH/);
  });
});

describe('oci:// fetched by the storage initializer', () => {
  test('serverless under Knative defaults: our server pulls the image itself', () => {
    const manifests = synth({ storageUri: StorageUri.oci(IMAGE, { mount: ModelImageMount.FETCH }) });
    const spec = podSpecOf(manifests, DeploymentMode.SERVERLESS);
    const args: string[] = server(spec).args;
    expect(args[args.indexOf('--storage-uri') + 1]).toBe(`oci://${IMAGE}`);
    expect(spec.shareProcessNamespace).toBeUndefined();
  });

  test('a ModelMesh takes a fetched oci:// model and refuses a mounted one', () => {
    const chart = Testing.chart();
    const mesh = new ModelMesh(chart, 'Mesh', { memoryPerServer: Size.gibibytes(1) });
    expect(() => mesh.addModel({ name: 'iris', storageUri: StorageUri.oci(IMAGE, { mount: ModelImageMount.FETCH }), memoryEstimate: Size.mebibytes(64) })).not.toThrow();
    expect(() => mesh.addModel({ name: 'wine', storageUri: StorageUri.fromUri(`oci://${IMAGE}`), memoryEstimate: Size.mebibytes(64) }))
      .toThrow(/a mounted oci:\/\/ image is not supported.*ModelImageMount.FETCH/);
  });
});
