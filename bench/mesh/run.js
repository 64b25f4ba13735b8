#!/usr/bin/env node
// ModelMesh benchmark: `node bench/mesh/run.js` (the `bench:mesh` task).
//
// (a) Mesh: 3 members (`serve --mode mesh`, real processes on loopback) share 200 models
//     (copies of the iris/diabetes test models under 200 names, one copy each) under a memory
//     budget per member that holds about a third of its share. A client sends Zipf-distributed
//     V2 infer requests (s = BENCH_ZIPF_S, default 1.1) to random members, BENCH_CONCURRENCY at
//     once (default 32), for BENCH_REQUESTS requests (default 20000). Reported: throughput,
//     p50/p99 latency, hit rate (requests served by a holder with the model loaded), loads,
//     evictions, forwards, and peak RSS per member (VmHWM from /proc/<pid>/status).
// (b) One model per server process: BENCH_SINGLE (default 10) single-model processes, each
//     serving one of the same models after a few requests; their mean RSS is the memory per
//     model, extrapolated to 200 models (not measured with 200 processes).
// Prints a table and writes bench/results/mesh.json. Bounded: every phase has a request count
// or a timeout; the whole run takes well under 3 minutes.
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const { bundleServer } = require(path.join(ROOT, 'scripts', 'bundle-server.js'));
const { startServe, stop: stopProcess } = require('../processes');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'models');
const RESULTS = path.join(ROOT, 'bench', 'results', 'mesh.json');

const MODELS = 200;
const MEMBERS = 3;
const REQUESTS = Number(process.env.BENCH_REQUESTS || 20000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY || 32);
const ZIPF_S = Number(process.env.BENCH_ZIPF_S || 1.1);
const SINGLE = Number(process.env.BENCH_SINGLE || 10);
const BUDGET = Number(process.env.BENCH_BUDGET_BYTES || 96 * 1024);
const KINDS = ['iris-logreg', 'iris-mlp', 'diabetes-linreg'];
const fixtures = Object.fromEntries(KINDS.map((k) => [k, JSON.parse(fs.readFileSync(path.join(FIXTURES, `${k}.expected.json`), 'utf8'))]));
const models = Array.from({ length: MODELS }, (_, i) => ({ name: `model-${String(i).padStart(3, '0')}`, kind: KINDS[i % KINDS.length] }));
const bodies = Object.fromEntries(KINDS.map((k) => [k, Buffer.from(JSON.stringify(fixtures[k].v2_request))]));

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function post(port, urlPath, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: urlPath, agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function get(port, urlPath) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve(text));
    }).on('error', reject);
  });
}

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

/** Starts `serve` and resolves once it logged `ready` (30 s at most). */
async function start(args) {
  const s = startServe(['--grpc-port', '0', ...args]);
  const info = await s.found;
  return { proc: s.child, port: info.httpPort };
}

function stop(server) {
  return stopProcess(server.proc, 'SIGINT');
}

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function memoryOf(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number((new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status) || [])[1] || 0) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

