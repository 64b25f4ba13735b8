#!/usr/bin/env node
// Cold start as a readiness probe sees it: spawn `cdk8s-model-server serve` with one small model
// (iris-logreg, single-model mode) on a known port, then poll `GET /v2/health/ready` every 10 ms
// until the first 200. The figure is the time from spawn to that 200; the median of
// BENCH_STARTS (default 5) starts. Run on Node 20 (the machine's node) and, side by side, on the
// Node 24 binary when one is installed (`node scripts/node24.js install`, or MODEL_SERVER_NODE).
//
//   node bench/server/cold-start.js            # used by bench/server/run.js too
//
// Also reports the server's own phase marks (its `startup` log event: ms since process start at
// each step) and its CPU time at ready, medians over the starts, to show where the time goes.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'assets', 'server', 'cli.js');
const IRIS = path.join(ROOT, 'test', 'fixtures', 'models', 'iris-logreg.onnx');
const POLL_MS = 10;
const GIVE_UP_MS = 30_000;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** A port that was free a moment ago (the probe must know it before the server starts). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** One probe: GET /v2/health/ready; resolves with the status, or 0 when the connection failed. */
function probe(port) {
  return new Promise((resolve) => {
    const req = require('node:http').get({ host: '127.0.0.1', port, path: '/v2/health/ready', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(1000, () => req.destroy());
  });
}

/**
 * One cold start with `nodeBinary`: ms from spawn to the first 200 of the readiness probe, and
 * the server's own `startup` marks when it logged them.
 */
async function coldStartOnce(nodeBinary, modelDir, extraEnv = {}) {
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const t0 = process.hrtime.bigint();
  const child = spawn(nodeBinary, [CLI, 'serve', '--model-dir', modelDir, '--model-name', 'iris', '--http-port', String(httpPort), '--grpc-port', String(grpcPort)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'info', ...extraEnv },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => { out += c; });
  child.stderr.on('data', (c) => { err += c; });
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode;
  void exited.then((code) => { exitCode = code; });
  try {
    for (;;) {
      const status = await probe(httpPort);
      if (status === 200) break;
      if (exitCode !== undefined) throw new Error(`server exited with ${exitCode} before ready\n${err}`);
      if (Number(process.hrtime.bigint() - t0) / 1e6 > GIVE_UP_MS) throw new Error(`not ready within ${GIVE_UP_MS} ms\n${out}${err}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    // The startup log line is written just before the server answers 200; give the pipe a moment.
    for (let i = 0; i < 50 && !out.includes('"event":"startup"'); i++) await new Promise((r) => setTimeout(r, 10));
    const startup = out.split('\n').filter((l) => l.includes('"event":"startup"')).map((l) => JSON.parse(l))[0];
    return { ms, marks: startup && startup.marks, cpuMs: startup && startup.cpuMs };
  } finally {
    if (exitCode === undefined) {
      child.kill('SIGKILL');
      await exited;
    }
  }
}

/** `starts` cold starts with `nodeBinary`: median, samples and the median of each startup mark. */
async function coldStart(nodeBinary, { starts = 5, env = {} } = {}) {
  const modelDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cold-start-'));
  fs.copyFileSync(IRIS, path.join(modelDir, 'iris.onnx'));
  try {
    // Fill Node's compile cache first, as the image ships it filled (src/server/launcher.ts).
    require('node:child_process').execFileSync(nodeBinary, [CLI, '--version'], { env: { ...process.env, ...env } });
    const runs = [];
    for (let i = 0; i < starts; i++) runs.push(await coldStartOnce(nodeBinary, modelDir, env));
    const marks = {};
    for (const key of Object.keys(runs[0].marks || {})) marks[key] = median(runs.map((r) => (r.marks || {})[key]).filter((v) => v !== undefined));
    const cpu = runs.map((r) => r.cpuMs).filter((v) => v !== undefined);
    return { medianMs: median(runs.map((r) => r.ms)), samplesMs: runs.map((r) => Math.round(r.ms * 10) / 10), marks, cpuMs: cpu.length ? median(cpu) : undefined };
  } finally {
    fs.rmSync(modelDir, { recursive: true, force: true });
  }
}

/** The Node binaries to compare: this node, and the Node 24 binary when there is one. */
function nodeBinaries() {
  const out = [{ label: `node ${process.version}`, binary: process.execPath }];
  let node24 = process.env.MODEL_SERVER_NODE;
  if (!node24) {
    try {
      node24 = require(path.join(ROOT, 'scripts', 'node24.js')).installedNode24();
    } catch {
      node24 = undefined;
    }
  }
  if (node24 && node24 !== process.execPath) {
    const version = require('node:child_process').execFileSync(node24, ['--version'], { encoding: 'utf8' }).trim();
    out.push({ label: `node ${version}`, binary: node24 });
  }
  return out;
}

module.exports = { coldStart, nodeBinaries, POLL_MS };

if (require.main === module) {
  (async () => {
    const starts = Number(process.env.BENCH_STARTS || 5);
    console.log(`cold start, iris-logreg: spawn -> first 200 from GET /v2/health/ready (polled every ${POLL_MS} ms), median of ${starts}`);
    for (const { label, binary } of nodeBinaries()) {
      const r = await coldStart(binary, { starts });
      console.log(`  ${label.padEnd(14)} ${r.medianMs.toFixed(1)} ms  (samples ${r.samplesMs.join(', ')})`);
      if (Object.keys(r.marks).length) console.log(`  ${''.padEnd(14)} server marks (ms since process start): ${Object.entries(r.marks).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}; cpu ${r.cpuMs} ms`);
    }
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
