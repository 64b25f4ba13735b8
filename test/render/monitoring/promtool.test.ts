/**
 * The synthesized rule groups pass `promtool check rules`, and `promtool test rules` shows each
 * alert firing on series that should trigger it and silent on series that should not.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { describeWithTools, synthEndpoint, synthRollout, withComponents } from './tools';
import { DeploymentMode, InferenceProtocol } from '../../../src';
import { findOne } from '../../util';
import { expectValidManifests } from '../../validation';

let dir: string;
beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'promtool-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function promtool(...args: string[]) {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 30_000, cwd: dir });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

/** Writes the PrometheusRule's `spec` (a rule file: `groups:`) to a temp file. */
function writeRuleFile(name: string, rule: any, stripAnnotations = false): string {
  const spec = JSON.parse(JSON.stringify(rule.spec));
  if (stripAnnotations) {
    for (const g of spec.groups) for (const r of g.rules) delete r.annotations;
  }
  const file = path.join(dir, `${name}.rules.yaml`);
  fs.writeFileSync(file, YAML.stringify(spec));
  return file;
}

const VARIANTS: Array<[string, Parameters<typeof synthEndpoint>[0], DeploymentMode]> = [
  ['serverless', {}, DeploymentMode.SERVERLESS],
  ['serverless grpc', { protocol: InferenceProtocol.GRPC_V2 }, DeploymentMode.SERVERLESS],
  ['serverless scale-to-zero', { minReplicas: 0 }, DeploymentMode.SERVERLESS],
  ['raw', {}, DeploymentMode.RAW],
  ['raw stopped', { stopped: true }, DeploymentMode.RAW],
];

