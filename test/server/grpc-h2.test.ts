// The gRPC transport (src/server/grpc/h2.ts on node:http2)
// against a real `serve` process: framing errors, compression, unknown methods, deadlines,
// metrics, concurrency and a fuzz test. Raw node:http2 client requests where grpc-js would refuse
// to send them; grpc-js for everything it can send.
import * as http2 from 'node:http2';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as fc from 'fast-check';
import { expected, metricSamples, MODELS, request, RunningServer, startServer, ROOT } from './server-harness';
import { encodeGrpcMessage, parseGrpcTimeout } from '../../src/server/grpc/h2';
import { seeded } from '../seeded';

const PROTO = `${ROOT}/src/server/protocol/grpc_predict_v2.proto`;
const INFER = '/inference.GRPCInferenceService/ModelInfer';
const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, oneofs: true });
const methods = def['inference.GRPCInferenceService'] as any;
const encodeRequest = (o: object): Buffer => methods.ModelInfer.requestSerialize(o);
const decodeResponse = (b: Buffer): any => methods.ModelInfer.responseDeserialize(b);

let server: RunningServer;
let grpcPort: number;
let session: http2.ClientHttp2Session;
let client: grpc.Client & Record<string, Function>;

interface RawAnswer { httpStatus: number; grpcStatus?: string; grpcMessage?: string; headers: http2.IncomingHttpHeaders; data: Buffer }

/** One request over a raw HTTP/2 stream; `body` undefined leaves the request side open. */
function raw(path: string, body: Buffer | undefined, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', 'te': 'trailers', ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => { head = h; });
    stream.on('trailers', (t) => { trailers = t; });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => {
      const all = { ...head, ...trailers };
      resolve({
        httpStatus: Number(head[':status']),
        grpcStatus: all['grpc-status'] as string | undefined,
        grpcMessage: all['grpc-message'] === undefined ? undefined : decodeURIComponent(all['grpc-message'] as string),
        headers: all,
        data: Buffer.concat(chunks),
      });
    });
    if (body !== undefined) stream.end(body);
  });
}

/** gRPC length-prefixed framing. */
function frame(message: Buffer, flag = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

const irisRequest = (row: number[]) => encodeRequest({
  model_name: 'iris-logreg',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: row } }],
});

async function grpcSamples(): Promise<Map<string, number>> {
  const res = await request(server.port, 'GET', '/metrics');
  return metricSamples(res.text, 'model_server_requests_total');
}
const count = (m: Map<string, number>, model: string, code: number) => m.get(`{model="${model}",protocol="grpc",code="${code}"}`) ?? 0;

