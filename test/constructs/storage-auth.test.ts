import { Size, Testing } from 'cdk8s';
import { Secret, ServiceAccount } from 'cdk8s-plus-33';
import { DeploymentMode, ModelEndpoint, ModelMesh, StorageAuth, StorageUri } from '../../src';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

const S3 = StorageUri.s3('models', 'iris/model.onnx');
const GS = StorageUri.gcs('models', 'iris/model.onnx');
const ROLE = 'arn:aws:iam::123456789012:role/model-reader';
const GSA = 'model-reader@my-project.iam.gserviceaccount.com';

/** The model-server container of a raw endpoint's Deployment. */
function podOf(manifests: any[]): any {
  return findOne(manifests, 'Deployment').spec.template.spec;
}
function envOf(container: any): Record<string, string> {
  return Object.fromEntries((container.env ?? []).map((e: any) => [e.name, e.value]));
}

describe('StorageAuth', () => {
  test('AWS IRSA: the ServiceAccount gets eks.amazonaws.com/role-arn, the pods run as it, the server uses workload identity', () => {
    // GIVEN
    const chart = Testing.chart();
    const serviceAccount = new ServiceAccount(chart, 'ModelReader', { metadata: { name: 'model-reader' } });
    // WHEN
    new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris',
      modelName: 'iris',
      storageUri: S3,
      mode: DeploymentMode.RAW,
      storageAuth: StorageAuth.awsWorkloadIdentity({ serviceAccount, roleArn: ROLE }),
    });
    // THEN
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const sa = findOne(manifests, 'ServiceAccount');
    const pod = podOf(manifests);
    expect({ serviceAccount: sa, pod }).toMatchSnapshot();
    expect(sa.metadata.annotations).toEqual({ 'eks.amazonaws.com/role-arn': ROLE });
    expect(pod.serviceAccountName).toBe('model-reader');
    expect(envOf(pod.containers[0]).STORAGE_AUTH).toBe('workload-identity');
    // No static keys are mounted.
    expect(envOf(pod.containers[0]).STORAGE_CREDENTIALS_DIR).toBeUndefined();
    expect(pod.volumes.map((v: any) => v.name)).not.toContain('storage-credentials');
  });

  test('AWS EKS Pod Identity: without roleArn the ServiceAccount is not annotated (the association lives in EKS)', () => {
    const chart = Testing.chart();
    const serviceAccount = new ServiceAccount(chart, 'ModelReader', { metadata: { name: 'model-reader' } });
    new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris',
      modelName: 'iris',
      storageUri: S3,
      mode: DeploymentMode.RAW,
      storageAuth: StorageAuth.awsWorkloadIdentity({ serviceAccount }),
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    expect(findOne(manifests, 'ServiceAccount').metadata.annotations).toBeUndefined();
    expect(podOf(manifests).serviceAccountName).toBe('model-reader');
    expect(envOf(podOf(manifests).containers[0]).STORAGE_AUTH).toBe('workload-identity');
  });

  test('GKE Workload Identity: the ServiceAccount gets iam.gke.io/gcp-service-account (serverless)', () => {
    const chart = Testing.chart();
    const serviceAccount = new ServiceAccount(chart, 'ModelReader', { metadata: { name: 'model-reader' } });
    new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris',
      modelName: 'iris',
      storageUri: GS,
      storageAuth: StorageAuth.gcpWorkloadIdentity({ serviceAccount, gcpServiceAccount: GSA }),
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const ksvc = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' });
    const pod = ksvc.spec.template.spec;
    expect({ serviceAccount: findOne(manifests, 'ServiceAccount'), pod }).toMatchSnapshot();
    expect(findOne(manifests, 'ServiceAccount').metadata.annotations).toEqual({ 'iam.gke.io/gcp-service-account': GSA });
    expect(pod.serviceAccountName).toBe('model-reader');
    expect(envOf(pod.containers[0]).STORAGE_AUTH).toBe('workload-identity');
  });

  test('a secret is mounted as storageCredentials is, and the server requires its keys', () => {
    const chart = Testing.chart();
    const secret = new Secret(chart, 'Keys', { metadata: { name: 'model-keys' } });
    new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris', modelName: 'iris', storageUri: S3, mode: DeploymentMode.RAW, storageAuth: StorageAuth.secret(secret),
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const pod = podOf(manifests);
    expect(envOf(pod.containers[0])).toMatchObject({ STORAGE_AUTH: 'secret', STORAGE_CREDENTIALS_DIR: '/var/run/secrets/model-storage' });
    expect(pod.volumes).toContainEqual({ name: 'storage-credentials', secret: { secretName: 'model-keys', defaultMode: 0o444 } });
  });

  test('storageCredentials keeps working unchanged (no STORAGE_AUTH: the server picks the keys up itself)', () => {
    const chart = Testing.chart();
    const secret = new Secret(chart, 'Keys', { metadata: { name: 'model-keys' } });
    const serviceAccount = new ServiceAccount(chart, 'Runner', { metadata: { name: 'runner' } });
    new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris', modelName: 'iris', storageUri: S3, mode: DeploymentMode.RAW, storageCredentials: secret, serviceAccount,
    });
    const pod = podOf(Testing.synth(chart));
    expect(pod.serviceAccountName).toBe('runner');
    expect(envOf(pod.containers[0]).STORAGE_AUTH).toBeUndefined();
    expect(envOf(pod.containers[0]).STORAGE_CREDENTIALS_DIR).toBe('/var/run/secrets/model-storage');
  });

  test('anonymous: the server never looks for credentials', () => {
    const chart = Testing.chart();
    new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris',
      modelName: 'iris',
      storageUri: StorageUri.https('https://example.com/iris.onnx'),
      mode: DeploymentMode.RAW,
      storageAuth: StorageAuth.anonymous(),
    });
    expect(envOf(podOf(Testing.synth(chart)).containers[0]).STORAGE_AUTH).toBe('anonymous');
  });

  test('a custom container: the storage-initializer init container gets the auth mode and the write cap', () => {
    const chart = Testing.chart();
    const serviceAccount = new ServiceAccount(chart, 'ModelReader', { metadata: { name: 'model-reader' } });
    new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris',
      modelName: 'iris',
      storageUri: S3,
      mode: DeploymentMode.RAW,
      container: { image: 'registry.example.com/server:1' },
      resources: { ephemeralStorage: { limit: Size.gibibytes(4) } },
      storageAuth: StorageAuth.awsWorkloadIdentity({ serviceAccount, roleArn: ROLE }),
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const init = podOf(manifests).initContainers[0];
    expect(init.name).toBe('storage-initializer');
    expect(envOf(init)).toMatchObject({ STORAGE_AUTH: 'workload-identity', STORAGE_MAX_BYTES: String(4 * 2 ** 30) });
  });

  test('the write cap follows the ephemeral-storage limit of our server, and the mesh\'s model volume size limit', () => {
    const chart = Testing.chart();
    new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris', modelName: 'iris', storageUri: S3, mode: DeploymentMode.RAW, resources: { ephemeralStorage: { limit: Size.gibibytes(8) } },
    });
    expect(envOf(podOf(Testing.synth(chart)).containers[0]).STORAGE_MAX_BYTES).toBe(String(8 * 2 ** 30));

    const meshChart = Testing.chart();
    const serviceAccount = new ServiceAccount(meshChart, 'ModelReader', { metadata: { name: 'model-reader' } });
    const mesh = new ModelMesh(meshChart, 'Mesh', {
      memoryPerServer: Size.gibibytes(1),
      storageAuth: StorageAuth.gcpWorkloadIdentity({ serviceAccount, gcpServiceAccount: GSA }),
    });
    mesh.addModel({ name: 'iris', storageUri: GS, memoryEstimate: Size.mebibytes(64) });
    const manifests = Testing.synth(meshChart);
    expectValidManifests(manifests);
    const pod = podOf(manifests);
    const volume = pod.volumes.find((v: any) => v.name === 'model-dir');
    expect(volume.emptyDir.sizeLimit).toBe('2Gi');
    expect(envOf(pod.containers[0])).toMatchObject({ STORAGE_MAX_BYTES: String(2 * 2 ** 30), STORAGE_AUTH: 'workload-identity' });
    expect(pod.serviceAccountName).toBe('model-reader');
  });

  test('fails when storageAuth and storageCredentials are both set', () => {
    const chart = Testing.chart();
    const secret = new Secret(chart, 'Keys');
    expect(() => new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris', storageUri: S3, storageCredentials: secret, storageAuth: StorageAuth.secret(secret),
    })).toThrow(/set either 'storageAuth' or 'storageCredentials', not both/);
  });

  test('fails when serviceAccount differs from the workload identity\'s', () => {
    const chart = Testing.chart();
    const a = new ServiceAccount(chart, 'A', { metadata: { name: 'a' } });
    const b = new ServiceAccount(chart, 'B', { metadata: { name: 'b' } });
    expect(() => new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris', storageUri: S3, serviceAccount: b, storageAuth: StorageAuth.awsWorkloadIdentity({ serviceAccount: a }),
    })).toThrow(/'serviceAccount' is 'b' but 'storageAuth' \(StorageAuth.awsWorkloadIdentity\(\)\) runs the pods as 'a'/);
  });

  test('fails when the identity\'s cloud does not match the storageUri', () => {
    const chart = Testing.chart();
    const serviceAccount = new ServiceAccount(chart, 'A');
    expect(() => new ModelEndpoint(chart, 'Aws', {
      modelName: 'iris', storageUri: GS, storageAuth: StorageAuth.awsWorkloadIdentity({ serviceAccount }),
    })).toThrow(/StorageAuth.awsWorkloadIdentity\(\) reads s3:\/\/ storage, but 'storageUri' is 'gs:\/\/models\/iris\/model.onnx'; use StorageAuth.awsWorkloadIdentity|use StorageAuth.gcpWorkloadIdentity\(\) for gs:\/\//);
    expect(() => new ModelEndpoint(chart, 'Gcp', {
      modelName: 'iris', storageUri: StorageUri.https('https://example.com/m.onnx'), storageAuth: StorageAuth.gcpWorkloadIdentity({ serviceAccount }),
    })).toThrow(/reads gs:\/\/ storage, but 'storageUri' is 'https:\/\/example.com\/m.onnx'/);
  });

  test('fails on a pvc:// storageUri, which is mounted rather than fetched', () => {
    const chart = Testing.chart();
    expect(() => new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris', storageUri: StorageUri.pvc('models', 'iris'), mode: DeploymentMode.RAW, storageAuth: StorageAuth.anonymous(),
    })).toThrow(/'storageAuth' has no effect on a pvc:\/\/ 'storageUri'/);
  });

  test('fails on a malformed role ARN or Google service account, and on annotating an imported ServiceAccount', () => {
    const chart = Testing.chart();
    const serviceAccount = new ServiceAccount(chart, 'A');
    expect(() => StorageAuth.awsWorkloadIdentity({ serviceAccount, roleArn: 'model-reader' }))
      .toThrow(/'roleArn' must be an IAM role ARN such as arn:aws:iam::123456789012:role\/model-reader, got 'model-reader'/);
    expect(() => StorageAuth.gcpWorkloadIdentity({ serviceAccount, gcpServiceAccount: 'reader@gmail.com' }))
      .toThrow(/'gcpServiceAccount' must be a Google service account email/);
    const imported = ServiceAccount.fromServiceAccountName(chart, 'Imported', 'existing');
    expect(() => StorageAuth.awsWorkloadIdentity({ serviceAccount: imported, roleArn: ROLE }))
      .toThrow(/'roleArn' annotates the service account with eks.amazonaws.com\/role-arn, but 'existing' is imported; annotate it where it is defined and omit 'roleArn'/);
    // Without roleArn an imported ServiceAccount is fine (annotated elsewhere, or EKS Pod Identity).
    expect(StorageAuth.awsWorkloadIdentity({ serviceAccount: imported })).toBeInstanceOf(StorageAuth);
  });

  test('fails when one ServiceAccount would get two different roles', () => {
    const chart = Testing.chart();
    const serviceAccount = new ServiceAccount(chart, 'A', { metadata: { name: 'a' } });
    StorageAuth.awsWorkloadIdentity({ serviceAccount, roleArn: ROLE });
    expect(StorageAuth.awsWorkloadIdentity({ serviceAccount, roleArn: ROLE })).toBeInstanceOf(StorageAuth);
    expect(() => StorageAuth.awsWorkloadIdentity({ serviceAccount, roleArn: 'arn:aws:iam::123456789012:role/other' }))
      .toThrow(/service account 'a' already has eks.amazonaws.com\/role-arn: 'arn:aws:iam::123456789012:role\/model-reader'/);
  });
});
