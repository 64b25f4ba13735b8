import { Chart, Testing } from 'cdk8s';
import {
  DeploymentMode, InferenceProtocol, KnativeFeature, ModelEndpoint, ModelEndpointProps, ModelFormat, ServingRuntime, StorageUri,
} from '../../src';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

const SKLEARN_MODEL = StorageUri.s3('models', 'iris/model.joblib');

function synth(props: Partial<ModelEndpointProps>, mode = DeploymentMode.SERVERLESS) {
  const app = Testing.app();
  const chart = new Chart(app, 'test');
  const knativeFeatures = mode === DeploymentMode.SERVERLESS ? [KnativeFeature.INIT_CONTAINERS] : undefined;
  const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: SKLEARN_MODEL, mode, knativeFeatures, ...props });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: knativeFeatures });
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