beforeAll(async () => {
  server = await startServer(['--model-dir', MODELS, '--mode', 'multi']);
  grpcPort = Number(server.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
  session = http2.connect(`http://127.0.0.1:${grpcPort}`);
  const Service = (grpc.loadPackageDefinition(def).inference as any).GRPCInferenceService;
  client = new Service(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  session?.close();
  await server?.stop();
});

describe('framing', () => {
  test('a well-formed raw request answers 200, application/grpc, one framed message and grpc-status 0 in trailers', async () => {
    const res = await raw(INFER, frame(irisRequest([5.1, 3.5, 1.4, 0.2])));
    expect(res.httpStatus).toBe(200);
    expect(res.headers['content-type']).toBe('application/grpc');
    expect(res.grpcStatus).toBe('0');
    expect(res.data[0]).toBe(0);
    expect(res.data.readUInt32BE(1)).toBe(res.data.length - 5);
    const reply = decodeResponse(res.data.subarray(5));
    expect(reply.outputs.find((o: any) => o.name === 'label').contents.int64_contents).toEqual([0]);
  });

  test('a length prefix larger than the data is INTERNAL', async () => {
    const msg = irisRequest([1, 2, 3, 4]);
    const bad = frame(msg);
    bad.writeUInt32BE(msg.length + 10, 1);
    const res = await raw(INFER, bad);
    expect(res.httpStatus).toBe(200);
    expect(res.grpcStatus).toBe(String(grpc.status.INTERNAL));
    expect(res.grpcMessage).toMatch(/truncated message/);
  });

  test('a truncated prefix, an empty body and two messages are INTERNAL', async () => {
    expect((await raw(INFER, Buffer.from([0, 0, 0]))).grpcStatus).toBe(String(grpc.status.INTERNAL));
    expect((await raw(INFER, Buffer.alloc(0))).grpcStatus).toBe(String(grpc.status.INTERNAL));
    const two = Buffer.concat([frame(irisRequest([1, 2, 3, 4])), frame(irisRequest([1, 2, 3, 4]))]);
    expect((await raw(INFER, two)).grpcMessage).toMatch(/more than one request message/);
  });

  test('a message that is not a ModelInferRequest is INTERNAL and the server keeps serving', async () => {
    const res = await raw(INFER, frame(Buffer.from([0x0a, 0xff, 0xff, 0xff])));
    expect(res.grpcStatus).toBe(String(grpc.status.INTERNAL));
    expect(res.grpcMessage).toMatch(/malformed ModelInferRequest/);
    expect((await raw(INFER, frame(irisRequest([1, 2, 3, 4])))).grpcStatus).toBe('0');
  });

  test('compressed flag: gzip is inflated; other encodings are UNIMPLEMENTED', async () => {
    const msg = irisRequest([5.1, 3.5, 1.4, 0.2]);
    const gz = await raw(INFER, frame(gzipSync(msg), 1), { 'grpc-encoding': 'gzip' });
    expect(gz.grpcStatus).toBe('0');
    expect(decodeResponse(gz.data.subarray(5)).model_name).toBe('iris-logreg');
    const snappy = await raw(INFER, frame(msg, 1), { 'grpc-encoding': 'snappy' });
    expect(snappy.grpcStatus).toBe(String(grpc.status.UNIMPLEMENTED));
    const noEncoding = await raw(INFER, frame(msg, 1));
    expect(noEncoding.grpcStatus).toBe(String(grpc.status.UNIMPLEMENTED));
    const corrupt = await raw(INFER, frame(Buffer.from('not gzip'), 1), { 'grpc-encoding': 'gzip' });
    expect(corrupt.grpcStatus).toBe(String(grpc.status.INTERNAL));
  });

  test('grpc-js with gzip compression gets the right answer', async () => {
    const Service = (grpc.loadPackageDefinition(def).inference as any).GRPCInferenceService;
    const gz = new Service(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
    try {
      const res: any = await new Promise((resolve, reject) => gz.ModelInfer({
        model_name: 'iris-logreg',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [6.3, 3.3, 6.0, 2.5] } }],
      }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
      expect(res.outputs.find((o: any) => o.name === 'label').contents.int64_contents).toEqual([2]);
    } finally {
      gz.close();
    }
  });

  test('not gRPC: another content-type is HTTP 415', async () => {
    const res = await raw(INFER, Buffer.from('{}'), { 'content-type': 'application/json' });
    expect(res.httpStatus).toBe(415);
  });
});

test('an unknown method is UNIMPLEMENTED (grpc-js client)', async () => {
  const Generic = grpc.makeGenericClientConstructor({
    Nope: { path: '/inference.GRPCInferenceService/Nope', requestStream: false, responseStream: false, requestSerialize: (x: Buffer) => x, requestDeserialize: (x: Buffer) => x, responseSerialize: (x: Buffer) => x, responseDeserialize: (x: Buffer) => x },
  }, 'Generic');
  const c = new Generic(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as any;
  try {
    const err: any = await new Promise((resolve) => c.Nope(Buffer.alloc(0), (e: unknown) => resolve(e)));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toMatch(/unknown method/);
  } finally {
    c.close();
  }
});

test('grpc-timeout: a call whose message does not arrive in time is DEADLINE_EXCEEDED; a malformed value INTERNAL', async () => {
  const before = await grpcSamples();
  // The request side stays open, so the deadline always fires first.
  const res = await raw(INFER, undefined, { 'grpc-timeout': '50m' });
  expect(res.grpcStatus).toBe(String(grpc.status.DEADLINE_EXCEEDED));
  const bad = await raw(INFER, frame(irisRequest([1, 2, 3, 4])), { 'grpc-timeout': 'soon' });
  expect(bad.grpcStatus).toBe(String(grpc.status.INTERNAL));
  // A generous deadline does not get in the way (grpc-js sends grpc-timeout).
  const ok: any = await new Promise((resolve, reject) => client.ModelInfer({
    model_name: 'iris-logreg',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [5.1, 3.5, 1.4, 0.2] } }],
  }, { deadline: Date.now() + 60_000 }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
  expect(ok.model_name).toBe('iris-logreg');
  const after = await grpcSamples();
  expect(count(after, '', grpc.status.DEADLINE_EXCEEDED) - count(before, '', grpc.status.DEADLINE_EXCEEDED)).toBe(1);
});

test('unit: grpc-timeout parsing and grpc-message encoding', () => {
  expect(parseGrpcTimeout(undefined)).toBeUndefined();
  expect(parseGrpcTimeout('2S')).toBe(2000);
  expect(parseGrpcTimeout('1H')).toBe(3_600_000);
  expect(parseGrpcTimeout('500u')).toBe(0.5);
  expect(parseGrpcTimeout('123456789m')).toBeNaN();
  expect(parseGrpcTimeout('-1S')).toBeNaN();
  expect(encodeGrpcMessage("model 'x' not found")).toBe("model 'x' not found");
  expect(encodeGrpcMessage('100% é\n')).toBe('100%25 %C3%A9%0A');
  expect(decodeURIComponent(encodeGrpcMessage('a,b/c:d%é'))).toBe('a,b/c:d%é');
});

test('ModelInfer calls are counted in /metrics by model and status, and in-flight returns to 0', async () => {
  const before = await grpcSamples();
  const n = 7;
  for (let i = 0; i < n; i++) expect((await raw(INFER, frame(irisRequest([1, 2, 3, i])))).grpcStatus).toBe('0');
  expect((await raw(INFER, frame(encodeRequest({ model_name: 'nope', inputs: [] })))).grpcStatus).toBe(String(grpc.status.NOT_FOUND));
  expect((await raw(INFER, frame(Buffer.from([0xff])))).grpcStatus).toBe(String(grpc.status.INTERNAL));
  const after = await grpcSamples();
  expect(count(after, 'iris-logreg', 0) - count(before, 'iris-logreg', 0)).toBe(n);
  expect(count(after, '_unknown', grpc.status.NOT_FOUND) - count(before, '_unknown', grpc.status.NOT_FOUND)).toBe(1);
  expect(count(after, '', grpc.status.INTERNAL) - count(before, '', grpc.status.INTERNAL)).toBe(1);
  const text = (await request(server.port, 'GET', '/metrics')).text;
  expect(metricSamples(text, 'model_server_requests_in_flight').get('{protocol="grpc"}') ?? 0).toBe(0);
});

test('many concurrent calls (batched by the core) each get their own row\'s outputs', async () => {
  const f = expected('iris-logreg');
  const rows: number[][] = [];
  for (let r = 0; r < 5; r++) rows.push(f.v2_request.inputs[0].data.slice(r * 4, r * 4 + 4));
  const probs = f.outputs.find((o: any) => o.name === 'probabilities').data as number[];
  const labels = f.outputs.find((o: any) => o.name === 'label').data as number[];
  const calls = Array.from({ length: 300 }, (_, i) => i % 5);
  const results = await Promise.all(calls.map((r, i) => new Promise<any>((resolve, reject) => client.ModelInfer({
    model_name: 'iris-logreg',
    id: `c${i}`,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }],
    raw_input_contents: [Buffer.from(Float32Array.from(rows[r]).buffer)],
  }, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))))));
  results.forEach((res, i) => {
    const r = calls[i];
    expect(res.id).toBe(`c${i}`);
    const p = new Float32Array(new Uint8Array(res.raw_output_contents[0]).buffer);
    for (let k = 0; k < 3; k++) expect(Math.abs(p[k] - probs[r * 3 + k])).toBeLessThan(1e-5);
    expect(Number(new BigInt64Array(new Uint8Array(res.raw_output_contents[1]).buffer)[0])).toBe(labels[r]);
  });
});