describeWithTools(['promtool'], 'promtool', () => {
  test.each(VARIANTS)('%s: the PrometheusRule is schema-valid and passes promtool check rules', (name, props, mode) => {
    const { manifests } = synthEndpoint(props, mode);
    const rule = findOne(manifests, 'PrometheusRule');
    expectValidManifests([rule]);
    const file = writeRuleFile(name.replace(/ /g, '-'), rule);
    const r = promtool('check', 'rules', file);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(r.status).toBe(0);
  });

  // ---- promtool test rules ----
  // Scraped predictor series carry component="predictor" (the monitors' relabelings).
  const base = 'endpoint="iris",namespace="ml",component="predictor"';
  const R = (labels: string) => `model_server_requests_total{${base},${labels}}`;
  /** A transformer's request counter: it sees each request the predictor sees, and its own failures. */
  const T = (labels: string) => `model_server_requests_total{endpoint="iris",namespace="ml",component="transformer",${labels}}`;
  const D = (labels: string) => `model_server_request_duration_seconds_bucket{${base},${labels}}`;
  const F = 'model_server_model_load_failures_total';
  const alertLabels = (severity: string, extra: Record<string, string> = {}) => ({ severity, endpoint: 'iris', namespace: 'ml', ...extra });
  /** A histogram whose observations (10 a minute) all fall into the bucket `le`. */
  const histogram = (labels: string, le: string) => ['0.5', '1', '2.5', '+Inf'].map(b => ({
    series: D(`${labels},le="${b}"`),
    values: Number(b === '+Inf' ? Infinity : b) >= Number(le) ? '0+10x20' : '0x20',
  }));
  interface Case {
    name: string;
    series: Array<{ series: string; values: string }>;
    alert: string;
    fires: boolean;
    labels?: Record<string, string>;
    at?: string;
  }

  const cases: Case[] = [
    {
      name: '10% server errors fire the error-ratio alert',
      series: [{ series: R('code="200",track="stable"'), values: '0+90x20' }, { series: R('code="500",track="stable"'), values: '0+10x20' }],
      alert: 'ModelEndpointHighErrorRatio',
      fires: true,
      labels: alertLabels('critical'),
    },
    {
      name: '1% server errors stay silent',
      series: [{ series: R('code="200",track="stable"'), values: '0+99x20' }, { series: R('code="500",track="stable"'), values: '0+1x20' }],
      alert: 'ModelEndpointHighErrorRatio',
      fires: false,
    },
    {
      name: 'a transformer failing half its requests does not count toward the predictor\'s error ratio',
      series: [
        { series: R('code="200",track="stable"'), values: '0+50x20' },
        { series: T('code="200",track="stable"'), values: '0+50x20' }, { series: T('code="500",track="stable"'), values: '0+50x20' },
      ],
      alert: 'ModelEndpointHighErrorRatio',
      fires: false,
    },
    {
      name: 'client errors (400) do not count as server errors',
      series: [{ series: R('code="200",track="stable"'), values: '0+50x20' }, { series: R('code="400",track="stable"'), values: '0+50x20' }],
      alert: 'ModelEndpointHighErrorRatio',
      fires: false,
    },
    {
      name: 'a p99 around 2.5s fires the latency alert (objective 1s)',
      series: histogram('track="stable"', '2.5'),
      alert: 'ModelEndpointHighLatency',
      fires: true,
      labels: alertLabels('warning'),
    },
    {
      name: 'a p99 under 0.5s stays silent',
      series: histogram('track="stable"', '0.5'),
      alert: 'ModelEndpointHighLatency',
      fires: false,
    },
    {
      name: 'a failure counter that increases fires the load-failure alert',
      series: [{ series: `${F}{${base},model="iris"}`, values: '0 0 0 0 1 1 1 1 1 1 1 1 1' }],
      alert: 'ModelEndpointModelLoadFailures',
      fires: true,
      labels: alertLabels('warning', { model: 'iris' }),
    },
    {
      name: 'a failure counter that appears at 1 (first failure of the model) fires too',
      series: [{ series: `${F}{${base},model="iris"}`, values: '_ _ _ _ 1 1 1 1 1 1 1 1 1' }],
      alert: 'ModelEndpointModelLoadFailures',
      fires: true,
      labels: alertLabels('warning', { model: 'iris' }),
    },
    {
      name: 'a failure older than 15 minutes stays silent',
      series: [{ series: `${F}{${base},model="iris"}`, values: '1x40' }],
      alert: 'ModelEndpointModelLoadFailures',
      fires: false,
      at: '30m',
    },
    {
      name: 'canary with 20% errors vs stable with 1% fires the canary error alert',
      series: [
        { series: R('code="200",track="stable"'), values: '0+99x20' }, { series: R('code="500",track="stable"'), values: '0+1x20' },
        { series: R('code="200",track="canary"'), values: '0+8x20' }, { series: R('code="400",track="canary"'), values: '0+2x20' },
      ],
      alert: 'ModelEndpointCanaryErrorRatio',
      fires: true,
      labels: alertLabels('warning'),
    },
    {
      name: 'canary as good as stable stays silent',
      series: [
        { series: R('code="200",track="stable"'), values: '0+99x20' }, { series: R('code="500",track="stable"'), values: '0+1x20' },
        { series: R('code="200",track="canary"'), values: '0+99x20' },
      ],
      alert: 'ModelEndpointCanaryErrorRatio',
      fires: false,
    },
    {
      name: 'no canary series at all stays silent, even with a failing stable track',
      series: [{ series: R('code="200",track="stable"'), values: '0+50x20' }, { series: R('code="500",track="stable"'), values: '0+50x20' }],
      alert: 'ModelEndpointCanaryErrorRatio',
      fires: false,
    },
    {
      name: 'a canary p99 5x the stable p99 fires the canary latency alert',
      series: [...histogram('track="stable"', '0.5'), ...histogram('track="canary"', '2.5')],
      alert: 'ModelEndpointCanaryLatency',
      fires: true,
      labels: alertLabels('warning'),
    },
    {
      name: 'a slow stable track without canary stays silent',
      series: histogram('track="stable"', '2.5'),
      alert: 'ModelEndpointCanaryLatency',
      fires: false,
    },
  ];

  const serverlessCases: Case[] = [
    { name: 'serverless: targets down fire no-ready-replicas', series: [{ series: `up{${base}}`, values: '0x20' }], alert: 'ModelEndpointNoReadyReplicas', fires: true, labels: alertLabels('critical') },
    { name: 'serverless: no target at all fires no-ready-replicas', series: [{ series: 'up{endpoint="other"}', values: '1x20' }], alert: 'ModelEndpointNoReadyReplicas', fires: true, labels: alertLabels('critical') },
    { name: 'serverless: a target up stays silent', series: [{ series: `up{${base}}`, values: '0 0 1x20' }], alert: 'ModelEndpointNoReadyReplicas', fires: false },
    {
      name: 'serverless: a transformer up does not hide a predictor down',
      series: [{ series: `up{${base}}`, values: '0x20' }, { series: 'up{endpoint="iris",namespace="ml",component="transformer"}', values: '1x20' }],
      alert: 'ModelEndpointNoReadyReplicas',
      fires: true,
      labels: alertLabels('critical'),
    },
  ];
  const ksm = 'kube_deployment_status_replicas_available{namespace="ml",deployment="iris"}';
  const rawCases: Case[] = [
    { name: 'raw: 0 available replicas fire no-ready-replicas', series: [{ series: ksm, values: '0x20' }], alert: 'ModelEndpointNoReadyReplicas', fires: true, labels: alertLabels('critical') },
    { name: 'raw: 1 available replica stays silent', series: [{ series: ksm, values: '1x20' }], alert: 'ModelEndpointNoReadyReplicas', fires: false },
  ];

  function runUnitTests(name: string, mode: DeploymentMode, all: Case[], rule = findOne(synthEndpoint({}, mode).manifests, 'PrometheusRule')) {
    // Annotations quote `$value`, so they vary with the series; promtool compares them
    // exactly. `check rules` above validates their templates; here only firing matters.
    const ruleFile = writeRuleFile(`${name}-unit`, rule, true);
    const tests = all.map(c => ({
      name: c.name,
      interval: '1m',
      input_series: c.series,
      alert_rule_test: [{ eval_time: c.at ?? '10m', alertname: c.alert, exp_alerts: c.fires ? [{ exp_labels: c.labels }] : [] }],
    }));
    const testFile = path.join(dir, `${name}.test.yaml`);
    fs.writeFileSync(testFile, YAML.stringify({ rule_files: [ruleFile], evaluation_interval: '1m', tests }));
    return promtool('test', 'rules', testFile);
  }

  test('every alert fires on series that should trigger it and stays silent otherwise (serverless)', () => {
    const r = runUnitTests('serverless', DeploymentMode.SERVERLESS, [...cases, ...serverlessCases]);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  test.each([['serverless', DeploymentMode.SERVERLESS], ['raw', DeploymentMode.RAW]])(
    '%s with a transformer and an explainer: the PrometheusRule is schema-valid and passes promtool check rules', (name, mode) => {
      const rule = findOne(synthEndpoint({}, mode as DeploymentMode, withComponents).manifests, 'PrometheusRule');
      expectValidManifests([rule]);
      expect(rule.spec.groups[0].rules.map((x: any) => x.alert)).toContain('ModelEndpointComponentHighErrorRatio');
      const r = promtool('check', 'rules', writeRuleFile(`${name}-components`, rule));
      expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
      expect(r.status).toBe(0);
    });

  test('the component alert fires for a failing transformer or explainer, naming it, and stays silent otherwise', () => {
    const X = (labels: string) => `model_server_requests_total{endpoint="iris",namespace="ml",component="explainer",${labels}}`;
    const rule = findOne(synthEndpoint({}, DeploymentMode.SERVERLESS, withComponents).manifests, 'PrometheusRule');
    const alert = 'ModelEndpointComponentHighErrorRatio';
    const r = runUnitTests('components', DeploymentMode.SERVERLESS, [
      {
        name: 'a transformer answering 10% with server errors fires, naming the transformer',
        series: [{ series: T('code="200",track="stable"'), values: '0+90x20' }, { series: T('code="500",track="stable"'), values: '0+10x20' }],
        alert,
        fires: true,
        labels: alertLabels('critical', { component: 'transformer' }),
      },
      {
        name: 'a failing explainer fires for the explainer only, beside a healthy transformer',
        series: [
          { series: T('code="200",track="stable"'), values: '0+90x20' },
          { series: X('code="200",track="stable"'), values: '0+8x20' }, { series: X('code="503",track="stable"'), values: '0+2x20' },
        ],
        alert,
        fires: true,
        labels: alertLabels('critical', { component: 'explainer' }),
      },
      {
        name: 'a transformer with 1% server errors and 50% client errors stays silent',
        series: [
          { series: T('code="200",track="stable"'), values: '0+49x20' }, { series: T('code="400",track="stable"'), values: '0+50x20' },
          { series: T('code="500",track="stable"'), values: '0+1x20' },
        ],
        alert,
        fires: false,
      },
      {
        name: 'predictor errors alone do not fire the component alert',
        series: [{ series: R('code="200",track="stable"'), values: '0+50x20' }, { series: R('code="500",track="stable"'), values: '0+50x20' }],
        alert,
        fires: false,
      },
    ], rule);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  test('no-ready-replicas reads kube-state-metrics in raw mode', () => {
    const r = runUnitTests('raw', DeploymentMode.RAW, rawCases);
    expect(r.output).toContain('SUCCESS');
    expect(r.status).toBe(0);
  });

  test('a broken expectation makes promtool fail (the harness can fail)', () => {
    const flipped = cases.slice(0, 1).map(c => ({ ...c, fires: !c.fires }));
    const r = runUnitTests('flipped', DeploymentMode.SERVERLESS, flipped);
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('ModelEndpointHighErrorRatio');
  });

  // ---- CanaryRollout: stable v1, canary v2; series carry the `version` their pods declare ----
  describe('CanaryRollout', () => {
    const ROLLOUTS: Array<[string, Parameters<typeof synthRollout>[0], DeploymentMode]> = [
      ['rollout serverless canary', {}, DeploymentMode.SERVERLESS],
      ['rollout serverless stable only', { canary: undefined }, DeploymentMode.SERVERLESS],
      ['rollout raw canary', {}, DeploymentMode.RAW],
      ['rollout raw shadow', { shadow: true, trafficPercent: 20 }, DeploymentMode.RAW],
    ];
    test.each(ROLLOUTS)('%s: the PrometheusRule is schema-valid and passes promtool check rules', (name, props, mode) => {
      const rule = findOne(synthRollout(props, mode).manifests, 'PrometheusRule');
      expectValidManifests([rule]);
      const r = promtool('check', 'rules', writeRuleFile(name.replace(/ /g, '-'), rule));
      expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
      expect(r.status).toBe(0);
    });

    const V = (version: string, track: string) => `version="${version}",track="${track}"`;
    const canaryLabels = alertLabels('warning', { version: 'v2' });
    const rolloutCases: Case[] = [
      {
        name: 'rollout: canary v2 with 20% errors vs stable v1 with 1% fires the canary error alert, naming v2',
        series: [
          { series: R(`code="200",${V('v1', 'stable')}`), values: '0+99x20' }, { series: R(`code="500",${V('v1', 'stable')}`), values: '0+1x20' },
          { series: R(`code="200",${V('v2', 'canary')}`), values: '0+8x20' }, { series: R(`code="400",${V('v2', 'canary')}`), values: '0+2x20' },
        ],
        alert: 'ModelEndpointCanaryErrorRatio',
        fires: true,
        labels: canaryLabels,
      },
      {
        name: 'rollout: the comparison follows the version, not the track label (v2 series relabelled stable mid-window still count as canary)',
        series: [
          { series: R(`code="200",${V('v1', 'stable')}`), values: '0+99x20' },
          { series: R(`code="200",${V('v2', 'stable')}`), values: '0+8x20' }, { series: R(`code="503",${V('v2', 'stable')}`), values: '0+2x20' },
        ],
        alert: 'ModelEndpointCanaryErrorRatio',
        fires: true,
        labels: canaryLabels,
      },
      {
        name: 'rollout: canary v2 as good as stable v1 stays silent',
        series: [
          { series: R(`code="200",${V('v1', 'stable')}`), values: '0+99x20' }, { series: R(`code="500",${V('v1', 'stable')}`), values: '0+1x20' },
          { series: R(`code="200",${V('v2', 'canary')}`), values: '0+99x20' }, { series: R(`code="500",${V('v2', 'canary')}`), values: '0+1x20' },
        ],
        alert: 'ModelEndpointCanaryErrorRatio',
        fires: false,
      },
      {
        name: 'rollout: a failing stable v1 with a healthy canary v2 stays silent',
        series: [
          { series: R(`code="200",${V('v1', 'stable')}`), values: '0+50x20' }, { series: R(`code="500",${V('v1', 'stable')}`), values: '0+50x20' },
          { series: R(`code="200",${V('v2', 'canary')}`), values: '0+10x20' },
        ],
        alert: 'ModelEndpointCanaryErrorRatio',
        fires: false,
      },
      {
        name: 'rollout: errors of an older version v0 are not the canary\'s',
        series: [
          { series: R(`code="200",${V('v1', 'stable')}`), values: '0+99x20' },
          { series: R(`code="200",${V('v2', 'canary')}`), values: '0+99x20' },
          { series: R(`code="500",${V('v0', 'stable')}`), values: '0+99x20' },
        ],
        alert: 'ModelEndpointCanaryErrorRatio',
        fires: false,
      },
      {
        name: 'rollout: a canary v2 p99 5x the stable v1 p99 fires the canary latency alert',
        series: [...histogram(V('v1', 'stable'), '0.5'), ...histogram(V('v2', 'canary'), '2.5')],
        alert: 'ModelEndpointCanaryLatency',
        fires: true,
        labels: canaryLabels,
      },
      {
        name: 'rollout: a slower stable v1 stays silent',
        series: [...histogram(V('v1', 'stable'), '2.5'), ...histogram(V('v2', 'canary'), '0.5')],
        alert: 'ModelEndpointCanaryLatency',
        fires: false,
      },
      {
        name: 'rollout: canary v2 down while v1 is up fires no-ready-replicas for v2',
        series: [{ series: `up{${base},${V('v1', 'stable')}}`, values: '1x20' }, { series: `up{${base},${V('v2', 'canary')}}`, values: '0x20' }],
        alert: 'ModelEndpointNoReadyReplicas',
        fires: true,
        labels: alertLabels('critical', { version: 'v2' }),
      },
      {
        name: 'rollout: both versions up stays silent',
        series: [{ series: `up{${base},${V('v1', 'stable')}}`, values: '1x20' }, { series: `up{${base},${V('v2', 'canary')}}`, values: '1x20' }],
        alert: 'ModelEndpointNoReadyReplicas',
        fires: false,
      },
      {
        name: 'rollout: a load failure names the version',
        series: [{ series: `${F}{${base},model="iris",${V('v2', 'canary')}}`, values: '0 0 0 0 1 1 1 1 1 1 1 1 1' }],
        alert: 'ModelEndpointModelLoadFailures',
        fires: true,
        labels: alertLabels('warning', { model: 'iris', version: 'v2' }),
      },
    ];

    test('canary alerts fire when the canary version is worse and stay silent otherwise (serverless)', () => {
      const rule = findOne(synthRollout().manifests, 'PrometheusRule');
      const r = runUnitTests('rollout-serverless', DeploymentMode.SERVERLESS, rolloutCases, rule);
      expect(r.output).toContain('SUCCESS');
      expect(r.status).toBe(0);
    });

    test('no-ready-replicas reads each version\'s Deployment in raw mode', () => {
      const ksmOf = (d: string) => `kube_deployment_status_replicas_available{namespace="ml",deployment="${d}"}`;
      const rule = findOne(synthRollout({}, DeploymentMode.RAW).manifests, 'PrometheusRule');
      const r = runUnitTests('rollout-raw', DeploymentMode.RAW, [
        {
          name: 'raw rollout: iris-v2 without available replicas fires',
          series: [{ series: ksmOf('iris-v1'), values: '2x20' }, { series: ksmOf('iris-v2'), values: '0x20' }],
          alert: 'ModelEndpointNoReadyReplicas',
          fires: true,
          labels: alertLabels('critical', { deployment: 'iris-v2' }),
        },
        {
          name: 'raw rollout: both available stays silent; another endpoint\'s Deployment is ignored',
          series: [{ series: ksmOf('iris-v1'), values: '1x20' }, { series: ksmOf('iris-v2'), values: '1x20' }, { series: ksmOf('iris'), values: '0x20' }],
          alert: 'ModelEndpointNoReadyReplicas',
          fires: false,
        },
      ], rule);
      expect(r.output).toContain('SUCCESS');
      expect(r.status).toBe(0);
    });

    test('without a canary, the rule group has no canary alert to fire', () => {
      const rule = findOne(synthRollout({ canary: undefined }).manifests, 'PrometheusRule');
      expect(rule.spec.groups[0].rules.map((x: any) => x.alert)).toEqual([
        'ModelEndpointHighErrorRatio', 'ModelEndpointHighLatency', 'ModelEndpointModelLoadFailures', 'ModelEndpointNoReadyReplicas',
      ]);
    });
  });
});
