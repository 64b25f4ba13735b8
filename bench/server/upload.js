#!/usr/bin/env node
// Large-upload benchmark: `npx projen bench:upload` (node bench/server/upload.js).
//
// The same model server twice on loopback, with the lean HTTP/1.1 front (`--http-front lean`, the
// default) and without it (`--http-front node`: node:http parses every request), each sent
// 15 MiB JSON inference bodies (iris, padded with a request parameter): one at a time, then 8 at
// once. Prints the median time per upload (request written to answer read) and the ratio lean /
// node. The lean front joins a body's segments once; before that fix it joined every segment
// onto all the bytes before it, and a 15 MiB body took 4x as long as through node:http.
// Writes bench/results/upload.json. Env: BENCH_UPLOAD_MIB (15), BENCH_UPLOADS (5 sequential
// uploads; the concurrent round sends BENCH_UPLOAD_CONCURRENCY, default 8, twice).
const http = require('node:http');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const { bundleServer } = require(path.join(ROOT, 'scripts', 'bundle-server.js'));
const { startServe, stop } = require('../processes');
const RESULTS = path.join(ROOT, 'bench', 'results', 'upload.json');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'models');

const MIB = Number(process.env.BENCH_UPLOAD_MIB || 15);
const UPLOADS = Number(process.env.BENCH_UPLOADS || 5);
const CONCURRENCY = Number(process.env.BENCH_UPLOAD_CONCURRENCY || 8);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** An iris V2 request padded to `bytes` with a request parameter. */
function paddedBody(bytes) {
  const request = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }], parameters: { pad: '' } };
  const empty = JSON.stringify(request).length;
  request.parameters.pad = 'x'.repeat(bytes - empty);
  return Buffer.from(JSON.stringify(request));
}

/** One upload on a fresh connection; resolves with milliseconds from the first byte written to the answer read. */
function upload(port, body) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v2/models/iris/infer', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`upload answered ${res.statusCode}`));
        else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function measure(port, body) {
  await upload(port, body); // warm-up
  const sequential = [];
  for (let i = 0; i < UPLOADS; i++) sequential.push(await upload(port, body));
  const concurrent = [];
  for (let round = 0; round < 2; round++) {
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: CONCURRENCY }, () => upload(port, body)));
    concurrent.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { sequentialMedianMs: median(sequential), sequentialMs: sequential, concurrentMedianMs: median(concurrent), concurrentMs: concurrent };
}

async function main() {
  bundleServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-upload-'));
  fs.mkdirSync(path.join(tmp, 'iris'));
  fs.copyFileSync(path.join(FIXTURES, 'iris-logreg.onnx'), path.join(tmp, 'iris', 'model.onnx'));
  const body = paddedBody(MIB * 1024 * 1024);
  const results = {};
  try {
    for (const front of ['lean', 'node']) {
      const server = startServe(['--model-dir', tmp, '--mode', 'multi', '--http-port', '0', '--grpc-port', '0', '--http-front', front]);
      try {
        const info = await server.found;
        results[front] = await measure(info.httpPort, body);
      } finally {
        await stop(server.child);
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const fmt = (n) => n.toFixed(0);
  console.log(`upload benchmark: ${MIB} MiB JSON bodies, ${os.cpus().length} CPUs, node ${process.version}`);
  console.log(`front  1 at a time (median ms)  ${CONCURRENCY} at once (median ms)`);
  for (const front of ['lean', 'node']) {
    console.log(`${front.padEnd(5)}  ${fmt(results[front].sequentialMedianMs).padStart(26)}  ${fmt(results[front].concurrentMedianMs).padStart(23)}`);
  }
  const ratio = {
    sequential: results.lean.sequentialMedianMs / results.node.sequentialMedianMs,
    concurrent: results.lean.concurrentMedianMs / results.node.concurrentMedianMs,
  };
  console.log(`lean / node: ${ratio.sequential.toFixed(2)} one at a time, ${ratio.concurrent.toFixed(2)} ${CONCURRENCY} at once (below 1: the lean front is faster)`);
  fs.mkdirSync(path.dirname(RESULTS), { recursive: true });
  fs.writeFileSync(RESULTS, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, mib: MIB, uploads: UPLOADS, concurrency: CONCURRENCY, results, ratio }, null, 2)}\n`);
  console.log(`wrote ${path.relative(ROOT, RESULTS)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