test('fuzz: random ModelInfer messages always get a gRPC status and never crash the server', async () => {
  const datatypes = ['FP32', 'FP64', 'INT64', 'INT32', 'BOOL', 'BYTES', 'UINT8', 'FP16', 'BF16', ''];
  const tensor = fc.record({
    name: fc.constantFrom('input', 'x', ''),
    datatype: fc.constantFrom(...datatypes),
    shape: fc.array(fc.integer({ min: -2, max: 6 }), { maxLength: 3 }),
    contents: fc.option(fc.record({
      fp32_contents: fc.array(fc.float({ noNaN: true }), { maxLength: 12 }),
      int64_contents: fc.array(fc.integer(), { maxLength: 4 }),
    }), { nil: undefined }),
  });
  const message = fc.oneof(
    fc.record({
      model_name: fc.constantFrom('iris-logreg', 'mlp-wide', 'diabetes-linreg', 'corrupt', 'nope', ''),
      id: fc.string({ maxLength: 5 }),
      inputs: fc.array(tensor, { maxLength: 3 }),
      outputs: fc.array(fc.record({ name: fc.constantFrom('label', 'probabilities', 'zz') }), { maxLength: 2 }),
      raw_input_contents: fc.array(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { maxLength: 2 }),
    }).map((o) => encodeRequest(o)),
    fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
  );
  const codes = new Set<string>();
  await fc.assert(fc.asyncProperty(message, fc.boolean(), async (msg, badPrefix) => {
    const body = frame(msg);
    if (badPrefix && msg.length > 0) body.writeUInt32BE(msg.length + 1, 1);
    const res = await raw(INFER, body);
    expect(res.httpStatus).toBe(200);
    expect(res.grpcStatus).toMatch(/^\d+$/);
    codes.add(res.grpcStatus!);
    if (res.grpcStatus === '0') expect(() => decodeResponse(res.data.subarray(5))).not.toThrow();
  }), seeded({ numRuns: 300, seed: 7 }));
  expect(codes.size).toBeGreaterThan(1);
  // Still serving, and no unexpected-error log lines.
  expect((await raw(INFER, frame(irisRequest([1, 2, 3, 4])))).grpcStatus).toBe('0');
  expect(server.proc.exitCode).toBeNull();
  expect(server.logs.filter((l) => l.event === 'grpc_error')).toEqual([]);
});

