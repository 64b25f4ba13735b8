import { InferenceProtocol } from './endpoint-options';
import { ModelFormat } from './model-format';
import * as contract from '../contract';

/**
 * A model format a runtime serves, as an entry of KServe's `supportedModelFormats`.
 *
 * @see https://kserve.github.io/website/latest/modelserving/servingruntimes/
 */
export interface RuntimeModelFormat {
  /** The format, with the version the runtime serves (`ModelFormat.SKLEARN.withVersion('1')`). */
  readonly format: ModelFormat;
  /**
   * Whether an endpoint that names only the format (no `runtime`) may be given this runtime.
   *
   * @default true
   */
  readonly autoSelect?: boolean;
  /**
   * Among the runtimes that can serve a format, the higher priority wins.
   *
   * @default - no priority: after every runtime that has one, in catalog order
   */
  readonly priority?: number;
}

/**
 * Where a runtime publishes Prometheus metrics, and which of its metric names the endpoint's
 * dashboard and alerts may use. A panel or alert whose metric the runtime does not publish is
 * left out (`EndpointMonitoring.omitted` lists them).
 */
export interface RuntimeMetrics {
  /** The container port of the metrics endpoint. */
  readonly port: number;
  /**
   * The HTTP path of the metrics endpoint.
   *
   * @default '/metrics'
   */
  readonly path?: string;
  /**
   * A counter of every inference request.
   *
   * @default - the sum of `successCounter` and `failureCounter`, if both are set
   */
  readonly requestCounter?: string;
  /**
   * A counter of the inference requests that succeeded.
   *
   * @default - not published
   */
  readonly successCounter?: string;
  /**
   * A counter of the inference requests that failed.
   *
   * @default - not published: no error ratio, no error alerts
   */
  readonly failureCounter?: string;
  /**
   * A Prometheus histogram (base name, without `_bucket`) of inference latency in seconds.
   *
   * @default - not published: no latency panels, no latency alerts
   */
  readonly latencyHistogram?: string;
}

/**
 * The description of a serving runtime of your own, for `ServingRuntime.custom()`.
 *
 * `args`, `command` and `env` values may use the placeholders `{{modelName}}`,
 * `{{modelDir}}`, `{{httpPort}}`, `{{grpcPort}}` and `{{protocol}}`, filled in per endpoint;
 * the probe paths may use `{{modelName}}`.
 */
export interface ServingRuntimeOptions {
  /** The runtime's name (a DNS-1123 label), as a KServe `ServingRuntime` would be named. */
  readonly name: string;
  /** The container image, pinned to a tag or digest. */
  readonly image: string;
  /**
   * The entrypoint.
   *
   * @default - the image's entrypoint
   */
  readonly command?: string[];
  /**
   * The arguments.
   *
   * @default - none
   */
  readonly args?: string[];
  /**
   * Environment variables the runtime needs.
   *
   * @default - none
   */
  readonly env?: { [name: string]: string };
  /**
   * The port REST protocols (V1, V2) are served on.
   *
   * @default - no REST port
   */
  readonly httpPort?: number;
  /**
   * The port gRPC protocols are served on.
   *
   * @default - no gRPC port
   */
  readonly grpcPort?: number;
  /** The protocols the runtime speaks; `GRPC_V1` means its own gRPC services (`grpcServices`). */
  readonly protocols: InferenceProtocol[];
  /**
   * The fully qualified gRPC services of `InferenceProtocol.GRPC_V1` (routed by `/<service>/`).
   *
   * @default - none
   */
  readonly grpcServices?: string[];
  /** The model formats the runtime serves. */
  readonly formats: RuntimeModelFormat[];
  /**
   * The HTTP path that answers 200 once the model is ready (readiness and startup probes).
   *
   * @default - a TCP check of the serving port
   */
  readonly readinessPath?: string;
  /**
   * The HTTP path that answers 200 while the process is healthy (liveness probe).
   *
   * @default - a TCP check of the serving port
   */
  readonly livenessPath?: string;
  /**
   * Where the runtime publishes Prometheus metrics.
   *
   * @default - none: no monitor, and only the alerts kube-state-metrics can feed
   */
  readonly metrics?: RuntimeMetrics;
  /**
   * Whether the runtime serves many models from one model directory (V2 repository API).
   *
   * @default false
   */
  readonly multiModel?: boolean;
  /**
   * The files the runtime expects under the model directory, for the docs and error messages.
   *
   * @default - not described
   */
  readonly modelLayout?: string;
  /**
   * File extensions one of which a model file must have, checked when the `storageUri` names
   * a file.
   *
   * @default - not checked
   */
  readonly modelFileExtensions?: string[];
  /**
   * Whether the runtime writes outside the model directory and `TMPDIR`, so the root
   * filesystem must be writable.
   *
   * @default false
   */
  readonly writableRootFilesystem?: boolean;
}

