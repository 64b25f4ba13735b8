/**
 * `npx projen bench:controller [--count 1000] [--workers 4] [--resync-seconds 30]`
 *
 * Starts a test cluster of its own (test/cluster: etcd + kube-apiserver with an audit log), installs
 * the CRDs, runs the bundled controller against it, applies `count` ModelEndpoint CRs (16 requests in
 * flight) and reports:
 * - time from the first apply until every CR is reconciled (Reconciled=True for its generation);
 * - API writes per CR, from the API server's audit log (the controller's User-Agent, Leases aside);
 * - the controller's peak RSS (VmHWM) and RSS at the end;
 * - writes during a periodic resync with nothing changed (target 0).
 * Prints a table and writes bench/results/controller.json. Targets: 1,000 CRs in under 60 s on 2
 * cores, RSS under 300 MiB.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { APPLYSET, CONTROLLER_FIELD_MANAGER, CONTROLLER_METRICS, CRD_GROUP, CRD_VERSION } from '../../src/contract';
import { customResourceDefinitions } from '../../src/render/controller/custom-resource-definitions';

/* eslint-disable @typescript-eslint/no-require-imports */
const { startCluster, stopCluster } = require('../../test/cluster/cluster');
const { KubeClient } = require('../../test/cluster/kube-client');
const { bundleTool } = require('../../scripts/bundle-tool');
/* eslint-enable @typescript-eslint/no-require-imports */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = { [k: string]: any };

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer, got '${process.argv[i + 1]}'`);
  return v;
}

const COUNT = arg('count', 1000);
const WORKERS = arg('workers', 4);
const RESYNC_SECONDS = arg('resync-seconds', 30);
const NAMESPACE = 'bench';
const API_VERSION = `${CRD_GROUP}/${CRD_VERSION}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Controller writes in the audit log (ResponseComplete, write verbs, Leases aside). */
function controllerWrites(dir: string): number {
  const file = path.join(dir, 'logs', 'audit.log');
  if (!fs.existsSync(file)) return 0;
  let n = 0;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.includes(CONTROLLER_FIELD_MANAGER)) continue;
    const e = JSON.parse(line);
    if (e.stage === 'ResponseComplete' && ['create', 'update', 'patch', 'delete'].includes(e.verb)
      && e.userAgent?.startsWith(`${CONTROLLER_FIELD_MANAGER}/`) && e.objectRef?.resource !== 'leases') n++;
  }
  return n;
}

