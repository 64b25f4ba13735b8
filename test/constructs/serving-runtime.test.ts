import { Chart, Size, Testing } from 'cdk8s';
import { Cpu, EnvValue } from 'cdk8s-plus-33';
import {
  CanaryRollout, DeploymentMode, EndpointIngress, InferenceProtocol, KnativeFeature, ModelEndpoint, ModelEndpointProps, ModelFormat, ModelMesh,
  ExplainerBackground, RuntimeCatalog, RuntimeCatalogProps, ServingRuntime, ServingRuntimeOptions, StorageUri, TransformerModule,
} from '../../src';
import { findOne } from '../util';
import { checkRestricted, expectValidManifests, ValidationOptions } from '../validation';

const SKLEARN_MODEL = StorageUri.s3('models', 'iris/model.joblib');

function synth(props: Partial<ModelEndpointProps>, mode = DeploymentMode.SERVERLESS, options: ValidationOptions = {}) {
  const app = Testing.app();
  const chart = new Chart(app, 'test');
  const knativeFeatures = mode === DeploymentMode.SERVERLESS ? [KnativeFeature.INIT_CONTAINERS] : undefined;
  const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: SKLEARN_MODEL, mode, knativeFeatures, ...props });
  const manifests = Testing.synth(chart);
  // Schema, Pod Security restricted, project defaults, and Knative's default flags plus exactly the declared ones.
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures ?? knativeFeatures, ...options });
  return { manifests, endpoint };
}

function podSpecOf(manifests: any[], mode: DeploymentMode): any {
  return mode === DeploymentMode.SERVERLESS
    ? findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' }).spec.template.spec
    : findOne(manifests, 'Deployment').spec.template.spec;
}

function envOf(container: any): Record<string, string> {
  return Object.fromEntries((container.env as any[]).map(e => [e.name, e.value]));
}