/** The placeholders runtime templates may use. */
const PLACEHOLDERS = ['modelName', 'modelDir', 'httpPort', 'grpcPort', 'protocol'];

/** Facts of a built-in runtime that `ServingRuntimeOptions` does not cover. */
interface BuiltInFacts {
  /** Environment variables that depend on the endpoint's format (MLServer's implementation class). */
  readonly formatEnv?: { [format: string]: { [name: string]: string } };
  /** Environment variables that depend on the endpoint's protocol (TorchServe's envelope). */
  readonly protocolEnv?: { [protocol: string]: { [name: string]: string } };
  readonly modelServer?: boolean;
}

/**
 * A model server that runs an endpoint's model, as a KServe `ServingRuntime`: image, command
 * and arguments, ports, protocols, probe paths, metrics, the model formats it serves and the
 * file layout it expects. Enum-like: use a constant, `ServingRuntime.custom()` or
 * `withImage()`.
 *
 * With `format` and no `runtime`, an endpoint gets the first runtime of its catalog
 * (`RuntimeCatalog`, or these built-ins in this order) that serves the format with
 * `autoSelect`, with the endpoint's protocol, preferring the higher format priority: KServe's
 * rule.
 *
 * Facts come from KServe's runtime definitions (`config/runtimes/*.yaml` and
 * `charts/kserve-runtime-configs/values.yaml`, kserve/kserve v0.20.0) and each runtime's docs,
 * cited beside each. Every runtime runs under the Pod Security "restricted" profile (non-root
 * uid 1000, no capabilities, RuntimeDefault seccomp); see `writableRootFilesystem` for the
 * ones that need a writable root.
 *
 * @see https://kserve.github.io/website/latest/modelserving/servingruntimes/
 */
export class ServingRuntime {
  /**
   * Our model server: ONNX through onnxruntime; V1, V2 and V2 gRPC; many models. The default.
   * The endpoint's `serverImage` overrides its image.
   */
  public static readonly MODEL_SERVER = new ServingRuntime({
    name: 'cdk8s-model-server',
    image: contract.DEFAULT_SERVER_IMAGE,
    httpPort: contract.HTTP_PORT,
    grpcPort: contract.GRPC_PORT,
    protocols: [InferenceProtocol.V1, InferenceProtocol.V2, InferenceProtocol.GRPC_V2],
    // Ahead of Triton (priority 1 for onnx in KServe's kserve-tritonserver). ONNX version 1, as
    // Triton's entry names it (kserve-tritonserver.yaml: onnx "1"): onnxruntime runs ONNX 1.x models
    // (https://onnxruntime.ai/docs/reference/compatibility.html), so `ModelFormat.ONNX.withVersion('1')`
    // picks our server too; an unversioned ONNX matches any version.
    formats: [{ format: ModelFormat.ONNX.withVersion('1'), priority: 3 }],
    readinessPath: contract.modelReadyPath('{{modelName}}'),
    livenessPath: contract.PATHS.live,
    metrics: { port: contract.HTTP_PORT, path: contract.PATHS.metrics },
    multiModel: true,
    modelLayout: 'a .onnx file, or one folder (or <name>.onnx) per model for many models',
    modelFileExtensions: ['.onnx'],
  }, { modelServer: true });