function metric(text, name, filter = '') {
  let total = 0;
  for (const line of text.split('\n')) {
    if ((line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(filter)) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

function zipfSampler(n, s, seed) {
  const cdf = [];
  let sum = 0;
  for (let k = 1; k <= n; k++) {
    sum += 1 / k ** s;
    cdf.push(sum);
  }
  let x = seed >>> 0;
  const rand = () => {
    // xorshift32: deterministic across runs
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
  return {
    rand,
    next() {
      const u = rand() * sum;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cdf[mid] < u) lo = mid + 1; else hi = mid;
      }
      return lo;
    },
  };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const mb = (b) => (b / 2 ** 20).toFixed(b < 2 ** 20 ? 3 : 1);

async function main() {
  bundleServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-mesh-'));
  const modelDir = path.join(dir, 'models');
  for (const m of models) {
    fs.mkdirSync(path.join(modelDir, m.name), { recursive: true });
    fs.copyFileSync(path.join(FIXTURES, `${m.kind}.onnx`), path.join(modelDir, m.name, 'model.onnx'));
  }
  const registry = path.join(dir, 'models.json');
  fs.writeFileSync(registry, JSON.stringify({ models: models.map((m) => ({ name: m.name, format: 'onnx', copies: 1 })) }));
  const totalCharge = models.reduce((a, m) => a + fs.statSync(path.join(modelDir, m.name, 'model.onnx')).size * 2, 0);

  // ---- (a) the mesh ----
  const ports = [];
  for (let i = 0; i < MEMBERS; i++) ports.push(await freePort());
  const peers = ports.map((p) => `127.0.0.1:${p}`).join(',');
  const members = await Promise.all(ports.map((port) => start([
    '--mode', 'mesh', '--model-dir', modelDir, '--memory-budget-bytes', String(BUDGET), '--peers', peers,
    '--self', `127.0.0.1:${port}`, '--http-port', String(port), '--model-registry', registry,
  ])));
  const idleRss = members.map((m) => memoryOf(m.proc.pid).rss);
  const sampler = zipfSampler(MODELS, ZIPF_S, 12345);
  const latencies = new Float64Array(REQUESTS);
  let errors = 0;
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < REQUESTS) {
      const i = next++;
      const m = models[sampler.next()];
      const port = ports[Math.floor(sampler.rand() * MEMBERS)];
      const started = process.hrtime.bigint();
      try {
        const res = await post(port, `/v2/models/${m.name}/infer`, bodies[m.kind]);
        if (res.status !== 200) errors++;
      } catch {
        errors++;
      }
      latencies[i] = Number(process.hrtime.bigint() - started) / 1e6;
    }
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const texts = await Promise.all(ports.map((p) => get(p, '/metrics')));
  const memberStats = members.map((m, i) => {
    const t = texts[i];
    const mem = memoryOf(m.proc.pid);
    return {
      member: `127.0.0.1:${ports[i]}`,
      hits: metric(t, 'model_server_mesh_cache_hits_total'),
      misses: metric(t, 'model_server_mesh_cache_misses_total'),
      loads: metric(t, 'model_server_mesh_loads_total'),
      evictions: metric(t, 'model_server_model_evictions_total'),
      forwards: metric(t, 'model_server_mesh_forwards_total', 'outcome="ok"'),
      budgetPeakBytes: metric(t, 'model_server_mesh_memory_peak_bytes'),
      idleRssBytes: idleRss[i],
      peakRssBytes: mem.peak,
    };
  });
  await Promise.all(members.map(stop));
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  const sumOf = (k) => memberStats.reduce((a, s) => a + s[k], 0);
  const mesh = {
    members: MEMBERS,
    models: MODELS,
    requests: REQUESTS,
    concurrency: CONCURRENCY,
    zipfS: ZIPF_S,
    budgetBytesPerMember: BUDGET,
    totalModelChargeBytes: totalCharge,
    errors,
    throughputRps: REQUESTS / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    hitRate: sumOf('hits') / Math.max(1, sumOf('hits') + sumOf('misses')),
    loads: sumOf('loads'),
    evictions: sumOf('evictions'),
    forwards: sumOf('forwards'),
    peakRssBytesTotal: sumOf('peakRssBytes'),
    memoryPerModelBytes: sumOf('peakRssBytes') / MODELS,
    perMember: memberStats,
  };

  // ---- (b) one model per process ----
  const singles = [];
  for (let i = 0; i < SINGLE; i++) {
    const m = models[i];
    const s = await start(['--http-port', '0', '--model-dir', path.join(modelDir, m.name), '--model-name', m.name]);
    for (let r = 0; r < 20; r++) await post(s.port, `/v2/models/${m.name}/infer`, bodies[m.kind]);
    singles.push({ model: m.name, ...memoryOf(s.proc.pid), s });
  }
  await Promise.all(singles.map((x) => stop(x.s)));
  const meanRss = singles.reduce((a, x) => a + x.rss, 0) / singles.length;
  const single = {
    processesMeasured: SINGLE,
    meanRssBytes: meanRss,
    memoryPerModelBytes: meanRss,
    extrapolatedRssBytesFor200: meanRss * MODELS,
    note: `measured ${SINGLE} single-model processes after 20 requests each; 200 processes extrapolated (mean x 200)`,
  };
  fs.rmSync(dir, { recursive: true, force: true });

  console.log(`\nModelMesh: ${MODELS} models on ${MEMBERS} members, budget ${mb(BUDGET)} MiB/member (all models need ${mb(totalCharge)} MiB), Zipf s=${ZIPF_S}, ${REQUESTS} requests, ${CONCURRENCY} in flight`);
  console.log('| member | hits | misses | loads | evictions | forwards | budget peak (B) | idle RSS MiB | peak RSS MiB |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const s of memberStats) {
    console.log(`| ${s.member} | ${s.hits} | ${s.misses} | ${s.loads} | ${s.evictions} | ${s.forwards} | ${s.budgetPeakBytes} / ${BUDGET} | ${mb(s.idleRssBytes)} | ${mb(s.peakRssBytes)} |`);
  }
  console.log('\n| setup | throughput (req/s) | p50 ms | p99 ms | hit rate | loads | errors | memory for 200 models | memory per model |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  console.log(`| mesh, 3 members | ${mesh.throughputRps.toFixed(0)} | ${mesh.p50Ms.toFixed(2)} | ${mesh.p99Ms.toFixed(2)} | ${(mesh.hitRate * 100).toFixed(1)}% | ${mesh.loads} | ${errors} | ${mb(mesh.peakRssBytesTotal)} MiB (peak RSS) | ${mb(mesh.memoryPerModelBytes)} MiB |`);
  console.log(`| one model per process | - | - | - | - | - | - | ${mb(single.extrapolatedRssBytesFor200)} MiB (extrapolated from ${SINGLE}) | ${mb(single.memoryPerModelBytes)} MiB |`);
  console.log(`\nmemory saving: ${(single.extrapolatedRssBytesFor200 / mesh.peakRssBytesTotal).toFixed(1)}x less memory with the mesh`);
  const result = { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, mesh, single };
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  fs.writeFileSync(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${path.relative(ROOT, RESULTS)}`);
  agent.destroy();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
