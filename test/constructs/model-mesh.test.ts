import { ApiObject, Chart, Duration, JsonPatch, Size, Testing } from 'cdk8s';
import { Cpu, Secret, ServiceAccount } from 'cdk8s-plus-33';
import { EndpointIngress, ModelCopies, ModelFormat, ModelMesh, ModelMeshProps, StorageUri } from '../../src';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris');

function build(props: Partial<ModelMeshProps> = {}, chartProps: { namespace?: string } = {}) {
  const app = Testing.app();
  const chart = new Chart(app, 'test', chartProps);
  const mesh = new ModelMesh(chart, 'Mesh', { memoryPerServer: Size.gibibytes(1), ...props });
  return { chart, mesh };
}

function synth(chart: Chart) {
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests);
  return manifests;
}

function registry(manifests: any[]): any {
  return JSON.parse(findOne(manifests, 'ConfigMap').data['models.json']);
}

function container(manifests: any[]): any {
  return findOne(manifests, 'Deployment').spec.template.spec.containers[0];
}

describe('ModelMesh', () => {
  test('defaults: a Deployment, two Services, a registry ConfigMap, a PDB and a NetworkPolicy, all valid', () => {
    // GIVEN
    const { chart, mesh } = build();
    // WHEN
    mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) });
    const manifests = synth(chart);
    // THEN
    expect(manifests).toMatchSnapshot();
    expect(manifests.map(m => `${m.apiVersion}/${m.kind}`).sort()).toEqual([
      'apps/v1/Deployment',
      'networking.k8s.io/v1/NetworkPolicy',
      'policy/v1/PodDisruptionBudget',
      'v1/ConfigMap',
      'v1/Service',
      'v1/Service',
    ]);
    expect(findOne(manifests, 'Deployment').spec.replicas).toBe(3);
  });

  test('full: every prop, with autoscaling and an Istio VirtualService', () => {
    const { chart } = build({
      name: 'models',
      namespace: 'serving',
      replicas: 2,
      maxReplicas: 6,
      memoryPerServer: Size.gibibytes(2),
      serverOverhead: Size.mebibytes(512),
      cpuRequest: Cpu.millis(250),
      cpuLimit: Cpu.units(2),
      loadTimeout: Duration.seconds(90),
      ingress: EndpointIngress.istio({ gateway: 'istio-system/public' }),
      host: 'models.example.org',
      serverImage: 'registry.example.com/model-server:1.2.3',
      labels: { team: 'ml' },
      runAsUser: 2000,
      allowedNamespaces: ['istio-system', 'clients'],
      models: [
        { name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64), copies: ModelCopies.count(2) },
        { name: 'diabetes', storageUri: StorageUri.https('https://models.example.com/diabetes.onnx'), memoryEstimate: Size.mebibytes(32), copies: ModelCopies.EVERY_MEMBER, format: ModelFormat.ONNX },
      ],
    });
    const manifests = synth(chart);
    expect(manifests).toMatchSnapshot();
    const hpa = findOne(manifests, 'HorizontalPodAutoscaler');
    expect(hpa.spec.minReplicas).toBe(2);
    expect(hpa.spec.maxReplicas).toBe(6);
    const vs = findOne(manifests, 'VirtualService');
    expect(vs.spec.hosts).toEqual(['models.example.org']);
    expect(vs.spec.gateways).toEqual(['istio-system/public']);
    expect(vs.spec.http[0].match).toEqual([
      { uri: { exact: '/v2/models/diabetes/infer' } },
      { uri: { exact: '/v2/models/iris/infer' } },
    ]);
    expect(vs.spec.http[0].route[0].destination).toEqual({ host: 'models.serving.svc.cluster.local', port: { number: 80 } });
  });

  test('the registry ConfigMap lists every model with its capacity settings', () => {
    const { chart, mesh } = build();
    mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64), copies: ModelCopies.count(2) });
    mesh.addModel({ name: 'hot', storageUri: IRIS, memoryEstimate: Size.mebibytes(16), copies: ModelCopies.EVERY_MEMBER });
    expect(registry(synth(chart))).toEqual({
      models: [
        { name: 'hot', storageUri: 's3://models/iris', format: 'onnx', memoryEstimateBytes: 16 * 2 ** 20, copies: 'all' },
        { name: 'iris', storageUri: 's3://models/iris', format: 'onnx', memoryEstimateBytes: 64 * 2 ** 20, copies: 2 },
      ],
    });
  });

  test('members run the server in mesh mode with the budget, peer DNS, registry and load timeout', () => {
    const { chart, mesh } = build({ loadTimeout: Duration.seconds(30) }, { namespace: 'ml' });
    mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) });
    const manifests = synth(chart);
    const c = container(manifests);
    const arg = (flag: string) => c.args[c.args.indexOf(flag) + 1];
    expect(c.args[0]).toBe('serve');
    expect(arg('--mode')).toBe('mesh');
    expect(arg('--memory-budget-bytes')).toBe(String(2 ** 30));
    expect(arg('--peer-dns')).toBe(`${mesh.peerServiceName}.ml.svc.cluster.local`);
    expect(arg('--model-registry')).toBe('/etc/model-mesh/models.json');
    expect(arg('--load-timeout-ms')).toBe('30000');
    expect(c.env).toContainEqual({ name: 'MESH_SELF', value: '$(POD_IP):8080' });
    // memory request and limit = memoryPerServer + 256Mi overhead: explicit, not a multiplier
    expect(c.resources.requests.memory).toBe('1280Mi');
    expect(c.resources.limits.memory).toBe('1280Mi');
    // the registry is mounted read-only
    expect(c.volumeMounts).toContainEqual({ name: 'model-registry', mountPath: '/etc/model-mesh', readOnly: true });
  });

  test('pods get the restricted security defaults', () => {
    const { chart, mesh } = build();
    mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) });
    const pod = findOne(synth(chart), 'Deployment').spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.containers[0].securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  test('the peer Service is headless and lists members before they are ready', () => {
    const { chart, mesh } = build();
    mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) });
    const peers = findOne(synth(chart), 'Service', { name: mesh.peerServiceName });
    expect(peers.spec.clusterIP).toBe('None');
    expect(peers.spec.publishNotReadyAddresses).toBe(true);
  });

  test('a fixed-size pool has no HPA; one replica has no PDB', () => {
    const { chart, mesh } = build({ replicas: 1 });
    mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) });
    const manifests = synth(chart);
    expect(findByKind(manifests, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(findByKind(manifests, 'PodDisruptionBudget')).toEqual([]);
  });

  test('storage credentials and a service account are mounted and used', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test');
    const mesh = new ModelMesh(chart, 'Mesh', {
      memoryPerServer: Size.gibibytes(1),
      storageCredentials: Secret.fromSecretName(chart, 'Creds', 'store'),
      serviceAccount: ServiceAccount.fromServiceAccountName(chart, 'SA', 'mesh-sa'),
    });
    mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) });
    const pod = findOne(synth(chart), 'Deployment').spec.template.spec;
    expect(pod.serviceAccountName).toBe('mesh-sa');
    expect(pod.volumes).toContainEqual({ name: 'storage-credentials', secret: { secretName: 'store', defaultMode: 0o444 } });
  });

  test('addModel returns the model with its defaults', () => {
    const { mesh } = build();
    const model = mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) });
    expect(model.copies.copies).toBe(1);
    expect(model.format.name).toBe('onnx');
    expect(mesh.registeredModels.map(m => m.name)).toEqual(['iris']);
    expect(mesh.capacity.toMebibytes()).toBe(3 * 1024);
    expect(mesh.url).toBe(`http://${mesh.name}.default.svc.cluster.local`);
  });

  test('escape hatch: a JSON patch on the Deployment', () => {
    const { chart, mesh } = build();
    mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) });
    ApiObject.of(mesh).addJsonPatch(JsonPatch.add('/spec/minReadySeconds', 10));
    expect(findOne(synth(chart), 'Deployment').spec.minReadySeconds).toBe(10);
  });
});

