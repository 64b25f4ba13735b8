/**
 * Progressive delivery end to end, with real parts: the real API server of the test cluster, the
 * controller process, a real Prometheus scraping real model-server processes on loopback (stable
 * good; one canary good, one failing half its requests through the TEST-ONLY fault flag), and a
 * load generator. No mesh runs here, so the load generator routes like Istio would from the
 * VirtualService and DestinationRule the controller wrote (`fakeMeshRoute`): the weights the
 * servers see are the weights in the cluster.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as YAML from 'yaml';
import { API_VERSION } from './fixtures';
import { cluster, ControllerProcess, installCrds, eventually, freshNamespace, Json, KubeClientLike, sleep, startController, stopAll } from './harness';
import { LABELS, ROLLOUT_ACTION_ANNOTATION } from '../../src/contract';
import type { ClusterState } from '../cluster/server-check';
import { describeWithTools, stopProcess } from '../render/monitoring/tools';
import { expected, modelDir, request, RunningServer, startServer } from '../server/server-harness';

jest.setTimeout(120_000);

const INTERVAL_S = 3;
const crPath = (ns: string, name: string) => `/apis/${API_VERSION}/namespaces/${ns}/canaryrollouts/${name}`;

function rollout(ns: string, name: string, analysis: Json = {}): Json {
  return {
    apiVersion: API_VERSION,
    kind: 'CanaryRollout',
    metadata: { name, namespace: ns },
    spec: {
      modelName: 'iris',
      mode: 'RawDeployment',
      stable: { version: 'v1', storageUri: 's3://models/iris/v1' },
      canary: { version: 'v2', storageUri: 's3://models/iris/v2' },
      analysis: {
        stepWeights: [10, 50, 100],
        interval: `${INTERVAL_S}s`,
        failureLimit: 1,
        minRequests: 5,
        // Latency under a loaded 2-core CI machine is noise; the error checks decide these tests.
        maxLatencyRatio: 20,
        scaleDownDelay: '1s',
        ...analysis,
      },
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A real Prometheus scraping every second; `stop()` ends it. */
async function startPrometheus(dir: string, scrapeConfigs: unknown[]): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), YAML.stringify({ global: { scrape_interval: '1s' }, scrape_configs: scrapeConfigs }));
  const proc: ChildProcess = spawn('prometheus', [
    `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], { stdio: 'ignore' });
  const exited = new Promise((r) => proc.on('exit', r));
  await eventually('Prometheus ready', () => new Promise<boolean>((resolve) => {
    http.get(`http://127.0.0.1:${port}/-/ready`, (res) => { res.resume(); resolve(res.statusCode === 200); }).on('error', () => resolve(false));
  }), 30_000);
  return { url: `http://127.0.0.1:${port}`, stop: () => stopProcess(proc, exited) };
}

/** A scrape job for one server, with the target labels our ServiceMonitor's relabelings write. */
function scrapeJob(job: string, server: RunningServer, labels: Record<string, string>) {
  return { job_name: job, static_configs: [{ targets: [`127.0.0.1:${server.port}`], labels: { component: 'predictor', ...labels } }] };
}

/**
 * FAKE mesh: sends requests as Istio would from the controller's VirtualService (weights per
 * subset) and DestinationRule (subset -> version label), to the server of each version. The
 * split is deterministic (request n goes to the canary when floor(n x w / 100) steps up).
 */
