/**
 * Serves the iris classifier twice: serverless (Knative, scale on concurrency) and raw
 * (Deployment + HPA behind a Gateway API HTTPRoute). Run `npx cdk8s synth --no-check-upgrade` in this folder.
 */
import { App, Chart, ChartProps, Duration, Size } from 'cdk8s';
import { Cpu, Secret } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
// In your own project: import { ... } from 'cdk8s-model-serving';
import {
  DeploymentMode,
  EndpointIngress,
  InferenceProtocol,
  ModelEndpoint,
  ScaleMetric,
  StorageUri,
} from '../../src';

export class IrisChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);

    // Credentials for the bucket come from an existing secret: never inline.
    const credentials = Secret.fromSecretName(this, 'Credentials', 'model-store-credentials');

    new ModelEndpoint(this, 'Serverless', {
      name: 'iris',
      modelName: 'iris',
      storageUri: StorageUri.s3('models', 'iris/iris-logreg.onnx'),
      storageCredentials: credentials,
      protocol: InferenceProtocol.V2,
      minReplicas: 1,
      maxReplicas: 5,
      scaleMetric: ScaleMetric.CONCURRENCY,
      scaleTarget: 20,
      timeout: Duration.seconds(30),
    });

    new ModelEndpoint(this, 'Raw', {
      name: 'iris-raw',
      modelName: 'iris-raw',
      mode: DeploymentMode.RAW,
      storageUri: StorageUri.https('https://models.example.com/iris/iris-logreg.onnx'),
      resources: {
        cpu: { request: Cpu.millis(250), limit: Cpu.units(1) },
        memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
      },
      minReplicas: 2,
      maxReplicas: 6,
      scaleMetric: ScaleMetric.CPU,
      scaleTarget: 70,
      scaleDownDelay: Duration.minutes(5),
      ingress: EndpointIngress.gatewayApi({ gatewayName: 'public', gatewayNamespace: 'gateway-system' }),
      host: 'iris.models.example.com',
    });
  }
}

const app = new App();
new IrisChart(app, 'iris', { namespace: 'models' });
app.synth();
