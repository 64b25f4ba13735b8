/**
 * One model per built-in serving runtime, each picked by its format (KServe's rule) or named
 * with `runtime`, under a RuntimeCatalog that mirrors every image. Raw mode: a runtime's model
 * is fetched by a storage-initializer init container, which Knative allows only with the
 * `kubernetes.podspec-init-containers` flag. Run `npx cdk8s synth --no-check-upgrade` in this folder.
 */
import { App, Chart, ChartProps } from 'cdk8s';
import { EnvValue } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
// In your own project: import { ... } from 'cdk8s-model-serving';
import {
  DeploymentMode,
  InferenceProtocol,
  ModelEndpoint,
  ModelFormat,
  RuntimeCatalog,
  ServingRuntime,
  StorageUri,
} from '../../src';

export class RuntimesChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);

    // The platform's allowed runtimes, every image pulled through the internal mirror.
    new RuntimeCatalog(this, 'Runtimes', { imageRegistry: 'registry.internal.example.com/mirror' });

    const raw = { mode: DeploymentMode.RAW };

    // Our model server: ONNX (the default format).
    new ModelEndpoint(this, 'Onnx', { ...raw, name: 'iris-onnx', modelName: 'iris', storageUri: StorageUri.s3('models', 'iris/model.onnx') });

    // sklearn over V2: MLServer (KServe priority 2).
    new ModelEndpoint(this, 'MlServer', {
      ...raw, name: 'iris-mlserver', modelName: 'iris', format: ModelFormat.SKLEARN, storageUri: StorageUri.s3('models', 'iris/model.joblib'),
    });

    // sklearn over V1: KServe's sklearn server (MLServer speaks V2 only).
    new ModelEndpoint(this, 'Sklearn', {
      ...raw, name: 'iris-sklearn', modelName: 'iris', format: ModelFormat.SKLEARN, protocol: InferenceProtocol.V1,
      storageUri: StorageUri.s3('models', 'iris/model.joblib'),
    });

    // XGBoost and LightGBM on KServe's own servers, named explicitly.
    new ModelEndpoint(this, 'Xgboost', {
      ...raw, name: 'churn-xgb', modelName: 'churn', format: ModelFormat.XGBOOST, runtime: ServingRuntime.XGBOOST_SERVER,
      storageUri: StorageUri.s3('models', 'churn/model.bst'),
    });
    new ModelEndpoint(this, 'Lightgbm', {
      ...raw, name: 'churn-lgb', modelName: 'churn', format: ModelFormat.LIGHTGBM, protocol: InferenceProtocol.V1,
      storageUri: StorageUri.s3('models', 'churn/lgb'),
    });

    // TensorFlow over its own gRPC service (tensorflow.serving.PredictionService): TF Serving.
    new ModelEndpoint(this, 'TfServing', {
      ...raw, name: 'mnist-tf', modelName: 'mnist', format: ModelFormat.TENSORFLOW, protocol: InferenceProtocol.GRPC_V1,
      storageUri: StorageUri.s3('models', 'mnist/saved_model'),
    });

    // PyTorch: TorchServe. Its root is writable by default (it writes logs and unpacked
    // archives); here its writes go to the scratch volume instead, so the root stays read-only.
    new ModelEndpoint(this, 'TorchServe', {
      ...raw, name: 'mnist-torch', modelName: 'mnist', format: ModelFormat.PYTORCH, storageUri: StorageUri.s3('models', 'mnist/torchserve'),
      readOnlyRootFilesystem: true,
      env: {
        // TorchServe docs, "Environment variables": where its logs and metrics logs go.
        LOG_LOCATION: EnvValue.fromValue('/tmp/scratch/logs'),
        METRICS_LOCATION: EnvValue.fromValue('/tmp/scratch/logs'),
        // The JVM's temp dir: TorchServe's worker sockets and unpacked .mar files.
        JAVA_TOOL_OPTIONS: EnvValue.fromValue('-Djava.io.tmpdir=/tmp/scratch'),
      },
    });

    // TensorRT over V2 gRPC: Triton, with a model repository.
    new ModelEndpoint(this, 'Triton', {
      ...raw, name: 'resnet-triton', modelName: 'resnet', format: ModelFormat.TENSORRT, protocol: InferenceProtocol.GRPC_V2,
      storageUri: StorageUri.s3('models', 'triton-repository'),
    });

    // A transformers checkpoint: KServe's Hugging Face server.
    new ModelEndpoint(this, 'HuggingFace', {
      ...raw, name: 'bert-hf', modelName: 'bert', format: ModelFormat.HUGGINGFACE, storageUri: StorageUri.s3('models', 'bert-base-uncased'),
    });
  }
}

const app = new App();
new RuntimesChart(app, 'runtimes', { namespace: 'models' });
app.synth();
