#!/usr/bin/env node
// Inference graph benchmark: `node bench/graph/run.js` (the `bench:graph` task).
//
// Issue 18: every hop between components costs latency; a Sequence of models our server holds
// can run in one process instead. Side by side in one run, real processes on loopback, V2 infer
// of one iris row, closed-loop load from bench/transformer/load.js:
//   - direct:      the model server itself, one model call (the floor of one inference);
//   - in process:  a router holding the models (`--model-dir`), a 3-step Sequence of `model` steps;
//   - networked:   a router and 3 model servers, the same Sequence with `serviceUrl` steps.
// Every Sequence step gets the request (`data: $request`): the iris models' outputs are not
// inputs of another model. "added per hop" is (networked - in process) / 3, the cost of one
// network hop with the inference work equal. Writes bench/results/graph.json.
// Env: BENCH_DURATION_S (default 3), BENCH_WARMUP_S (default 1), BENCH_CONNECTIONS (default "1,8").
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const { bundleServer } = require(path.join(ROOT, 'scripts', 'bundle-server.js'));
const { closedLoopLoad: load, startServe } = require('../processes');
const MODELS = path.join(ROOT, 'test', 'fixtures', 'models');
const RESULTS = path.join(ROOT, 'bench', 'results', 'graph.json');

const DURATION = Number(process.env.BENCH_DURATION_S || 3);
const WARMUP = Number(process.env.BENCH_WARMUP_S || 1);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS || '1,8').split(',').map(Number);
const STEPS = [['a', 'iris-logreg'], ['b', 'iris-mlp'], ['c', 'iris-logreg']];

async function main() {
  const started = Date.now();
  bundleServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-graph-'));
  const models = path.join(tmp, 'models');
  fs.mkdirSync(models);
  for (const m of ['iris-logreg', 'iris-mlp']) fs.copyFileSync(path.join(MODELS, `${m}.onnx`), path.join(models, `${m}.onnx`));
  const procs = [];
  const start = async (extra) => {
    const s = startServe(['--http-port', '0', '--grpc-port', '0', ...extra]);
    procs.push(s.child);
    return s.found;
  };
  const spec = (step) => ({ nodes: { root: { routerType: 'Sequence', steps: STEPS.map(([name, model], i) => ({ name, data: '$request', ...step(model, i) })) } } });
  const writeSpec = (name, value) => {
    const file = path.join(tmp, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(value));
    return file;
  };
  try {
    const servers = await Promise.all(STEPS.map(() => start(['--mode', 'multi', '--model-dir', models])));
    const networkedSpec = writeSpec('networked', spec((model, i) => ({ serviceUrl: `http://127.0.0.1:${servers[i].httpPort}/v2/models/${model}/infer` })));
    const inProcessSpec = writeSpec('in-process', spec((model) => ({ model })));
    const [networked, inProcess] = await Promise.all([
      start(['--mode', 'router', '--graph-spec', networkedSpec, '--model-name', 'bench']),
      start(['--mode', 'router', '--graph-spec', inProcessSpec, '--model-name', 'bench', '--model-dir', models]),
    ]);
    const scenarios = [
      { name: 'direct (1 model)', url: `http://127.0.0.1:${servers[2].httpPort}/v2/models/iris-logreg/infer` },
      { name: 'in process (3)', url: `http://127.0.0.1:${inProcess.httpPort}/` },
      { name: 'networked (3)', url: `http://127.0.0.1:${networked.httpPort}/` },
    ];
    const body = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [6.3, 3.3, 6.0, 2.5] }] };
    const rows = [];
    for (const connections of CONNECTIONS) {
      for (const s of scenarios) {
        await load(s.url, body, connections, WARMUP);
        const r = await load(s.url, body, connections, DURATION);
        rows.push({ scenario: s.name, connections, ...r });
      }
    }
    const hops = [];
    for (const connections of CONNECTIONS) {
      const at = (name) => rows.find((r) => r.connections === connections && r.scenario === name);
      const [direct, local, net] = [at('direct (1 model)'), at('in process (3)'), at('networked (3)')];
      hops.push({
        connections,
        addedPerHopP50Ms: Number(((net.p50Ms - local.p50Ms) / STEPS.length).toFixed(3)),
        addedPerHopP99Ms: Number(((net.p99Ms - local.p99Ms) / STEPS.length).toFixed(3)),
        networkedOverInProcessRps: Number((net.rps / local.rps).toFixed(2)),
        inProcessOverDirectP50: Number((local.p50Ms / direct.p50Ms).toFixed(2)),
      });
    }
    const pad = (v, n) => String(v).padEnd(n);
    console.log(`\n${pad('scenario', 18)}${pad('conns', 7)}${pad('req/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}errors`);
    for (const r of rows) console.log(`${pad(r.scenario, 18)}${pad(r.connections, 7)}${pad(Math.round(r.rps), 9)}${pad(r.p50Ms, 9)}${pad(r.p99Ms, 9)}${r.errors}`);
    console.log(`\n${pad('conns', 7)}${pad('+p50/hop ms', 13)}${pad('+p99/hop ms', 13)}${pad('net/in-proc req/s', 19)}in-proc/direct p50`);
    for (const h of hops) console.log(`${pad(h.connections, 7)}${pad(h.addedPerHopP50Ms, 13)}${pad(h.addedPerHopP99Ms, 13)}${pad(h.networkedOverInProcessRps, 19)}${h.inProcessOverDirectP50}`);
    const result = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      steps: STEPS.map(([name, model]) => ({ name, model })),
      durationS: DURATION,
      warmupS: WARMUP,
      note: 'closed-loop load (bench/transformer/load.js); load generator, router and model servers share this machine\'s CPUs; added per hop = (networked - in process) / 3',
      rows,
      hops,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
    fs.writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`\nwrote ${path.relative(ROOT, RESULTS)} (${result.seconds} s)`);
  } finally {
    for (const p of procs) p.kill('SIGINT');
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
