/**
 * The real model server, scraped by a real Prometheus whose scrape jobs are translated from the
 * synthesized PodMonitor and ServiceMonitor. After known traffic (successes, 400s and 404s),
 * every PromQL expression of the dashboards and alerts runs through Prometheus's HTTP API:
 * none errors, and the request count and error ratio match what was sent. A transformer in
 * front of a predictor, each scraped by its own monitor, shows the endpoint's queries count each
 * request once.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Chart, Duration, Testing } from 'cdk8s';
import * as esbuild from 'esbuild';
import * as YAML from 'yaml';
import { describeWithTools, stopProcess } from './tools';
import { CanaryRollout, CanaryRolloutProps, DeploymentMode, ModelEndpoint, StorageUri, TransformerModule } from '../../../src';
import { allExpressions, EndpointQueries } from '../../../src/render/monitoring/queries';
import { expected, metricSamples, modelDir, request, RunningServer, startServer } from '../../server/server-harness';
import { findOne } from '../../util';
import { expectValidManifests } from '../../validation';

jest.setTimeout(60_000);

const NAMESPACE = 'ml';
const MODEL = 'iris';

/** Prometheus' sanitization of a Kubernetes label name in `__meta_kubernetes_pod_label_*`. */
const podLabelMeta = (label: string) => `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;

/**
 * One Prometheus scrape job equivalent to what the operator generates from `monitor` for a pod
 * with `podLabels`: the discovery meta labels become static target labels, and the monitor's
 * path, interval and relabelings are copied (field names translated to Prometheus's).
 */
export function scrapeJobFromMonitor(monitor: any, podLabels: Record<string, string>, target: string): Record<string, unknown> {
  const ep = monitor.kind === 'PodMonitor' ? monitor.spec.podMetricsEndpoints[0] : monitor.spec.endpoints[0];
  const labels: Record<string, string> = {
    __meta_kubernetes_namespace: monitor.metadata.namespace,
    __meta_kubernetes_pod_ip: target.split(':')[0],
    // What the operator's own relabelings add before ours: namespace, and the port name as `endpoint`.
    namespace: monitor.metadata.namespace,
    endpoint: ep.port,
  };
  for (const [k, v] of Object.entries(podLabels)) labels[podLabelMeta(k)] = v;
  const port = target.split(':')[1];
  return {
    job_name: `${monitor.kind}/${monitor.metadata.namespace}/${monitor.metadata.name}`,
    scrape_interval: ep.interval,
    scrape_timeout: ep.interval,
    metrics_path: ep.path,
    static_configs: [{ targets: [target], labels }],
    relabel_configs: (ep.relabelings ?? []).map((r: any) => ({
      ...(r.action ? { action: r.action } : {}),
      ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}),
      ...(r.regex ? { regex: r.regex } : {}),
      // An address rewrite points at the pod's fixed port; here the server listens on an ephemeral one.
      ...(r.replacement ? { replacement: r.targetLabel === '__address__' ? r.replacement.replace(/:\d+$/, `:${port}`) : r.replacement } : {}),
      target_label: r.targetLabel,
    })),
  };
}

/** One job for several pods of one monitor (Prometheus job names are unique): a static config per pod. */
function scrapeJobForPods(monitor: any, pods: Array<{ podLabels: Record<string, string>; target: string }>): Record<string, unknown> {
  const job = scrapeJobFromMonitor(monitor, pods[0].podLabels, pods[0].target);
  const configs = pods.map(p => (scrapeJobFromMonitor(monitor, p.podLabels, p.target).static_configs as unknown[])[0]);
  return { ...job, static_configs: configs };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function httpGet(port: number, urlPath: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: any = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode!, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
  });
}

/** Polls `check` every 250 ms until it returns a value, or fails after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
      if (/exited/.test(String(e))) break;
    }
    await new Promise(r => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
}

describeWithTools(['prometheus'], 'a real Prometheus scraping the real model server', () => {
  let server: RunningServer | undefined;
  let prom: Prometheus | undefined;
  let tmp = '';
  let evalTime: number | undefined;
  const queries: Record<string, EndpointQueries> = {};

  // Queries after setup are all evaluated at one instant, so their windows line up.
  const query = (expr: string) => prom!.query(expr, evalTime);
  const scalar = async (expr: string) => {
    const r = await query(expr);
    return r.length === 1 ? Number(r[0].value[1]) : undefined;
  };

  // Traffic: phase 2 is phase 1 times 3, so every series grows by the same factor and rate()
  // extrapolates all of them alike; the error ratio is 12/28 whatever window Prometheus sees.
  const PHASE1 = { ok: 4, badRequest: 2, notFound: 1 };
  const PHASE2 = { ok: 12, badRequest: 6, notFound: 3 };
  const TOTAL = 28;
  const ERRORS = 12;

  async function send(counts: typeof PHASE1) {
    const good = expected('iris-logreg').v2_request;
    const bad = JSON.parse(JSON.stringify(good));
    bad.inputs[0].shape = [5, 3];
    const port = server!.port;
    const statuses: number[] = [];
    for (let i = 0; i < counts.ok; i++) statuses.push((await request(port, 'POST', `/v2/models/${MODEL}/infer`, good)).status);
    for (let i = 0; i < counts.badRequest; i++) statuses.push((await request(port, 'POST', `/v2/models/${MODEL}/infer`, bad)).status);
    for (let i = 0; i < counts.notFound; i++) statuses.push((await request(port, 'POST', '/v2/models/no-such-model/infer', good)).status);
    expect(statuses).toEqual([...Array(counts.ok).fill(200), ...Array(counts.badRequest).fill(400), ...Array(counts.notFound).fill(404)]);
  }

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-it-'));

    // GIVEN two endpoints, one per monitor kind, scraped every second.
    const chart = new Chart(Testing.app(), 'test', { namespace: NAMESPACE });
    const storageUri = StorageUri.s3('models', 'iris/model.onnx');
    const monitoring = { scrapeInterval: Duration.seconds(1) };
    const serverless = new ModelEndpoint(chart, 'Serverless', { name: 'iris', modelName: MODEL, storageUri, monitoring });
    const raw = new ModelEndpoint(chart, 'Raw', { name: 'iris-raw', modelName: MODEL, storageUri, mode: DeploymentMode.RAW, monitoring });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    queries.iris = serverless.monitoring!._queries;
    queries['iris-raw'] = raw.monitoring!._queries;

    const podMonitor = findOne(manifests, 'PodMonitor');
    const serviceMonitor = findOne(manifests, 'ServiceMonitor');
    const knativePodLabels = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' }).spec.template.metadata.labels;
    const deploymentPodLabels = findOne(manifests, 'Deployment').spec.template.metadata.labels;
    // The operator would only find these pods if the selectors match their labels.
    expect(knativePodLabels).toMatchObject(podMonitor.spec.selector.matchLabels);
    expect(findOne(manifests, 'Service', { apiVersion: 'v1' }).metadata.labels).toMatchObject(serviceMonitor.spec.selector.matchLabels);

    // The real server, one model.
    const dir = modelDir({ 'model.onnx': 'iris-logreg.onnx' });
    server = await startServer(['--model-dir', dir, '--model-name', MODEL]);

    // A real Prometheus on loopback, with a job per monitor pointing at that server.
    const target = `127.0.0.1:${server.port}`;
    prom = await startPrometheus(tmp, [
      scrapeJobFromMonitor(podMonitor, knativePodLabels, target),
      scrapeJobFromMonitor(serviceMonitor, deploymentPodLabels, target),
    ]);
    // Both jobs scrape successfully.
    await waitFor('both targets up', 15_000, async () => ((await scalar('sum(up{endpoint=~"iris|iris-raw"})')) === 2 ? true : undefined));

    // Probe traffic (the kubelet's readiness probe) is not metered: the exact totals below
    // would be off otherwise.
    for (let i = 0; i < 3; i++) expect((await request(server.port, 'GET', `/v2/models/${MODEL}/ready`)).status).toBe(200);

    // WHEN known traffic is sent in two phases, each seen by at least one scrape.
    await send(PHASE1);
    for (const endpoint of ['iris', 'iris-raw']) {
      await waitFor(`phase 1 scraped (${endpoint})`, 15_000, async () =>
        ((await scalar(`sum(model_server_requests_total{endpoint="${endpoint}",namespace="${NAMESPACE}"})`)) === 7 ? true : undefined));
    }
    await send(PHASE2);
    for (const endpoint of ['iris', 'iris-raw']) {
      await waitFor(`phase 2 scraped (${endpoint})`, 15_000, async () =>
        ((await scalar(`sum(model_server_requests_total{endpoint="${endpoint}",namespace="${NAMESPACE}"})`)) === TOTAL ? true : undefined));
    }
    // Two more scrapes, so the last samples are not the only ones after the traffic.
    const samples = async () => scalar('count_over_time(up{endpoint="iris"}[5m])');
    const now = (await samples())!;
    await waitFor('two more scrapes', 10_000, async () => ((await samples())! >= now + 2 ? true : undefined));
    evalTime = Date.now() / 1000;
  }, 90_000);

  afterAll(async () => {
    await prom?.stop();
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe.each(['iris', 'iris-raw'])('endpoint %s', (endpoint) => {
    test('every dashboard and alert expression runs without error', async () => {
      const exprs = allExpressions(queries[endpoint]);
      expect(Object.keys(exprs).length).toBeGreaterThanOrEqual(20);
      const results: Record<string, number> = {};
      for (const [name, expr] of Object.entries(exprs)) results[name] = (await query(expr)).length;
      // Series-producing panels all have data; healthy traffic fires no alert.
      for (const name of ['requestRate', 'requestRateByCode', 'requestRateByModel', 'requestRateByTrack', 'errorRatio', 'serverErrorRatio',
        'errorRatioByTrack', 'latencyP50', 'latencyP90', 'latencyP99', 'latencyP99ByTrack', 'requestsInFlight', 'replicasUp',
        'modelLoadSeconds', 'modelsLoaded']) {
        expect([name, results[name]]).toEqual([name, expect.any(Number)]);
        expect(results[name]).toBeGreaterThan(0);
      }
      for (const name of Object.keys(exprs).filter(n => n.startsWith('alert:'))) expect([name, results[name]]).toEqual([name, 0]);
    });

    test('the request count and error ratio match the traffic sent', async () => {
      const sel = `endpoint="${endpoint}",namespace="${NAMESPACE}"`;
      expect(await scalar(`sum(model_server_requests_total{${sel}})`)).toBe(TOTAL);
      expect(await scalar(`sum(model_server_requests_total{${sel},code!~"2..|0"})`)).toBe(ERRORS);
      const q = queries[endpoint];
      expect(await scalar(q.errorRatio)).toBeCloseTo(ERRORS / TOTAL, 6);
      expect(await scalar(q.serverErrorRatio)).toBe(0);
      // Within the 5m window the counters grew by exactly the phase-2 traffic...
      expect(await scalar(`sum(max_over_time(model_server_requests_total{${sel}}[5m]) - min_over_time(model_server_requests_total{${sel}}[5m]))`))
        .toBe(PHASE2.ok + PHASE2.badRequest + PHASE2.notFound);
      // ...which rate() extrapolates (by up to a scrape interval at each end of the samples), the
      // same way for every series: the shares by status code are exact.
      const rate = (await scalar(q.requestRate))!;
      expect(rate * 300).toBeGreaterThanOrEqual(PHASE2.ok + PHASE2.badRequest + PHASE2.notFound - 0.01);
      const byCode = Object.fromEntries((await query(q.requestRateByCode)).map(r => [r.metric.code, Number(r.value[1]) / rate]));
      expect(byCode).toEqual({ 200: expect.closeTo(16 / TOTAL, 6), 400: expect.closeTo(8 / TOTAL, 6), 404: expect.closeTo(4 / TOTAL, 6) });
      const byModel = (await query(q.requestRateByModel)).map(r => r.metric.model).sort();
      expect(byModel).toEqual(['_unknown', MODEL]);
      const byTrack = await query(q.errorRatioByTrack);
      expect(byTrack.map(r => [r.metric.track, Number(r.value[1])])).toEqual([['stable', expect.closeTo(ERRORS / TOTAL, 6)]]);
      expect(await scalar(q.replicasUp)).toBe(1);
    });

    test('relabeling gave every series the endpoint, component and track labels', async () => {
      const series = await query(`model_server_requests_total{endpoint="${endpoint}"}`);
      expect(series.length).toBe(3);
      for (const s of series) {
        expect(s.metric).toMatchObject({ endpoint, namespace: NAMESPACE, component: 'predictor', track: 'stable', protocol: 'v2' });
      }
    });
  });
});

/**
 * A CanaryRollout: two real server processes stand for the stable (iris-logreg) and canary
 * (iris-mlp) revisions, scraped with the labels the synthesized PodMonitor derives from each
 * pod's labels. The canary answers more requests with errors; the per-version queries and
 * the canary alert expression see exactly that.
 */
describeWithTools(['prometheus'], 'a real Prometheus scraping a stable and a canary server', () => {
  const servers: Record<string, RunningServer> = {};
  const snapshots: Record<string, Awaited<ReturnType<typeof startMetricsSnapshot>> | undefined> = {};
  let prom: Prometheus | undefined;
  let tmp = '';
  let evalTime: number | undefined;
  let q: EndpointQueries;

  const query = (expr: string) => prom!.query(expr, evalTime);
  const scalar = async (expr: string) => {
    const r = await query(expr);
    return r.length === 1 ? Number(r[0].value[1]) : undefined;
  };

  // Per version, phase 2 is phase 1 times 3 (see above: the ratios are then exact).
  const TRAFFIC = {
    v1: { model: 'iris-logreg', phases: [{ ok: 9, bad: 1 }, { ok: 27, bad: 3 }] }, // 10% errors
    v2: { model: 'iris-mlp', phases: [{ ok: 3, bad: 2 }, { ok: 9, bad: 6 }] }, // 40% errors
  };
  const total = (v: keyof typeof TRAFFIC, upTo: number) => TRAFFIC[v].phases.slice(0, upTo).reduce((n, p) => n + p.ok + p.bad, 0);

  async function send(version: keyof typeof TRAFFIC, phase: number) {
    const good = expected(TRAFFIC[version].model).v2_request;
    const bad = JSON.parse(JSON.stringify(good));
    bad.inputs[0].shape = [5, 3];
    const { ok, bad: nBad } = TRAFFIC[version].phases[phase];
    const statuses: number[] = [];
    for (let i = 0; i < ok; i++) statuses.push((await request(servers[version].port, 'POST', `/v2/models/${MODEL}/infer`, good)).status);
    for (let i = 0; i < nBad; i++) statuses.push((await request(servers[version].port, 'POST', `/v2/models/${MODEL}/infer`, bad)).status);
    expect(statuses).toEqual([...Array(ok).fill(200), ...Array(nBad).fill(400)]);
  }

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-canary-'));

    // GIVEN a serverless CanaryRollout at the "canary at 10%" step, scraped every second.
    const props = (chartProps: Partial<CanaryRolloutProps>): CanaryRolloutProps => ({
      name: 'iris',
      modelName: MODEL,
      stable: { version: 'v1', storageUri: StorageUri.s3('models', 'iris/v1/iris-logreg.onnx') },
      monitoring: { scrapeInterval: Duration.seconds(1) },
      ...chartProps,
    });
    const chart = new Chart(Testing.app(), 'test', { namespace: NAMESPACE });
    const rollout = new CanaryRollout(chart, 'Rollout', props({
      canary: { version: 'v2', storageUri: StorageUri.s3('models', 'iris/v2/iris-mlp.onnx') },
      trafficPercent: 10,
    }));
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    q = rollout.monitoring!._queries;
    // The stable revision was created by the previous deploy ("stable only"), from its template.
    const previous = new Chart(Testing.app(), 'test', { namespace: NAMESPACE });
    new CanaryRollout(previous, 'Rollout', props({}));
    const ksvcOf = (m: any[]) => findOne(m, 'Service', { apiVersion: 'serving.knative.dev/v1' });
    const podLabels = {
      // Knative adds the revision label to each revision's pods.
      v1: { ...ksvcOf(Testing.synth(previous)).spec.template.metadata.labels, 'serving.knative.dev/revision': 'iris-v1' },
      v2: { ...ksvcOf(manifests).spec.template.metadata.labels, 'serving.knative.dev/revision': 'iris-v2' },
    };
    const podMonitor = findOne(manifests, 'PodMonitor');
    for (const labels of Object.values(podLabels)) expect(labels).toMatchObject(podMonitor.spec.selector.matchLabels);

    // Two real servers: different model files behind the same model name.
    servers.v1 = await startServer(['--model-dir', modelDir({ 'model.onnx': 'iris-logreg.onnx' }), '--model-name', MODEL]);
    servers.v2 = await startServer(['--model-dir', modelDir({ 'model.onnx': 'iris-mlp.onnx' }), '--model-name', MODEL]);

    snapshots.v1 = await startMetricsSnapshot(servers.v1.port);
    snapshots.v2 = await startMetricsSnapshot(servers.v2.port);
    for (const v of ['v1', 'v2'] as const) await snapshots[v]!.refresh();
    prom = await startPrometheus(tmp, [scrapeJobForPods(podMonitor, [
      { podLabels: podLabels.v1, target: `127.0.0.1:${snapshots.v1.port}` },
      { podLabels: podLabels.v2, target: `127.0.0.1:${snapshots.v2.port}` },
    ])]);
    await waitFor('both versions up', 15_000, async () => ((await scalar('count(up{endpoint="iris",version=~"v1|v2"} == 1)')) === 2 ? true : undefined));

    // WHEN each version gets its traffic in two phases, each seen by at least one scrape.
    for (const phase of [0, 1]) {
      for (const v of ['v1', 'v2'] as const) await send(v, phase);
      // The whole phase becomes visible to Prometheus at once.
      for (const v of ['v1', 'v2'] as const) await snapshots[v]!.refresh();
      for (const v of ['v1', 'v2'] as const) {
        await waitFor(`phase ${phase + 1} scraped (${v})`, 15_000, async () =>
          ((await scalar(`sum(model_server_requests_total{endpoint="iris",version="${v}"})`)) === total(v, phase + 1) ? true : undefined));
      }
    }
    const samples = async () => scalar('min(count_over_time(up{endpoint="iris"}[5m]))');
    const now = (await samples())!;
    await waitFor('two more scrapes', 10_000, async () => ((await samples())! >= now + 2 ? true : undefined));
    evalTime = Date.now() / 1000;
  }, 90_000);

  afterAll(async () => {
    await prom?.stop();
    for (const snapshot of Object.values(snapshots)) await snapshot?.stop();
    for (const server of Object.values(servers)) await server.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('relabeling gave each version\'s series its version, track and revision', async () => {
    const series = await query('model_server_requests_total{endpoint="iris"}');
    const seen = new Set(series.map(s => `${s.metric.version} ${s.metric.track} ${s.metric.revision} ${s.metric.code}`));
    expect([...seen].sort()).toEqual(['v1 stable iris-v1 200', 'v1 stable iris-v1 400', 'v2 canary iris-v2 200', 'v2 canary iris-v2 400']);
  });

  test('the per-version error ratios match the traffic sent, and the canary alert expression reports the canary\'s', async () => {
    const [stable, canary] = q.versions!;
    expect([stable.version, canary.version]).toEqual(['v1', 'v2']);
    expect(await scalar(stable.errorRatio)).toBeCloseTo(4 / 40, 6);
    expect(await scalar(canary.errorRatio)).toBeCloseTo(8 / 20, 6);
    // The alert's expression (before its `for`) holds one sample: the canary's error ratio.
    const alert = await query(q.alerts.ModelEndpointCanaryErrorRatio);
    expect(alert.map(r => Number(r.value[1]))).toEqual([expect.closeTo(0.4, 6)]);
    // Both tracks are visible in the track split too.
    const byTrack = Object.fromEntries((await query(q.errorRatioByTrack)).map(r => [r.metric.track, Number(r.value[1])]));
    expect(byTrack).toEqual({ stable: expect.closeTo(0.1, 6), canary: expect.closeTo(0.4, 6) });
    // Requests per version: the counters hold exactly what each server answered. (rate() of two
    // targets extrapolates over different scrape times, so their rates are not compared exactly.)
    expect(await scalar('sum(model_server_requests_total{endpoint="iris",version="v1"})')).toBe(40);
    expect(await scalar('sum(model_server_requests_total{endpoint="iris",version="v2"})')).toBe(20);
    expect(await scalar(stable.requestRate)).toBeGreaterThan(0);
    expect(await scalar(canary.requestRate)).toBeGreaterThan(0);
  });

  test('every dashboard and alert expression runs; only the canary error alert has a sample', async () => {
    const exprs = allExpressions(q);
    const results: Record<string, number> = {};
    for (const [name, expr] of Object.entries(exprs)) results[name] = (await query(expr)).length;
    for (const name of ['stable:requestRate', 'canary:requestRate', 'stable:errorRatio', 'canary:errorRatio', 'stable:latencyP99', 'canary:latencyP99', 'modelLoadSeconds']) {
      expect([name, results[name]]).toEqual([name, 1 + (name === 'modelLoadSeconds' ? 1 : 0)]);
    }
    const firing = Object.keys(exprs).filter(n => n.startsWith('alert:') && results[n] > 0 && n !== 'alert:ModelEndpointCanaryLatency');
    expect(firing).toEqual(['alert:ModelEndpointCanaryErrorRatio']);
  });
});

/** A running Prometheus: its port, an instant query, and `stop()`. */
interface Prometheus {
  readonly port: number;
  /** The result vector of `expr`, evaluated at `time` (seconds) if given. */
  query(expr: string, time?: number): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  stop(): Promise<void>;
}

/** A real Prometheus on a free loopback port with `scrapeConfigs`, every second; `stop()` ends it. */

/**
 * A loopback stand-in for one pod's /metrics: it serves the real server's /metrics as it was at the
 * last `refresh()`, so Prometheus never scrapes a traffic phase half sent. (A scrape between a
 * phase's successes and its errors splits them across samples, and on a loaded machine that skews
 * the rate ratio.) The counters are the server's own; only when Prometheus sees them is chosen.
 */
async function startMetricsSnapshot(serverPort: number) {
  let text = '';
  const server = http.createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    async refresh() {
      text = (await request(serverPort, 'GET', '/metrics')).text;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function startPrometheus(dir: string, scrapeConfigs: unknown[]): Promise<Prometheus> {
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), YAML.stringify({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, scrape_configs: scrapeConfigs }));
  const proc = spawn('prometheus', [
    `--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (c: Buffer) => { log += c.toString(); });
  proc.stderr!.on('data', (c: Buffer) => { log += c.toString(); });
  const exited = new Promise(resolve => proc.on('exit', resolve));
  void exited.then((code) => { log += `\n[prometheus exited with ${code}]`; });
  const stop = () => stopProcess(proc, exited);
  try {
    await waitFor(`Prometheus ready on ${port}`, 20_000, async () => {
      if (proc.exitCode !== null) throw new Error(`prometheus exited: ${log}`);
      return (await httpGet(port, '/-/ready')).status === 200 ? true : undefined;
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const query = async (expr: string, time?: number) => {
    const at = time ? `&time=${time}` : '';
    const res = await httpGet(port, `/api/v1/query?query=${encodeURIComponent(expr)}${at}`);
    if (res.status !== 200 || res.body.status !== 'success') throw new Error(`query failed (${res.status}): ${expr}\n${JSON.stringify(res.body)}`);
    return res.body.data.result;
  };
  return { port, query, stop };
}

/**
 * A transformer in front of a predictor: two real `serve` processes, the transformer running the
 * iris-features module (bundled with esbuild, as a module author would), each scraped by a job
 * from its synthesized PodMonitor. A request through the transformer is counted by both; the
 * endpoint's queries (`component="predictor"`) count it once, and the transformer's own queries
 * see what clients sent, including requests the module rejected before calling the predictor.
 */
describeWithTools(['prometheus'], 'a real Prometheus scraping a transformer in front of a predictor', () => {
  const servers: Record<'predictor' | 'transformer', RunningServer | undefined> = { predictor: undefined, transformer: undefined };
  let prom: Prometheus | undefined;
  let tmp = '';
  let evalTime: number | undefined;
  let q: EndpointQueries;

  const query = (expr: string) => prom!.query(expr, evalTime);
  const scalar = async (expr: string) => {
    const r = await query(expr);
    return r.length === 1 ? Number(r[0].value[1]) : undefined;
  };
  /** The series selector of a `sum (rate(model_server_requests_total{...}[5m]))` query. */
  const selectorOf = (rateExpr: string) => /model_server_requests_total(\{[^}]*\})/.exec(rateExpr)![1];

  // Per phase, sent to the transformer: V2 requests the predictor answers (ok); V2 requests the
  // predictor rejects (a wrong shape: 400, relayed by the transformer); V1 requests the module
  // rejects (a feature missing: 400, the predictor never sees them). Phase 2 is phase 1 times 3,
  // so rate() extrapolates every series of a target alike and the ratios are exact.
  const PHASES = [{ ok: 4, badShape: 1, rejected: 2 }, { ok: 12, badShape: 3, rejected: 6 }];
  const PREDICTOR = { total: 20, errors: 4 };
  const TRANSFORMER = { total: 28, errors: 12 };

  async function send(phase: typeof PHASES[number]) {
    const good = expected('iris-logreg').v2_request;
    const badShape = JSON.parse(JSON.stringify(good));
    badShape.inputs[0].shape = [5, 3];
    const port = servers.transformer!.port;
    const statuses: number[] = [];
    for (let i = 0; i < phase.ok; i++) statuses.push((await request(port, 'POST', `/v2/models/${MODEL}/infer`, good)).status);
    for (let i = 0; i < phase.badShape; i++) statuses.push((await request(port, 'POST', `/v2/models/${MODEL}/infer`, badShape)).status);
    for (let i = 0; i < phase.rejected; i++) statuses.push((await request(port, 'POST', `/v1/models/${MODEL}:predict`, { instances: [{ sepal_length: 5.1 }] })).status);
    expect(statuses).toEqual([...Array(phase.ok).fill(200), ...Array(phase.badShape + phase.rejected).fill(400)]);
  }
  const count = (component: string) => scalar(`sum(model_server_requests_total{endpoint="iris",namespace="${NAMESPACE}",component="${component}"})`);

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-transformer-'));
    const moduleFile = path.join(tmp, 'iris-features.js');
    await esbuild.build({
      entryPoints: [path.join(__dirname, '..', '..', 'fixtures', 'transformer', 'iris-features.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: moduleFile,
      logLevel: 'warning',
    });

    // GIVEN a serverless endpoint whose transformer is added after its constructor, scraped every second.
    const chart = new Chart(Testing.app(), 'test', { namespace: NAMESPACE });
    const endpoint = new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris', modelName: MODEL, storageUri: StorageUri.s3('models', 'iris/model.onnx'), monitoring: { scrapeInterval: Duration.seconds(1) },
    });
    endpoint.addTransformer({ module: TransformerModule.fromFile(moduleFile) });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    q = endpoint.monitoring!._queries;
    const ksvc = (name: string) => findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name });
    const pods = {
      predictor: { ...ksvc('iris').spec.template.metadata.labels, 'serving.knative.dev/revision': 'iris-00001' },
      transformer: { ...ksvc('iris-transformer').spec.template.metadata.labels, 'serving.knative.dev/revision': 'iris-transformer-00001' },
    };
    const monitors = { predictor: findOne(manifests, 'PodMonitor', { name: 'iris' }), transformer: findOne(manifests, 'PodMonitor', { name: 'iris-transformer' }) };
    // Each monitor selects its own component's pods only.
    expect(pods.predictor).toMatchObject(monitors.predictor.spec.selector.matchLabels);
    expect(pods.transformer).toMatchObject(monitors.transformer.spec.selector.matchLabels);
    expect(pods.transformer).not.toMatchObject(monitors.predictor.spec.selector.matchLabels);

    // The real predictor, and the real transformer calling it over V2 REST.
    servers.predictor = await startServer(['--model-dir', modelDir({ 'model.onnx': 'iris-logreg.onnx' }), '--model-name', MODEL]);
    servers.transformer = await startServer([
      '--mode', 'transformer', '--model-name', MODEL, '--predictor-host', `127.0.0.1:${servers.predictor.port}`, '--transformer-module', moduleFile,
    ]);

    prom = await startPrometheus(tmp, [
      scrapeJobFromMonitor(monitors.predictor, pods.predictor, `127.0.0.1:${servers.predictor.port}`),
      scrapeJobFromMonitor(monitors.transformer, pods.transformer, `127.0.0.1:${servers.transformer.port}`),
    ]);
    await waitFor('both components up', 15_000, async () => ((await scalar('count(up{endpoint="iris"} == 1)')) === 2 ? true : undefined));

    // WHEN known traffic goes through the transformer in two phases, each seen by a scrape.
    let sent = { predictor: 0, transformer: 0 };
    for (const phase of PHASES) {
      await send(phase);
      sent = { predictor: sent.predictor + phase.ok + phase.badShape, transformer: sent.transformer + phase.ok + phase.badShape + phase.rejected };
      for (const component of ['predictor', 'transformer'] as const) {
        await waitFor(`${sent[component]} requests scraped (${component})`, 15_000, async () => ((await count(component)) === sent[component] ? true : undefined));
      }
    }
    const samples = async () => scalar('min(count_over_time(up{endpoint="iris"}[5m]))');
    const now = (await samples())!;
    await waitFor('two more scrapes', 10_000, async () => ((await samples())! >= now + 2 ? true : undefined));
    evalTime = Date.now() / 1000;
  }, 90_000);

  afterAll(async () => {
    await prom?.stop();
    for (const server of Object.values(servers)) await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('relabeling gave the transformer\'s series component="transformer", beside the predictor\'s', async () => {
    const series = await query('model_server_requests_total{endpoint="iris"}');
    const seen = series.map(s => `${s.metric.component} ${s.metric.protocol} ${s.metric.code} ${s.metric.track} ${s.metric.revision}`).sort();
    expect(seen).toEqual([
      'predictor v2 200 stable iris-00001', 'predictor v2 400 stable iris-00001',
      'transformer v1 400 stable iris-transformer-00001', 'transformer v2 200 stable iris-transformer-00001', 'transformer v2 400 stable iris-transformer-00001',
    ]);
    // The transformer's own metrics are scraped too.
    const steps = await query('model_server_transformer_step_duration_seconds_count{endpoint="iris",component="transformer"}');
    expect(Object.fromEntries(steps.map(s => [s.metric.step, Number(s.value[1])]))).toEqual({ preprocess: TRANSFORMER.total, postprocess: 16 });
    expect(await scalar('sum(model_server_predictor_request_duration_seconds_count{endpoint="iris",component="transformer"})')).toBe(PREDICTOR.total);
  });

  test('the endpoint\'s queries count each request once: exactly what the predictor answered', async () => {
    // The predictor's own count, read from the process, is what its queries' selector sums.
    const own = metricSamples((await httpGet(servers.predictor!.port, '/metrics')).body, 'model_server_requests_total');
    expect([...own.values()].reduce((a, b) => a + b, 0)).toBe(PREDICTOR.total);
    const endpointSel = selectorOf(q.requestRate);
    expect(await scalar(`sum(model_server_requests_total${endpointSel})`)).toBe(PREDICTOR.total);
    expect(await scalar(`sum(model_server_requests_total${endpointSel.replace('}', ',code!~"2..|0"}')})`)).toBe(PREDICTOR.errors);
    // Without the component matcher, the requests through the transformer would count twice.
    expect(await scalar(`sum(model_server_requests_total{endpoint="iris",namespace="${NAMESPACE}"})`)).toBe(PREDICTOR.total + TRANSFORMER.total);
    expect(await scalar(q.errorRatio)).toBeCloseTo(PREDICTOR.errors / PREDICTOR.total, 6);
    const byCode = Object.fromEntries((await query(q.requestRateByCode)).map(r => [r.metric.code, Number(r.value[1])]));
    expect(byCode[400] / (byCode[200] + byCode[400])).toBeCloseTo(PREDICTOR.errors / PREDICTOR.total, 6);
    expect(await scalar(q.serverErrorRatio)).toBe(0);
  });

  test('the transformer\'s queries see what clients sent, including what the module rejected', async () => {
    const [t] = q.components;
    expect(t.component).toBe('transformer');
    expect(await scalar(`sum(model_server_requests_total${selectorOf(t.requestRate)})`)).toBe(TRANSFORMER.total);
    expect(await scalar(t.errorRatio)).toBeCloseTo(TRANSFORMER.errors / TRANSFORMER.total, 6);
    expect(await scalar(t.serverErrorRatio)).toBe(0);
    expect(await scalar(t.replicasUp)).toBe(1);
    expect((await query(t.stepLatencyP99!)).map(r => r.metric.step).sort()).toEqual(['postprocess', 'preprocess']);
  });

  test('every dashboard and alert expression runs; the transformer panels have data; no alert fires', async () => {
    const exprs = allExpressions(q);
    const results: Record<string, number> = {};
    for (const [name, expr] of Object.entries(exprs)) results[name] = (await query(expr)).length;
    const transformerPanels = Object.keys(exprs).filter(n => n.startsWith('transformer:'));
    expect(transformerPanels.sort()).toEqual([
      'transformer:errorRatio', 'transformer:latencyP99', 'transformer:predictorLatencyP99', 'transformer:replicasUp',
      'transformer:requestRate', 'transformer:requestRateByCode', 'transformer:serverErrorRatio', 'transformer:stepLatencyP99',
    ]);
    for (const name of [...transformerPanels, 'requestRate', 'errorRatio', 'latencyP99', 'replicasUp', 'modelsLoaded']) {
      expect([name, results[name] > 0]).toEqual([name, true]);
    }
    expect(Object.keys(exprs)).toContain('alert:ModelEndpointComponentHighErrorRatio');
    for (const name of Object.keys(exprs).filter(n => n.startsWith('alert:'))) expect([name, results[name]]).toEqual([name, 0]);
  });
});