  /**
   * Seldon MLServer 1.7.1: sklearn, XGBoost, LightGBM and MLflow over V2 (REST and gRPC).
   * The model class follows the format (`MLSERVER_MODEL_IMPLEMENTATION`). Metrics on 8082.
   *
   * Model dir: the model file (`model.joblib`, `model.json`/`model.bst`, `model.txt`), or a
   * `model-settings.json` with it.
   *
   * @see https://github.com/kserve/kserve/blob/master/config/runtimes/kserve-mlserver.yaml
   * @see https://mlserver.readthedocs.io/en/latest/reference/settings.html
   */
  public static readonly MLSERVER = new ServingRuntime({
    name: 'kserve-mlserver',
    // kserve config/runtimes/kustomization.yaml (v0.20.0): docker.io/seldonio/mlserver:1.7.1
    image: 'docker.io/seldonio/mlserver:1.7.1',
    // The image's CMD is `mlserver start $MLSERVER_MODELS_DIR`; we name the model dir ourselves.
    command: ['mlserver', 'start', '{{modelDir}}'],
    env: {
      // kserve pkg/constants: MLSERVER_MODEL_NAME / MLSERVER_MODEL_URI set by the controller.
      MLSERVER_MODEL_NAME: '{{modelName}}',
      MLSERVER_MODEL_URI: '{{modelDir}}',
      MLSERVER_HTTP_PORT: '{{httpPort}}',
      MLSERVER_GRPC_PORT: '{{grpcPort}}',
      // MLServer settings: metrics_port defaults to 8082, metrics_endpoint to /metrics.
      MLSERVER_METRICS_PORT: '8082',
    },
    httpPort: 8080,
    // kserve-mlserver.yaml sets MLSERVER_GRPC_PORT=9000.
    grpcPort: 9000,
    protocols: [InferenceProtocol.V2, InferenceProtocol.GRPC_V2],
    formats: [
      // kserve-mlserver.yaml: priority 2 for every format, mlflow 1.
      { format: ModelFormat.SKLEARN.withVersion('0'), priority: 2 },
      { format: ModelFormat.SKLEARN.withVersion('1'), priority: 2 },
      { format: ModelFormat.XGBOOST.withVersion('1'), priority: 2 },
      { format: ModelFormat.XGBOOST.withVersion('2'), priority: 2 },
      { format: ModelFormat.LIGHTGBM.withVersion('3'), priority: 2 },
      { format: ModelFormat.LIGHTGBM.withVersion('4'), priority: 2 },
      { format: ModelFormat.MLFLOW.withVersion('1'), priority: 1 },
      { format: ModelFormat.MLFLOW.withVersion('2'), priority: 1 },
    ],
    readinessPath: '/v2/models/{{modelName}}/ready',
    livenessPath: '/v2/health/live',
    // MLServer docs, "Metrics": model_infer_request_success / _failure on the metrics port.
    metrics: { port: 8082, path: '/metrics', successCounter: 'model_infer_request_success', failureCounter: 'model_infer_request_failure' },
    multiModel: true,
    modelLayout: 'the model file (model.joblib, model.json or model.bst, model.txt), optionally with model-settings.json',
    modelFileExtensions: ['.joblib', '.pkl', '.pickle', '.json', '.ubj', '.bst', '.txt', '.model'],
  }, {
    // kserve pkg/constants MLServerModelClass*: the implementation per format.
    formatEnv: {
      sklearn: { MLSERVER_MODEL_IMPLEMENTATION: 'mlserver_sklearn.SKLearnModel' },
      xgboost: { MLSERVER_MODEL_IMPLEMENTATION: 'mlserver_xgboost.XGBoostModel' },
      lightgbm: { MLSERVER_MODEL_IMPLEMENTATION: 'mlserver_lightgbm.LightGBMModel' },
      mlflow: { MLSERVER_MODEL_IMPLEMENTATION: 'mlserver_mlflow.MLflowRuntime' },
    },
  });

