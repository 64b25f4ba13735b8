/**
 * One model, stored five ways: on S3 read through IRSA and through EKS Pod Identity, on GCS read
 * through GKE Workload Identity, on MinIO with static keys from a Secret, and at a public URL.
 * Run `npx cdk8s synth --no-check-upgrade` in this folder.
 */
import { App, Chart, ChartProps } from 'cdk8s';
import { Secret, ServiceAccount } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
// In your own project: import { ... } from 'cdk8s-model-serving';
import { DeploymentMode, ModelEndpoint, StorageAuth, StorageUri } from '../../src';

export class StorageAuthChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    const s3 = StorageUri.s3('models', 'iris/iris-logreg.onnx');

    // AWS IRSA: the ServiceAccount is annotated with eks.amazonaws.com/role-arn.
    const irsa = new ServiceAccount(this, 'IrsaReader', { metadata: { name: 'irsa-reader' } });
    new ModelEndpoint(this, 'Irsa', {
      name: 'iris-irsa',
      modelName: 'iris',
      storageUri: s3,
      storageAuth: StorageAuth.awsWorkloadIdentity({ serviceAccount: irsa, roleArn: 'arn:aws:iam::123456789012:role/model-reader' }),
    });

    // AWS EKS Pod Identity: the role is associated with the ServiceAccount in EKS, not annotated.
    const podIdentity = new ServiceAccount(this, 'PodIdentityReader', { metadata: { name: 'pod-identity-reader' } });
    new ModelEndpoint(this, 'PodIdentity', {
      name: 'iris-pod-identity',
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      storageUri: s3,
      storageAuth: StorageAuth.awsWorkloadIdentity({ serviceAccount: podIdentity }),
    });

    // GKE Workload Identity: the ServiceAccount is annotated with iam.gke.io/gcp-service-account.
    const gke = new ServiceAccount(this, 'GkeReader', { metadata: { name: 'gke-reader' } });
    new ModelEndpoint(this, 'Gke', {
      name: 'iris-gke',
      modelName: 'iris',
      storageUri: StorageUri.gcs('models', 'iris/iris-logreg.onnx'),
      storageAuth: StorageAuth.gcpWorkloadIdentity({ serviceAccount: gke, gcpServiceAccount: 'model-reader@my-project.iam.gserviceaccount.com' }),
    });

    // MinIO (or any S3-compatible store): keys and endpoint from an existing Secret, never inlined.
    new ModelEndpoint(this, 'Minio', {
      name: 'iris-minio',
      modelName: 'iris',
      storageUri: s3,
      storageAuth: StorageAuth.secret(Secret.fromSecretName(this, 'MinioKeys', 'minio-keys')),
    });

    // A public URL: unsigned requests, and no credential lookup at start-up.
    new ModelEndpoint(this, 'Public', {
      name: 'iris-public',
      modelName: 'iris',
      storageUri: StorageUri.https('https://models.example.com/iris/iris-logreg.onnx'),
      storageAuth: StorageAuth.anonymous(),
    });
  }
}

const app = new App();
new StorageAuthChart(app, 'storage-auth', { namespace: 'models' });
app.synth();