describe('format picks the runtime (KServe rule)', () => {
  test('sklearn over V2 gets MLServer: priority 2 beats the sklearn server\'s 1', () => {
    const { endpoint, manifests } = synth({ format: ModelFormat.SKLEARN });
    expect(endpoint.runtime?.name).toBe('kserve-mlserver');
    const c = podSpecOf(manifests, DeploymentMode.SERVERLESS).containers[0];
    expect(c.image).toBe('docker.io/seldonio/mlserver:1.7.1');
    expect(c.command).toEqual(['mlserver', 'start', '/mnt/models']);
    expect(envOf(c)).toMatchObject({
      MLSERVER_MODEL_IMPLEMENTATION: 'mlserver_sklearn.SKLearnModel',
      MLSERVER_MODEL_NAME: 'iris',
      MLSERVER_MODEL_URI: '/mnt/models',
      MLSERVER_HTTP_PORT: '8080',
      MLSERVER_GRPC_PORT: '9000',
      MLSERVER_METRICS_PORT: '8082',
    });
  });

  test('sklearn over V1 gets the KServe sklearn server: MLServer does not speak V1', () => {
    const { endpoint, manifests } = synth({ format: ModelFormat.SKLEARN, protocol: InferenceProtocol.V1 });
    expect(endpoint.runtime?.name).toBe('kserve-sklearnserver');
    const c = podSpecOf(manifests, DeploymentMode.SERVERLESS).containers[0];
    expect(c.image).toBe('kserve/sklearnserver:v0.15.2');
    expect(c.command).toEqual(['python', '-m', 'sklearnserver']);
    expect(c.args).toEqual(['--model_name=iris', '--model_dir=/mnt/models', '--http_port=8080', '--grpc_port=8081']);
  });

  test.each([
    [ModelFormat.SKLEARN, InferenceProtocol.V2, 'kserve-mlserver'],
    [ModelFormat.SKLEARN.withVersion('1'), InferenceProtocol.V1, 'kserve-sklearnserver'],
    [ModelFormat.XGBOOST, InferenceProtocol.V2, 'kserve-mlserver'],
    [ModelFormat.XGBOOST, InferenceProtocol.V1, 'kserve-xgbserver'],
    [ModelFormat.LIGHTGBM, InferenceProtocol.V1, 'kserve-lgbserver'],
    [ModelFormat.TENSORFLOW, InferenceProtocol.V1, 'kserve-tensorflow-serving'],
    [ModelFormat.TENSORFLOW, InferenceProtocol.GRPC_V1, 'kserve-tensorflow-serving'],
    // TF Serving has the higher priority but no V2: Triton.
    [ModelFormat.TENSORFLOW, InferenceProtocol.V2, 'kserve-tritonserver'],
    [ModelFormat.PYTORCH, InferenceProtocol.V2, 'kserve-torchserve'],
    [ModelFormat.TENSORRT, InferenceProtocol.GRPC_V2, 'kserve-tritonserver'],
    [ModelFormat.HUGGINGFACE, InferenceProtocol.V1, 'kserve-huggingfaceserver'],
    [ModelFormat.ONNX, InferenceProtocol.V2, 'cdk8s-model-server'],
    // rt-finish: our server declares ONNX version 1, as Triton does, and ranks higher.
    [ModelFormat.ONNX.withVersion('1'), InferenceProtocol.V2, 'cdk8s-model-server'],
    [ModelFormat.ONNX.withVersion('1'), InferenceProtocol.V1, 'cdk8s-model-server'],
    [ModelFormat.ONNX.withVersion('1'), InferenceProtocol.GRPC_V2, 'cdk8s-model-server'],
  ])('%s over %s gets %s', (format, protocol, name) => {
    // TorchServe's writable root fails the project default (not Pod Security): checked per runtime below.
    const { endpoint } = synth({ format, protocol, storageUri: StorageUri.s3('models', 'm') }, DeploymentMode.RAW, { projectDefaults: name !== 'kserve-torchserve' });
    expect(endpoint.runtime?.name).toBe(name);
  });

  test('runtime overrides the pick', () => {
    const { endpoint } = synth({ format: ModelFormat.SKLEARN, runtime: ServingRuntime.SKLEARN_SERVER });
    expect(endpoint.runtime?.name).toBe('kserve-sklearnserver');
  });

  test('ONNX keeps our model server', () => {
    const { endpoint, manifests } = synth({ storageUri: StorageUri.s3('models', 'iris/model.onnx') });
    expect(endpoint.runtime).toBe(ServingRuntime.MODEL_SERVER);
    expect(podSpecOf(manifests, DeploymentMode.SERVERLESS).initContainers).toBeUndefined();
  });

  test('fails for a format no runtime serves, listing runtimes and formats', () => {
    expect(() => synth({ format: ModelFormat.custom('pmml') })).toThrow(
      /no runtime serves 'format' pmml\. The runtimes and their formats: cdk8s-model-server \(onnx:1\); kserve-tensorflow-serving \(tensorflow:1, tensorflow:2\);.*kserve-mlserver \(sklearn:0, sklearn:1,/);
  });

  test('fails for a runtime that does not serve the format, naming both', () => {
    expect(() => synth({ format: ModelFormat.SKLEARN, runtime: ServingRuntime.TRITON })).toThrow(
      /'runtime' kserve-tritonserver does not serve 'format' sklearn; it serves tensorrt:8, tensorflow:1, tensorflow:2, onnx:1, pytorch:1, triton:2/);
  });

  test('fails for a runtime that does not speak the protocol, naming both', () => {
    expect(() => synth({ format: ModelFormat.SKLEARN, runtime: ServingRuntime.MLSERVER, protocol: InferenceProtocol.V1 })).toThrow(
      /'runtime' kserve-mlserver does not speak 'protocol' v1; it speaks v2, grpc-v2/);
  });
});

/** What each built-in runtime must synthesize: exact image, command and args, ports and probe paths. */
interface Expected {
  readonly runtime: ServingRuntime;
  readonly format: ModelFormat;
  readonly storageUri: StorageUri;
  readonly protocol: InferenceProtocol;
  readonly image: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly env?: Record<string, string>;
  readonly httpPort: number;
  readonly grpcPort: number;
  /** Raw mode: container ports by name. */
  readonly rawPorts: Record<string, number>;
  readonly readinessPath?: string;
  readonly livenessPath?: string;
  readonly metrics?: { port: number; path: string };
  readonly writableRoot?: boolean;
}

/** What KServe's Python servers (sklearn, XGBoost, LightGBM, Hugging Face) share: ports, V2 health paths, metrics on the HTTP port. */
const KSERVE_PYTHON_SERVER = {
  httpPort: 8080,
  grpcPort: 8081,
  rawPorts: { http: 8080, grpc: 8081 },
  readinessPath: '/v2/models/iris/ready',
  livenessPath: '/v2/health/live',
  metrics: { port: 8080, path: '/metrics' },
};

const RUNTIMES: Array<[string, Expected]> = [
  ['MLServer', {
    runtime: ServingRuntime.MLSERVER,
    format: ModelFormat.XGBOOST,
    storageUri: StorageUri.s3('models', 'xgb/model.json'),
    protocol: InferenceProtocol.V2,
    image: 'docker.io/seldonio/mlserver:1.7.1',
    command: ['mlserver', 'start', '/mnt/models'],
    args: undefined,
    env: { MLSERVER_MODEL_IMPLEMENTATION: 'mlserver_xgboost.XGBoostModel', MLSERVER_HTTP_PORT: '8080', MLSERVER_GRPC_PORT: '9000' },
    httpPort: 8080,
    grpcPort: 9000,
    rawPorts: { http: 8080, grpc: 9000, metrics: 8082 },
    readinessPath: '/v2/models/iris/ready',
    livenessPath: '/v2/health/live',
    metrics: { port: 8082, path: '/metrics' },
  }],
  ['the KServe sklearn server', {
    runtime: ServingRuntime.SKLEARN_SERVER,
    format: ModelFormat.SKLEARN,
    storageUri: SKLEARN_MODEL,
    protocol: InferenceProtocol.V1,
    image: 'kserve/sklearnserver:v0.15.2',
    command: ['python', '-m', 'sklearnserver'],
    args: ['--model_name=iris', '--model_dir=/mnt/models', '--http_port=8080', '--grpc_port=8081'],
    ...KSERVE_PYTHON_SERVER,
  }],
  ['the KServe XGBoost server', {
    runtime: ServingRuntime.XGBOOST_SERVER,
    format: ModelFormat.XGBOOST,
    storageUri: StorageUri.s3('models', 'xgb/model.bst'),
    protocol: InferenceProtocol.V2,
    image: 'kserve/xgbserver:v0.15.2',
    command: ['python', '-m', 'xgbserver'],
    args: ['--model_name=iris', '--model_dir=/mnt/models', '--http_port=8080', '--grpc_port=8081', '--nthread=1'],
    ...KSERVE_PYTHON_SERVER,
  }],
  ['the KServe LightGBM server', {
    runtime: ServingRuntime.LIGHTGBM_SERVER,
    format: ModelFormat.LIGHTGBM,
    storageUri: StorageUri.s3('models', 'lgb/model.bst'),
    protocol: InferenceProtocol.V1,
    image: 'kserve/lgbserver:v0.15.2',
    command: ['python', '-m', 'lgbserver'],
    args: ['--model_name=iris', '--model_dir=/mnt/models', '--http_port=8080', '--grpc_port=8081', '--nthread=1'],
    ...KSERVE_PYTHON_SERVER,
  }],
  ['the KServe Hugging Face server', {
    runtime: ServingRuntime.HUGGINGFACE_SERVER,
    format: ModelFormat.HUGGINGFACE,
    storageUri: StorageUri.s3('models', 'bert'),
    protocol: InferenceProtocol.V2,
    image: 'kserve/huggingfaceserver:v0.15.2',
    command: ['python3', '-m', 'huggingfaceserver'],
    args: ['--model_name=iris', '--model_dir=/mnt/models', '--http_port=8080', '--grpc_port=8081'],
    env: { HF_HOME: '/tmp/scratch/huggingface' },
    ...KSERVE_PYTHON_SERVER,
  }],
  ['TF Serving', {
    runtime: ServingRuntime.TENSORFLOW_SERVING,
    format: ModelFormat.TENSORFLOW,
    storageUri: StorageUri.s3('models', 'mnist'),
    protocol: InferenceProtocol.V1,
    image: 'tensorflow/serving:2.6.2',
    command: ['/usr/bin/tensorflow_model_server'],
    args: ['--model_name=iris', '--port=9000', '--rest_api_port=8080', '--model_base_path=/mnt/models', '--rest_api_timeout_in_ms=60000'],
    httpPort: 8080,
    grpcPort: 9000,
    rawPorts: { http: 8080, grpc: 9000 },
    readinessPath: '/v1/models/iris',
    livenessPath: undefined,
    metrics: undefined,
  }],
  ['TorchServe', {
    runtime: ServingRuntime.TORCHSERVE,
    format: ModelFormat.PYTORCH,
    storageUri: StorageUri.s3('models', 'mnist-ts'),
    protocol: InferenceProtocol.V2,
    image: 'pytorch/torchserve-kfs:0.9.0',
    command: undefined,
    args: ['torchserve', '--start', '--model-store=/mnt/models/model-store', '--ts-config=/mnt/models/config/config.properties'],
    env: { TS_SERVICE_ENVELOPE: 'kservev2' },
    httpPort: 8080,
    grpcPort: 8081,
    rawPorts: { http: 8080, grpc: 8081, metrics: 8082 },
    readinessPath: '/v1/models/iris',
    livenessPath: undefined,
    metrics: { port: 8082, path: '/metrics' },
    writableRoot: true,
  }],
  ['Triton', {
    runtime: ServingRuntime.TRITON,
    format: ModelFormat.TENSORRT,
    storageUri: StorageUri.s3('models', 'triton-repo'),
    protocol: InferenceProtocol.V2,
    image: 'nvcr.io/nvidia/tritonserver:23.05-py3',
    command: undefined,
    args: ['tritonserver', '--model-store=/mnt/models', '--grpc-port=9000', '--http-port=8080', '--allow-grpc=true', '--allow-http=true'],
    httpPort: 8080,
    grpcPort: 9000,
    rawPorts: { http: 8080, grpc: 9000, metrics: 8002 },
    readinessPath: '/v2/models/iris/ready',
    livenessPath: '/v2/health/live',
    metrics: { port: 8002, path: '/metrics' },
  }],
];

describe.each(RUNTIMES)('%s', (_name, x) => {
  test.each([DeploymentMode.SERVERLESS, DeploymentMode.RAW])('synthesizes a valid %s endpoint: image, command, args, ports, probes', (mode) => {
    // GIVEN / WHEN
    const props = { runtime: x.runtime, format: x.format, storageUri: x.storageUri, protocol: x.protocol };
    const { manifests, endpoint } = synth(props, mode, { projectDefaults: !x.writableRoot });

    // THEN
    expect(endpoint.runtime?.name).toBe(x.runtime.name);
    const pod = podSpecOf(manifests, mode);
    const c = pod.containers[0];
    expect(c.image).toBe(x.image);
    expect(c.command).toEqual(x.command);
    expect(c.args).toEqual(x.args);
    expect(envOf(c)).toMatchObject(x.env ?? {});
    const serverless = mode === DeploymentMode.SERVERLESS;
    if (serverless) {
      expect(c.ports).toEqual([{ name: 'http1', containerPort: x.httpPort, protocol: 'TCP' }]);
    } else {
      expect(Object.fromEntries(c.ports.map((p: any) => [p.name, p.containerPort]))).toEqual(x.rawPorts);
      const svc = findOne(manifests, 'Service', { apiVersion: 'v1' });
      expect(Object.fromEntries(svc.spec.ports.map((p: any) => [p.name, p.targetPort]))).toMatchObject({ http: x.httpPort, grpc: x.grpcPort });
    }
    const port = serverless ? {} : { port: x.httpPort };
    const expectProbe = (probe: any, path: string | undefined) => {
      if (path) expect(probe.httpGet).toEqual({ path, ...port });
      else expect(probe.tcpSocket).toEqual(serverless ? {} : { port: x.httpPort });
    };
    expectProbe(c.readinessProbe, x.readinessPath);
    expectProbe(c.startupProbe, x.readinessPath);
    expectProbe(c.livenessProbe, x.livenessPath);
    // The storage initializer fetches the model into the volume the runtime reads.
    expect(pod.initContainers.map((i: any) => i.name)).toEqual(['storage-initializer']);
    expect(pod.initContainers[0].args).toEqual(['storage-initializer', x.storageUri.uri, '/mnt/models']);
    expect(c.volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models', readOnly: true });
    // Pod Security restricted always; a writable root only where the runtime needs one.
    const workload = serverless ? findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' }) : findOne(manifests, 'Deployment');
    expect(checkRestricted(workload)).toEqual([]);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(!x.writableRoot);
    expect(c.securityContext.runAsNonRoot).toBe(true);
  });

  test('in serverless mode, a downloaded model needs Knative\'s init-container flag, off by default', () => {
    expect(() => synth({ runtime: x.runtime, format: x.format, storageUri: x.storageUri, protocol: x.protocol, knativeFeatures: [] })).toThrow(
      new RegExp(`runtime ${x.runtime.name} with a downloaded 'storageUri' needs a storage-initializer init container .*'kubernetes\\.podspec-init-containers'`));
  });

  test('monitoring scrapes the runtime\'s metrics port and path, or leaves the monitor out and says so', () => {
    const props = { runtime: x.runtime, format: x.format, storageUri: x.storageUri, protocol: x.protocol };
    const { manifests, endpoint } = synth(props, DeploymentMode.RAW, { projectDefaults: !x.writableRoot });
    const rule = findOne(manifests, 'PrometheusRule');
    const alerts = rule.spec.groups[0].rules.map((r: any) => r.alert);
    // Replicas come from kube-state-metrics, so a failing scrape never reads as no replicas.
    expect(rule.spec.groups[0].rules.find((r: any) => r.alert === 'ModelEndpointNoReadyReplicas').expr).toBe(`sum(kube_deployment_status_replicas_available{deployment=~"${endpoint.name}"}) < 1`);
    expect(alerts).not.toContain('ModelEndpointModelLoadFailures');
    expect(endpoint.monitoring?.omitted).toContainEqual(expect.stringMatching(/^ModelEndpointModelLoadFailures and the model-load panels: /));
    if (x.metrics) {
      const monitor = findOne(manifests, 'ServiceMonitor');
      const servicePort = x.metrics.port === x.httpPort ? 'http' : 'metrics';
      expect(monitor.spec.endpoints[0]).toMatchObject({ port: servicePort, path: x.metrics.path });
    } else {
      expect(manifests.filter(m => m.kind === 'ServiceMonitor')).toEqual([]);
      expect(endpoint.monitoring?.monitor).toBeUndefined();
      expect(endpoint.monitoring?.omitted[0]).toBe(`monitor and scraped series: ${x.runtime.name} publishes no Prometheus metrics`);
    }
  });
});

describe('routing a runtime\'s own gRPC service', () => {
  const TF = { runtime: ServingRuntime.TENSORFLOW_SERVING, format: ModelFormat.TENSORFLOW, storageUri: StorageUri.s3('models', 'mnist'), protocol: InferenceProtocol.GRPC_V1 };

  test('serverless: the VirtualService routes TF Serving\'s PredictionService and ModelService; Knative exposes its h2c port', () => {
    const { manifests } = synth(TF);
    const route = findOne(manifests, 'VirtualService').spec.http.find((h: any) => h.name === 'predictor');
    expect(route.match).toEqual([
      { uri: { prefix: '/tensorflow.serving.PredictionService/' } },
      { uri: { prefix: '/tensorflow.serving.ModelService/' } },
    ]);
    const c = podSpecOf(manifests, DeploymentMode.SERVERLESS).containers[0];
    expect(c.ports).toEqual([{ name: 'h2c', containerPort: 9000, protocol: 'TCP' }]);
    // Knative allows probes on the serving port only, which speaks gRPC here: TCP checks.
    expect(c.readinessProbe).toEqual({ tcpSocket: {}, periodSeconds: 5, failureThreshold: 3 });
  });

  test('raw: the VirtualService sends the services to the Service\'s grpc port, which targets 9000; REST probes stay on 8080', () => {
    const { manifests, endpoint } = synth({ ...TF, ingress: EndpointIngress.istio() }, DeploymentMode.RAW);
    const route = findOne(manifests, 'VirtualService').spec.http.find((h: any) => h.name === 'predictor');
    expect(route.match.map((m: any) => m.uri.prefix)).toEqual(['/tensorflow.serving.PredictionService/', '/tensorflow.serving.ModelService/']);
    expect(route.route[0].destination).toEqual({ host: `${endpoint.name}.default.svc.cluster.local`, port: { number: 8081 } });
    const svc = findOne(manifests, 'Service', { apiVersion: 'v1' });
    expect(svc.spec.ports.find((p: any) => p.name === 'grpc')).toMatchObject({ port: 8081, targetPort: 9000, appProtocol: 'grpc' });
    const c = podSpecOf(manifests, DeploymentMode.RAW).containers[0];
    expect(c.readinessProbe.httpGet).toEqual({ path: '/v1/models/iris', port: 8080 });
  });

  test('Open Inference gRPC on a runtime routes inference.GRPCInferenceService', () => {
    const { manifests } = synth({ runtime: ServingRuntime.TRITON, format: ModelFormat.ONNX, storageUri: StorageUri.s3('models', 'repo'), protocol: InferenceProtocol.GRPC_V2 });
    const route = findOne(manifests, 'VirtualService').spec.http.find((h: any) => h.name === 'predictor');
    expect(route.match).toEqual([{ uri: { prefix: '/inference.GRPCInferenceService/' } }]);
  });

  test('fails: our model server does not speak grpc-v1', () => {
    expect(() => synth({ storageUri: StorageUri.s3('models', 'm.onnx'), protocol: InferenceProtocol.GRPC_V1 })).toThrow(
      /no runtime serves 'format' onnx over 'protocol' grpc-v1: cdk8s-model-server speaks v1, v2, grpc-v2.*Set 'protocol' to one of v1, v2, grpc-v2/);
  });
});

describe('RuntimeCatalog: the runtimes a platform allows', () => {
  function synthIn(catalog: RuntimeCatalogProps, props: Partial<ModelEndpointProps>) {
    const app = Testing.app();
    new RuntimeCatalog(app, 'Runtimes', catalog);
    const chart = new Chart(app, 'test');
    const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: SKLEARN_MODEL, mode: DeploymentMode.RAW, ...props });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    return { endpoint, manifests, app };
  }

  // rt-finish: where our server is not allowed, or the ONNX version is not one it declares, Triton's entry decides.
  test('ONNX: Triton wins where only it matches', () => {
    const onnx = StorageUri.s3('models', 'iris/model.onnx');
    const withoutOurs = synthIn({ runtimes: [ServingRuntime.TRITON, ServingRuntime.MLSERVER] }, { format: ModelFormat.ONNX.withVersion('1'), storageUri: onnx });
    expect(withoutOurs.endpoint.runtime?.name).toBe('kserve-tritonserver');
    const unversioned = synthIn({ runtimes: [ServingRuntime.TRITON, ServingRuntime.MLSERVER] }, { format: ModelFormat.ONNX, storageUri: onnx });
    expect(unversioned.endpoint.runtime?.name).toBe('kserve-tritonserver');
    // With both allowed, our server ranks first for versioned and unversioned ONNX alike.
    for (const format of [ModelFormat.ONNX, ModelFormat.ONNX.withVersion('1')]) {
      const both = synthIn({ runtimes: [ServingRuntime.TRITON, ServingRuntime.MODEL_SERVER] }, { format, storageUri: onnx });
      expect(both.endpoint.runtime).toBe(ServingRuntime.MODEL_SERVER);
    }
  });

  test('ONNX version 2, which no runtime declares, is an error naming the versions served', () => {
    expect(() => synthIn({}, { format: ModelFormat.ONNX.withVersion('2'), storageUri: StorageUri.s3('models', 'iris/model.onnx') }))
      .toThrow(/no runtime serves 'format' onnx:2 in the RuntimeCatalog 'Runtimes'\. The runtimes and their formats: cdk8s-model-server \(onnx:1\);.*kserve-tritonserver \(tensorrt:8, tensorflow:1, tensorflow:2, onnx:1,/);
  });

  test('the pick comes from the catalog: without MLServer, sklearn over V2 gets the sklearn server', () => {
    const { endpoint } = synthIn({ runtimes: [ServingRuntime.MODEL_SERVER, ServingRuntime.SKLEARN_SERVER] }, { format: ModelFormat.SKLEARN });
    expect(endpoint.runtime?.name).toBe('kserve-sklearnserver');
  });

  test('the registry mirror replaces every image\'s registry, Docker Hub\'s implicit one included (a one-word image gets library/)', () => {
    const { manifests } = synthIn({ imageRegistry: 'mirror.example.com:5000/hub' }, { format: ModelFormat.SKLEARN });
    const pod = podSpecOf(manifests, DeploymentMode.RAW);
    expect(pod.containers[0].image).toBe('mirror.example.com:5000/hub/seldonio/mlserver:1.7.1');
    // The storage initializer in front of the runtime comes through the mirror too.
    expect(pod.initContainers[0].image).toBe('mirror.example.com:5000/hub/cdk8s-model-serving/model-server:0.0.0-test'); // the tag under jest: test/release/test-version.ts
    const tf = synthIn({ imageRegistry: 'mirror.example.com' }, { runtime: ServingRuntime.TENSORFLOW_SERVING, storageUri: StorageUri.s3('m', 'tf'), protocol: InferenceProtocol.V1 });
    expect(podSpecOf(tf.manifests, DeploymentMode.RAW).containers[0].image).toBe('mirror.example.com/tensorflow/serving:2.6.2');
    const ours = synthIn({ imageRegistry: 'mirror.example.com' }, { storageUri: StorageUri.s3('m', 'model.onnx') });
    expect(podSpecOf(ours.manifests, DeploymentMode.RAW).containers[0].image).toBe('mirror.example.com/cdk8s-model-serving/model-server:0.0.0-test'); // the tag under jest: test/release/test-version.ts
    const official = new RuntimeCatalog(Testing.app(), 'C', { imageRegistry: 'mirror.example.com', runtimes: [ServingRuntime.MLSERVER.withImage('python:3.12')] });
    expect(official.runtimes[0].image).toBe('mirror.example.com/library/python:3.12');
  });

  test('the catalog\'s resources apply to endpoints that set none', () => {
    const resources = { cpu: { request: Cpu.units(2), limit: Cpu.units(4) }, memory: { request: Size.gibibytes(2), limit: Size.gibibytes(4) } };
    const { manifests } = synthIn({ resources: { 'kserve-mlserver': resources } }, { format: ModelFormat.SKLEARN });
    expect(podSpecOf(manifests, DeploymentMode.RAW).containers[0].resources).toEqual({ requests: { cpu: '2', memory: '2Gi' }, limits: { cpu: '4', memory: '4Gi' } });
  });

  test('the nearest catalog wins: a chart\'s overrides the app\'s', () => {
    const app = Testing.app();
    new RuntimeCatalog(app, 'Runtimes', { runtimes: [ServingRuntime.MODEL_SERVER] });
    const chart = new Chart(app, 'test');
    new RuntimeCatalog(chart, 'Runtimes', { runtimes: [ServingRuntime.MODEL_SERVER, ServingRuntime.MLSERVER] });
    const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: SKLEARN_MODEL, format: ModelFormat.SKLEARN, mode: DeploymentMode.RAW });
    expect(endpoint.runtime?.name).toBe('kserve-mlserver');
    expect(RuntimeCatalog.of(endpoint)?.node.path).toBe('test/Runtimes');
  });

  test('fails: a runtime the catalog does not allow', () => {
    const allowed = { runtimes: [ServingRuntime.MODEL_SERVER, ServingRuntime.SKLEARN_SERVER] };
    expect(() => synthIn(allowed, { format: ModelFormat.SKLEARN, runtime: ServingRuntime.MLSERVER })).toThrow(
      /runtime 'kserve-mlserver' is not allowed by the RuntimeCatalog 'Runtimes', which allows cdk8s-model-server, kserve-sklearnserver/);
  });

  test('fails: a format no allowed runtime serves names the catalog', () => {
    expect(() => synthIn({ runtimes: [ServingRuntime.MODEL_SERVER] }, { format: ModelFormat.SKLEARN })).toThrow(
      /no runtime serves 'format' sklearn in the RuntimeCatalog 'Runtimes'\. The runtimes and their formats: cdk8s-model-server \(onnx:1\)\./);
  });

  test.each<[string, RuntimeCatalogProps, RegExp]>([
    ['an empty list', { runtimes: [] }, /'runtimes' must list at least one runtime/],
    ['a runtime twice', { runtimes: [ServingRuntime.MLSERVER, ServingRuntime.MLSERVER] }, /'runtimes' lists runtime 'kserve-mlserver' twice/],
    ['resources for an unlisted runtime', { runtimes: [ServingRuntime.MODEL_SERVER], resources: { 'kserve-mlserver': {} } }, /'resources' names runtime 'kserve-mlserver', which 'runtimes' does not list/],
    ['a bad registry', { imageRegistry: 'https://mirror' }, /'imageRegistry' must be a registry host/],
  ])('fails: %s', (_name, props, message) => {
    expect(() => new RuntimeCatalog(Testing.app(), 'Runtimes', props)).toThrow(message);
  });

  test('fails: two catalogs in one scope', () => {
    const app = Testing.app();
    new RuntimeCatalog(app, 'A');
    expect(() => new RuntimeCatalog(app, 'B')).toThrow(/already has a RuntimeCatalog \('A'\)/);
  });
});

