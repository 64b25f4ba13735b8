// Closed-loop HTTP load for bench/transformer/run.js, in its own process: `connections`
// keep-alive connections each send the next request as soon as the previous answer arrived.
// Latencies are measured per request with process.hrtime (microsecond resolution).
// Usage: node load.js <url> <json-body> <connections> <seconds>; prints one JSON line.
const http = require('node:http');

const [url, body, connections, seconds] = [process.argv[2], process.argv[3], Number(process.argv[4]), Number(process.argv[5])];
const target = new URL(url);
const payload = Buffer.from(body);
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
const latencies = [];
let errors = 0;
const end = Date.now() + seconds * 1000;

function once() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({
      host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': payload.length },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== 200) errors++;
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        resolve();
      });
    });
    req.on('error', () => { errors++; resolve(); });
    req.end(payload);
  });
}

async function worker() {
  while (Date.now() < end) await once();
}

(async () => {
  const started = Date.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (Date.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  const round = (v) => Math.round(v * 1000) / 1000;
  console.log(JSON.stringify({ requests: latencies.length, rps: Math.round(latencies.length / elapsed), p50Ms: round(q(0.5)), p99Ms: round(q(0.99)), errors }));
  agent.destroy();
})();
