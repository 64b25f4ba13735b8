/**
 * A runtime endpoint's alerts pass `promtool check rules`, and `promtool test rules` shows them
 * firing on the runtime's own series: a failing scrape never reads as "no ready replicas".
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { DeploymentMode, InferenceProtocol, KnativeFeature, ModelFormat, ServingRuntime, StorageUri } from '../../../src';
import { findOne } from '../../util';
import { describeWithTools, synthEndpoint } from '../monitoring/tools';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promtool-runtime-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function promtool(...args: string[]) {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 30_000, cwd: dir });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

/** The PrometheusRule's `spec` as a rule file; for unit tests without the annotations, which exp_alerts would have to repeat. */
function ruleFile(name: string, manifests: any[], stripAnnotations = false): string {
  const spec = JSON.parse(JSON.stringify(findOne(manifests, 'PrometheusRule').spec));
  if (stripAnnotations) for (const g of spec.groups) for (const r of g.rules) delete r.annotations;
  const file = path.join(dir, `${name}.rules.yaml`);
  fs.writeFileSync(file, YAML.stringify(spec));
  return file;
}

const RUNTIMES: Array<[string, ServingRuntime, ModelFormat, InferenceProtocol]> = [
  ['mlserver', ServingRuntime.MLSERVER, ModelFormat.SKLEARN, InferenceProtocol.V2],
  ['sklearnserver', ServingRuntime.SKLEARN_SERVER, ModelFormat.SKLEARN, InferenceProtocol.V1],
  ['tf-serving', ServingRuntime.TENSORFLOW_SERVING, ModelFormat.TENSORFLOW, InferenceProtocol.V1],
  ['torchserve', ServingRuntime.TORCHSERVE, ModelFormat.PYTORCH, InferenceProtocol.V2],
  ['triton', ServingRuntime.TRITON, ModelFormat.ONNX, InferenceProtocol.V2],
];

function synth(runtime: ServingRuntime, format: ModelFormat, protocol: InferenceProtocol, mode: DeploymentMode) {
  const knativeFeatures = mode === DeploymentMode.SERVERLESS ? [KnativeFeature.INIT_CONTAINERS] : undefined;
  return synthEndpoint({ runtime, format, protocol, knativeFeatures, storageUri: StorageUri.s3('models', 'iris') }, mode).manifests;
}

describeWithTools(['promtool'], 'promtool on runtime alerts', () => {
  test.each(RUNTIMES)('%s: the rules pass promtool check rules in both modes', (name, runtime, format, protocol) => {
    for (const mode of [DeploymentMode.SERVERLESS, DeploymentMode.RAW]) {
      const r = promtool('check', 'rules', ruleFile(`${name}-${mode}`, synth(runtime, format, protocol, mode)));
      expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
      expect(r.status).toBe(0);
    }
  });

  test('TF Serving (serverless): no-ready-replicas fires only when the revision has no available replica, whatever the scrape says', () => {
    const file = ruleFile('tf-unit', synth(ServingRuntime.TENSORFLOW_SERVING, ModelFormat.TENSORFLOW, InferenceProtocol.V1, DeploymentMode.SERVERLESS), true);
    const available = (values: string) => ({ series: 'kube_deployment_status_replicas_available{namespace="ml",deployment="iris-00001-deployment"}', values });
    // A failing scrape of the pod: `up` is 0, which our server's alert would have read as no replicas.
    const scrapeDown = { series: 'up{endpoint="iris",namespace="ml",component="predictor"}', values: '0x15' };
    const tests = [
      { interval: '1m', input_series: [available('1x15'), scrapeDown], alert_rule_test: [{ eval_time: '10m', alertname: 'ModelEndpointNoReadyReplicas', exp_alerts: [] }] },
      {
        interval: '1m',
        input_series: [available('0x15')],
        alert_rule_test: [{ eval_time: '10m', alertname: 'ModelEndpointNoReadyReplicas', exp_alerts: [{ exp_labels: { severity: 'critical', endpoint: 'iris', namespace: 'ml' } }] }],
      },
    ];
    const testFile = path.join(dir, 'tf-unit.test.yaml');
    fs.writeFileSync(testFile, YAML.stringify({ rule_files: [file], evaluation_interval: '1m', tests }));
    const r = promtool('test', 'rules', testFile);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  test('MLServer (raw): the error-ratio alert fires on its failure counter above the threshold, and not below it', () => {
    const file = ruleFile('mlserver-unit', synth(ServingRuntime.MLSERVER, ModelFormat.SKLEARN, InferenceProtocol.V2, DeploymentMode.RAW), true);
    const s = (metric: string, perMinute: number) => ({
      series: `${metric}{endpoint="iris",namespace="ml",component="predictor",model_name="iris"}`,
      values: `0+${perMinute}x20`,
    });
    const test = (failuresPerMinute: number, fires: boolean) => ({
      interval: '1m',
      input_series: [s('model_infer_request_success', 100), s('model_infer_request_failure', failuresPerMinute)],
      alert_rule_test: [{
        eval_time: '15m',
        alertname: 'ModelEndpointHighErrorRatio',
        exp_alerts: fires ? [{ exp_labels: { severity: 'critical', endpoint: 'iris', namespace: 'ml' } }] : [],
      }],
    });
    const testFile = path.join(dir, 'mlserver-unit.test.yaml');
    // 20 of 120 failed (17%) fires at the 5% default; 1 of 101 (1%) does not.
    fs.writeFileSync(testFile, YAML.stringify({ rule_files: [file], evaluation_interval: '1m', tests: [test(20, true), test(1, false)] }));
    const r = promtool('test', 'rules', testFile);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });
});
