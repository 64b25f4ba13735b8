// Test harness: runs the bundled server (`assets/server/cli.js serve`, built by jest's global
// setup) as a real process on a free loopback port and talks HTTP to it.
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.join(__dirname, '..', '..');
export const CLI = path.join(ROOT, 'assets', 'server', 'cli.js');
export const MODELS = path.join(ROOT, 'test', 'fixtures', 'models');
/**
 * The Node binary that runs the server under test: `MODEL_SERVER_NODE` when set (the
 * `test:server:node24` task points it at the image's Node 24, see scripts/node24.js), else the
 * Node running jest.
 */
export const SERVER_NODE = process.env.MODEL_SERVER_NODE || process.execPath;

export interface LogLine { event?: string; [key: string]: unknown }

export interface RunningServer {
  readonly port: number;
  readonly proc: ChildProcess;
  readonly logs: LogLine[];
  readonly exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Starts `serve` with `args` (`--http-port 0` is added) and waits for the `ready` log line. */
export async function startServer(args: string[], env: Record<string, string> = {}): Promise<RunningServer> {
  const proc = spawn(SERVER_NODE, [CLI, 'serve', '--http-port', '0', '--grpc-port', '0', ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const ready = new Promise<number>((resolve, reject) => {
    let port = 0;
    let buf = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const parsed = JSON.parse(line) as LogLine;
          logs.push(parsed);
          if (parsed.event === 'listening') {
            port = parsed.httpPort as number;
          }
          if (parsed.event === 'ready') {
            resolve(port);
          }
        } catch {
          // not a log line
        }
      }
    });
    proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    void exited.then((code) => reject(new Error(`server exited with ${code} before ready: ${stderr}`)));
  });
  const port = await ready;
  return {
    port,
    proc,
    logs,
    exited,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGINT');
        await exited;
      }
    },
  };
}

/** An answer: `body` is the parsed JSON (undefined if it is not JSON), `raw` the bytes as received. */
export interface Response { status: number; headers: http.IncomingHttpHeaders; body: any; text: string; raw: Buffer }

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP request; a non-string body is sent as JSON. */
export function request(port: number, method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const h: Record<string, string | number> = { ...headers };
    if (payload !== undefined && !Object.keys(h).some((k) => k.toLowerCase() === 'content-type') && typeof body !== 'string') {
      h['content-type'] = 'application/json';
    }
    if (payload !== undefined) {
      h['content-length'] = Buffer.byteLength(payload);
    }
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: h, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const text = raw.toString();
        let parsed: unknown = undefined;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, body: parsed, text, raw });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) {
      req.write(payload);
    }
    req.end();
  });
}

/** A fresh temporary model directory with `files` copied as `{ targetName: fixtureFile }`. */
export function modelDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'models-'));
  for (const [target, source] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, target)), { recursive: true });
    fs.copyFileSync(path.join(MODELS, source), path.join(dir, target));
  }
  return dir;
}

/** Reads `<name>.expected.json`. */
export function expected(name: string): any {
  return JSON.parse(fs.readFileSync(path.join(MODELS, `${name}.expected.json`), 'utf8'));
}

/** Asserts |got - want| <= atol + rtol*|want| element-wise. */
export function expectClose(got: number[], want: number[], tol: { atol: number; rtol: number }): void {
  expect(got).toHaveLength(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol.atol + tol.rtol * Math.abs(want[i]))) {
      throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (tolerance ${JSON.stringify(tol)})`);
    }
  }
}

/** Parses one metric's samples from the Prometheus text format: `{labels-string: value}`. */
export function metricSamples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') || line.startsWith(name + ' ')) {
      const sp = line.lastIndexOf(' ');
      out.set(line.slice(name.length, sp), Number(line.slice(sp + 1)));
    }
  }
  return out;
}

/**
 * Waits until `server` has logged a line that `match` accepts, and returns it. Logs arrive
 * through a pipe, so a line written just before a response may be read after it.
 */
export async function waitForLog(server: RunningServer, match: (line: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = server.logs.find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms; got ${server.logs.length} lines`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The JSON log events a spawned server writes to stdout, awaitable by name (the first of each).
 * Lines are split on newlines across chunks, so a line cut between two chunks is read whole.
 */
export function logEvents(child: ChildProcess): { readonly logs: () => string; waitFor(event: string): Promise<Record<string, unknown>> } {
  let logs = '';
  let partial = '';
  const events = new Map<string, Record<string, unknown>>();
  const waiters = new Map<string, () => void>();
  child.stdout!.on('data', (c: Buffer) => {
    logs += c.toString();
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const e = JSON.parse(line);
      if (!events.has(e.event)) events.set(e.event, e);
      waiters.get(e.event)?.();
    }
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    logs: () => logs,
    waitFor: (event) => new Promise((resolve, reject) => {
      if (events.has(event)) return resolve(events.get(event)!);
      waiters.set(event, () => resolve(events.get(event)!));
      void exited.then((code) => reject(new Error(`exited ${code} before ${event}: ${logs}`)));
    }),
  };
}
