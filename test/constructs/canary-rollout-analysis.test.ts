/**
 * `CanaryRollout.analysis`: what it synthesizes without the controller (the canary gets no
 * traffic until the controller steps it), and the synth-time errors naming the prop at fault.
 */
import { Chart, Duration, Testing } from 'cdk8s';
import { CanaryRollout, CanaryRolloutProps, DeploymentMode, ModelVersion, RolloutAnalysis, StorageUri, WebhookPhase } from '../../src';
import { resolveAnalysis } from '../../src/render/analysis/resolve';
import { customResourceDefinition } from '../../src/render/controller/custom-resource-definitions';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

const V1: ModelVersion = { version: 'v1', storageUri: StorageUri.s3('models', 'iris/v1/model.onnx') };
const V2: ModelVersion = { version: 'v2', storageUri: StorageUri.s3('models', 'iris/v2/model.onnx') };

function synth(analysis: RolloutAnalysis, props: Partial<CanaryRolloutProps> = {}) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'models' });
  const rollout = new CanaryRollout(chart, 'Rollout', { name: 'iris', modelName: 'iris', mode: DeploymentMode.RAW, stable: V1, canary: V2, analysis, ...props });
  return { manifests: Testing.synth(chart), rollout };
}

test('without the controller the canary is deployed but gets no traffic: the analysis steps it', () => {
  // GIVEN an analysis  WHEN synthesized by cdk8s alone
  const { manifests, rollout } = synth({ stepWeights: [5, 25, 50, 100], interval: Duration.seconds(30) });
  expectValidManifests(manifests);
  // THEN both Deployments exist and the VirtualService sends everything to stable
  expect(rollout.trafficPercent).toBe(0);
  expect(manifests.filter((m: any) => m.kind === 'Deployment').map((m: any) => m.metadata.name).sort()).toEqual(['iris-v1', 'iris-v2']);
  const vs = findOne(manifests, 'VirtualService');
  const weighted = vs.spec.http.find((r: any) => r.route.length === 2);
  expect(weighted.route.map((r: any) => [r.destination.subset, r.weight])).toEqual([['stable', 100], ['canary', 0]]);
});

test('defaults: steps 10..50 every minute, 2 failed analyses roll back, 20 requests before judging', () => {
  expect(resolveAnalysis({})).toEqual({
    steps: [10, 20, 30, 40, 50],
    mirrorPercent: undefined,
    intervalSeconds: 60,
    failureLimit: 2,
    minRequests: 20,
    maxErrorRatio: 0.05,
    errorRatioMargin: 0.01,
    maxLatencyRatio: 1.5,
    checks: [],
    webhooks: [],
    scaleDownDelaySeconds: 300,
    paused: false,
    abort: false,
    promote: false,
  });
  expect(resolveAnalysis({ stepWeight: 25, maxWeight: 100 }).steps).toEqual([25, 50, 75, 100]);
  expect(resolveAnalysis({ webhooks: [{ name: 'load', url: 'http://t/run' }] }).webhooks).toEqual([{ name: 'load', url: 'http://t/run', phase: 'PreStep', timeoutSeconds: 10 }]);
});

test.each<[string, RolloutAnalysis, Partial<CanaryRolloutProps>, string]>([
  ['no canary', {}, { canary: undefined }, "'analysis' needs a 'canary'"],
  ['trafficPercent with it', {}, { trafficPercent: 10 }, "'trafficPercent' is 10, but 'analysis' sets the canary's weight"],
  ['shadow with it', {}, { shadow: true, trafficPercent: undefined }, "'shadow' is set with 'analysis'"],
  ['falling weights', { stepWeights: [5, 50, 25] }, {}, "'analysis.stepWeights' must rise, got [5,50,25]: 25 follows 50"],
  ['a weight above 100', { stepWeights: [5, 150] }, {}, "'analysis.stepWeights[1]' must be an integer from 1 to 100, got 150"],
  ['both step styles', { stepWeights: [5], stepWeight: 5 }, {}, "'analysis.stepWeights' and 'analysis.stepWeight'/'analysis.maxWeight' are both set"],
  ['no weights', { stepWeights: [] }, {}, "'analysis.stepWeights' is empty"],
  ['max below step', { stepWeight: 30, maxWeight: 20 }, {}, "'analysis.maxWeight' (20) is below 'analysis.stepWeight' (30)"],
  ['a sub-second interval', { interval: Duration.millis(1500) }, {}, "'analysis.interval' must be a whole number of seconds, at least 1, got 1500 ms"],
  ['failureLimit 0', { failureLimit: 0 }, {}, "'analysis.failureLimit' must be an integer from 1 to 100, got 0"],
  ['an error ratio above 1', { maxErrorRatio: 5 }, {}, "'analysis.maxErrorRatio' must be a number from 0 to 1, got 5"],
  ['a latency ratio below 1', { maxLatencyRatio: 0.5 }, {}, "'analysis.maxLatencyRatio' must be a number of at least 1"],
  ['a check without range', { checks: [{ name: 'acc', query: 'vector(1)' }] }, {}, "'analysis.checks[0]' has neither 'min' nor 'max'"],
  ['a check taking a built-in name', { checks: [{ name: 'error-ratio', query: 'vector(1)', max: 1 }] }, {}, "'analysis.checks[0].name' 'error-ratio' is taken"],
  ['a check with min above max', { checks: [{ name: 'acc', query: 'vector(1)', min: 2, max: 1 }] }, {}, "'analysis.checks[0].min' (2) is above 'analysis.checks[0].max' (1)"],
  ['a bad check name', { checks: [{ name: 'Acc', query: 'vector(1)', max: 1 }] }, {}, "'analysis.checks[0].name' must be a DNS-1123 label"],
  ['a webhook URL that is not http', { webhooks: [{ name: 'w', url: 'ftp://x/y', phase: WebhookPhase.PRE_PROMOTION }] }, {}, "'analysis.webhooks[0].url' must be an http:// or https:// URL, got 'ftp://x/y'"],
  ['a relative webhook URL', { webhooks: [{ name: 'w', url: '/run' }] }, {}, "'analysis.webhooks[0].url' must be an absolute http:// or https:// URL"],
  ['mirror 0%', { mirrorPercent: 0 }, {}, "'analysis.mirrorPercent' must be an integer from 1 to 100, got 0"],
  ['abort and promote', { abort: true, promote: true }, {}, "'analysis.abort' and 'analysis.promote' are both true"],
])('%s is refused at synth, naming the prop', (_name, analysis, props, message) => {
  expect(() => synth(analysis, props)).toThrow(message);
});

test('the CRD carries the analysis, with no schema default for stepWeight/maxWeight (their presence chooses the step style) and status.rollout kept', () => {
  const crd = customResourceDefinition('canaryRollout') as any;
  const schema = crd.spec.versions[0].schema.openAPIV3Schema;
  const analysis = schema.properties.spec.properties.analysis;
  expect(Object.keys(analysis.properties)).toEqual(expect.arrayContaining(['stepWeights', 'stepWeight', 'maxWeight', 'interval', 'checks', 'webhooks', 'paused', 'abort', 'promote']));
  expect(analysis.properties.stepWeight.default).toBeUndefined();
  expect(analysis.properties.maxWeight.default).toBeUndefined();
  // The API server prunes unknown status fields: the rollout status must be declared.
  expect(schema.properties.status.properties.rollout['x-kubernetes-preserve-unknown-fields']).toBe(true);
});
