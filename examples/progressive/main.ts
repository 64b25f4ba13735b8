/**
 * Progressive delivery of the iris classifier: v2 is rolled out by the controller, 5% -> 25% ->
 * 50% -> 100% of the traffic, one step a minute, each step judged by v2's metrics against v1's
 * over the same minute (error ratio, p99 latency, a custom accuracy proxy) before the next; after
 * the last step v2 is promoted and v1 removed five minutes later. Two failed analyses roll back:
 * all traffic to v1 at once. Run `npx cdk8s synth --no-check-upgrade` in this folder: `dist/rollout.k8s.yaml` is the
 * CanaryRollout custom resource to apply (or commit for Argo CD / Flux) once the controller runs
 * with a Prometheus URL; `dist/progressive.k8s.yaml` shows what the construct renders before the
 * first step (v2 deployed, no traffic), the objects the controller then steps.
 *
 * Timeline with this analysis (see the README, "Progressive delivery"):
 *   t=0     weight 5    (pre-step webhook `load-test` passed)
 *   t=1m    checks pass, weight 25
 *   t=2m    checks pass, weight 50
 *   t=3m    checks pass, weight 100 (stable comparisons skipped: v1 has no traffic)
 *   t=4m    checks pass, pre-promotion webhook `acceptance` passed: Promoting
 *   t=9m    Succeeded: v1's Deployment removed
 */
import { ApiObject, App, Chart, ChartProps, Duration } from 'cdk8s';
import { Construct } from 'constructs';
// In your own project: import { ... } from 'cdk8s-model-serving';
import { CanaryRollout, DeploymentMode, ModelVersion, StorageUri, WebhookPhase } from '../../src';

const V1: ModelVersion = { version: 'v1', storageUri: StorageUri.s3('models', 'iris/v1/iris-logreg.onnx') };
const V2: ModelVersion = { version: 'v2', storageUri: StorageUri.s3('models', 'iris/v2/iris-mlp.onnx') };

export class ProgressiveChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);

    new CanaryRollout(this, 'Iris', {
      name: 'iris',
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      stable: V1,
      canary: V2,
      analysis: {
        stepWeights: [5, 25, 50, 100],
        interval: Duration.minutes(1),
        failureLimit: 2,
        minRequests: 50,
        maxErrorRatio: 0.02,
        errorRatioMargin: 0.005,
        maxLatencyRatio: 1.3,
        checks: [{
          // 4xx answers of v2 (inputs it now refuses) stay under 1% of its requests. `or ... * 0`:
          // without any 4xx series the ratio is 0, not "no data" (which fails a check).
          name: 'client-errors',
          query: '(sum(rate(model_server_requests_total{namespace="{{namespace}}",endpoint="{{name}}",version="{{canaryVersion}}",code=~"4.."}[{{interval}}]))'
            + ' or sum(rate(model_server_requests_total{namespace="{{namespace}}",endpoint="{{name}}",version="{{canaryVersion}}"}[{{interval}}])) * 0)'
            + ' / sum(rate(model_server_requests_total{namespace="{{namespace}}",endpoint="{{name}}",version="{{canaryVersion}}"}[{{interval}}]))',
          max: 0.01,
        }],
        webhooks: [
          { name: 'load-test', url: 'http://load-tester.testing:8080/run', phase: WebhookPhase.PRE_STEP },
          { name: 'acceptance', url: 'http://acceptance.testing:8080/iris', phase: WebhookPhase.PRE_PROMOTION, timeout: Duration.seconds(60) },
        ],
        scaleDownDelay: Duration.minutes(5),
      },
    });
  }
}

/** The same rollout as the custom resource the controller reads (CRD field names = construct props). */
const ROLLOUT_SPEC = {
  modelName: 'iris',
  mode: 'RawDeployment',
  stable: { version: 'v1', storageUri: 's3://models/iris/v1/iris-logreg.onnx' },
  canary: { version: 'v2', storageUri: 's3://models/iris/v2/iris-mlp.onnx' },
  analysis: {
    stepWeights: [5, 25, 50, 100],
    interval: '1m',
    failureLimit: 2,
    minRequests: 50,
    maxErrorRatio: 0.02,
    errorRatioMargin: 0.005,
    maxLatencyRatio: 1.3,
    webhooks: [{ name: 'load-test', url: 'http://load-tester.testing:8080/run', phase: 'PreStep' }],
    scaleDownDelay: '5m',
  },
};

const app = new App();
new ProgressiveChart(app, 'progressive', { namespace: 'models' });
const rollout = new Chart(app, 'rollout', { namespace: 'models' });
new ApiObject(rollout, 'iris', { apiVersion: 'serving.cdk8s-model-serving.io/v1alpha1', kind: 'CanaryRollout', metadata: { name: 'iris' }, spec: ROLLOUT_SPEC });
app.synth();