/** CPU seconds (user + system) a process has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Peak and current resident memory of a process, in MiB (Linux /proc). */
function memory(pid: number): { peakMb: number; rssMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return { peakMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
}

async function main(): Promise<void> {
  bundleTool();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk8s-model-serving-bench-controller-'));
  let controller: ChildProcess | undefined;
  try {
    console.log(`bench:controller: starting a test cluster in ${dir}`);
    const state = await startCluster(dir, { log: () => undefined, controllerManager: false });
    const client = new KubeClient(state.connection);
    for (const crd of customResourceDefinitions({ [APPLYSET.isParentTypeLabel]: 'true' })) {
      const r = await client.apply(crd, { force: true });
      if (r.status >= 300) throw new Error(`CRD refused: ${JSON.stringify(r.body)}`);
    }
    await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } } });
    await sleep(2000); // the CRDs become Established

    const logs: Json[] = [];
    controller = spawn(process.execPath, [
      path.join(__dirname, '..', '..', 'assets', 'tool', 'cli.js'), 'controller',
      '--kubeconfig', state.kubeconfig, '--namespace', NAMESPACE, '--metrics-port', '0', '--bind-address', '127.0.0.1',
      '--webhook-cert-mode', 'none', '--workers', String(WORKERS), '--resync-seconds', String(RESYNC_SECONDS),
    ], { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH, POD_NAME: 'bench' } });
    let buf = '';
    controller.stdout!.setEncoding('utf8');
    controller.stdout!.on('data', (c: string) => {
      buf += c;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) { try { logs.push(JSON.parse(l)); } catch { /* not JSON */ } }
    });
    const waitLog = async (msg: string, from = 0, timeoutMs = 120_000) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (logs.slice(from).some((l) => l.msg === msg)) return;
        if (controller!.exitCode !== null) throw new Error(`the controller exited (${controller!.exitCode})`);
        await sleep(100);
      }
      throw new Error(`no '${msg}' log line within ${timeoutMs} ms`);
    };
    await waitLog('became the leader');

    // Apply COUNT ModelEndpoints, 16 requests in flight.
    const cpuBefore = { controller: cpuSeconds(controller.pid!), apiServer: cpuSeconds(state.pids['kube-apiserver']), etcd: cpuSeconds(state.pids.etcd) };
    const started = Date.now();
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < COUNT) {
        const i = next++;
        const name = `model-${String(i).padStart(4, '0')}`;
        const r = await client.apply({
          apiVersion: API_VERSION, kind: 'ModelEndpoint', metadata: { name, namespace: NAMESPACE },
          spec: { modelName: name, storageUri: `s3://models/${name}` },
        });
        if (r.status >= 300) throw new Error(`apply ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      }
    }));
    const appliedMs = Date.now() - started;
    let peakMb = 0;
    let reconciledCount = 0;
    for (;;) {
      const { body } = await client.request('GET', `/apis/${API_VERSION}/namespaces/${NAMESPACE}/modelendpoints`);
      reconciledCount = (body.items ?? []).filter((cr: Json) => cr.status?.observedGeneration === cr.metadata.generation
        && (cr.status?.conditions ?? []).some((c: Json) => c.type === 'Reconciled' && c.status === 'True')).length;
      peakMb = Math.max(peakMb, memory(controller.pid!).peakMb);
      if (reconciledCount >= COUNT) break;
      if (Date.now() - started > 600_000) throw new Error(`only ${reconciledCount}/${COUNT} reconciled after 600 s`);
      await sleep(250);
    }
    const reconciledMs = Date.now() - started;
    const cpu = {
      controller: cpuSeconds(controller.pid!) - cpuBefore.controller,
      apiServer: cpuSeconds(state.pids['kube-apiserver']) - cpuBefore.apiServer,
      etcd: cpuSeconds(state.pids.etcd) - cpuBefore.etcd,
    };
    // Let the follow-up reconciles (children's events, our own status) finish, then count.
    let writes = controllerWrites(dir);
    for (let quiet = 0; quiet < 8;) {
      await sleep(250);
      const now = controllerWrites(dir);
      quiet = now === writes ? quiet + 1 : 0;
      writes = now;
    }
    // A periodic resync with nothing changed: every CR is reconciled again, and nothing is written.
    const metricsPort: number = logs.find((l) => l.msg === 'controller started')!.metricsPort;
    const reconciles = async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      return [...text.matchAll(new RegExp(`^${CONTROLLER_METRICS.reconcileTotal}\\{[^}]*\\} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    };
    const resyncFrom = logs.length;
    await waitLog('resync', resyncFrom, (RESYNC_SECONDS + 30) * 1000);
    const before = await reconciles();
    const resyncStarted = Date.now();
    while ((await reconciles()) - before < COUNT * 0.99 && Date.now() - resyncStarted < 120_000) await sleep(250);
    await sleep(1000);
    const resyncWrites = controllerWrites(dir) - writes;
    const mem = memory(controller.pid!);
    peakMb = Math.max(peakMb, mem.peakMb);

    const rows = [{
      crs: COUNT,
      workers: WORKERS,
      applyS: round(appliedMs / 1000),
      reconciledS: round(reconciledMs / 1000),
      crsPerS: round(COUNT / (reconciledMs / 1000)),
      writesPerCr: round(writes / COUNT, 2),
      resyncWrites,
      peakRssMiB: round(peakMb),
      // CPU seconds from the first apply until every CR was reconciled: where the time goes on a small machine.
      controllerCpuS: round(cpu.controller),
      apiServerCpuS: round(cpu.apiServer),
      etcdCpuS: round(cpu.etcd),
      endRssMiB: round(mem.rssMb),
    }];
    console.table(rows);
    const outDir = path.join(__dirname, '..', 'results');
    fs.mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, 'controller.json');
    fs.writeFileSync(file, `${JSON.stringify({
      date: new Date().toISOString(), node: process.version, cpus: os.cpus().length,
      targets: { reconciledS: 60, peakRssMiB: 300, resyncWrites: 0 }, rows,
    }, null, 2)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
    client.close();
  } finally {
    controller?.kill('SIGKILL');
    stopCluster(dir);
  }
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