  /**
   * KServe's scikit-learn server (`python -m sklearnserver`): V1 and V2 REST. Model dir: one
   * `model.joblib`, `model.pkl` or `model.pickle`.
   *
   * @see https://github.com/kserve/kserve/blob/master/config/runtimes/kserve-sklearnserver.yaml
   */
  public static readonly SKLEARN_SERVER = ServingRuntime.kservePython('kserve-sklearnserver', 'sklearnserver',
    [{ format: ModelFormat.SKLEARN.withVersion('1'), priority: 1 }], [],
    'one model.joblib, model.pkl or model.pickle', ['.joblib', '.pkl', '.pickle']);

  /**
   * KServe's XGBoost server (`python -m xgbserver`): V1 and V2 REST. Model dir: one `.bst`,
   * `.json` or `.ubj` booster.
   *
   * @see https://github.com/kserve/kserve/blob/master/config/runtimes/kserve-xgbserver.yaml
   */
  public static readonly XGBOOST_SERVER = ServingRuntime.kservePython('kserve-xgbserver', 'xgbserver',
    [{ format: ModelFormat.XGBOOST.withVersion('2'), priority: 1 }], ['--nthread=1'],
    'one booster file: model.bst, model.json or model.ubj', ['.bst', '.json', '.ubj']);

  /**
   * KServe's LightGBM server (`python -m lgbserver`): V1 and V2 REST. Model dir: one
   * `model.bst` (LightGBM text format).
   *
   * @see https://github.com/kserve/kserve/blob/master/config/runtimes/kserve-lgbserver.yaml
   */
  public static readonly LIGHTGBM_SERVER = ServingRuntime.kservePython('kserve-lgbserver', 'lgbserver',
    [{ format: ModelFormat.LIGHTGBM.withVersion('4'), priority: 1 }], ['--nthread=1'],
    'one model.bst (LightGBM text format)', ['.bst', '.txt']);

  /**
   * KServe's Hugging Face server (`python -m huggingfaceserver`): V1, V2 and the OpenAI API
   * over REST. Model dir: a transformers checkpoint (`config.json`, weights, tokenizer). Its
   * cache (`HF_HOME`) is put in the scratch volume, so the root stays read-only.
   *
   * @see https://github.com/kserve/kserve/blob/master/config/runtimes/kserve-huggingfaceserver.yaml
   */
  public static readonly HUGGINGFACE_SERVER = ServingRuntime.kservePython('kserve-huggingfaceserver', 'huggingfaceserver',
    [{ format: ModelFormat.HUGGINGFACE.withVersion('1'), priority: 1 }], [],
    'a transformers checkpoint: config.json, the weights (*.safetensors or *.bin) and the tokenizer files', undefined,
    { HF_HOME: `${contract.SCRATCH_DIR}/huggingface` },
    // kserve python/huggingface_server.Dockerfile: ENTRYPOINT ["python3", "-m", "huggingfaceserver"].
    'python3');

