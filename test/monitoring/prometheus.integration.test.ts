/**
 * The real model server, scraped by a real Prometheus whose scrape jobs are translated from the
 * synthesized PodMonitor and ServiceMonitor. After known traffic (successes, 400s and 404s),
 * every PromQL expression of the dashboards and alerts runs through Prometheus's HTTP API:
 * none errors, and the request count and error ratio match what was sent.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Chart, Duration, Testing } from 'cdk8s';
import * as YAML from 'yaml';
import { describeWithTools } from './tools';
import { DeploymentMode, ModelEndpoint, StorageUri } from '../../src';
import { allExpressions, EndpointQueries } from '../../src/_monitoring/queries';
import { expected, modelDir, request, RunningServer, startServer } from '../server/server-harness';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

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
  let prometheus: ChildProcess | undefined;
  let prometheusExited: Promise<unknown> | undefined;
  let prometheusLog = '';
  let promPort = 0;
  let tmp = '';
  let evalTime: number | undefined;
  const queries: Record<string, EndpointQueries> = {};

  async function query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    // Queries after setup are all evaluated at one instant, so their windows line up.
    const at = evalTime ? `&time=${evalTime}` : '';
    const res = await httpGet(promPort, `/api/v1/query?query=${encodeURIComponent(expr)}${at}`);
    if (res.status !== 200 || res.body.status !== 'success') {
      throw new Error(`query failed (${res.status}): ${expr}\n${JSON.stringify(res.body)}`);
    }
    return res.body.data.result;
  }
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
    promPort = await freePort();
    const target = `127.0.0.1:${server.port}`;
    const config = {
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: [scrapeJobFromMonitor(podMonitor, knativePodLabels, target), scrapeJobFromMonitor(serviceMonitor, deploymentPodLabels, target)],
    };
    fs.writeFileSync(path.join(tmp, 'prometheus.yml'), YAML.stringify(config));
    prometheus = spawn('prometheus', [
      `--config.file=${path.join(tmp, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(tmp, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stdout!.on('data', (c: Buffer) => { prometheusLog += c.toString(); });
    prometheus.stderr!.on('data', (c: Buffer) => { prometheusLog += c.toString(); });
    prometheusExited = new Promise(resolve => prometheus!.on('exit', resolve));
    void prometheusExited.then((code) => { prometheusLog += `\n[prometheus exited with ${code}]`; });

    await waitFor(`Prometheus ready on ${promPort}`, 20_000, async () => {
      if (prometheus!.exitCode !== null) throw new Error(`prometheus exited: ${prometheusLog}`);
      return (await httpGet(promPort, '/-/ready')).status === 200 ? true : undefined;
    });
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
    if (prometheus && prometheus.exitCode === null) {
      prometheus.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([prometheusExited, new Promise(r => { timer = setTimeout(r, 5000); })]);
      clearTimeout(timer);
      if (prometheus.exitCode === null) prometheus.kill('SIGKILL');
    }
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
