/**
 * The KServe emit target for a transformer, an explainer and a CanaryRollout: KServe's
 * `spec.transformer` / `spec.explainer` and `canaryTrafficPercent`, and the refusals.
 */
import { Chart, Testing } from 'cdk8s';
import {
  CanaryRollout, CanaryRolloutProps, DeploymentMode, ExplainerBackground, ModelEndpoint, ServingTarget, StorageUri, TransformerModule,
} from '../../src';
import { parseConfig } from '../../src/server/config';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');
const MODULE = TransformerModule.fromCode('exports.preprocess = async (r) => r;\n', 'iris.js');

function endpoint(mode = DeploymentMode.SERVERLESS) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  const e = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: IRIS, mode, target: ServingTarget.KSERVE });
  return { chart, endpoint: e };
}

describe.each([DeploymentMode.SERVERLESS, DeploymentMode.RAW])('transformer and explainer in %s mode', (mode) => {
  test('become spec.transformer and spec.explainer, calling KServe\'s predictor Service', () => {
    const { chart, endpoint: e } = endpoint(mode);
    e.addTransformer({ module: MODULE, minReplicas: 2, maxReplicas: 4 });
    e.addExplainer({ background: ExplainerBackground.fromRows([[0, 0, 0, 0]]) });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    // Only the InferenceService runs them: no Knative Service, Deployment or Service of ours.
    expect(findByKind(manifests, 'Service')).toEqual([]);
    expect(findByKind(manifests, 'Deployment')).toEqual([]);
    const isvc = findOne(manifests, 'InferenceService');

    const t = isvc.spec.transformer;
    expect(t).toMatchObject({ minReplicas: 2, maxReplicas: 4, labels: expect.objectContaining({ 'app.kubernetes.io/component': 'transformer' }) });
    expect(t.containers).toHaveLength(1);
    expect(t.containers[0].name).toBe('kserve-container');
    const args: string[] = t.containers[0].args;
    expect(args[args.indexOf('--predictor-host') + 1]).toBe('iris-predictor.ml.svc.cluster.local:80');
    // The module's ConfigMap is still ours, mounted into the component.
    const moduleMap = findByKind(manifests, 'ConfigMap').find(m => m.data?.['iris.js'] !== undefined);
    expect(t.volumes).toContainEqual({ name: 'transformer-module', configMap: { name: moduleMap.metadata.name, items: [{ key: 'iris.js', path: 'iris.js' }] } });

    const x = isvc.spec.explainer;
    expect(x.containers[0].name).toBe('kserve-container');
    expect(x.labels['app.kubernetes.io/component']).toBe('explainer');
    expect(x.containers[0].args).toContain('--explainer-method');

    // Each component's monitor selects its pods by KServe's component label.
    const monitors = findByKind(manifests, 'PodMonitor');
    expect(monitors.map(m => m.spec.selector.matchLabels.component).sort()).toEqual(['explainer', 'predictor', 'transformer']);
  });
});

test('our server accepts the args KServe appends to the transformer and the explainer, keeping its own', () => {
  const { chart, endpoint: e } = endpoint();
  e.addTransformer({ module: MODULE });
  e.addExplainer({ background: ExplainerBackground.fromRows([[0, 0, 0, 0]]) });
  const isvc = findOne(Testing.synth(chart), 'InferenceService');
  // What KServe's CustomTransformer/CustomExplainer GetContainer append (transformer_custom.go, explainer_custom.go).
  const kserveAppends = ['--model_name', 'iris', '--predictor_host', 'iris-predictor.ml', '--http_port', '8080'];
  const t = parseConfig([...isvc.spec.transformer.containers[0].args.slice(1), ...kserveAppends], {});
  expect(t.component).toMatchObject({ kind: 'transformer', predictorHost: 'iris-predictor.ml.svc.cluster.local:80' });
  expect(t.modelName).toBe('iris');
  const x = parseConfig([...isvc.spec.explainer.containers[0].args.slice(1), ...kserveAppends], {});
  expect(x.component).toMatchObject({ kind: 'explainer', predictorHost: 'iris-predictor.ml.svc.cluster.local:80' });
  expect(x.httpPort).toBe(8080);
});

