/**
 * Every query a rollout analysis builds passes `promtool check rules`, and `promtool test rules`
 * shows each built-in check computing the value it should on series like our server's: a
 * canary failing 10% of its requests and twice as slow as the stable version.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Duration } from 'cdk8s';
import * as YAML from 'yaml';
import { analysisQueries, substitute } from '../../../src/render/analysis/queries';
import { BUILTIN_CHECKS, resolveAnalysis } from '../../../src/render/analysis/resolve';
import { describeWithTools } from '../monitoring/tools';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'analysis-promtool-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function promtool(...args: string[]) {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 30_000, cwd: dir });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

const TARGET = { name: 'iris', namespace: 'ml', stableVersion: 'v1', canaryVersion: 'v2' };
const ANALYSIS = resolveAnalysis({
  interval: Duration.minutes(1),
  checks: [
    { name: 'canary-up', query: 'min(up{namespace="{{namespace}}",endpoint="{{name}}",version="{{canaryVersion}}"})', min: 1 },
    { name: 'rate-vs-stable', query: 'sum(rate(model_server_requests_total{version="{{canaryVersion}}"}[{{interval}}])) / sum(rate(model_server_requests_total{version="{{stableVersion}}"}[{{interval}}]))', max: 10 },
  ],
});
const queries = analysisQueries(TARGET, ANALYSIS);

test('the queries select the predictor series of each version over one interval', () => {
  expect(queries.requestCount).toBe('sum(increase(model_server_requests_total{endpoint="iris",namespace="ml",component="predictor",version="v2"}[60s]))');
  expect(queries.checks.map(c => c.name)).toEqual([BUILTIN_CHECKS.errorRatio, BUILTIN_CHECKS.errorRatioVsStable, BUILTIN_CHECKS.latencyRatio, 'canary-up', 'rate-vs-stable']);
  expect(queries.checks.find(c => c.name === 'canary-up')!.query).toBe('min(up{namespace="ml",endpoint="iris",version="v2"})');
  expect(queries.checks.find(c => c.name === BUILTIN_CHECKS.latencyRatio)).toMatchObject({ max: 1.5, vsStable: true });
  expect(queries.checks.find(c => c.name === BUILTIN_CHECKS.errorRatio)).toMatchObject({ max: 0.05, vsStable: false });
});

test('placeholders are replaced; an unknown one is left for PromQL to refuse', () => {
  expect(substitute('x{a="{{ name }}",b="{{nope}}"}', { name: 'iris' })).toBe('x{a="iris",b="{{nope}}"}');
});

describeWithTools(['promtool'], 'promtool', () => {
  test('every query passes promtool check rules', () => {
    const all = { 'request-count': queries.requestCount, ...Object.fromEntries(queries.checks.map(c => [c.name, c.query])) };
    const rules = Object.entries(all).map(([name, expr]) => ({ record: `analysis:${name.replace(/-/g, '_')}`, expr }));
    const file = path.join(dir, 'analysis.rules.yaml');
    fs.writeFileSync(file, YAML.stringify({ groups: [{ name: 'analysis', rules }] }));
    const r = promtool('check', 'rules', file);
    expect(r.output).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.status).toBe(0);
  });

  test('a query with a syntax error is refused by promtool (the check above can fail)', () => {
    const file = path.join(dir, 'bad.rules.yaml');
    fs.writeFileSync(file, YAML.stringify({ groups: [{ name: 'bad', rules: [{ record: 'bad', expr: substitute('sum(rate(x[{{nope}}]))', {}) }] }] }));
    expect(promtool('check', 'rules', file).status).not.toBe(0);
  });

  test('promtool test rules: each built-in check computes the canary and stable values of the series', () => {
    // Samples every 15 s for 5 minutes; at 5m the 60 s window holds 5 samples: increase = 4 steps.
    const sel = (v: string, extra: string) => `{endpoint="iris",namespace="ml",component="predictor",version="${v}",model="iris",${extra}}`;
    const R = 'model_server_requests_total';
    const B = 'model_server_request_duration_seconds_bucket';
    const series = [
      // Canary: 9 answers 200 and 1 answers 500 per 15 s (10% errors), every one between 50 and 100 ms.
      [`${R}${sel('v2', 'code="200"')}`, '0+9x20'],
      [`${R}${sel('v2', 'code="500"')}`, '0+1x20'],
      [`${B}${sel('v2', 'le="0.05"')}`, '0+0x20'],
      [`${B}${sel('v2', 'le="0.1"')}`, '0+10x20'],
      [`${B}${sel('v2', 'le="+Inf"')}`, '0+10x20'],
      // Stable: 10 answers 200 per 15 s, no error series at all, every one between 25 and 50 ms.
      [`${R}${sel('v1', 'code="200"')}`, '0+10x20'],
      [`${B}${sel('v1', 'le="0.025"')}`, '0+0x20'],
      [`${B}${sel('v1', 'le="0.05"')}`, '0+10x20'],
      [`${B}${sel('v1', 'le="+Inf"')}`, '0+10x20'],
    ].map(([s, values]) => ({ series: s, values }));
    const q = (name: string) => queries.checks.find(c => c.name === name)!.query;
    // p99 interpolates linearly within the bucket: canary 0.05 + 0.99 x 0.05, stable 0.025 + 0.99 x 0.025.
    const p99Ratio = (0.05 + 0.99 * 0.05) / (0.025 + 0.99 * 0.025);
    const tests = [{
      interval: '15s',
      input_series: series,
      promql_expr_test: [
        { expr: queries.requestCount, eval_time: '5m', exp_samples: [{ labels: '{}', value: 40 }] },
        { expr: q(BUILTIN_CHECKS.errorRatio), eval_time: '5m', exp_samples: [{ labels: '{}', value: 0.1 }] },
        { expr: q(BUILTIN_CHECKS.errorRatioVsStable), eval_time: '5m', exp_samples: [{ labels: '{}', value: 0.1 }] },
        { expr: q(BUILTIN_CHECKS.latencyRatio), eval_time: '5m', exp_samples: [{ labels: '{}', value: p99Ratio }] },
        // Outside the series (before any sample) the canary has no data: the checks see an empty result.
        { expr: q(BUILTIN_CHECKS.errorRatio), eval_time: '0m', exp_samples: [] },
      ],
    }];
    const file = path.join(dir, 'analysis.test.yaml');
    fs.writeFileSync(path.join(dir, 'empty.rules.yaml'), YAML.stringify({ groups: [] }));
    fs.writeFileSync(file, YAML.stringify({ rule_files: ['empty.rules.yaml'], evaluation_interval: '15s', tests }));
    const r = promtool('test', 'rules', file);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });
});