describe('ModelMesh validation', () => {
  test('fails on a duplicate model name', () => {
    const { mesh } = build();
    mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) });
    expect(() => mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) })).toThrow(/model 'iris' is already registered/);
  });

  test('fails when the models need more memory than the pool has', () => {
    const { chart, mesh } = build({ replicas: 2 });
    for (let i = 0; i < 5; i++) {
      mesh.addModel({ name: `m${i}`, storageUri: IRIS, memoryEstimate: Size.mebibytes(512) });
    }
    expect(() => Testing.synth(chart)).toThrow(/\[test\/Mesh\] the models need 2684354560 bytes .* more than the pool's capacity of 2147483648 bytes/);
  });

  test('fails when every-member copies overflow the pool', () => {
    const { chart, mesh } = build({ replicas: 3 });
    mesh.addModel({ name: 'big', storageUri: IRIS, memoryEstimate: Size.mebibytes(700), copies: ModelCopies.EVERY_MEMBER });
    mesh.addModel({ name: 'big2', storageUri: IRIS, memoryEstimate: Size.mebibytes(700), copies: ModelCopies.EVERY_MEMBER });
    expect(() => Testing.synth(chart)).toThrow(/more than the pool's capacity/);
  });

  test('fails when copies exceed replicas', () => {
    const { mesh } = build({ replicas: 2 });
    expect(() => mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64), copies: ModelCopies.count(3) }))
      .toThrow(/asks for 3 copies, but the mesh has only 2 replicas/);
  });

  test('fails on an unknown storage scheme', () => {
    const { mesh } = build();
    expect(() => mesh.addModel({ name: 'iris', storageUri: StorageUri.fromUri('ftp://host/iris'), memoryEstimate: Size.mebibytes(64) }))
      .toThrow(/unknown scheme 'ftp:\/\/'/);
  });

  test('fails on a pvc:// storage URI, which members cannot fetch', () => {
    const { mesh } = build();
    expect(() => mesh.addModel({ name: 'iris', storageUri: StorageUri.pvc('models', 'iris'), memoryEstimate: Size.mebibytes(64) }))
      .toThrow(/pvc:\/\/ is not supported/);
  });

  test('fails on a mesh with no models', () => {
    const { chart } = build();
    expect(() => Testing.synth(chart)).toThrow(/\[test\/Mesh\] the mesh has no models/);
  });

  test('fails when one model is larger than a member', () => {
    const { mesh } = build();
    expect(() => mesh.addModel({ name: 'huge', storageUri: IRIS, memoryEstimate: Size.gibibytes(2) })).toThrow(/no member could load it/);
  });

  test('fails on a non-ONNX format', () => {
    const { mesh } = build();
    expect(() => mesh.addModel({ name: 'iris', storageUri: IRIS, memoryEstimate: Size.mebibytes(64), format: ModelFormat.SKLEARN }))
      .toThrow(/does not run \(it serves ONNX\)/);
  });

  test('fails on invalid copies, replicas and model names', () => {
    expect(() => ModelCopies.count(0)).toThrow(/positive integer, got 0/);
    expect(() => build({ replicas: 0 })).toThrow(/'replicas' must be a positive integer, got 0/);
    expect(() => build({ replicas: 3, maxReplicas: 2 })).toThrow(/'maxReplicas' must be an integer not below 'replicas'/);
    const { mesh } = build();
    expect(() => mesh.addModel({ name: 'Iris_1', storageUri: IRIS, memoryEstimate: Size.mebibytes(64) })).toThrow(/'name' must be a DNS-1123 label/);
  });
});