test('fails on a KServe argument without a value', () => {
  expect(() => parseConfig(['--model-name', 'iris', '--model-dir', '/mnt/models', '--model_name'], {})).toThrow(/'--model_name' needs a value/);
});

describe('transformer and explainer options KServe cannot express', () => {
  test('fails with a transformer in process', () => {
    const { endpoint: e } = endpoint();
    expect(() => e.addTransformer({ module: MODULE, inProcess: true })).toThrow(/the transformer's 'inProcess' runs it inside our predictor.*ServingTarget\.NATIVE/);
  });
  test('fails with a collocated transformer', () => {
    const { endpoint: e } = endpoint();
    expect(() => e.addTransformer({ module: MODULE, collocated: true })).toThrow(/the transformer's 'collocated' is not emitted for KServe/);
  });
  test('fails with an explainer in process', () => {
    const { endpoint: e } = endpoint();
    expect(() => e.addExplainer({ inProcess: true })).toThrow(/the explainer's 'inProcess'/);
  });
});

function rollout(props: Partial<CanaryRolloutProps> = {}) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  const r = new CanaryRollout(chart, 'Rollout', {
    modelName: 'iris',
    target: ServingTarget.KSERVE,
    stable: { version: 'v1', storageUri: StorageUri.s3('models', 'iris/v1/model.onnx') },
    canary: { version: 'v2', storageUri: StorageUri.s3('models', 'iris/v2/model.onnx'), minReplicas: 2 },
    trafficPercent: 20,
    ...props,
  });
  return { chart, rollout: r };
}

describe('CanaryRollout with target KSERVE', () => {
  test('the spec is the canary version, with canaryTrafficPercent; the rest stays on the last rolled-out revision', () => {
    const { chart } = rollout();
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const isvc = findOne(manifests, 'InferenceService');
    expect(isvc.metadata.name).toBe('iris');
    expect(isvc.spec.predictor.canaryTrafficPercent).toBe(20);
    expect(isvc.spec.predictor.model.storageUri).toBe('s3://models/iris/v2/model.onnx');
    expect(isvc.spec.predictor.minReplicas).toBe(2);
    // The version label reaches the pods, so the monitor tells the versions apart.
    expect(isvc.spec.predictor.labels['serving.cdk8s-model-serving.io/version']).toBe('v2');
    expect(findByKind(manifests, 'VirtualService')).toEqual([]);
    expect(findByKind(manifests, 'DestinationRule')).toEqual([]);
  });

  test('without a canary, the stable version without canaryTrafficPercent', () => {
    const { chart } = rollout({ canary: undefined, trafficPercent: undefined });
    const isvc = findOne(Testing.synth(chart), 'InferenceService');
    expect(isvc.spec.predictor.canaryTrafficPercent).toBeUndefined();
    expect(isvc.spec.predictor.model.storageUri).toBe('s3://models/iris/v1/model.onnx');
  });

  test('a rollback is canaryTrafficPercent 0', () => {
    const { chart } = rollout({ trafficPercent: 0 });
    expect(findOne(Testing.synth(chart), 'InferenceService').spec.predictor.canaryTrafficPercent).toBe(0);
  });

  test.each([
    ['a canary in raw mode', { mode: DeploymentMode.RAW }, /'canary' needs serverless mode with KServe/],
    ['shadow', { shadow: true }, /'shadow' has no KServe field: KServe's canary splits traffic, it cannot mirror it/],
    ['versionHeader', { versionHeader: 'x-v' }, /'versionHeader' has no KServe field/],
    ['retries', { retries: { attempts: 1 } }, /'retries' has no KServe field/],
    ['security', { security: {} }, /'security' has no KServe field/],
  ] as Array<[string, Partial<CanaryRolloutProps>, RegExp]>)('fails with %s', (_, props, message) => {
    expect(() => rollout(props)).toThrow(message);
  });
});