  /**
   * TensorFlow Serving 2.6.2: V1 REST (`/v1/models/<name>:predict`) and its own gRPC service
   * `tensorflow.serving.PredictionService` (`InferenceProtocol.GRPC_V1`). It publishes no
   * Prometheus metrics unless given a monitoring config file, so the endpoint gets no monitor
   * and only the replica alert that kube-state-metrics feeds.
   *
   * Model dir: a SavedModel under a numbered version folder (`1/saved_model.pb`, `1/variables/`).
   *
   * @see https://github.com/kserve/kserve/blob/master/config/runtimes/kserve-tensorflow-serving.yaml
   * @see https://www.tensorflow.org/tfx/serving/api_rest
   */
  public static readonly TENSORFLOW_SERVING = new ServingRuntime({
    name: 'kserve-tensorflow-serving',
    // kserve config/runtimes/kustomization.yaml (v0.20.0): tensorflow/serving:2.6.2
    image: 'tensorflow/serving:2.6.2',
    command: ['/usr/bin/tensorflow_model_server'],
    args: [
      '--model_name={{modelName}}',
      '--port={{grpcPort}}',
      '--rest_api_port={{httpPort}}',
      '--model_base_path={{modelDir}}',
      '--rest_api_timeout_in_ms=60000',
    ],
    httpPort: 8080,
    grpcPort: 9000,
    protocols: [InferenceProtocol.V1, InferenceProtocol.GRPC_V1],
    // tensorflow_serving/apis/prediction_service.proto and model_service.proto.
    grpcServices: ['tensorflow.serving.PredictionService', 'tensorflow.serving.ModelService'],
    formats: [
      { format: ModelFormat.TENSORFLOW.withVersion('1'), priority: 2 },
      { format: ModelFormat.TENSORFLOW.withVersion('2'), priority: 2 },
    ],
    // The model status API answers 200 once a version is loaded (404 before).
    readinessPath: '/v1/models/{{modelName}}',
    multiModel: false,
    modelLayout: 'a SavedModel in a numbered version folder: <version>/saved_model.pb and <version>/variables/',
  });

  /**
   * TorchServe 0.9.0 behind KServe's wrapper (`pytorch/torchserve-kfs`): V1, V2 and V2 gRPC.
   * Model dir: `model-store/<name>.mar` and `config/config.properties` (whose
   * `service_envelope` picks V1 or V2). TorchServe writes its logs and unpacked archives
   * under its working directory, so its root filesystem is writable by default.
   *
   * @see https://github.com/kserve/kserve/blob/master/config/runtimes/kserve-torchserve.yaml
   * @see https://pytorch.org/serve/configuration.html
   */
  public static readonly TORCHSERVE = new ServingRuntime({
    name: 'kserve-torchserve',
    // kserve config/runtimes/kustomization.yaml (v0.20.0): pytorch/torchserve-kfs:0.9.0
    image: 'pytorch/torchserve-kfs:0.9.0',
    args: ['torchserve', '--start', '--model-store={{modelDir}}/model-store', '--ts-config={{modelDir}}/config/config.properties'],
    // KServe's wrapper serves 8080 (REST) and 8081 (gRPC); TorchServe itself listens on 8085.
    httpPort: 8080,
    grpcPort: 8081,
    protocols: [InferenceProtocol.V1, InferenceProtocol.V2, InferenceProtocol.GRPC_V2],
    formats: [{ format: ModelFormat.PYTORCH.withVersion('1'), priority: 2 }],
    readinessPath: '/v1/models/{{modelName}}',
    // kserve-torchserve.yaml: prometheus.kserve.io/port 8082. TorchServe metrics API, Prometheus format.
    metrics: { port: 8082, path: '/metrics', requestCounter: 'ts_inference_requests_total' },
    multiModel: true,
    modelLayout: 'model-store/<name>.mar and config/config.properties',
    writableRootFilesystem: true,
  }, {
    // kserve pkg/constants ServiceEnvelopeKServe / ServiceEnvelopeKServeV2: the wrapper's protocol.
    protocolEnv: {
      [InferenceProtocol.V1]: { TS_SERVICE_ENVELOPE: 'kserve' },
      [InferenceProtocol.V2]: { TS_SERVICE_ENVELOPE: 'kservev2' },
      [InferenceProtocol.GRPC_V2]: { TS_SERVICE_ENVELOPE: 'kservev2' },
    },
  });

