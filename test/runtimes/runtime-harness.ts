/**
 * Starts a serving runtime as a real process exactly as the constructs synthesize it: the predictor
 * container's command, args and env and the init containers' args are read back from `Testing.synth`
 * output; the model directory (`/mnt/models`) becomes a temp folder and every declared container port a
 * free loopback port (in args and env values too). Then it waits for the synthesized readiness probe.
 *
 * The Python runtimes come from the venv scripts/runtimes-venv.sh makes (test/runtimes/requirements.txt);
 * without it the tests skip, except under CI=true, where a missing venv fails the run.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, SERVER_NODE } from '../server/server-harness';

const MODEL_DIR = '/mnt/models';
const REQUIREMENTS = path.join(__dirname, 'requirements.txt');

/** The venv of test/runtimes/requirements.txt, or undefined (then the tests skip; under CI=true this throws). */
export function runtimesVenv(): string | undefined {
  const hash = createHash('sha256').update(readFileSync(REQUIREMENTS)).digest('hex').slice(0, 12);
  const venv = process.env.RUNTIMES_VENV ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'cdk8s-model-serving', `venv-runtimes-${hash}`);
  if (existsSync(path.join(venv, '.installed'))) return venv;
  if (process.env.CI && process.env.CI !== 'false') {
    throw new Error(`the runtimes venv is required under CI=true, but ${venv} is not installed; run scripts/runtimes-venv.sh (.ci/run does)`);
  }
  process.stderr.write(`runtimes: no venv at ${venv}; the real-process runtime tests skip (run scripts/runtimes-venv.sh)\n`);
  return undefined;
}

/** Runs a Python snippet in the venv; resolves with its stdout. */
export function python(venv: string, script: string, args: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(venv, 'bin', 'python'), ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`python exited ${code}: ${err.slice(-2000)}`))));
  });
}

/** A loopback port free at the time of the call. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** The pod spec of the one Deployment or Knative Service in `manifests`. */
export function podSpecOf(manifests: any[]): any {
  const workloads = manifests.filter((m) => m.kind === 'Deployment' || (m.kind === 'Service' && String(m.apiVersion).startsWith('serving.knative.dev/')));
  if (workloads.length !== 1) throw new Error(`expected one Deployment or Knative Service, found ${workloads.length}`);
  return workloads[0].spec.template.spec;
}

export interface StartedRuntime {
  readonly child: ChildProcess;
  /** The loopback port for each container port the pod declares. */
  readonly ports: Map<number, number>;
  /** The loopback port of the readiness probe's container port (the HTTP port). */
  readonly httpPort: number;
  readonly modelDir: string;
  logs(): string;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** The venv whose `bin/` holds the runtime's command. */
  readonly venv: string;
  /** Fills the model dir before the runtime starts (when the pod has no storage initializer). */
  readonly modelDir?: string;
  /** Longest wait for readiness. @default 120000 */
  readonly readyTimeoutMs?: number;
}

/** Runs the synthesized init containers (our storage initializer) against the temp model dir. */
async function runInitContainers(spec: any, map: (s: string) => string): Promise<void> {
  for (const c of spec.initContainers ?? []) {
    if (c.name !== 'storage-initializer') throw new Error(`the harness runs only our storage initializer, not init container '${c.name}'`);
    const args: string[] = (c.args ?? []).map(map);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(SERVER_NODE, [CLI, ...args], { stdio: 'inherit', env: { PATH: process.env.PATH } });
      child.on('exit', resolve);
    });
    if (code !== 0) throw new Error(`storage-initializer ${args.join(' ')} exited ${code}`);
  }
}

/** Starts the predictor container of `manifests` as a process and waits until its readiness probe passes. */
export async function startRuntime(manifests: any[], o: StartOptions): Promise<StartedRuntime> {
  const spec = podSpecOf(manifests);
  const container = spec.containers.find((c: any) => c.name === 'model-server') ?? spec.containers[0];
  const modelDir = o.modelDir ?? mkdtempSync(path.join(os.tmpdir(), 'runtime-models-'));
  const ports = new Map<number, number>();
  for (const p of container.ports ?? []) ports.set(p.containerPort, await freePort());
  // Model dir and ports, wherever the pod spec names them.
  const map = (s: string): string => {
    let v = s.split(MODEL_DIR).join(modelDir);
    for (const [from, to] of ports) if (v === String(from)) v = String(to);
    return v;
  };
  await runInitContainers(spec, map);

  const readiness = container.readinessProbe?.httpGet;
  if (!readiness) throw new Error('the container has no HTTP readiness probe to wait for');
  const httpPort = ports.get(readiness.port);
  if (httpPort === undefined) throw new Error(`the readiness probe's port ${readiness.port} is not a declared container port`);

  const command: string[] = [...container.command ?? [], ...container.args ?? []].map(map);
  if (command.length === 0) throw new Error('the container has neither command nor args (the image entrypoint is not known here)');
  const env: NodeJS.ProcessEnv = { PATH: `${path.join(o.venv, 'bin')}:${process.env.PATH}`, HOME: mkdtempSync(path.join(os.tmpdir(), 'runtime-home-')) };
  for (const e of container.env ?? []) {
    if (e.valueFrom) throw new Error(`env ${e.name} comes from ${JSON.stringify(e.valueFrom)}; the harness maps plain values only`);
    env[e.name] = map(String(e.value));
  }
  // Relative to the venv only when the command is one of its scripts (mlserver, ...).
  const bin = existsSync(path.join(o.venv, 'bin', command[0])) ? path.join(o.venv, 'bin', command[0]) : command[0];
  const child = spawn(bin, command.slice(1), { env, cwd: env.HOME, stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (c: Buffer) => { logs += c.toString(); });
  child.stderr!.on('data', (c: Buffer) => { logs += c.toString(); });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (o.readyTimeoutMs ?? 120_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command.join(' ')} exited ${child.exitCode} before it was ready:\n${logs.slice(-4000)}`);
    if (await probe(httpPort, readiness.path)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${command.join(' ')} was not ready on ${readiness.path} within ${o.readyTimeoutMs ?? 120_000} ms:\n${logs.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, ports, httpPort, modelDir, logs: () => logs, stop };
}

function probe(port: number, p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 2000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
  });
}

/** POSTs JSON; resolves with the status and parsed body. */
export function postJson(port: number, p: string, body: unknown): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': data.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