describe('ServingRuntime.custom()', () => {
  const MY_RUNTIME: ServingRuntimeOptions = {
    name: 'my-pmml',
    image: 'registry.example.com/pmml-server:1.2.3',
    command: ['pmml-server'],
    args: ['--name={{modelName}}', '--dir={{ modelDir }}', '--port={{httpPort}}', '--protocol={{protocol}}'],
    env: { MODEL_NAME: '{{modelName}}' },
    httpPort: 9090,
    protocols: [InferenceProtocol.V2],
    formats: [{ format: ModelFormat.custom('pmml', '4') }],
    readinessPath: '/v2/models/{{modelName}}/ready',
    metrics: { port: 9091, failureCounter: 'pmml_failures_total', requestCounter: 'pmml_requests_total' },
  };

  test('fills in its placeholders per endpoint and is picked for its format', () => {
    const runtime = ServingRuntime.custom(MY_RUNTIME);
    const app = Testing.app();
    new RuntimeCatalog(app, 'Runtimes', { runtimes: [ServingRuntime.MODEL_SERVER, runtime] });
    const chart = new Chart(app, 'test');
    const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'churn', storageUri: StorageUri.s3('m', 'churn'), format: ModelFormat.custom('pmml'), mode: DeploymentMode.RAW });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    expect(endpoint.runtime).toBe(runtime);
    const c = podSpecOf(manifests, DeploymentMode.RAW).containers[0];
    expect(c.command).toEqual(['pmml-server']);
    expect(c.args).toEqual(['--name=churn', '--dir=/mnt/models', '--port=9090', '--protocol=v2']);
    expect(envOf(c).MODEL_NAME).toBe('churn');
    expect(c.readinessProbe.httpGet).toEqual({ path: '/v2/models/churn/ready', port: 9090 });
    // No liveness path: a TCP check of the serving port.
    expect(c.livenessProbe.tcpSocket).toEqual({ port: 9090 });
    const rule = findOne(manifests, 'PrometheusRule').spec.groups[0].rules;
    expect(rule.find((r: any) => r.alert === 'ModelEndpointHighErrorRatio').expr).toBe(
      '(sum (rate(pmml_failures_total{endpoint="' + endpoint.name + '",component="predictor"}[5m])) or sum (rate(pmml_requests_total{endpoint="' + endpoint.name
      + '",component="predictor"}[5m])) * 0) / sum (rate(pmml_requests_total{endpoint="' + endpoint.name + '",component="predictor"}[5m])) > 0.05');
    expect(findOne(manifests, 'ServiceMonitor').spec.endpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics' });
  });

  test('the endpoint\'s env overrides a runtime variable', () => {
    const { manifests } = synth({ format: ModelFormat.SKLEARN, env: { MLSERVER_METRICS_PORT: EnvValue.fromValue('9999') } }, DeploymentMode.RAW);
    const env = podSpecOf(manifests, DeploymentMode.RAW).containers[0].env.filter((e: any) => e.name === 'MLSERVER_METRICS_PORT');
    expect(env).toEqual([{ name: 'MLSERVER_METRICS_PORT', value: '9999' }]);
  });

  test('withImage pins another image and keeps the rest', () => {
    const newer = ServingRuntime.MLSERVER.withImage('docker.io/seldonio/mlserver:1.7.2');
    expect(newer.image).toBe('docker.io/seldonio/mlserver:1.7.2');
    expect(newer.name).toBe('kserve-mlserver');
    const { manifests } = synth({ format: ModelFormat.SKLEARN, runtime: newer });
    expect(podSpecOf(manifests, DeploymentMode.SERVERLESS).containers[0].env).toContainEqual({ name: 'MLSERVER_MODEL_IMPLEMENTATION', value: 'mlserver_sklearn.SKLearnModel' });
  });

  test.each<[string, Partial<ServingRuntimeOptions>, RegExp]>([
    ['an unknown placeholder', { args: ['--x={{modelPath}}'] }, /runtime 'my-pmml': 'args' uses the unknown placeholder '\{\{modelPath\}\}'; use one of \{\{modelName\}\}/],
    ['REST without an HTTP port', { httpPort: undefined }, /runtime 'my-pmml': speaks REST \(v2\) but has no 'httpPort'/],
    ['gRPC without a gRPC port', { protocols: [InferenceProtocol.GRPC_V2] }, /speaks gRPC \(grpc-v2\) but has no 'grpcPort'/],
    ['grpc-v1 without services', { protocols: [InferenceProtocol.GRPC_V1], grpcPort: 9000 }, /speaks grpc-v1 \(its own gRPC service\) but names no 'grpcServices'/],
    ['a bad service name', { protocols: [InferenceProtocol.GRPC_V1], grpcPort: 9000, grpcServices: ['Predict'] }, /'grpcServices' must hold fully qualified service names/],
    ['no formats', { formats: [] }, /'formats' must name at least one model format/],
    ['a bad name', { name: 'My_Runtime' }, /name must be a DNS-1123 label, got 'My_Runtime'/],
    ['a port out of range', { httpPort: 70000 }, /'httpPort' must be an integer from 1 to 65535, got 70000/],
  ])('fails: %s', (_name, override, message) => {
    expect(() => ServingRuntime.custom({ ...MY_RUNTIME, ...override })).toThrow(message);
  });
});

