/**
 * Autoscaling and rollout settings that used to be fixed or silently overridden (issue 15):
 * annotations that collide with our autoscaling annotations, unlimited `maxReplicas`, raw mode's
 * Deployment strategy, and the transformer's `scaleMetric`.
 */
import { Chart, Testing } from 'cdk8s';
import { DeploymentStrategy, PercentOrAbsolute } from 'cdk8s-plus-33';
import {
  CanaryRollout, DeploymentMode, ExplainerBackground, ModelEndpoint, ModelEndpointProps, ScaleMetric, StorageUri, TransformerModule,
  TransformerOptions,
} from '../../src';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');
const MODULE = TransformerModule.fromCode('exports.preprocess = async (r) => r;\n', 'iris.js');

function synth(props: Partial<ModelEndpointProps> = {}, transformer?: TransformerOptions) {
  const chart = new Chart(Testing.app(), 'test');
  const e = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', name: 'iris', storageUri: IRIS, ...props });
  if (transformer) e.addTransformer(transformer);
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return manifests;
}

const ksvc = (manifests: any[], name = 'iris') => findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name });
const revisionAnnotations = (manifests: any[], name = 'iris') => ksvc(manifests, name).spec.template.metadata.annotations;

describe('annotations', () => {
  test.each([DeploymentMode.SERVERLESS, DeploymentMode.RAW])('fails (%s): an autoscaling annotation we derive from a prop, naming the prop', (mode) => {
    expect(() => synth({ mode, annotations: { 'autoscaling.knative.dev/target': '1' } }))
      .toThrow(/'annotations' sets 'autoscaling.knative.dev\/target: 1', which the endpoint derives from 'scaleTarget' in both modes; remove it from 'annotations' and set 'scaleTarget' instead/);
  });

  test.each([
    ['autoscaling.knative.dev/class', 'scaleMetric'],
    ['autoscaling.knative.dev/metric', 'scaleMetric'],
    ['autoscaling.knative.dev/min-scale', 'minReplicas'],
    ['autoscaling.knative.dev/minScale', 'minReplicas'],
    ['autoscaling.knative.dev/max-scale', 'maxReplicas'],
    ['autoscaling.knative.dev/maxScale', 'maxReplicas'],
    ['autoscaling.knative.dev/initial-scale', 'initialScale'],
    ['autoscaling.knative.dev/initialScale', 'initialScale'],
    ['autoscaling.knative.dev/scale-down-delay', 'scaleDownDelay'],
  ])('fails: %s points to %s', (key, prop) => {
    expect(() => synth({ annotations: { [key]: '2' } })).toThrow(new RegExp(`set '${prop}' instead`));
  });

  test('fails on a CanaryRollout too', () => {
    const chart = new Chart(Testing.app(), 'test');
    expect(() => new CanaryRollout(chart, 'Rollout', {
      modelName: 'iris', stable: { version: 'v1', storageUri: IRIS }, annotations: { 'autoscaling.knative.dev/max-scale': '9' },
    })).toThrow(/set 'maxReplicas' instead/);
  });

  test('other annotations, including Knative autoscaling keys we never set, reach the Service and the revision unchanged', () => {
    const annotations = { 'autoscaling.knative.dev/window': '120s', 'example.com/team': 'ml' };
    const manifests = synth({ annotations }, { module: MODULE });
    for (const name of ['iris', 'iris-transformer']) {
      expect(ksvc(manifests, name).metadata.annotations).toEqual(annotations);
      expect(revisionAnnotations(manifests, name)).toMatchObject(annotations);
    }
    const raw = synth({ mode: DeploymentMode.RAW, annotations });
    expect(findOne(raw, 'Deployment', { name: 'iris' }).spec.template.metadata.annotations).toEqual(annotations);
  });
});