class FakeMeshLoad {
  /** Every distinct canary weight seen in the VirtualService, in order. */
  readonly weights: number[] = [];
  private running = true;
  private route: Array<{ version: string; weight: number }> = [];
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly client: KubeClientLike, private readonly ns: string, private readonly name: string,
    private readonly servers: Record<string, RunningServer>, sendRequests = true) {
    this.loops.push(this.watchRoutes());
    if (sendRequests) this.loops.push(this.send());
  }

  private async watchRoutes(): Promise<void> {
    while (this.running) {
      const vs = (await this.client.request('GET', `/apis/networking.istio.io/v1/namespaces/${this.ns}/virtualservices/${this.name}`)).body;
      const dr = (await this.client.request('GET', `/apis/networking.istio.io/v1/namespaces/${this.ns}/destinationrules/${this.name}`)).body;
      const weighted = (vs?.spec?.http ?? []).find((h: Json) => !h.match?.some((m: Json) => m.headers)) ?? vs?.spec?.http?.[0];
      if (weighted && dr?.spec?.subsets) {
        const versionOf = (subset: string) => dr.spec.subsets.find((s: Json) => s.name === subset)?.labels?.[LABELS.version];
        const route = weighted.route.map((r: Json) => ({ version: versionOf(r.destination.subset), weight: r.weight ?? 100 }));
        // Read between the controller's two writes at promotion (DestinationRule, then
        // VirtualService), the route names a subset the rule no longer has: skip that snapshot
        // (see the README: the final switch is two writes).
        if (route.some((r: { version?: string }) => r.version === undefined)) {
          await sleep(50);
          continue;
        }
        this.route = route;
        const canary = this.route.find((r) => r.version === 'v2')?.weight ?? 0;
        const shown = this.route.length === 1 && this.route[0].version === 'v2' ? 'promoted' : canary;
        if (this.weights[this.weights.length - 1] !== shown) this.weights.push(shown as number);
      }
      await sleep(150);
    }
  }

  private async send(): Promise<void> {
    const body = expected('iris-logreg').v2_request;
    let n = 0;
    while (this.running) {
      const canary = this.route.find((r) => r.version === 'v2')?.weight ?? 0;
      n++;
      const toCanary = Math.floor((n * canary) / 100) > Math.floor(((n - 1) * canary) / 100);
      const server = this.servers[toCanary ? 'v2' : 'v1'];
      if (this.route.length > 0) await request(server.port, 'POST', '/v2/models/iris/infer', body).catch(() => undefined);
      await sleep(15);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

describeWithTools(['prometheus'], 'progressive delivery: the controller steps, promotes and rolls back by real metrics', () => {
  let state: ClusterState;
  let client: KubeClientLike;
  let tmp: string;
  let prometheus: { url: string; stop: () => Promise<void> } | undefined;
  const servers: Record<string, RunningServer> = {};
  const ns: Record<'good' | 'bad' | 'manual', string> = { good: '', bad: '', manual: '' };

  const get = async (p: string): Promise<Json | undefined> => {
    const r = await client.request('GET', p);
    return r.status === 200 ? r.body : undefined;
  };
  const mustApply = async (obj: Json) => {
    const r = await client.apply(obj, { force: true });
    if (r.status >= 300) throw new Error(`apply refused: ${JSON.stringify(r.body)}`);
  };
  const rolloutStatus = async (n: string, name: string) => (await get(crPath(n, name)))?.status?.rollout;
  let lastController: ControllerProcess | undefined;
  /** The CR's status and the controller's last log lines, for failure messages. */
  const explain = async (n: string, name: string) => `status ${JSON.stringify((await get(crPath(n, name)))?.status)}\ncontroller log:\n${
    (lastController?.logs ?? []).slice(-12).map((l) => JSON.stringify(l)).join('\n')}`;
  const waitPhase = async (n: string, name: string, phase: string, timeoutMs = 60_000): Promise<Json> => {
    let last: Json | undefined;
    await eventually(`${name} in phase ${phase}`, async () => {
      last = await rolloutStatus(n, name);
      return last?.phase === phase;
    }, timeoutMs).catch(async (e) => { throw new Error(`${e.message}; ${await explain(n, name)}`); });
    return last!;
  };
  const waitFor = (what: string, n: string, name: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) =>
    eventually(what, check, timeoutMs).catch(async (e) => { throw new Error(`${e.message}; ${await explain(n, name)}`); });
  const events = async (n: string) => ((await get(`/apis/events.k8s.io/v1/namespaces/${n}/events`))?.items ?? []) as Json[];
  const controllerFor = async (n: string, prometheusUrl: string): Promise<ControllerProcess> => {
    lastController = await startController(state, { namespace: n, args: ['--watch-namespace', n, '--leader-elect', 'false', '--prometheus-url', prometheusUrl] });
    return lastController;
  };

  beforeAll(async () => {
    ({ state, client } = await cluster());
    await installCrds(client);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'progressive-'));
    const dir = modelDir({ 'model.onnx': 'iris-logreg.onnx' });
    const model = ['--model-name', 'iris', '--model-dir', dir, '--host', '127.0.0.1'];
    [servers.stable, servers.good, servers.bad] = await Promise.all([
      startServer(model), startServer(model), startServer([...model, '--fault-error-ratio', '0.5']),
    ]);
    for (const k of Object.keys(ns) as Array<keyof typeof ns>) ns[k] = await freshNamespace(client, `prog-${k}`);
    prometheus = await startPrometheus(tmp, [
      scrapeJob('good-stable', servers.stable, { endpoint: 'iris', namespace: ns.good, version: 'v1' }),
      scrapeJob('good-canary', servers.good, { endpoint: 'iris', namespace: ns.good, version: 'v2' }),
      scrapeJob('bad-stable', servers.stable, { endpoint: 'iris', namespace: ns.bad, version: 'v1' }),
      scrapeJob('bad-canary', servers.bad, { endpoint: 'iris', namespace: ns.bad, version: 'v2' }),
      scrapeJob('manual-stable', servers.stable, { endpoint: 'iris', namespace: ns.manual, version: 'v1' }),
      scrapeJob('manual-canary', servers.good, { endpoint: 'iris', namespace: ns.manual, version: 'v2' }),
    ]);
  });

  afterAll(async () => {
    await stopAll();
    await prometheus?.stop();
    await Promise.all(Object.values(servers).map((s) => s?.stop()));
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a good canary goes 10 -> 50 -> 100 and is promoted; a controller restart at 50 resumes there (no traffic jump); the old version is removed', async () => {
    const first = await controllerFor(ns.good, prometheus!.url);
    await mustApply(rollout(ns.good, 'iris'));
    const load = new FakeMeshLoad(client, ns.good, 'iris', { v1: servers.stable, v2: servers.good });
    try {
      await waitFor('weight 50', ns.good, 'iris', () => load.weights.includes(50));
      expect(await first.stop()).toBe(0);
      const restarted = await controllerFor(ns.good, prometheus!.url);
      const done = await waitPhase(ns.good, 'iris', 'Succeeded', 90_000);
      await restarted.waitForLog((l) => l.msg === 'rollout' && l.phase === 'Succeeded');
      await eventually('the route to v2 only', () => load.weights[load.weights.length - 1] === ('promoted' as unknown as number), 30_000);
      // THEN every weight the routes carried, in order: no jump back after the restart
      expect(load.weights).toEqual([10, 50, 100, 'promoted']);
      // The history may also hold a step (too few requests in a window): its weights, deduplicated, rise.
      const weights: number[] = done.history.map((h: Json) => h.weight);
      expect(weights.filter((w, i) => i === 0 || w !== weights[i - 1])).toEqual([0, 10, 50, 100]);
      expect(done.history.map((h: Json) => h.phase).slice(-2)).toEqual(['Promoting', 'Succeeded']);
      expect(done.checks.map((c: Json) => [c.name, c.result])).toEqual(expect.arrayContaining([['error-ratio', 'Passed'], ['request-count', 'Passed']]));
      // The committed spec is unchanged (GitOps sees no drift); the old version's Deployment is pruned.
      const cr = await get(crPath(ns.good, 'iris'));
      expect(cr!.spec.canary.version).toBe('v2');
      expect(cr!.spec.stable.version).toBe('v1');
      const deployments = (await get(`/apis/apps/v1/namespaces/${ns.good}/deployments`))!.items.map((d: Json) => d.metadata.name);
      expect(deployments).toEqual(['iris-v2']);
      expect((await events(ns.good)).map((e) => e.reason)).toEqual(expect.arrayContaining(['RolloutStep', 'RolloutPromoted', 'RolloutSucceeded']));
    } finally {
      await load.stop();
    }
  });

  test('a canary failing half its requests is rolled back at the first analysis of its first step: all traffic to stable, Failed, a Warning naming the check', async () => {
    await controllerFor(ns.bad, prometheus!.url);
    await mustApply(rollout(ns.bad, 'iris'));
    const load = new FakeMeshLoad(client, ns.bad, 'iris', { v1: servers.stable, v2: servers.bad });
    try {
      const failed = await waitPhase(ns.bad, 'iris', 'Failed', 60_000);
      await eventually('the route back to stable', () => load.weights[load.weights.length - 1] === 0, 30_000);
      expect(load.weights).toEqual([10, 0]);
      expect([failed.weight, failed.step, failed.failedChecks]).toEqual([0, 1, 1]);
      const errorRatio = failed.checks.find((c: Json) => c.name === 'error-ratio');
      expect(errorRatio.result).toBe('Failed');
      expect(errorRatio.value).toBeGreaterThan(0.3);
      const warning = (await events(ns.bad)).find((e) => e.reason === 'RolloutFailed');
      expect(warning).toMatchObject({ type: 'Warning', note: expect.stringContaining('error-ratio') });
      // Both versions still run (the canary stays reachable by its header for debugging).
      const deployments = (await get(`/apis/apps/v1/namespaces/${ns.bad}/deployments`))!.items.map((d: Json) => d.metadata.name).sort();
      expect(deployments).toEqual(['iris-v1', 'iris-v2']);
    } finally {
      await load.stop();
    }
  });

  test('too little traffic holds; Prometheus down pauses at the weight in force; the annotation aborts; promote by annotation promotes', async () => {
    const ctl = await controllerFor(ns.manual, prometheus!.url);
    // GIVEN no load at all: the canary never reaches minRequests
    await mustApply(rollout(ns.manual, 'quiet'));
    const quiet = new FakeMeshLoad(client, ns.manual, 'quiet', { v1: servers.stable, v2: servers.good }, false);
    try {
      await waitFor('quiet holding', ns.manual, 'quiet', async () => /^holding at weight 10/.test((await rolloutStatus(ns.manual, 'quiet'))?.message ?? ''), 30_000);
      await sleep(INTERVAL_S * 1000 * 2);
      const held = await rolloutStatus(ns.manual, 'quiet');
      expect([held.phase, held.weight, held.failedChecks]).toEqual(['Progressing', 10, 0]);
      expect(quiet.weights).toEqual([10]);

      // Prometheus unreachable: a controller pointed at a closed port pauses a rollout at its weight.
      await ctl.stop();
      const dead = `http://127.0.0.1:${await freePort()}`;
      await controllerFor(ns.manual, dead);
      const paused = await waitPhase(ns.manual, 'quiet', 'Paused', 30_000);
      expect([paused.pauseReason, paused.weight]).toEqual(['PrometheusUnreachable', 10]);
      expect(paused.message).toMatch(/^Prometheus unreachable, holding weight 10/);

      // Abort by annotation: all traffic back to stable at once.
      await client.request('PATCH', crPath(ns.manual, 'quiet'), {
        body: { metadata: { annotations: { [ROLLOUT_ACTION_ANNOTATION]: 'abort' } } }, contentType: 'application/merge-patch+json',
      });
      const aborted = await waitPhase(ns.manual, 'quiet', 'Failed', 30_000);
      expect(aborted.weight).toBe(0);
      await eventually('quiet routed to stable', () => quiet.weights[quiet.weights.length - 1] === 0, 30_000);

      // Promote by annotation, even with Prometheus unreachable: all traffic to the canary, then v1 removed.
      await mustApply(rollout(ns.manual, 'manual'));
      await waitPhase(ns.manual, 'manual', 'Progressing', 30_000);
      await client.request('PATCH', crPath(ns.manual, 'manual'), {
        body: { metadata: { annotations: { [ROLLOUT_ACTION_ANNOTATION]: 'promote' } } }, contentType: 'application/merge-patch+json',
      });
      const promoted = await waitPhase(ns.manual, 'manual', 'Succeeded', 30_000);
      expect(promoted.history.map((h: Json) => h.message)).toEqual(expect.arrayContaining([expect.stringMatching(/^promoted by hand/)]));
    } finally {
      await quiet.stop();
    }
  });
});
