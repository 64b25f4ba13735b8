#!/usr/bin/env node
// Transformer benchmark: `node bench/transformer/run.js` (the `bench:transformer` task).
//
// What a separate transformer component costs compared with running the same module in the
// predictor's process, measured in one run on loopback with real processes:
//   - predictor:           the predictor alone, V1 numeric instances (no module; the floor);
//   - in-process:          the predictor with `--transformer-module` (named features in,
//                          class names out), the same module as below;
//   - separate (V2 REST):  `serve --mode transformer` -> predictor over V2 REST (keep-alive);
//   - separate (gRPC):     `serve --mode transformer` -> predictor over gRPC (one channel).
// Model iris-logreg, 1 instance per request; closed-loop load from bench/transformer/load.js in
// its own process (keep-alive, per-request hrtime latencies) at 1 and 8 connections. Prints a table with p50/p99 latency and throughput and the latency the separate
// component adds over in-process; writes bench/results/transformer.json. Bounded: about
// 4 x 2 x (warm-up + duration) seconds plus start-up, under 1 minute with the defaults.
// Env: BENCH_DURATION_S (default 3), BENCH_WARMUP_S (default 1), BENCH_CONNECTIONS (default "1,8").
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const { bundleServer } = require(path.join(ROOT, 'scripts', 'bundle-server.js'));
const { closedLoopLoad: load, startServe } = require('../processes');
const { writeResult } = require('../write-result');
const MODELS = path.join(ROOT, 'test', 'fixtures', 'models');
const MODULE_SRC = path.join(ROOT, 'examples', 'transformer', 'module', 'iris-transformer.ts');
const RESULTS = path.join(ROOT, 'bench', 'results', 'transformer.json');

const DURATION = Number(process.env.BENCH_DURATION_S || 3);
const WARMUP = Number(process.env.BENCH_WARMUP_S || 1);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS || '1,8').split(',').map(Number);

async function main() {
  const started = Date.now();
  bundleServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-transformer-'));
  const moduleFile = path.join(tmp, 'iris-transformer.js');
  require('esbuild').buildSync({ entryPoints: [MODULE_SRC], bundle: true, platform: 'node', format: 'cjs', outfile: moduleFile, logLevel: 'warning' });
  const models = path.join(tmp, 'models');
  fs.mkdirSync(models);
  fs.copyFileSync(path.join(MODELS, 'iris-logreg.onnx'), path.join(models, 'iris-logreg.onnx'));

  const procs = [];
  const start = async (args) => {
    const s = startServe(['--http-port', '0', '--grpc-port', '0', ...args]);
    procs.push(s.child);
    return s.found;
  };
  try {
    const common = ['--model-dir', models, '--model-name', 'iris'];
    const [predictor, inProcess] = await Promise.all([start(common), start([...common, '--transformer-module', moduleFile])]);
    const [rest, grpc] = await Promise.all([
      start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${predictor.httpPort}`, '--transformer-module', moduleFile]),
      start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${predictor.grpcPort}`, '--predictor-protocol', 'grpc-v2', '--transformer-module', moduleFile]),
    ]);
    const named = { instances: [{ sepal_length: 6.3, sepal_width: 3.3, petal_length: 6.0, petal_width: 2.5 }] };
    const numeric = { instances: [[6.3, 3.3, 6.0, 2.5]] };
    const scenarios = [
      { name: 'predictor (no module)', port: predictor.httpPort, body: numeric },
      { name: 'in-process transformer', port: inProcess.httpPort, body: named },
      { name: 'separate transformer (V2 REST)', port: rest.httpPort, body: named },
      { name: 'separate transformer (gRPC)', port: grpc.httpPort, body: named },
    ];
    const rows = [];
    for (const connections of CONNECTIONS) {
      for (const s of scenarios) {
        const url = `http://127.0.0.1:${s.port}/v1/models/iris:predict`;
        await load(url, s.body, connections, WARMUP);
        const r = await load(url, s.body, connections, DURATION);
        rows.push({ scenario: s.name, connections, ...r });
      }
    }
    for (const r of rows) {
      const base = rows.find((x) => x.connections === r.connections && x.scenario === 'in-process transformer');
      r.addedP50Ms = Number((r.p50Ms - base.p50Ms).toFixed(3));
      r.addedP99Ms = Number((r.p99Ms - base.p99Ms).toFixed(3));
    }
    const pad = (v, n) => String(v).padEnd(n);
    console.log(`\n${pad('scenario', 32)}${pad('conns', 7)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('req/s', 10)}${pad('+p50 vs in-process', 20)}errors`);
    for (const r of rows) {
      console.log(`${pad(r.scenario, 32)}${pad(r.connections, 7)}${pad(r.p50Ms, 9)}${pad(r.p99Ms, 9)}${pad(Math.round(r.rps), 10)}${pad(r.addedP50Ms, 20)}${r.errors}`);
    }
    writeResult(RESULTS, {
      model: 'iris-logreg',
      durationS: DURATION,
      warmupS: WARMUP,
      note: 'closed-loop load (bench/transformer/load.js); load generator, transformer and predictor share this machine\'s CPUs',
      rows,
    }, started);
  } finally {
    for (const p of procs) p.kill('SIGINT');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