describe('maxReplicas: 0 means no limit', () => {
  test('serverless: the revision gets max-scale "0" (Knative: unlimited) and any minReplicas is accepted', () => {
    const manifests = synth({ maxReplicas: 0, minReplicas: 5 });
    expect(revisionAnnotations(manifests)).toMatchObject({
      'autoscaling.knative.dev/max-scale': '0',
      'autoscaling.knative.dev/min-scale': '5',
      'autoscaling.knative.dev/initial-scale': '5',
    });
  });

  test('serverless: initialScale above the default maximum is accepted when there is no limit', () => {
    expect(revisionAnnotations(synth({ maxReplicas: 0, initialScale: 50 }))['autoscaling.knative.dev/initial-scale']).toBe('50');
  });

  test('serverless: a transformer may be unlimited too', () => {
    const manifests = synth({}, { module: MODULE, maxReplicas: 0 });
    expect(revisionAnnotations(manifests, 'iris-transformer')['autoscaling.knative.dev/max-scale']).toBe('0');
  });

  test('serverless: a CanaryRollout version may be unlimited', () => {
    const chart = new Chart(Testing.app(), 'test');
    new CanaryRollout(chart, 'Rollout', {
      modelName: 'iris', name: 'iris', stable: { version: 'v1', storageUri: IRIS, maxReplicas: 0 },
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    expect(revisionAnnotations(manifests)['autoscaling.knative.dev/max-scale']).toBe('0');
  });

  test('fails in raw mode, where the HorizontalPodAutoscaler needs a bound', () => {
    expect(() => synth({ mode: DeploymentMode.RAW, maxReplicas: 0 }))
      .toThrow(/'maxReplicas' is 0 \(no limit\), which only Knative's autoscaler allows; raw mode's HorizontalPodAutoscaler needs an upper bound: set 'maxReplicas' to 1 or more/);
    expect(() => synth({ mode: DeploymentMode.RAW }, { module: MODULE, maxReplicas: 0 })).toThrow(/'maxReplicas' is 0 \(no limit\)/);
  });

  test('fails: a negative maxReplicas', () => {
    expect(() => synth({ maxReplicas: -1 })).toThrow(/'maxReplicas' must be a non-negative integer, got -1/);
  });
});

describe('deploymentStrategy (raw mode)', () => {
  test('defaults to a rolling update that never drops below capacity, on every Deployment', () => {
    const chart = new Chart(Testing.app(), 'test');
    const e = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', name: 'iris', storageUri: StorageUri.s3('models', 'iris'), mode: DeploymentMode.RAW });
    e.addTransformer({ module: MODULE });
    e.addExplainer({ background: ExplainerBackground.fromRows([[1, 2, 3, 4]]) });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const deployments = findByKind(manifests, 'Deployment');
    expect(deployments.map((d: any) => d.metadata.name).sort()).toEqual(['iris', 'iris-explainer', 'iris-transformer']);
    for (const d of deployments) expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
  });

  test('a rolling update with percentages reaches the predictor and the transformer', () => {
    const deploymentStrategy = DeploymentStrategy.rollingUpdate({
      maxSurge: PercentOrAbsolute.percent(50),
      maxUnavailable: PercentOrAbsolute.absolute(1),
    });
    const manifests = synth({ mode: DeploymentMode.RAW, deploymentStrategy }, { module: MODULE });
    for (const name of ['iris', 'iris-transformer']) {
      expect(findOne(manifests, 'Deployment', { name }).spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '50%', maxUnavailable: 1 } });
    }
  });

  test('Recreate, for a model too large for two pods at once', () => {
    const manifests = synth({ mode: DeploymentMode.RAW, deploymentStrategy: DeploymentStrategy.recreate() });
    expect(findOne(manifests, 'Deployment').spec.strategy).toEqual({ type: 'Recreate' });
  });

  test('each CanaryRollout version Deployment follows it', () => {
    const chart = new Chart(Testing.app(), 'test');
    new CanaryRollout(chart, 'Rollout', {
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      deploymentStrategy: DeploymentStrategy.recreate(),
      stable: { version: 'v1', storageUri: IRIS },
      canary: { version: 'v2', storageUri: IRIS },
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const deployments = findByKind(manifests, 'Deployment');
    expect(deployments).toHaveLength(2);
    for (const d of deployments) expect(d.spec.strategy).toEqual({ type: 'Recreate' });
  });

  test('fails in serverless mode, where Knative rolls out revisions', () => {
    expect(() => synth({ deploymentStrategy: DeploymentStrategy.recreate() }))
      .toThrow(/'deploymentStrategy' sets how raw mode's Deployments roll out; in serverless mode Knative rolls out each revision itself/);
  });

  // rt-finish: read through cdk8s-plus's public rendering (a Deployment's JSON), not its internal _toKube().
  test('rollingUpdate() without options takes cdk8s-plus\'s own defaults (25% / 25%), on every Deployment', () => {
    const manifests = synth({ mode: DeploymentMode.RAW, deploymentStrategy: DeploymentStrategy.rollingUpdate() }, { module: MODULE });
    for (const name of ['iris', 'iris-transformer']) {
      expect(findOne(manifests, 'Deployment', { name }).spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
    }
  });

  test('absolute values stay numbers, percents stay strings; the default is a fresh object per endpoint', () => {
    const deploymentStrategy = DeploymentStrategy.rollingUpdate({
      maxSurge: PercentOrAbsolute.absolute(2),
      maxUnavailable: PercentOrAbsolute.percent(10),
    });
    expect(findOne(synth({ mode: DeploymentMode.RAW, deploymentStrategy }), 'Deployment').spec.strategy)
      .toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 2, maxUnavailable: '10%' } });
    const first = findOne(synth({ mode: DeploymentMode.RAW }), 'Deployment').spec.strategy;
    first.rollingUpdate.maxSurge = 99;
    expect(findOne(synth({ mode: DeploymentMode.RAW }), 'Deployment').spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
  });

  test('reading the strategy adds nothing to the user\'s app', () => {
    const manifests = synth({ mode: DeploymentMode.RAW, deploymentStrategy: DeploymentStrategy.recreate() });
    expect(findByKind(manifests, 'Deployment').map((d: any) => d.metadata.name)).toEqual(['iris']);
    expect(JSON.stringify(manifests)).not.toContain('strategy-probe');
  });

  test('fails on a percent above 100', () => {
    const deploymentStrategy = DeploymentStrategy.rollingUpdate({
      maxSurge: PercentOrAbsolute.percent(1),
      maxUnavailable: PercentOrAbsolute.percent(150),
    });
    expect(() => synth({ mode: DeploymentMode.RAW, deploymentStrategy }))
      .toThrow(/'deploymentStrategy' maxUnavailable must be a non-negative integer or a percent from 0% to 100%, got 150%/);
  });
});

describe('the transformer scaleMetric', () => {
  test('serverless: rps on Knative\'s KPA with its default target', () => {
    const a = revisionAnnotations(synth({}, { module: MODULE, scaleMetric: ScaleMetric.RPS }), 'iris-transformer');
    expect(a).toMatchObject({
      'autoscaling.knative.dev/class': 'kpa.autoscaling.knative.dev',
      'autoscaling.knative.dev/metric': 'rps',
      'autoscaling.knative.dev/target': '200',
    });
  });

  test('serverless: cpu on Knative\'s HPA class', () => {
    const a = revisionAnnotations(synth({}, { module: MODULE, scaleMetric: ScaleMetric.CPU, scaleTarget: 60 }), 'iris-transformer');
    expect(a).toMatchObject({
      'autoscaling.knative.dev/class': 'hpa.autoscaling.knative.dev',
      'autoscaling.knative.dev/metric': 'cpu',
      'autoscaling.knative.dev/target': '60',
    });
  });

  test('serverless: the default is still concurrency 100', () => {
    const a = revisionAnnotations(synth({}, { module: MODULE }), 'iris-transformer');
    expect(a).toMatchObject({ 'autoscaling.knative.dev/metric': 'concurrency', 'autoscaling.knative.dev/target': '100' });
  });

  test('raw: memory utilization on the transformer\'s HorizontalPodAutoscaler', () => {
    const manifests = synth({ mode: DeploymentMode.RAW }, { module: MODULE, scaleMetric: ScaleMetric.MEMORY, scaleTarget: 70 });
    const hpa = findOne(manifests, 'HorizontalPodAutoscaler', { name: 'iris-transformer' });
    expect(hpa.spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 70 } } }]);
  });

  test('fails: concurrency for a raw transformer, naming the metrics raw mode allows', () => {
    expect(() => synth({ mode: DeploymentMode.RAW }, { module: MODULE, scaleMetric: ScaleMetric.CONCURRENCY }))
      .toThrow(/'scaleMetric' concurrency needs Knative's autoscaler \(serverless mode\); in raw mode use ScaleMetric.CPU or ScaleMetric.MEMORY/);
  });
});