test('calls whose inference outlives --request-timeout-ms get a status, and the server stays up', async () => {
  // The core marks a timed-out call cancelled (a setter on the call): this once threw in a timer.
  const s = await startServer(['--model-dir', MODELS, '--mode', 'multi', '--request-timeout-ms', '1']);
  const port = Number(s.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
  const sess = http2.connect(`http://127.0.0.1:${port}`);
  const saved = session;
  session = sess;
  try {
    const answers = await Promise.all(Array.from({ length: 64 }, (_, i) => raw(INFER, frame(irisRequest([1, 2, 3, i])))));
    const codes = new Set(answers.map((a) => a.grpcStatus));
    for (const code of codes) expect([String(grpc.status.OK), String(grpc.status.DEADLINE_EXCEEDED)]).toContain(code);
    await new Promise((r) => setTimeout(r, 100));
    expect(s.proc.exitCode).toBeNull();
    expect((await raw(INFER, frame(irisRequest([1, 2, 3, 4])))).grpcStatus).toMatch(/^\d+$/);
  } finally {
    session = saved;
    sess.destroy();
    await s.stop();
  }
});

test('graceful shutdown: a call in flight finishes, the session gets GOAWAY, the process exits 0', async () => {
  const s = await startServer(['--model-dir', MODELS, '--mode', 'multi', '--shutdown-grace-ms', '5000']);
  const port = Number(s.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
  const sess = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const goaway = new Promise<void>((resolve) => sess.once('goaway', () => resolve()));
    // The request side stays open until after SIGINT: the call is in flight during the drain.
    const stream = sess.request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', 'te': 'trailers' });
    const answer = new Promise<{ status?: string; data: Buffer }>((resolve) => {
      const chunks: Buffer[] = [];
      let status: string | undefined;
      stream.on('trailers', (t) => { status = t['grpc-status'] as string; });
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('close', () => resolve({ status, data: Buffer.concat(chunks) }));
      stream.on('error', () => undefined);
    });
    // A PING ack does not prove the server has the stream (nghttp2 sends PING ahead of HEADERS;
    // a GOAWAY sent before the HEADERS arrive refuses the stream): wait until the call is counted.
    const deadline = Date.now() + 5000;
    while ((metricSamples((await request(s.port, 'GET', '/metrics')).text, 'model_server_requests_in_flight').get('{protocol="grpc"}') ?? 0) < 1) {
      if (Date.now() > deadline) throw new Error('the gRPC call never reached the server');
      await new Promise((r) => setTimeout(r, 10));
    }
    s.proc.kill('SIGINT');
    await goaway;
    stream.end(frame(irisRequest([5.1, 3.5, 1.4, 0.2])));
    const res = await answer;
    expect(res.status).toBe('0');
    expect(decodeResponse(res.data.subarray(5)).model_name).toBe('iris-logreg');
    expect(await s.exited).toBe(0);
  } finally {
    sess.destroy();
    await s.stop();
  }
});