/**
 * rt-finish: a transformer collocated in the predictor's pod takes the pod's serving port. The
 * endpoint's one PodMonitor scrapes both containers: its first endpoint rewrites the address to the
 * predictor's own port, its second scrapes our transformer on the serving port as
 * component="transformer". Two real `serve` processes stand for the two containers of one pod
 * (127.0.0.1); each monitor endpoint becomes one Prometheus job, the pod's fixed ports mapped to theirs.
 */
describeWithTools(['prometheus'], 'a real Prometheus scraping a transformer collocated with its predictor', () => {
  const servers: Record<'predictor' | 'transformer', RunningServer | undefined> = { predictor: undefined, transformer: undefined };
  let prom: Prometheus | undefined;
  let tmp = '';
  let q: EndpointQueries;
  const SENT = 5;
  const PREDICTOR_PORT = 8085; // the custom predictor's container port in the pod

  /** A job for endpoint `index` of `monitor`, found on the pod's serving port; `ports` maps pod ports to loopback ones. */
  function job(monitor: any, index: number, podLabels: Record<string, string>, servingTarget: string, ports: Map<number, number>) {
    const ep = monitor.spec.podMetricsEndpoints[index];
    const base = scrapeJobFromMonitor({ ...monitor, spec: { podMetricsEndpoints: [ep] } }, podLabels, servingTarget) as any;
    return {
      ...base,
      job_name: `${base.job_name}/${index}`,
      relabel_configs: (ep.relabelings ?? []).map((r: any) => ({
        ...(r.action ? { action: r.action } : {}),
        ...(r.sourceLabels ? { source_labels: r.sourceLabels } : {}),
        ...(r.regex ? { regex: r.regex } : {}),
        ...(r.replacement ? { replacement: r.replacement.replace(/:(\d+)$/, (_m: string, p: string) => `:${ports.get(Number(p)) ?? p}`) } : {}),
        target_label: r.targetLabel,
      })),
    };
  }
  const scalar = async (expr: string) => {
    const r = await prom!.query(expr);
    return r.length === 1 ? Number(r[0].value[1]) : undefined;
  };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'prom-collocated-'));
    const moduleFile = path.join(tmp, 'pass.js');
    fs.writeFileSync(moduleFile, 'exports.preprocess = async (r) => r;\n');
    // GIVEN a serverless endpoint with a custom predictor on 8085 and our transformer collocated, monitored
    const chart = new Chart(Testing.app(), 'test', { namespace: NAMESPACE });
    const endpoint = new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris',
      modelName: MODEL,
      container: { image: 'example/predictor:1', port: PREDICTOR_PORT, readinessPath: `/v2/models/${MODEL}/ready` },
      monitoring: { enabled: true, scrapeInterval: Duration.seconds(1) },
    });
    endpoint.addTransformer({ module: TransformerModule.fromCode('exports.preprocess = async (r) => r;\n', 'pass.js'), collocated: true });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    q = endpoint.monitoring!._queries;
    const ksvc = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name: 'iris' });
    const pod = { ...ksvc.spec.template.metadata.labels, 'serving.knative.dev/revision': 'iris-00001' };
    const monitor = findOne(manifests, 'PodMonitor', { name: 'iris' });
    expect(monitor.spec.podMetricsEndpoints).toHaveLength(2);

    // The pod's two containers: the predictor (our server standing in for the custom one) and our transformer calling it.
    servers.predictor = await startServer(['--model-dir', modelDir({ 'model.onnx': 'iris-logreg.onnx' }), '--model-name', MODEL]);
    servers.transformer = await startServer([
      '--mode', 'transformer', '--model-name', MODEL, '--predictor-host', `127.0.0.1:${servers.predictor.port}`, '--transformer-module', moduleFile,
    ]);
    const serving = `127.0.0.1:${servers.transformer.port}`; // Knative's user-port is the transformer's now
    const ports = new Map([[PREDICTOR_PORT, servers.predictor.port]]);
    prom = await startPrometheus(tmp, [job(monitor, 0, pod, serving, ports), job(monitor, 1, pod, serving, ports)]);
    await waitFor('both containers up', 15_000, async () => ((await scalar('count(up{endpoint="iris"} == 1)')) === 2 ? true : undefined));

    // WHEN requests come in through the transformer (the serving port)
    const good = expected('iris-logreg').v2_request;
    for (let i = 0; i < SENT; i++) expect((await request(servers.transformer.port, 'POST', `/v2/models/${MODEL}/infer`, good)).status).toBe(200);
    for (const component of ['predictor', 'transformer']) {
      await waitFor(`${SENT} requests scraped (${component})`, 15_000, async () =>
        ((await scalar(`sum(model_server_requests_total{endpoint="iris",component="${component}"})`)) === SENT ? true : undefined));
    }
  }, 90_000);

  afterAll(async () => {
    await prom?.stop();
    for (const server of Object.values(servers)) await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the predictor is scraped on its own port, the transformer on the serving port, each under its component', async () => {
    const up = await prom!.query('up{endpoint="iris"}');
    expect(Object.fromEntries(up.map(s => [s.metric.component, s.metric.instance]))).toEqual({
      predictor: `127.0.0.1:${servers.predictor!.port}`,
      transformer: `127.0.0.1:${servers.transformer!.port}`,
    });
    // The transformer's own metrics reach Prometheus as the transformer's.
    expect(await scalar('sum(model_server_predictor_request_duration_seconds_count{endpoint="iris",component="transformer"})')).toBe(SENT);
  });

  test('the endpoint\'s queries count each request once (the predictor\'s); the transformer\'s queries see it too', async () => {
    const selector = /model_server_requests_total(\{[^}]*\})/;
    expect(await scalar(`sum(model_server_requests_total${selector.exec(q.requestRate)![1]})`)).toBe(SENT);
    const [t] = q.components;
    expect(t.component).toBe('transformer');
    expect(await scalar(`sum(model_server_requests_total${selector.exec(t.requestRate)![1]})`)).toBe(SENT);
    expect(await scalar(t.replicasUp)).toBe(1);
  });
});
