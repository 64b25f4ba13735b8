/**
 * Sends every object a test file synthesizes to the real kube-apiserver of the test cluster: server-side
 * apply with `dryRun=All` and `fieldValidation=Strict`, into the test file's own namespace, and compares
 * the server's verdict with the offline validator's (test/validation).
 *
 * Objects are queued synchronously where they are synthesized or validated offline (api-server-queue.ts),
 * and checked in one batch per test file by the `afterAll` that test/cluster/jest-setup.ts registers.
 * Objects without apiVersion, kind or metadata.name cannot be sent; the offline validator must reject them.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { takeRecorded } from './api-server-queue';
import { offlineManifestErrors } from '../validation/schema-validator';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { KubeClient } = require('./kube-client');

/** Set by test/global-setup.js: the state file of the running test cluster. */
export const CLUSTER_STATE_ENV = 'CDK8S_TEST_CLUSTER';
/** Set by test/global-setup.js instead, when there is no cluster: the one-line reason and how to enable it. */
export const CLUSTER_SKIP_ENV = 'CDK8S_TEST_CLUSTER_SKIPPED';

/** How many requests are in flight at once per test file. */
const CONCURRENCY = 8;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = { [key: string]: any };

export interface ClusterState {
  readonly ready: boolean;
  readonly dir: string;
  readonly kubeconfig: string;
  readonly kubernetesVersion: string;
  readonly connection: { readonly server: string; readonly token: string; readonly caFile: string };
}

/** `true` when this run has a test cluster (it may still be starting; see `waitForCluster`). */
export function hasCluster(): boolean {
  return Boolean(process.env[CLUSTER_STATE_ENV]);
}

/** The test cluster's state once it is ready; undefined when the run has none. Throws if it failed to start. */
export async function waitForCluster(timeoutMs = 300_000): Promise<ClusterState | undefined> {
  const file = process.env[CLUSTER_STATE_ENV];
  if (!file) return undefined;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
    if (state?.error) throw new Error(`the test cluster did not start: ${state.error}`);
    if (state?.ready) return state;
    if (Date.now() > deadline) throw new Error(`the test cluster was not ready after ${timeoutMs} ms (state: ${file})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The test cluster's state, read now (ready or not); undefined when the run has none. */
export function clusterState(): ClusterState | undefined {
  const file = process.env[CLUSTER_STATE_ENV];
  return file && fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
}

/** The API server's answer to one apply. */
export interface ApplyResult {
  readonly status: number;
  /** The server's own message for a rejection (`Status.message`), empty on success. */
  readonly message: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly body: any;
}

/** A client for the test cluster, once it is ready; throws when there is none. */
export async function clusterClient() {
  const state = await waitForCluster();
  if (!state) throw new Error(`no test cluster: ${process.env[CLUSTER_SKIP_ENV] ?? 'test/global-setup.js did not start one'}`);
  return new KubeClient(state.connection);
}

/** The namespace of the current test file: `t-<file name>-<hash of its path>`, a DNS-1123 label. */
export function testNamespace(testPath: string = expect.getState().testPath ?? 'unknown'): string {
  const rel = path.relative(path.join(__dirname, '..', '..'), testPath);
  const hash = crypto.createHash('sha256').update(rel).digest('hex').slice(0, 6);
  const base = path.basename(rel).replace(/\.test\.ts$/, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  return `t-${base.slice(0, 50)}-${hash}`;
}

/** Creates `namespace` for real (dry-run applies into a namespace that does not exist are refused). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function ensureNamespace(client: any, namespace: string): Promise<void> {
  const r = await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  if (r.status >= 300) throw new Error(`could not create namespace ${namespace}: ${r.body?.message ?? r.status}`);
}

/**
 * Server-side applies `obj` with `dryRun=All` and `fieldValidation=Strict`; a namespaced object is moved
 * into `namespace`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function applyDryRun(client: any, obj: Obj, namespace: string): Promise<ApplyResult> {
  const resource = await client.resourceFor(obj.apiVersion, obj.kind);
  const target = resource?.namespaced ? { ...obj, metadata: { ...obj.metadata, namespace } } : obj;
  const r = await client.apply(target, { dryRun: true });
  return { status: r.status, message: r.status < 300 ? '' : (r.body?.message ?? String(r.body)), body: r.body };
}

/** One object on which the API server and the offline validator disagree. */
export interface Disagreement {
  readonly object: string;
  readonly server: string;
  readonly offline: string;
}

export interface CheckReport {
  readonly testFile: string;
  readonly namespace: string;
  readonly objects: number;
  readonly ms: number;
  /** The server rejects what the offline validator accepts: a bug in one of them, so the test file fails. */
  readonly serverStricter: Disagreement[];
  /** The offline validator rejects what the server accepts: expected where it models webhooks/controllers. */
  readonly offlineStricter: Disagreement[];
}

const describeObj = (o: Obj) => `${o.apiVersion}/${o.kind}/${o.metadata?.name ?? '<no name>'}`;

/**
 * Checks every recorded object against the API server and clears the queue.
 *
 * @returns the comparison; the caller fails the test file on `serverStricter`
 */
export async function checkRecorded(testFile: string): Promise<CheckReport> {
  const objs = takeRecorded();
  const namespace = testNamespace(testFile);
  const started = Date.now();
  const serverStricter: Disagreement[] = [];
  const offlineStricter: Disagreement[] = [];
  if (objs.length > 0) {
    const client = await clusterClient();
    try {
      await ensureNamespace(client, namespace);
      let next = 0;
      const worker = async () => {
        while (next < objs.length) {
          const obj = objs[next++];
          const offline = offlineManifestErrors(obj);
          const sendable = typeof obj.apiVersion === 'string' && typeof obj.kind === 'string' && typeof obj.metadata?.name === 'string';
          const result = sendable ? await applyDryRun(client, obj, namespace) : { status: 0, message: 'not sent: no apiVersion, kind or metadata.name' };
          const serverOk = result.status >= 200 && result.status < 300;
          if (!serverOk && offline.length === 0) {
            serverStricter.push({ object: describeObj(obj), server: `${result.status} ${result.message}`, offline: 'valid' });
          } else if (serverOk && offline.length > 0) {
            offlineStricter.push({ object: describeObj(obj), server: 'valid', offline: offline.join('; ') });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, objs.length) }, worker));
    } finally {
      client.close();
    }
  }
  return { testFile, namespace, objects: objs.length, ms: Date.now() - started, serverStricter, offlineStricter };
}

/** Appends a file's report to `<cluster dir>/reports/`, where the global teardown sums them up. */
export function saveReport(report: CheckReport): void {
  const state = clusterState();
  if (!state) return;
  const dir = path.join(state.dir, 'reports');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${report.namespace}.json`), JSON.stringify(report));
}