  /**
   * NVIDIA Triton 23.05: V2 REST and gRPC; TensorRT, TensorFlow, ONNX, PyTorch (on request
   * only) and Triton formats; many models. Metrics on 8002.
   *
   * Model dir: a Triton model repository, `<name>/config.pbtxt` and `<name>/<version>/model.*`;
   * the endpoint's `modelName` must be a folder in it.
   *
   * @see https://github.com/kserve/kserve/blob/master/config/runtimes/kserve-tritonserver.yaml
   * @see https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/user_guide/metrics.html
   */
  public static readonly TRITON = new ServingRuntime({
    name: 'kserve-tritonserver',
    // kserve config/runtimes/kustomization.yaml (v0.20.0): nvcr.io/nvidia/tritonserver:23.05-py3
    image: 'nvcr.io/nvidia/tritonserver:23.05-py3',
    args: ['tritonserver', '--model-store={{modelDir}}', '--grpc-port={{grpcPort}}', '--http-port={{httpPort}}', '--allow-grpc=true', '--allow-http=true'],
    httpPort: 8080,
    grpcPort: 9000,
    protocols: [InferenceProtocol.V2, InferenceProtocol.GRPC_V2],
    formats: [
      { format: ModelFormat.TENSORRT.withVersion('8'), priority: 1 },
      { format: ModelFormat.TENSORFLOW.withVersion('1'), priority: 1 },
      { format: ModelFormat.TENSORFLOW.withVersion('2'), priority: 1 },
      { format: ModelFormat.ONNX.withVersion('1'), priority: 1 },
      // kserve-tritonserver.yaml: pytorch without autoSelect, only when asked for by name.
      { format: ModelFormat.PYTORCH.withVersion('1'), autoSelect: false },
      { format: ModelFormat.TRITON.withVersion('2'), priority: 1 },
    ],
    readinessPath: '/v2/models/{{modelName}}/ready',
    livenessPath: '/v2/health/live',
    // Triton metrics docs: nv_inference_request_success / _failure on port 8002.
    metrics: { port: 8002, path: '/metrics', successCounter: 'nv_inference_request_success', failureCounter: 'nv_inference_request_failure' },
    multiModel: true,
    modelLayout: 'a Triton model repository: <name>/config.pbtxt and <name>/<version>/model.<ext>',
  });

  /** The built-in runtimes, in KServe's listing order (the tie-break between equal priorities). */
  public static builtIns(): ServingRuntime[] {
    return [
      ServingRuntime.MODEL_SERVER, ServingRuntime.TENSORFLOW_SERVING, ServingRuntime.SKLEARN_SERVER,
      ServingRuntime.MLSERVER, ServingRuntime.XGBOOST_SERVER, ServingRuntime.TRITON,
      ServingRuntime.LIGHTGBM_SERVER, ServingRuntime.TORCHSERVE, ServingRuntime.HUGGINGFACE_SERVER,
    ];
  }

  /**
   * A runtime of your own, described as KServe's `ServingRuntime` would.
   *
   * @throws if a field is out of range or a template uses an unknown placeholder
   */
  public static custom(options: ServingRuntimeOptions): ServingRuntime {
    return new ServingRuntime(options);
  }

