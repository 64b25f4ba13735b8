/**
 * Custom resource spec -> construct props -> objects, in memory: the objects are exactly what the
 * constructs synthesize for the same props, names are stable, and a bad spec is a SpecError that
 * names the field and carries the construct's own message.
 */
import { Chart, Duration, Size, Testing } from 'cdk8s';
import { Cpu, EnvValue, Secret } from 'cdk8s-plus-33';
import { RESOURCES } from '../../../examples/controller/resources';
import { CanaryRollout, DeploymentMode, EndpointIngress, ModelCopies, ModelEndpoint, ModelMesh, StorageUri, TransformerModule } from '../../../src';
import { renderCustomResource, SpecError, validateCustomResource } from '../../../src/controller/spec';
import { CustomResource } from '../../../src/controller/spec/render';

const API_VERSION = 'serving.cdk8s-model-serving.io/v1alpha1';
const cr = (kind: string, spec: unknown, name = 'iris', namespace = 'models'): CustomResource => ({ apiVersion: API_VERSION, kind, metadata: { name, namespace, uid: 'u-1', generation: 1 }, spec });
const byKind = (objs: any[], kind: string) => objs.filter(o => o.kind === kind);

/** What the construct synthesizes for the same props in a chart named like the CR (as renderCustomResource builds it). */
function synthesized(build: (chart: Chart) => void, name = 'iris', namespace = 'models'): any[] {
  const app = Testing.app();
  const chart = new Chart(app, name, { namespace });
  build(chart);
  return Testing.synth(chart);
}

