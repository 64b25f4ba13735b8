// Shared by the storage attack suites: a loopback HTTP server, the CLI as a real process, and a
// recursive listing of what a fetch left on disk.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, SERVER_NODE } from '../server-harness';

export { CLI, SERVER_NODE } from '../server-harness';

/** A fresh directory under the OS temp dir. */
export function tempDir(name: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `storage-attack-${name}-`));
}

/** Every file and directory under `dir` (relative, sorted), hidden ones included. */
export function tree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    out.push(e.isDirectory() ? `${r}/` : r);
    if (e.isDirectory()) out.push(...tree(dir, r));
  }
  return out.sort();
}

/** Runs `cdk8s-model-server` with `args`; resolves with its exit code and output. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const options = { env: { PATH: process.env.PATH, ...env }, timeout: 60_000, maxBuffer: 4 * 1024 * 1024 };
    execFile(SERVER_NODE, [CLI, ...args], options, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A loopback HTTP server that counts requests per path. */
export interface LoopbackServer {
  readonly base: string;
  readonly hits: Record<string, number>;
  close(): Promise<void>;
}

export async function startServer(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<LoopbackServer> {
  const hits: Record<string, number> = {};
  const server = http.createServer((req, res) => {
    hits[req.url ?? '/'] = (hits[req.url ?? '/'] ?? 0) + 1;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
