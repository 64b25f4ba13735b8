// Processes for the benchmarks: spawn one and wait for a line of its output, start the model
// server and wait for its `ready` log line, stop a process.
const { execFile, spawn } = require('node:child_process');
const path = require('node:path');

const CLI = path.join(__dirname, '..', 'assets', 'server', 'cli.js');

/**
 * Spawns a process; `found` resolves with the first value `match(line, state)` returns for a
 * line of its stdout (30 s at most) and rejects if the process exits first.
 */
function spawnUntil(cmd, args, match, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  let buf = '';
  let err = '';
  child.stderr.on('data', (c) => { err += c; });
  const found = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout waiting for ${cmd} ${args.join(' ')}\n${buf}${err}`)), 30_000);
    const state = {};
    child.stdout.on('data', (c) => {
      buf += c;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const v = match(line, state);
        if (v !== undefined) {
          clearTimeout(timer);
          resolve(v);
        }
      }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${cmd} exited with ${code}\n${err}`)); });
  });
  // Keep draining stdout so the child never blocks on a full pipe.
  found.catch(() => undefined);
  return { child, found };
}

/** The server's JSON log lines: its ports, then the ready event. */
function serveMatcher(line, state) {
  if (!line.startsWith('{')) return undefined;
  let e;
  try {
    e = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (e.event === 'listening') state.httpPort = e.httpPort;
  if (e.event === 'grpc_listening') state.grpcPort = e.grpcPort;
  if (e.event === 'ready') return { ...state, ready: e.ready, models: e.models };
  return undefined;
}

/**
 * Starts `cdk8s-model-server serve` (the bundle) with `args`; `found` resolves with
 * `{ httpPort, grpcPort, ready, models }` once it logs `ready`.
 */
function startServe(args) {
  return spawnUntil(process.execPath, [CLI, 'serve', ...args], serveMatcher, { env: { ...process.env, LOG_LEVEL: 'info' } });
}

/** Stops a process (SIGKILL unless `signal` says otherwise) and resolves when it exited. */
function stop(child, signal = 'SIGKILL') {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/**
 * Closed-loop load on `url` (POST `body`) from bench/transformer/load.js in its own process, so the
 * load generator's work is not timed with ours: `connections` keep-alive connections for `seconds`.
 * Resolves with its JSON summary (p50Ms, p99Ms, rps, errors).
 */
function closedLoopLoad(url, body, connections, seconds) {
  const args = [path.join(__dirname, 'transformer', 'load.js'), url, JSON.stringify(body), String(connections), String(seconds)];
  return new Promise((resolve, reject) => execFile(process.execPath, args, { maxBuffer: 1 << 20 }, (err, out, stderr) => (
    err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(out)))));
}

module.exports = { CLI, closedLoopLoad, spawnUntil, startServe, stop };