  /** A KServe Python model server (`python -m <module>`), whose flags all take the same shape. */
  private static kservePython(
    name: string, module: string, formats: RuntimeModelFormat[], extraArgs: string[], modelLayout: string,
    modelFileExtensions?: string[], env?: { [name: string]: string }, python = 'python',
  ): ServingRuntime {
    return new ServingRuntime({
      name,
      // kserve config/runtimes/kustomization.yaml names kserve/<module>:latest; pinned to the
      // last release whose images the project tried, v0.15.2.
      image: `kserve/${module}:v0.15.2`,
      // The image's ENTRYPOINT (kserve python/<module>.Dockerfile, e.g. sklearn.Dockerfile).
      command: [python, '-m', module],
      // kserve-<module>.yaml args; --grpc_port defaults to 8081 in kserve.model_server.
      args: ['--model_name={{modelName}}', '--model_dir={{modelDir}}', '--http_port={{httpPort}}', '--grpc_port={{grpcPort}}', ...extraArgs],
      env,
      httpPort: 8080,
      grpcPort: 8081,
      protocols: [InferenceProtocol.V1, InferenceProtocol.V2],
      formats,
      readinessPath: '/v2/models/{{modelName}}/ready',
      livenessPath: '/v2/health/live',
      // kserve-<module>.yaml: prometheus.kserve.io/port 8080, path /metrics; kserve.metrics
      // publishes request_predict_seconds (a histogram, label model_name).
      metrics: { port: 8080, path: '/metrics', latencyHistogram: 'request_predict_seconds' },
      multiModel: false,
      modelLayout,
      modelFileExtensions,
    });
  }

  /** The runtime's name. */
  public readonly name: string;
  /** The container image. */
  public readonly image: string;
  /** The entrypoint, with placeholders; undefined for the image's own. */
  public readonly command?: string[];
  /** The arguments, with placeholders. */
  public readonly args: string[];
  /** The REST port, if any. */
  public readonly httpPort?: number;
  /** The gRPC port, if any. */
  public readonly grpcPort?: number;
  /** The protocols it speaks. */
  public readonly protocols: InferenceProtocol[];
  /** Its own gRPC services (`InferenceProtocol.GRPC_V1`). */
  public readonly grpcServices: string[];
  /** The formats it serves. */
  public readonly formats: RuntimeModelFormat[];
  /** The readiness (and startup) probe path, with `{{modelName}}`; undefined for a TCP check. */
  public readonly readinessPath?: string;
  /** The liveness probe path; undefined for a TCP check. */
  public readonly livenessPath?: string;
  /** Where it publishes metrics; undefined if it does not. */
  public readonly metrics?: RuntimeMetrics;
  /** Whether it serves many models from one model directory. */
  public readonly multiModel: boolean;
  /** The files it expects under the model directory. */
  public readonly modelLayout?: string;
  /** Extensions a model file may have (checked when the storage URI names a file). */
  public readonly modelFileExtensions?: string[];
  /** Whether it needs a writable root filesystem. */
  public readonly writableRootFilesystem: boolean;

  private readonly env: { [name: string]: string };
  private readonly facts: BuiltInFacts;

