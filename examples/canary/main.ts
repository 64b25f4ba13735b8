/**
 * A canary rollout of the iris classifier in both modes: v2 takes 10% of the traffic of one
 * serverless endpoint (Knative revisions iris-v1 and iris-v2, tags stable and canary), and a
 * raw endpoint mirrors 20% of its requests to v2 (shadow mode) behind Istio, with STRICT mTLS,
 * an AuthorizationPolicy and a TLS gateway. Run `npx cdk8s synth --no-check-upgrade` in this folder.
 *
 * Lifecycle, one prop change per deploy (see the README, "CanaryRollout"):
 *   { stable: V1 }                                   v1 serves everything
 *   { stable: V1, canary: V2, trafficPercent: 10 }   v2 takes 10% (then 50, ...)
 *   { stable: V2 }                                   promote
 *   { stable: V1, canary: V2, trafficPercent: 0 }    roll back
 */
import { App, Chart, ChartProps, Duration, Size } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
// In your own project: import { ... } from 'cdk8s-model-serving';
import { CanaryRollout, DeploymentMode, ModelGateway, ModelVersion, StorageUri } from '../../src';

const V1: ModelVersion = {
  version: 'v1',
  storageUri: StorageUri.s3('models', 'iris/v1/iris-logreg.onnx'),
};

const V2: ModelVersion = {
  version: 'v2',
  storageUri: StorageUri.s3('models', 'iris/v2/iris-mlp.onnx'),
  resources: {
    cpu: { request: Cpu.millis(500), limit: Cpu.units(2) },
    memory: { request: Size.mebibytes(512), limit: Size.gibibytes(1) },
  },
};

export class CanaryChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);

    // Serverless: one Knative Service; v1's revision exists from the previous deploy.
    new CanaryRollout(this, 'Serverless', {
      name: 'iris',
      modelName: 'iris',
      stable: V1,
      canary: V2,
      trafficPercent: 10,
      timeout: Duration.seconds(30),
    });

    // Raw: Deployments iris-shadow-v1 and iris-shadow-v2; users only see v1's answers.
    const gateway = new ModelGateway(this, 'Gateway', {
      name: 'models',
      hosts: ['iris-shadow.models.example.com'],
      tlsSecretName: 'models-example-com-tls',
    });
    new CanaryRollout(this, 'Raw', {
      name: 'iris-shadow',
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      host: 'iris-shadow.models.example.com',
      ingress: gateway.ingress(),
      stable: V1,
      canary: V2,
      shadow: true,
      trafficPercent: 20,
      retries: { attempts: 1, perTryTimeout: Duration.seconds(10) },
      security: { allowedNamespaces: ['web'] },
    });
  }
}

const app = new App();
new CanaryChart(app, 'canary', { namespace: 'models' });
app.synth();