describe('ModelEndpoint', () => {
  test('a minimal spec renders the same objects as the construct with the same props', () => {
    const objs = renderCustomResource(cr('ModelEndpoint', { modelName: 'iris', storageUri: 's3://models/iris' }));
    const expected = synthesized(chart => new ModelEndpoint(chart, 'ModelEndpoint', { name: 'iris', modelName: 'iris', storageUri: StorageUri.s3('models', 'iris') }));
    expect(objs).toEqual(expected);
    expect(objs.every(o => o.metadata.namespace === 'models')).toBe(true);
    expect(byKind(objs, 'Service')[0]).toMatchObject({ apiVersion: 'serving.knative.dev/v1', metadata: { name: 'iris' } });
  });

  test('durations, quantities, env values, enums, unions and add* fields map to the construct props', () => {
    const spec = {
      modelName: 'iris',
      storageUri: 's3://models/iris',
      mode: 'RawDeployment',
      minReplicas: 2,
      maxReplicas: 5,
      timeout: '1m30s',
      resources: { cpu: { request: '250m', limit: 2 }, memory: { request: '256Mi', limit: '1Gi' } },
      env: { MODE: { value: 'fast' }, TOKEN: { secretKeyRef: { name: 'api', key: 'token' } } },
      storageCredentials: 'bucket-keys',
      ingress: { gatewayApi: { gatewayName: 'public' } },
      transformer: { module: { code: { code: 'exports.preprocess = (x) => x;' } }, minReplicas: 1 },
    };
    const objs = renderCustomResource(cr('ModelEndpoint', spec));
    const expected = synthesized((chart) => {
      const e = new ModelEndpoint(chart, 'ModelEndpoint', {
        name: 'iris',
        modelName: 'iris',
        storageUri: StorageUri.s3('models', 'iris'),
        mode: DeploymentMode.RAW,
        minReplicas: 2,
        maxReplicas: 5,
        timeout: Duration.seconds(90),
        resources: { cpu: { request: Cpu.millis(250), limit: Cpu.units(2) }, memory: { request: Size.mebibytes(256), limit: Size.gibibytes(1) } },
        env: {
          MODE: EnvValue.fromValue('fast'),
          TOKEN: EnvValue.fromSecretValue({ secret: Secret.fromSecretName(chart, 'S', 'api'), key: 'token' }),
        },
        storageCredentials: Secret.fromSecretName(chart, 'C', 'bucket-keys'),
        ingress: EndpointIngress.gatewayApi({ gatewayName: 'public' }),
      });
      e.addTransformer({ module: TransformerModule.fromCode('exports.preprocess = (x) => x;'), minReplicas: 1 });
    });
    expect(objs).toEqual(expected);
    const deployment = byKind(objs, 'Deployment').find(d => d.metadata.name === 'iris');
    const container = deployment.spec.template.spec.containers[0];
    expect(container.resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '1Gi' } });
    expect(container.env).toEqual(expect.arrayContaining([{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'api', key: 'token' } } }]));
    expect(byKind(objs, 'HTTPRoute')).toHaveLength(1);
    expect(byKind(objs, 'Deployment').map(d => d.metadata.name).sort()).toEqual(['iris', 'iris-transformer']);
  });

  test('rendering twice gives identical objects (names derived from the CR name, not from the run)', () => {
    const spec = { modelName: 'iris', storageUri: 's3://models/iris', transformer: { module: { code: { code: 'exports.preprocess = (x) => x;' } } } };
    const first = renderCustomResource(cr('ModelEndpoint', spec));
    expect(renderCustomResource(cr('ModelEndpoint', spec))).toEqual(first);
    expect(byKind(first, 'ConfigMap').map(c => c.metadata.name)).toContain('iris-modelendpoint-transformer-module-c8b70f23');
  });

  test('fails with the construct\'s message, naming spec.minReplicas', () => {
    const resource = cr('ModelEndpoint', { modelName: 'iris', storageUri: 's3://models/iris', minReplicas: 5, maxReplicas: 2 });
    let construct = '';
    try {
      synthesized(chart => new ModelEndpoint(chart, 'ModelEndpoint', { name: 'iris', modelName: 'iris', storageUri: StorageUri.s3('models', 'iris'), minReplicas: 5, maxReplicas: 2 }));
    } catch (e) { construct = (e as Error).message; }
    expect(construct).not.toBe('');
    expect(() => renderCustomResource(resource)).toThrow(SpecError);
    expect(() => renderCustomResource(resource)).toThrow(`spec.minReplicas: ${construct}`);
    expect(() => validateCustomResource(resource)).toThrow(`spec.minReplicas: ${construct}`);
  });

  test('fails naming the field of a wrong JSON type, an unknown field, a missing required field and a bad enum', () => {
    const base = { modelName: 'iris', storageUri: 's3://models/iris' };
    expect(() => renderCustomResource(cr('ModelEndpoint', { ...base, timeout: 30 }))).toThrow(/^spec\.timeout: must be a duration such as 30s/);
    expect(() => renderCustomResource(cr('ModelEndpoint', { ...base, minReplica: 1 }))).toThrow(/^spec\.minReplica: is not a field here/);
    expect(() => renderCustomResource(cr('ModelEndpoint', { modelName: 'iris' }))).toThrow(/^spec\.storageUri: 'storageUri' is required with our model server/);
    expect(() => renderCustomResource(cr('ModelEndpoint', { ...base, mode: 'Knative' }))).toThrow(/^spec\.mode: must be one of Serverless, RawDeployment, got "Knative"$/);
    expect(() => renderCustomResource(cr('ModelEndpoint', { ...base, resources: { memory: { limit: '1Gb' } } }))).toThrow(/^spec\.resources\.memory\.limit: must be a quantity of bytes/);
    expect(() => renderCustomResource(cr('ModelEndpoint', { ...base, ingress: { istio: {}, none: {} } }))).toThrow(/^spec\.ingress: must set exactly one of gatewayApi, istio, kubernetes, none, got istio, none$/);
    expect(() => renderCustomResource(cr('ModelEndpoint', { ...base, storageUri: 'ftp://x/y' }))).toThrow(/^spec\.storageUri: 'storageUri' has an unknown scheme 'ftp:\/\/'/);
    expect(() => renderCustomResource(cr('ModelEndpoint', { ...base, transformer: { minReplicas: 1 } })))
      .toThrow("spec.transformer.module: set exactly one of 'module' (our model server runs it) and 'container' (your own transformer image)");
  });

  test('fails naming metadata.name when the CR name is not a DNS-1035 label', () => {
    expect(() => renderCustomResource(cr('ModelEndpoint', { modelName: 'iris', storageUri: 's3://m/i' }, '1iris'))).toThrow(/^metadata\.name: 'name'/);
  });
});