  private constructor(options: ServingRuntimeOptions, facts: BuiltInFacts = {}) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(options.name) || options.name.length > 63) {
      throw new Error(`'ServingRuntime.custom' name must be a DNS-1123 label, got '${options.name}'`);
    }
    const where = `runtime '${options.name}'`;
    if (!options.image || /\s/.test(options.image)) throw new Error(`${where}: 'image' must be an image reference, got '${options.image}'`);
    for (const [prop, port] of [['httpPort', options.httpPort], ['grpcPort', options.grpcPort]] as const) {
      if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
        throw new Error(`${where}: '${prop}' must be an integer from 1 to 65535, got ${port}`);
      }
    }
    if (options.protocols.length === 0) throw new Error(`${where}: 'protocols' must name at least one protocol`);
    const rest = options.protocols.some(p => p === InferenceProtocol.V1 || p === InferenceProtocol.V2);
    const grpc = options.protocols.some(p => p === InferenceProtocol.GRPC_V1 || p === InferenceProtocol.GRPC_V2);
    if (rest && options.httpPort === undefined) throw new Error(`${where}: speaks REST (${options.protocols.join(', ')}) but has no 'httpPort'`);
    if (grpc && options.grpcPort === undefined) throw new Error(`${where}: speaks gRPC (${options.protocols.join(', ')}) but has no 'grpcPort'`);
    if (options.protocols.includes(InferenceProtocol.GRPC_V1) && (options.grpcServices ?? []).length === 0) {
      throw new Error(`${where}: speaks ${InferenceProtocol.GRPC_V1} (its own gRPC service) but names no 'grpcServices' to route`);
    }
    for (const s of options.grpcServices ?? []) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(s)) {
        throw new Error(`${where}: 'grpcServices' must hold fully qualified service names like 'tensorflow.serving.PredictionService', got '${s}'`);
      }
    }
    if (options.formats.length === 0) throw new Error(`${where}: 'formats' must name at least one model format`);
    if (options.metrics && (!Number.isInteger(options.metrics.port) || options.metrics.port < 1 || options.metrics.port > 65535)) {
      throw new Error(`${where}: 'metrics.port' must be an integer from 1 to 65535, got ${options.metrics.port}`);
    }
    const templates: Array<[string, string]> = [
      ...(options.command ?? []).map((v): [string, string] => ['command', v]),
      ...(options.args ?? []).map((v): [string, string] => ['args', v]),
      ...Object.entries(options.env ?? {}).map(([k, v]): [string, string] => [`env.${k}`, v]),
      ...(options.readinessPath ? [['readinessPath', options.readinessPath] as [string, string]] : []),
      ...(options.livenessPath ? [['livenessPath', options.livenessPath] as [string, string]] : []),
    ];
    for (const [prop, value] of templates) {
      for (const m of value.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)) {
        if (!PLACEHOLDERS.includes(m[1])) {
          throw new Error(`${where}: '${prop}' uses the unknown placeholder '{{${m[1]}}}'; use one of ${PLACEHOLDERS.map(p => `{{${p}}}`).join(', ')}`);
        }
      }
    }
    this.name = options.name;
    this.image = options.image;
    this.command = options.command ? [...options.command] : undefined;
    this.args = [...(options.args ?? [])];
    this.env = { ...options.env };
    this.httpPort = options.httpPort;
    this.grpcPort = options.grpcPort;
    this.protocols = [...options.protocols];
    this.grpcServices = [...(options.grpcServices ?? [])];
    this.formats = options.formats.map(f => ({ ...f }));
    this.readinessPath = options.readinessPath;
    this.livenessPath = options.livenessPath;
    this.metrics = options.metrics ? { ...options.metrics } : undefined;
    this.multiModel = options.multiModel ?? false;
    this.modelLayout = options.modelLayout;
    this.modelFileExtensions = options.modelFileExtensions ? [...options.modelFileExtensions] : undefined;
    this.writableRootFilesystem = options.writableRootFilesystem ?? false;
    this.facts = facts;
  }

  /**
   * The same runtime with another image (a newer tag, a digest or a mirror).
   */
  public withImage(image: string): ServingRuntime {
    return new ServingRuntime({ ...this.options(), image }, this.facts);
  }

  /** Whether this is our own model server (ONNX), which fetches its model itself. */
  public get isModelServer(): boolean {
    return this.facts.modelServer === true;
  }

  /**
   * The environment variables for an endpoint of `format` and `protocol` (placeholders not
   * yet filled in).
   *
   * @internal
   */
  public _envFor(format: ModelFormat, protocol: InferenceProtocol): { [name: string]: string } {
    return { ...this.env, ...(this.facts.formatEnv?.[format.name] ?? {}), ...(this.facts.protocolEnv?.[protocol] ?? {}) };
  }

  private options(): ServingRuntimeOptions {
    return {
      name: this.name,
      image: this.image,
      command: this.command,
      args: this.args,
      env: this.env,
      httpPort: this.httpPort,
      grpcPort: this.grpcPort,
      protocols: this.protocols,
      grpcServices: this.grpcServices,
      formats: this.formats,
      readinessPath: this.readinessPath,
      livenessPath: this.livenessPath,
      metrics: this.metrics,
      multiModel: this.multiModel,
      modelLayout: this.modelLayout,
      modelFileExtensions: this.modelFileExtensions,
      writableRootFilesystem: this.writableRootFilesystem,
    };
  }
}
