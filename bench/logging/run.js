#!/usr/bin/env node
// Payload logging benchmark: `node bench/logging/run.js` (the `bench:logging` task).
//
// Issue 18 asks that a full queue or a failing sink never slow inference: this measures it, side
// by side in one run on loopback with real processes (the model server, and a sink in this
// process), V1 predict on iris-logreg, closed-loop load from bench/transformer/load.js:
//   - no logger:      the floor;
//   - healthy sink:   `--payload-log-url` to a sink that answers 200 at once;
//   - healthy, 10%:   the same with `--payload-log-sample-rate 0.1` (one inference in ten logged,
//                     its request and response together);
//   - sink down:      to a loopback port nothing listens on (every send fails);
//   - sink hangs:     to a sink that never answers (the queue fills, events are dropped).
// Prints p50/p99 latency, throughput, the latency added over "no logger", and the server's own
// sent/dropped counters; writes bench/results/logging.json.
// Env: BENCH_DURATION_S (default 3), BENCH_WARMUP_S (default 1), BENCH_CONNECTIONS (default "1,8").
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const { bundleServer } = require(path.join(ROOT, 'scripts', 'bundle-server.js'));
const { closedLoopLoad: load, startServe } = require('../processes');
const { writeResult } = require('../write-result');
const MODELS = path.join(ROOT, 'test', 'fixtures', 'models');
const RESULTS = path.join(ROOT, 'bench', 'results', 'logging.json');

const DURATION = Number(process.env.BENCH_DURATION_S || 3);
const WARMUP = Number(process.env.BENCH_WARMUP_S || 1);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS || '1,8').split(',').map(Number);

/** A sink on a free loopback port: `answer` true answers 200 at once, false never answers. */
async function sink(answer) {
  let received = 0;
  const server = http.createServer((req, res) => {
    received++;
    req.resume();
    if (answer) req.on('end', () => res.writeHead(200).end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    received: () => received,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

async function closedPortUrl() {
  const s = http.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise((resolve) => s.close(resolve));
  return `http://127.0.0.1:${port}/`;
}

/** The server's payload-log counters from its /metrics: sent, and dropped by reason. */
async function counters(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = { sent: 0, dropped: {} };
  for (const line of text.split('\n')) {
    const sent = /^model_server_payload_log_events_sent_total\S* (\S+)/.exec(line);
    if (sent) out.sent += Number(sent[1]);
    const dropped = /^model_server_payload_log_events_dropped_total\{[^}]*reason="([^"]+)"[^}]*\} (\S+)/.exec(line);
    if (dropped) out.dropped[dropped[1]] = (out.dropped[dropped[1]] || 0) + Number(dropped[2]);
  }
  return out;
}

async function main() {
  const started = Date.now();
  bundleServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-logging-'));
  const models = path.join(tmp, 'models');
  fs.mkdirSync(models);
  fs.copyFileSync(path.join(MODELS, 'iris-logreg.onnx'), path.join(models, 'iris-logreg.onnx'));

  const healthy = await sink(true);
  const sampledSink = await sink(true);
  const hanging = await sink(false);
  const down = await closedPortUrl();
  const procs = [];
  const start = async (extra) => {
    const s = startServe(['--http-port', '0', '--grpc-port', '0', '--model-dir', models, '--model-name', 'iris', ...extra]);
    procs.push(s.child);
    return s.found;
  };
  try {
    const logTo = (url) => ['--payload-log-url', url, '--payload-log-mode', 'all'];
    const servers = await Promise.all([
      start([]), start(logTo(healthy.url)), start([...logTo(sampledSink.url), '--payload-log-sample-rate', '0.1']), start(logTo(down)), start(logTo(hanging.url)),
    ]);
    const scenarios = ['no logger', 'healthy sink', 'healthy, 10%', 'sink down', 'sink hangs'].map((name, i) => ({ name, port: servers[i].httpPort }));
    const body = { instances: [[6.3, 3.3, 6.0, 2.5]] };
    const rows = [];
    for (const connections of CONNECTIONS) {
      for (const s of scenarios) {
        const url = `http://127.0.0.1:${s.port}/v1/models/iris:predict`;
        await load(url, body, connections, WARMUP);
        const r = await load(url, body, connections, DURATION);
        rows.push({ scenario: s.name, connections, ...r });
      }
    }
    for (const r of rows) {
      const base = rows.find((x) => x.connections === r.connections && x.scenario === 'no logger');
      r.addedP50Ms = Number((r.p50Ms - base.p50Ms).toFixed(3));
      r.addedP99Ms = Number((r.p99Ms - base.p99Ms).toFixed(3));
    }
    const logCounters = {};
    for (const s of scenarios) logCounters[s.name] = await counters(s.port);
    const pad = (v, n) => String(v).padEnd(n);
    console.log(`\n${pad('scenario', 15)}${pad('conns', 7)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('req/s', 9)}${pad('+p50 ms', 9)}${pad('+p99 ms', 9)}errors`);
    for (const r of rows) {
      console.log(`${pad(r.scenario, 15)}${pad(r.connections, 7)}${pad(r.p50Ms, 9)}${pad(r.p99Ms, 9)}${pad(Math.round(r.rps), 9)}${pad(r.addedP50Ms, 9)}${pad(r.addedP99Ms, 9)}${r.errors}`);
    }
    console.log('\nevents (whole run, warm-up included): sent / dropped by reason');
    for (const [name, c] of Object.entries(logCounters)) console.log(`  ${pad(name, 15)}${pad(c.sent, 9)}${JSON.stringify(c.dropped)}`);
    console.log(`  the healthy sink received ${healthy.received()} event(s), the 10% one ${sampledSink.received()}`);
    writeResult(RESULTS, {
      model: 'iris-logreg',
      durationS: DURATION,
      warmupS: WARMUP,
      note: 'closed-loop load (bench/transformer/load.js); load generator, servers and sinks share this machine\'s CPUs; logger mode all (request and response events)',
      rows,
      counters: logCounters,
      healthySinkReceived: healthy.received(),
      sampledSinkReceived: sampledSink.received(),
      sampleRate: 0.1,
    }, started);
  } finally {
    for (const p of procs) p.kill('SIGINT');
    await healthy.close();
    await sampledSink.close();
    await hanging.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