// rt-finish: the explainer scales like the transformer (explanations are CPU-bound).
describe('the explainer scaleMetric', () => {
  const BACKGROUND = ExplainerBackground.fromRows([[1, 2, 3, 4]]);
  function synthExplainer(props: Partial<ModelEndpointProps>, explainer: Record<string, unknown>) {
    const chart = new Chart(Testing.app(), 'test');
    const e = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', name: 'iris', storageUri: IRIS, ...props });
    e.addExplainer({ background: BACKGROUND, ...explainer });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    return manifests;
  }

  test('serverless: cpu on Knative\'s HPA class with the given target', () => {
    const a = revisionAnnotations(synthExplainer({}, { scaleMetric: ScaleMetric.CPU, scaleTarget: 60 }), 'iris-explainer');
    expect(a).toMatchObject({
      'autoscaling.knative.dev/class': 'hpa.autoscaling.knative.dev',
      'autoscaling.knative.dev/metric': 'cpu',
      'autoscaling.knative.dev/target': '60',
    });
    // The predictor keeps its own default.
    expect(revisionAnnotations(synthExplainer({}, { scaleMetric: ScaleMetric.CPU }))).toMatchObject({ 'autoscaling.knative.dev/metric': 'concurrency' });
  });

  test('serverless: rps with Knative\'s default target; the default stays concurrency 100', () => {
    expect(revisionAnnotations(synthExplainer({}, { scaleMetric: ScaleMetric.RPS }), 'iris-explainer'))
      .toMatchObject({ 'autoscaling.knative.dev/metric': 'rps', 'autoscaling.knative.dev/target': '200' });
    expect(revisionAnnotations(synthExplainer({}, {}), 'iris-explainer'))
      .toMatchObject({ 'autoscaling.knative.dev/metric': 'concurrency', 'autoscaling.knative.dev/target': '100' });
  });

  test('raw: memory utilization on the explainer\'s HorizontalPodAutoscaler', () => {
    const manifests = synthExplainer({ mode: DeploymentMode.RAW }, { scaleMetric: ScaleMetric.MEMORY, scaleTarget: 70 });
    const hpa = findOne(manifests, 'HorizontalPodAutoscaler', { name: 'iris-explainer' });
    expect(hpa.spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 70 } } }]);
    expect(findOne(manifests, 'HorizontalPodAutoscaler', { name: 'iris' }).spec.metrics[0].resource.name).toBe('cpu');
  });

  test('fails: rps for a raw explainer, naming the metrics raw mode allows', () => {
    expect(() => synthExplainer({ mode: DeploymentMode.RAW }, { scaleMetric: ScaleMetric.RPS }))
      .toThrow(/'scaleMetric' rps needs Knative's autoscaler \(serverless mode\); in raw mode use ScaleMetric.CPU or ScaleMetric.MEMORY/);
  });

  test.each(['scaleMetric', 'scaleTarget'])('fails: %s on an explainer in process, which scales with the predictor', (prop) => {
    expect(() => synthExplainer({}, { inProcess: true, [prop]: prop === 'scaleMetric' ? ScaleMetric.CPU : 50 }))
      .toThrow(`'${prop}' does not apply to an explainer that runs in process (it scales with the predictor); remove it, or drop 'inProcess'`);
  });
});
