// gRPC load generator of the server benchmark: keeps N ModelInfer calls in flight on one channel
// (HTTP/2 multiplexing) for a fixed time, then prints {requests, errors, rps, p50Ms, p99Ms} as JSON.
// Like wrk, it sends a pre-encoded request and does not decode responses (it checks the status
// and that the first response decodes to the expected outputs), so the client stays cheap.
// Usage: node grpc-load.js <port> <model> <connections> <durationSec> <warmupSec> <rows> <cols> <raw|typed> <proto> [grpc-js|h2]
// Client `grpc-js` (default): @grpc/grpc-js, one channel. Client `h2`: the same gRPC frames over
// one node:http2 session, without grpc-js's per-call machinery (~3x less client CPU per call on
// this machine), for when the grpc-js client, not the server, is the bottleneck.
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [port, model, conns, duration, warmup, rows, cols, mode, proto, clientKind = 'grpc-js'] = process.argv.slice(2);
const http2 = require('node:http2');
const N = Number(conns);
const def = protoLoader.loadSync(proto, { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, oneofs: true });
const Service = grpc.loadPackageDefinition(def).inference.GRPCInferenceService;
const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
});

const size = Number(rows) * Number(cols);
const values = Array.from({ length: size }, (_, i) => ((i * 7919) % 2000) / 1000 - 1);
const input = { name: 'input', datatype: 'FP32', shape: [Number(rows), Number(cols)] };
const request = mode === 'raw'
  ? { model_name: model, inputs: [input], raw_input_contents: [Buffer.from(Float32Array.from(values).buffer)] }
  : { model_name: model, inputs: [{ ...input, contents: { fp32_contents: values } }] };

let measuring = false;
let stopping = false;
let requests = 0;
let errors = 0;
let firstError;
const latencies = [];

const method = '/inference.GRPCInferenceService/ModelInfer';
const encoded = Service.service.ModelInfer.requestSerialize(request);
const identity = (b) => b;

// gRPC message framing: 1 byte compressed flag, 4 bytes big-endian length, the message.
const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), encoded]);
framed.writeUInt32BE(encoded.length, 1);
let session;
const H2_HEADERS = { ':method': 'POST', ':path': method, 'content-type': 'application/grpc', 'te': 'trailers' };

/** One call over raw HTTP/2; the callback gets an error unless grpc-status is 0. */
function h2Call(cb) {
  const stream = session.request(H2_HEADERS);
  let status;
  let message;
  stream.on('response', (h) => { if (h['grpc-status'] !== undefined) { status = h['grpc-status']; message = h['grpc-message']; } });
  stream.on('trailers', (h) => { status = h['grpc-status']; message = h['grpc-message']; });
  stream.on('data', () => undefined);
  stream.on('error', (e) => cb(e));
  stream.on('close', () => cb(String(status) === '0' ? null : new Error(`grpc-status ${status}: ${message}`)));
  stream.end(framed);
}

const callOnce = clientKind === 'h2'
  ? (cb) => h2Call(cb)
  : (cb) => client.makeUnaryRequest(method, identity, identity, encoded, cb);

function one() {
  if (stopping) return Promise.resolve();
  const start = process.hrtime.bigint();
  return new Promise((resolve) => {
    callOnce((err) => {
      if (measuring) {
        if (err) {
          errors++;
          firstError = firstError || err.message;
        } else {
          requests++;
          latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
        }
      }
      resolve();
    });
  }).then(one);
}

client.waitForReady(Date.now() + 10_000, (err) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  // One decoded call first: the server must answer with outputs.
  client.ModelInfer(request, (e, res) => {
    if (e || !res.outputs || res.outputs.length === 0) {
      console.error(`check call failed: ${e ? e.message : JSON.stringify(res)}`);
      process.exit(1);
    }
    if (clientKind === 'h2') {
      session = http2.connect(`http://127.0.0.1:${port}`);
      session.on('error', (e) => { console.error(e.message); process.exit(1); });
      session.once('connect', run);
    } else {
      run();
    }
  });
});

function run() {
  const loops = Array.from({ length: N }, one);
  let t0;
  setTimeout(() => {
    measuring = true;
    t0 = process.hrtime.bigint();
  }, Number(warmup) * 1000);
  setTimeout(async () => {
    measuring = false;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    stopping = true;
    await Promise.all(loops);
    latencies.sort((a, b) => a - b);
    const q = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : NaN);
    process.stdout.write(`${JSON.stringify({ requests, errors, firstError, rps: requests / seconds, p50Ms: q(0.5), p99Ms: q(0.99) })}\n`);
    client.close();
    if (session) session.close();
    process.exit(0);
  }, (Number(warmup) + Number(duration)) * 1000);
}
