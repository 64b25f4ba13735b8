import { Chart, Testing } from 'cdk8s';
import {
  DeploymentMode, InferenceProtocol, KnativeFeature, ModelEndpoint, ModelEndpointProps, ModelFormat, ServingRuntime, StorageUri,
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
    // Version 1 only is listed for Triton's onnx; our server names no version: Triton.
    [ModelFormat.ONNX.withVersion('1'), InferenceProtocol.V2, 'kserve-tritonserver'],
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
      /no runtime serves 'format' pmml\. The runtimes and their formats: cdk8s-model-server \(onnx\); kserve-tensorflow-serving \(tensorflow:1, tensorflow:2\);.*kserve-mlserver \(sklearn:0, sklearn:1,/);
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
    httpPort: 8080,
    grpcPort: 8081,
    rawPorts: { http: 8080, grpc: 8081 },
    readinessPath: '/v2/models/iris/ready',
    livenessPath: '/v2/health/live',
    metrics: { port: 8080, path: '/metrics' },
  }],
  ['the KServe XGBoost server', {
    runtime: ServingRuntime.XGBOOST_SERVER,
    format: ModelFormat.XGBOOST,
    storageUri: StorageUri.s3('models', 'xgb/model.bst'),
    protocol: InferenceProtocol.V2,
    image: 'kserve/xgbserver:v0.15.2',
    command: ['python', '-m', 'xgbserver'],
    args: ['--model_name=iris', '--model_dir=/mnt/models', '--http_port=8080', '--grpc_port=8081', '--nthread=1'],
    httpPort: 8080,
    grpcPort: 8081,
    rawPorts: { http: 8080, grpc: 8081 },
    readinessPath: '/v2/models/iris/ready',
    livenessPath: '/v2/health/live',
    metrics: { port: 8080, path: '/metrics' },
  }],
  ['the KServe LightGBM server', {
    runtime: ServingRuntime.LIGHTGBM_SERVER,
    format: ModelFormat.LIGHTGBM,
    storageUri: StorageUri.s3('models', 'lgb/model.bst'),
    protocol: InferenceProtocol.V1,
    image: 'kserve/lgbserver:v0.15.2',
    command: ['python', '-m', 'lgbserver'],
    args: ['--model_name=iris', '--model_dir=/mnt/models', '--http_port=8080', '--grpc_port=8081', '--nthread=1'],
    httpPort: 8080,
    grpcPort: 8081,
    rawPorts: { http: 8080, grpc: 8081 },
    readinessPath: '/v2/models/iris/ready',
    livenessPath: '/v2/health/live',
    metrics: { port: 8080, path: '/metrics' },
  }],
  ['the KServe Hugging Face server', {
    runtime: ServingRuntime.HUGGINGFACE_SERVER,
    format: ModelFormat.HUGGINGFACE,
    storageUri: StorageUri.s3('models', 'bert'),
    protocol: InferenceProtocol.V2,
    image: 'kserve/huggingfaceserver:v0.15.2',
    command: ['python', '-m', 'huggingfaceserver'],
    args: ['--model_name=iris', '--model_dir=/mnt/models', '--http_port=8080', '--grpc_port=8081'],
    env: { HF_HOME: '/tmp/scratch/huggingface' },
    httpPort: 8080,
    grpcPort: 8081,
    rawPorts: { http: 8080, grpc: 8081 },
    readinessPath: '/v2/models/iris/ready',
    livenessPath: '/v2/health/live',
    metrics: { port: 8080, path: '/metrics' },
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
    expect(() => synth({ runtime: x.runtime, format: x.format, storageUri: x.storageUri, protocol: x.protocol, knativeFeatures: [] })).toThrow(/kubernetes\.podspec-init-containers/);
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
