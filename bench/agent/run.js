#!/usr/bin/env node
// Agent benchmark: `node bench/agent/run.js` (the `bench:agent` task).
//
// What the agent sidecar (`serve --mode agent`, issue 18 part 3) costs and what its batching buys,
// side by side in one run on loopback with real processes and closed-loop load from
// bench/transformer/load.js, for each runtime:
//   - direct:          requests straight to the runtime (the floor);
//   - agent:           through the agent, no batching (the cost of the extra hop);
//   - agent+batching:  through the agent with --max-batch-size 32 --max-batch-latency-ms 2.
// Runtimes: our server (iris-logreg.onnx, V1 :predict, one instance per request) always; MLServer
// (an sklearn LogisticRegression trained with random_state=0, V2 infer, one row) when the runtimes
// venv is there (RUNTIMES_VENV or scripts/runtimes-venv.sh's default path).
// Prints p50/p99 latency, throughput and the ratio to direct; writes bench/results/agent.json.
// Env: BENCH_DURATION_S (default 3), BENCH_WARMUP_S (default 1), BENCH_CONNECTIONS (default "1,16").
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const { bundleServer } = require(path.join(ROOT, 'scripts', 'bundle-server.js'));
const { closedLoopLoad: load, spawnUntil, startServe, stop } = require('../processes');
const { writeResult } = require('../write-result');
const MODELS = path.join(ROOT, 'test', 'fixtures', 'models');
const RESULTS = path.join(ROOT, 'bench', 'results', 'agent.json');

const DURATION = Number(process.env.BENCH_DURATION_S || 3);
const WARMUP = Number(process.env.BENCH_WARMUP_S || 1);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS || '1,16').split(',').map(Number);
const BATCHING = ['--max-batch-size', '32', '--max-batch-latency-ms', '2'];

/** The runtimes venv of test/runtimes/requirements.txt (as test/runtimes/runtime-harness.ts finds it), or undefined. */
function runtimesVenv() {
  const hash = crypto.createHash('sha256').update(fs.readFileSync(path.join(ROOT, 'test', 'runtimes', 'requirements.txt'))).digest('hex').slice(0, 12);
  const venv = process.env.RUNTIMES_VENV || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'cdk8s-model-serving', `venv-runtimes-${hash}`);
  return fs.existsSync(path.join(venv, '.installed')) ? venv : undefined;
}

async function freePort() {
  const s = http.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** MLServer with one sklearn model named iris; resolves once /v2/models/iris/ready answers 200. */
async function startMlserver(venv, dir, procs) {
  execFileSync(path.join(venv, 'bin', 'python'), ['-c', [
    'import sys, joblib',
    'from sklearn.datasets import load_iris',
    'from sklearn.linear_model import LogisticRegression',
    'X, y = load_iris(return_X_y=True)',
    'joblib.dump(LogisticRegression(max_iter=1000, random_state=0).fit(X, y), sys.argv[1])',
  ].join('\n'), path.join(dir, 'model.joblib')]);
  const [httpPort, grpcPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify({ http_port: httpPort, grpc_port: grpcPort, metrics_port: metricsPort }));
  fs.writeFileSync(path.join(dir, 'model-settings.json'), JSON.stringify({ name: 'iris', implementation: 'mlserver_sklearn.SKLearnModel', parameters: { uri: './model.joblib' } }));
  const { child } = spawnUntil(path.join(venv, 'bin', 'mlserver'), ['start', dir], () => undefined, { cwd: dir, env: { ...process.env, PATH: `${path.join(venv, 'bin')}:${process.env.PATH}` } });
  procs.push(child);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ok = await new Promise((resolve) => http.get({ host: '127.0.0.1', port: httpPort, path: '/v2/models/iris/ready' }, (res) => { res.resume(); resolve(res.statusCode === 200); }).on('error', () => resolve(false)));
    if (ok) return httpPort;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('MLServer did not get ready within 120 s');
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main() {
  const started = Date.now();
  bundleServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-agent-'));
  const procs = [];
  const serve = async (args) => {
    const s = startServe(['--http-port', '0', '--grpc-port', '0', ...args]);
    procs.push(s.child);
    return (await s.found).httpPort;
  };
  const agent = (upstreamPort, extra = []) => serve(['--mode', 'agent', '--agent-upstream', `http://127.0.0.1:${upstreamPort}`, '--model-name', 'iris', ...extra]);
  try {
    const runtimes = [];
    const ours = await serve(['--model-dir', path.join(MODELS, 'iris-logreg.onnx'), '--model-name', 'iris']);
    runtimes.push({ runtime: 'our server', path: '/v1/models/iris:predict', body: { instances: [[6.3, 3.3, 6.0, 2.5]] }, port: ours });
    const venv = runtimesVenv();
    if (venv) {
      const dir = path.join(tmp, 'mlserver');
      fs.mkdirSync(dir);
      const port = await startMlserver(venv, dir, procs);
      runtimes.push({ runtime: 'MLServer', path: '/v2/models/iris/infer', body: { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP64', data: [6.3, 3.3, 6.0, 2.5] }] }, port });
    } else {
      console.log('no runtimes venv: MLServer is left out (run scripts/runtimes-venv.sh)');
    }
    const rows = [];
    for (const rt of runtimes) {
      const scenarios = [
        { scenario: 'direct', port: rt.port },
        { scenario: 'agent', port: await agent(rt.port) },
        { scenario: 'agent+batching', port: await agent(rt.port, BATCHING) },
      ];
      for (const connections of CONNECTIONS) {
        for (const s of scenarios) {
          const url = `http://127.0.0.1:${s.port}${rt.path}`;
          await load(url, rt.body, connections, WARMUP);
          const r = await load(url, rt.body, connections, DURATION);
          rows.push({ runtime: rt.runtime, scenario: s.scenario, connections, ...r });
        }
      }
    }
    for (const r of rows) {
      const base = rows.find((x) => x.runtime === r.runtime && x.connections === r.connections && x.scenario === 'direct');
      r.rpsVsDirect = Number((r.rps / base.rps).toFixed(2));
      r.p50VsDirect = Number((r.p50Ms / base.p50Ms).toFixed(2));
    }
    const pad = (v, n) => String(v).padEnd(n);
    console.log(`\n${pad('runtime', 12)}${pad('scenario', 16)}${pad('conns', 7)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('req/s', 9)}${pad('x req/s', 9)}${pad('x p50', 8)}errors`);
    for (const r of rows) {
      console.log(`${pad(r.runtime, 12)}${pad(r.scenario, 16)}${pad(r.connections, 7)}${pad(r.p50Ms, 9)}${pad(r.p99Ms, 9)}${pad(Math.round(r.rps), 9)}${pad(r.rpsVsDirect, 9)}${pad(r.p50VsDirect, 8)}${r.errors}`);
    }
    writeResult(RESULTS, {
      durationS: DURATION,
      warmupS: WARMUP,
      batching: BATCHING.join(' '),
      note: 'closed-loop load (bench/transformer/load.js); load generator, runtimes and agents share this machine\'s CPUs; x req/s and x p50 are ratios to direct at the same connections',
      rows,
    }, started);
  } finally {
    await Promise.all(procs.map((p) => stop(p, 'SIGINT')));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
