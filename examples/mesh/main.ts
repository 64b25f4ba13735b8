/**
 * Forty small models on one shared pool of three model servers (ModelMesh), instead of forty
 * Deployments. Run `npx cdk8s synth --no-check-upgrade` in this folder.
 */
import { App, Chart, ChartProps, Duration, Size } from 'cdk8s';
import { Cpu, Secret } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
// In your own project: import { ... } from 'cdk8s-model-serving';
import { EndpointIngress, ModelCopies, ModelMesh, StorageUri } from '../../src';

export class MeshChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);

    const mesh = new ModelMesh(this, 'Mesh', {
      name: 'models',
      replicas: 3,
      maxReplicas: 6,
      // Capacity is explicit: 3 members x 1 GiB for models (+ 256 MiB each for the server).
      memoryPerServer: Size.gibibytes(1),
      cpuRequest: Cpu.millis(500),
      cpuLimit: Cpu.units(2),
      loadTimeout: Duration.minutes(1),
      storageCredentials: Secret.fromSecretName(this, 'Credentials', 'model-store-credentials'),
      ingress: EndpointIngress.istio(),
      host: 'models.example.com',
    });

    // A hot model on every member, a popular one on two, and a long tail of per-customer models.
    mesh.addModel({ name: 'iris', storageUri: StorageUri.s3('models', 'iris/iris-logreg.onnx'), memoryEstimate: Size.mebibytes(32), copies: ModelCopies.EVERY_MEMBER });
    mesh.addModel({ name: 'diabetes', storageUri: StorageUri.s3('models', 'diabetes/diabetes-linreg.onnx'), memoryEstimate: Size.mebibytes(32), copies: ModelCopies.count(2) });
    for (let i = 0; i < 40; i++) {
      const customer = `customer-${String(i).padStart(2, '0')}`;
      mesh.addModel({ name: `churn-${customer}`, storageUri: StorageUri.s3('models', `churn/${customer}/model.onnx`), memoryEstimate: Size.mebibytes(48) });
    }
  }
}

const app = new App();
new MeshChart(app, 'mesh', { namespace: 'models' });
app.synth();