describe('CanaryRollout', () => {
  test('renders the same objects as the construct, with the traffic split', () => {
    const spec = { modelName: 'iris', stable: { version: 'v1', storageUri: 's3://m/v1' }, canary: { version: 'v2', storageUri: 's3://m/v2' }, trafficPercent: 20 };
    const objs = renderCustomResource(cr('CanaryRollout', spec));
    const expected = synthesized(chart => new CanaryRollout(chart, 'CanaryRollout', {
      name: 'iris', modelName: 'iris', stable: { version: 'v1', storageUri: StorageUri.s3('m', 'v1') }, canary: { version: 'v2', storageUri: StorageUri.s3('m', 'v2') }, trafficPercent: 20,
    }));
    expect(objs).toEqual(expected);
    expect(byKind(objs, 'Service')[0].spec.traffic.map((t: any) => t.percent)).toEqual([80, 20]);
  });

  describe('at the traffic a rollout analysis reached (the controller\'s override; the spec stays the end state)', () => {
    const analysed = (extra: object = {}) => cr('CanaryRollout', {
      modelName: 'iris',
      stable: { version: 'v1', storageUri: 's3://m/v1' },
      canary: { version: 'v2', storageUri: 's3://m/v2' },
      analysis: { stepWeights: [10, 25, 100], interval: '30s' },
      ...extra,
    });
    test('serverless: the Knative Service splits at the weight reached', () => {
      const objs = renderCustomResource(analysed(), { weight: 25, promoted: false });
      expect(byKind(objs, 'Service')[0].spec.traffic.map((t: any) => [t.tag, t.percent])).toEqual([['stable', 75], ['canary', 25]]);
    });
    test('raw mode with Gateway API: the HTTPRoute weights the two versions\' Services at the weight reached', () => {
      const objs = renderCustomResource(analysed({ mode: 'RawDeployment', ingress: { gatewayApi: { gatewayName: 'public' } } }), { weight: 25, promoted: false });
      const route = byKind(objs, 'HTTPRoute')[0];
      // The split rule is the one with both versions' backends (the others pin a version by header).
      const split = route.spec.rules.find((r: any) => (r.backendRefs ?? []).length === 2);
      expect(split.backendRefs.map((b: any) => [b.name, b.weight])).toEqual([['iris-stable', 75], ['iris-canary', 25]]);
    });
    test('promoted: the canary is the only version; the stable version\'s workload is gone', () => {
      const objs = renderCustomResource(analysed({ mode: 'RawDeployment' }), { weight: 100, promoted: true });
      expect(byKind(objs, 'Deployment').map((d: any) => d.metadata.name)).toEqual(['iris-v2']);
    });
  });

  test('fails naming spec.trafficPercent without a canary', () => {
    expect(() => renderCustomResource(cr('CanaryRollout', { modelName: 'iris', stable: { version: 'v1', storageUri: 's3://m/v1' }, trafficPercent: 5 })))
      .toThrow(/^spec\.trafficPercent: 'trafficPercent' is 5, but there is no 'canary'/);
  });
});

describe('ModelMesh', () => {
  test('spec.models are the models added, with sizes and copies', () => {
    const spec = { memoryPerServer: '1Gi', replicas: 2, models: [{ name: 'iris', storageUri: 's3://m/iris', memoryEstimate: '64Mi', copies: 'all' }] };
    const objs = renderCustomResource(cr('ModelMesh', spec, 'mesh'));
    const expected = synthesized(chart => new ModelMesh(chart, 'ModelMesh', {
      name: 'mesh',
      memoryPerServer: Size.gibibytes(1),
      replicas: 2,
      models: [{ name: 'iris', storageUri: StorageUri.s3('m', 'iris'), memoryEstimate: Size.mebibytes(64), copies: ModelCopies.EVERY_MEMBER }],
    }), 'mesh');
    expect(objs).toEqual(expected);
    expect(byKind(objs, 'ConfigMap')[0].data['models.json']).toContain('"copies": "all"');
  });

  test('fails naming spec.models for a model the mesh refuses, not the CR\'s name', () => {
    const model = { storageUri: 's3://m/iris', memoryEstimate: '64Mi' };
    expect(() => renderCustomResource(cr('ModelMesh', { memoryPerServer: '1Gi', models: [{ ...model, name: 'Iris' }] }, 'mesh')))
      .toThrow(/^spec\.models: 'name' must be a DNS-1123 label .*, got 'Iris'$/);
    expect(() => renderCustomResource(cr('ModelMesh', { memoryPerServer: '1Gi', models: [{ ...model, name: 'iris', format: 'sklearn' }] }, 'mesh')))
      .toThrow(/^spec\.models: model 'iris' has 'format' 'sklearn', which the mesh's model server does not run/);
  });

  test('fails with the synth-time validation text when the mesh has no models', () => {
    expect(() => renderCustomResource(cr('ModelMesh', { memoryPerServer: '1Gi' }, 'mesh'))).toThrow(
      "spec.models: Validation failed with the following errors:\n  [mesh/ModelMesh] the mesh has no models; register at least one with addModel() or the 'models' prop");
  });
});

test('fails naming apiVersion, kind and metadata.namespace when they are wrong', () => {
  expect(() => renderCustomResource({ ...cr('ModelEndpoint', {}), apiVersion: 'v1' })).toThrow(/^apiVersion: must be serving.cdk8s-model-serving.io\/v1alpha1/);
  expect(() => renderCustomResource(cr('InferenceService', {}))).toThrow(/^kind: must be one of ModelEndpoint, CanaryRollout, ModelMesh/);
  expect(() => renderCustomResource(cr('ModelEndpoint', {}, 'iris', ''))).toThrow(/^metadata\.namespace: is required/);
});

test('the custom resources of examples/controller pass the admission check and render', () => {
  for (const r of RESOURCES) {
    const resource = cr(r.kind, r.spec, r.name);
    expect(() => validateCustomResource(resource)).not.toThrow();
    expect(renderCustomResource(resource).length).toBeGreaterThan(0);
  }
  expect(RESOURCES.map(r => r.kind).sort()).toEqual(['CanaryRollout', 'ModelEndpoint', 'ModelMesh']);
});
