/**
 * Runs the real controller process (assets/tool/cli.js, bundled from src/ by jest's global setup)
 * against the jest run's test cluster: spawns it with the cluster's kubeconfig, collects its JSON
 * log lines, waits for /readyz, and stops it (SIGTERM, then SIGKILL after a grace period).
 * Also: a client for the cluster, our CRDs installed, the set-up of a file whose tests each start a
 * controller, namespaces per test, and waiting helpers.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import { APPLYSET } from '../../src/contract';
import { customResourceDefinitions } from '../../src/render/controller/custom-resource-definitions';
import { ClusterState, ensureNamespace, waitForCluster } from '../cluster/server-check';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { KubeClient } = require('../cluster/kube-client');

export const TOOL = path.join(__dirname, '..', '..', 'assets', 'tool', 'cli.js');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = { [k: string]: any };

export interface KubeClientLike {
  request(method: string, path: string, options?: { body?: unknown; contentType?: string; timeoutMs?: number }):
  Promise<{ status: number; body: Json }>;
  apply(obj: Json, options?: { dryRun?: boolean; force?: boolean }): Promise<{ status: number; body: Json }>;
  close(): void;
}

/** The test cluster (waits for it) and an admin client; throws when the run has no cluster. */
export async function cluster(): Promise<{ state: ClusterState; client: KubeClientLike }> {
  const state = await waitForCluster();
  if (!state) throw new Error('no test cluster in this run (see the global setup\'s message)');
  return { state, client: new KubeClient(state.connection) };
}

/** Installs our CRDs in the test cluster and waits until they are Established. */
export async function installCrds(client: KubeClientLike): Promise<void> {
  // The generated CRDs, labelled as applyset parent types (KEP-3659), as the install construct does.
  const crds = customResourceDefinitions({ [APPLYSET.isParentTypeLabel]: 'true' }) as Json[];
  for (const crd of crds) {
    const r = await client.apply(crd, { force: true });
    if (r.status >= 300) throw new Error(`CRD ${crd.metadata.name} refused: ${JSON.stringify(r.body)}`);
  }
  await eventually('our CRDs to be Established', async () => {
    for (const crd of crds) {
      const { body } = await client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      if (!(body.status?.conditions ?? []).some((c: Json) => c.type === 'Established' && c.status === 'True')) return false;
    }
    return true;
  });
}

/** The cluster of a file whose tests each start their own controller (filled in by its beforeAll). */
export interface ControllerTestCluster {
  readonly state: ClusterState;
  readonly client: KubeClientLike;
  /** Server-side apply (forced) of `obj`; throws with the API server's answer unless it was accepted. */
  mustApply(obj: Json): Promise<Json>;
}

/**
 * Registers a test file's hooks: the cluster with our CRDs before its tests, every controller a test
 * started stopped after it, the client closed after the file. Call at the top level of the file.
 */
export function controllerTestCluster(): ControllerTestCluster {
  const fixture = {
    state: undefined as unknown as ClusterState,
    client: undefined as unknown as KubeClientLike,
    async mustApply(obj: Json): Promise<Json> {
      const r = await fixture.client.apply(obj, { force: true });
      if (r.status >= 300) throw new Error(`apply ${obj.kind} ${obj.metadata.name}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
  beforeAll(async () => {
    Object.assign(fixture, await cluster());
    await installCrds(fixture.client);
  }, 360_000); // the cluster may still be starting
  afterEach(() => stopAll());
  afterAll(() => fixture.client?.close());
  return fixture;
}

/** A fresh namespace for one test: `<prefix>-<n>`. */
let namespaceCounter = 0;
export async function freshNamespace(client: KubeClientLike, prefix: string): Promise<string> {
  const name = `${prefix}-${process.pid % 10000}-${++namespaceCounter}`;
  await ensureNamespace(client, name);
  return name;
}

export interface ControllerProcess {
  readonly child: ChildProcess;
  /** Every JSON log line so far. */
  readonly logs: Json[];
  /** Non-JSON output (stderr, crashes), for failure messages. */
  readonly rawOutput: string[];
  readonly metricsPort: number;
  readonly exited: Promise<number | null>;
  /** Resolves with the first log line matching `match` (now or later). */
  waitForLog(match: (line: Json) => boolean, timeoutMs?: number): Promise<Json>;
  /** GET on the metrics/health port. */
  get(path: string): Promise<{ status: number; body: string }>;
  /** SIGTERM (or `signal`); resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  readonly namespace: string;
  /** More flags (e.g. `--watch-namespace`, lease timings). */
  readonly args?: readonly string[];
  /** Wait for /readyz (default true). */
  readonly waitReady?: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

const running = new Set<ControllerProcess>();

/** Spawns `cdk8s-model-serving controller` against the test cluster. */
export async function startController(state: ClusterState, options: StartOptions): Promise<ControllerProcess> {
  if (!fs.existsSync(TOOL)) throw new Error(`${TOOL} is missing: jest's global setup bundles it (scripts/bundle-tool.js)`);
  const args = [
    TOOL, 'controller',
    '--kubeconfig', state.kubeconfig,
    '--namespace', options.namespace,
    '--metrics-port', '0',
    '--bind-address', '127.0.0.1',
    '--webhook-cert-mode', 'none',
    '--log-level', 'debug',
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
  });
  const logs: Json[] = [];
  const rawOutput: string[] = [];
  const waiters: Array<{ match: (l: Json) => boolean; resolve: (l: Json) => void }> = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      let parsed: Json;
      try { parsed = JSON.parse(line); } catch { rawOutput.push(line); continue; }
      logs.push(parsed);
      for (const w of [...waiters]) {
        if (w.match(parsed)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => rawOutput.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const describe = () => `controller output:\n${[...logs.slice(-30).map((l) => JSON.stringify(l)), ...rawOutput.slice(-20)].join('\n')}`;
  const waitForLog = (match: (l: Json) => boolean, timeoutMs = 30_000) => {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching controller log line within ${timeoutMs} ms\n${describe()}`)), timeoutMs);
      const w = { match, resolve: (l: Json) => { clearTimeout(timer); resolve(l); } };
      waiters.push(w);
      void exited.then((code) => {
        if (waiters.includes(w)) {
          clearTimeout(timer);
          reject(new Error(`the controller exited (code ${code}) before the expected log line\n${describe()}`));
        }
      });
    });
  };

  const started = await waitForLog((l) => l.msg === 'controller started');
  const metricsPort: number = started.metricsPort;
  const get = (p: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: metricsPort, path: p, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
  const proc: ControllerProcess = {
    child,
    logs,
    rawOutput,
    metricsPort,
    waitForLog,
    get,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        const code = await exited;
        clearTimeout(timer);
        running.delete(proc);
        return code;
      }
      running.delete(proc);
      return child.exitCode;
    },
  };
  running.add(proc);
  if (options.waitReady !== false) {
    await eventually('the controller\'s /readyz to answer 200', async () => (await get('/readyz')).status === 200, 60_000)
      .catch((e) => { throw new Error(`${e.message}\n${describe()}`); });
  }
  return proc;
}

/** Stops every controller a test left running (afterEach/afterAll). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGKILL')));
}

/** Polls `check` every 100 ms until it returns true; throws naming `what` after `timeoutMs`. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