describe('the model files a runtime expects', () => {
  test('fails: a storage URI naming a file the runtime cannot load, with the layout it expects', () => {
    expect(() => synth({ format: ModelFormat.SKLEARN, storageUri: StorageUri.s3('models', 'iris/model.onnx') })).toThrow(
      /'storageUri' names the file 'model.onnx', but runtime kserve-mlserver loads .joblib, .pkl.* files \(it expects the model file \(model.joblib/);
  });

  test('a folder or an archive is not checked: the runtime reads what it unpacks to', () => {
    expect(synth({ format: ModelFormat.SKLEARN, storageUri: StorageUri.s3('models', 'iris') }).endpoint.runtime?.name).toBe('kserve-mlserver');
    expect(synth({ format: ModelFormat.SKLEARN, storageUri: StorageUri.s3('models', 'iris.tar.gz') }).endpoint.runtime?.name).toBe('kserve-mlserver');
  });
});

describe('escape hatches and other props', () => {
  test('fails: runtime and container together', () => {
    expect(() => synth({ runtime: ServingRuntime.MLSERVER, container: { image: 'mine:1' } })).toThrow(/set 'runtime' \(kserve-mlserver\) or 'container' \(mine:1\), not both/);
  });

  test('fails: serverImage with a third-party runtime points to withImage', () => {
    expect(() => synth({ format: ModelFormat.SKLEARN, serverImage: 'x:1' })).toThrow(/'serverImage' sets our model server's image, but the endpoint runs kserve-mlserver; use 'runtime: ServingRuntime.<RUNTIME>.withImage/);
  });

  test('a custom container still serves any format, without a runtime', () => {
    const { endpoint } = synth({ format: ModelFormat.custom('pmml'), container: { image: 'pmml:1', readinessPath: '/ready' } });
    expect(endpoint.runtime).toBeUndefined();
  });

  test('TorchServe\'s writable root can be made read-only with readOnlyRootFilesystem (at the cost of TorchServe\'s logs)', () => {
    const { manifests } = synth({ runtime: ServingRuntime.TORCHSERVE, storageUri: StorageUri.s3('m', 'ts'), readOnlyRootFilesystem: true }, DeploymentMode.RAW);
    expect(podSpecOf(manifests, DeploymentMode.RAW).containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
  });

  test('a transformer in front of a runtime may call it over any protocol the runtime answers on its Service', () => {
    const { endpoint } = synth({ format: ModelFormat.SKLEARN, protocol: InferenceProtocol.V1 }, DeploymentMode.RAW);
    const t = endpoint.addTransformer({ container: { image: 'my-transformer:1' }, predictorProtocol: InferenceProtocol.V2 });
    expect(t.predictorProtocol).toBe(InferenceProtocol.V2);
    expect(() => endpoint.addExplainer({ container: { image: 'my-explainer:1' } })).not.toThrow();
  });
});

describe('our transformer and explainer in front of a runtime', () => {
  const TF_GRPC = { runtime: ServingRuntime.TENSORFLOW_SERVING, storageUri: StorageUri.s3('m', 'tf'), protocol: InferenceProtocol.GRPC_V1 };

  test('fails: our transformer cannot call TF Serving\'s own gRPC service, and names what it can call', () => {
    const { endpoint } = synth(TF_GRPC, DeploymentMode.RAW);
    expect(() => endpoint.addTransformer({ module: TransformerModule.fromImagePath('/app/t.js') })).toThrow(
      /our transformer cannot call the predictor over grpc-v1 \(a runtime's own gRPC service\); set 'predictorProtocol' to one of v1, or use your own 'container'/);
  });

  test('our transformer calls TF Serving over V1 REST when asked to', () => {
    const { endpoint } = synth(TF_GRPC, DeploymentMode.RAW);
    const t = endpoint.addTransformer({ module: TransformerModule.fromImagePath('/app/t.js'), predictorProtocol: InferenceProtocol.V1 });
    expect(t.predictorHost).toBe(`${endpoint.name}.default.svc.cluster.local:80`);
  });

  test('fails: our explainer needs V2, which TF Serving does not speak', () => {
    const { endpoint } = synth(TF_GRPC, DeploymentMode.RAW);
    expect(() => endpoint.addExplainer()).toThrow(/our explainer calls the predictor over V2 .* but the endpoint's predictor speaks/);
  });

  test('our explainer calls MLServer over V2', () => {
    const { endpoint } = synth({ format: ModelFormat.SKLEARN }, DeploymentMode.RAW);
    expect(endpoint.addExplainer({ background: ExplainerBackground.fromRows([[0, 0, 0, 0]]) }).predictorProtocol).toBe(InferenceProtocol.V2);
  });
});

describe('CanaryRollout with runtimes', () => {
  test('each version runs its runtime; the rollout\'s alerts come from kube-state-metrics per version Deployment', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test', { namespace: 'models' });
    const rollout = new CanaryRollout(chart, 'Rollout', {
      name: 'churn',
      modelName: 'churn',
      mode: DeploymentMode.RAW,
      stable: { version: 'v1', storageUri: StorageUri.s3('m', 'churn/v1'), format: ModelFormat.SKLEARN },
      canary: { version: 'v2', storageUri: StorageUri.s3('m', 'churn/v2'), format: ModelFormat.SKLEARN, runtime: ServingRuntime.MLSERVER.withImage('docker.io/seldonio/mlserver:1.7.2') },
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const images = manifests.filter(m => m.kind === 'Deployment').map(d => [d.metadata.name, d.spec.template.spec.containers[0].image]);
    expect(Object.fromEntries(images)).toEqual({ 'churn-v1': 'docker.io/seldonio/mlserver:1.7.1', 'churn-v2': 'docker.io/seldonio/mlserver:1.7.2' });
    const noReady = findOne(manifests, 'PrometheusRule').spec.groups[0].rules.find((r: any) => r.alert === 'ModelEndpointNoReadyReplicas');
    expect(noReady.expr).toBe('sum(kube_deployment_status_replicas_available{namespace="models",deployment=~"churn-v1|churn-v2"}) < 1');
    expect(rollout.monitoring?.omitted).toContainEqual(expect.stringMatching(/^ModelEndpointCanaryErrorRatio and ModelEndpointCanaryLatency/));
  });
});

describe('CanaryRollout with runtimes, serverless', () => {
  test('the canary revision runs its own runtime; the init-container flag is declared; alerts count the revisions\' Deployments', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test', { namespace: 'models' });
    new CanaryRollout(chart, 'Rollout', {
      name: 'mnist',
      modelName: 'mnist',
      knativeFeatures: [KnativeFeature.INIT_CONTAINERS],
      protocol: InferenceProtocol.V1,
      stable: { version: 'v1', storageUri: StorageUri.s3('m', 'mnist/v1'), format: ModelFormat.TENSORFLOW },
      canary: { version: 'v2', storageUri: StorageUri.s3('m', 'mnist/v2'), format: ModelFormat.TENSORFLOW, runtime: ServingRuntime.TENSORFLOW_SERVING.withImage('tensorflow/serving:2.18.0') },
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests, { knativeFlags: [KnativeFeature.INIT_CONTAINERS] });
    const ksvc = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' });
    // The template is the canary's revision.
    expect(ksvc.spec.template.metadata.name).toBe('mnist-v2');
    expect(ksvc.spec.template.spec.containers[0].image).toBe('tensorflow/serving:2.18.0');
    const noReady = findOne(manifests, 'PrometheusRule').spec.groups[0].rules.find((r: any) => r.alert === 'ModelEndpointNoReadyReplicas');
    expect(noReady.expr).toBe('sum(kube_deployment_status_replicas_available{namespace="models",deployment=~"mnist-.+-deployment"}) < 1');
  });
});

describe('ModelMesh and runtimes', () => {
  test('fails: a non-ONNX model names the runtimes a ModelEndpoint would use instead', () => {
    const mesh = new ModelMesh(new Chart(Testing.app(), 'test'), 'Mesh', { memoryPerServer: Size.gibibytes(1) });
    expect(() => mesh.addModel({ name: 'iris', storageUri: SKLEARN_MODEL, memoryEstimate: Size.mebibytes(64), format: ModelFormat.SKLEARN })).toThrow(
      /does not run \(it serves ONNX\); a ModelMesh's members run only our model server, which routes between peers: serve it with a ModelEndpoint \(runtimes for sklearn: kserve-sklearnserver, kserve-mlserver\)/);
  });

  test('fails: a catalog that does not allow our model server', () => {
    const app = Testing.app();
    new RuntimeCatalog(app, 'Runtimes', { runtimes: [ServingRuntime.TRITON] });
    expect(() => new ModelMesh(new Chart(app, 'test'), 'Mesh', { memoryPerServer: Size.gibibytes(1) })).toThrow(
      /a ModelMesh runs cdk8s-model-server on every member, which the RuntimeCatalog 'Runtimes' does not allow \(it allows kserve-tritonserver\)/);
  });
});

describe('monitoring a runtime under Knative', () => {
  test('the PodMonitor scrapes MLServer\'s own metrics port, which Knative does not declare, by rewriting the address', () => {
    const { manifests } = synth({ format: ModelFormat.SKLEARN });
    const endpoint = findOne(manifests, 'PodMonitor').spec.podMetricsEndpoints[0];
    expect(endpoint.path).toBe('/metrics');
    expect(endpoint.relabelings).toContainEqual({ action: 'replace', sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '([^:]+)', replacement: '$1:8082', targetLabel: '__address__' });
  });

  test('no-ready-replicas counts the revisions\' Deployments (kube-state-metrics), never a scrape', () => {
    const { manifests, endpoint } = synth({ runtime: ServingRuntime.TENSORFLOW_SERVING, storageUri: StorageUri.s3('m', 'tf'), protocol: InferenceProtocol.V1 });
    const rule = findOne(manifests, 'PrometheusRule').spec.groups[0].rules;
    expect(rule.map((r: any) => r.alert)).toEqual(['ModelEndpointNoReadyReplicas']);
    expect(rule[0].expr).toBe(`sum(kube_deployment_status_replicas_available{deployment=~"${endpoint.name}-.+-deployment"}) < 1`);
    expect(manifests.filter(m => m.kind === 'PodMonitor')).toEqual([]);
    // The NetworkPolicy admits no scrape: there is nothing to scrape.
    const policy = findOne(manifests, 'NetworkPolicy');
    expect(JSON.stringify(policy.spec)).not.toContain('"monitoring"');
  });

  test('the dashboard has only the panels the runtime\'s metrics feed, and names what it leaves out', () => {
    const { manifests, endpoint } = synth({ format: ModelFormat.SKLEARN });
    const cm = findOne(manifests, 'ConfigMap', { name: `${endpoint.name}-dashboard` });
    const dashboard = JSON.parse(Object.values(cm.data)[0] as string);
    const titles = dashboard.panels.filter((p: any) => p.type !== 'row').map((p: any) => p.title);
    // MLServer: success and failure counters, no latency histogram.
    expect(titles).toEqual(['Requests/s', 'Error ratio', 'Replicas']);
    const replicas = dashboard.panels.find((p: any) => p.title === 'Replicas');
    expect(replicas.description).toContain('ModelEndpointHighLatency and the latency panels: kserve-mlserver publishes no latency histogram in seconds');
    expect(endpoint.monitoring?.omitted).toEqual([
      'ModelEndpointHighLatency and the latency panels: kserve-mlserver publishes no latency histogram in seconds',
      'ModelEndpointModelLoadFailures and the model-load panels: kserve-mlserver publishes no model-load metrics we know',
      'ModelEndpointCanaryErrorRatio and ModelEndpointCanaryLatency: they compare our model server\'s series by track',
    ]);
  });
});
