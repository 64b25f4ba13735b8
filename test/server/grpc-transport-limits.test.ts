// The HTTP/2 limits of the gRPC transport (src/server/grpc/h2.ts on node:http2), on an
// in-process server with small limits: what it advertises, streams past the concurrency limit,
// header sections past their limit, and the server-wide budget of request bytes in flight.
import * as http2 from 'node:http2';
import { connectRaw, errorName, FLAG, FRAME, frame, grpcRequestBlock } from './attacks/grpc-raw-h2';
import { GRPC_STATUS } from '../../src/server/errors';
import { H2GrpcServer, UnaryMethod } from '../../src/server/grpc/h2';

let server: H2GrpcServer;
let port: number;
const echoLength: UnaryMethod = (unary) => (message) => unary.ok(Buffer.from(String(message.length)));

beforeAll(async () => {
  server = new H2GrpcServer({
    methods: new Map([['/t.S/Len', echoLength]]),
    maxReceiveBytes: 80_000,
    maxSendBytes: 1000,
    maxBufferedBytes: 100_000,
    limits: { maxConcurrentStreams: 2, maxHeaderListBytes: 2048, idleTimeoutMs: 0 },
  });
  port = await server.listen(0, '127.0.0.1');
});
afterAll(async () => {
  await server?.close(100);
});

function connect(): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${port}`);
    s.once('remoteSettings', () => resolve(s));
    s.once('error', reject);
  });
}

interface Answer { status?: string; message?: string; body: Buffer; rstCode?: number }
interface Started { stream: http2.ClientHttp2Stream; answer: Promise<Answer> }

/** A call to /t.S/Len; `body` undefined leaves the request open and returns its stream too. */
function call(s: http2.ClientHttp2Session, body?: Buffer, headers: Record<string, string> = {}): Started {
  const stream = s.request({ ':method': 'POST', ':path': '/t.S/Len', 'content-type': 'application/grpc', 'te': 'trailers', ...headers });
  const answer = new Promise<Answer>((resolve) => {
    const chunks: Buffer[] = [];
    let h: http2.IncomingHttpHeaders = {};
    stream.on('response', (r) => { h = { ...h, ...r }; });
    stream.on('trailers', (t) => { h = { ...h, ...t }; });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.on('close', () => resolve({ status: h['grpc-status'] as string | undefined, message: h['grpc-message'] as string | undefined, body: Buffer.concat(chunks), rstCode: stream.rstCode }));
  });
  if (body) stream.end(body);
  return { stream, answer };
}

const framed = (n: number) => {
  const b = Buffer.alloc(5 + n, 1);
  b[0] = 0;
  b.writeUInt32BE(n, 1);
  return b;
};

test('the server advertises its limits and flow-control window in SETTINGS, and no server push', async () => {
  const s = await connect();
  try {
    expect(s.remoteSettings).toMatchObject({ maxConcurrentStreams: 2, maxHeaderListSize: 2048, initialWindowSize: 1024 * 1024, enablePush: false });
  } finally {
    s.destroy();
  }
});

test('a request message larger than the default 64 KiB window arrives whole', async () => {
  const s = await connect();
  try {
    const r = await call(s, framed(70_000)).answer;
    expect(r.status).toBe('0');
    expect(r.body.subarray(5).toString()).toBe('70000');
  } finally {
    s.destroy();
  }
});

test('a client that respects --grpc-max-concurrent-streams gets every call answered (node:http2 queues the rest)', async () => {
  const s = await connect();
  try {
    // Five calls whose requests stay open: two run, three wait in the client for a free stream.
    const calls = Array.from({ length: 5 }, () => call(s));
    for (const c of calls) c.stream.end(framed(10));
    const answers = await Promise.all(calls.map((c) => c.answer));
    expect(answers.map((a) => a.status)).toEqual(['0', '0', '0', '0', '0']);
  } finally {
    s.destroy();
  }
});

test('a client that opens more streams than advertised loses its connection (GOAWAY); the server keeps serving', async () => {
  const conn = await connectRaw(port);
  // Acknowledge the server's SETTINGS so its limit applies, then open three streams at once.
  await conn.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
  await conn.write(Buffer.concat([1, 3, 5].map((id) => frame(FRAME.HEADERS, FLAG.END_HEADERS, id, grpcRequestBlock('/t.S/Len')))));
  await conn.closed;
  // nghttp2 treats it as a connection error (RFC 9113 §5.1.2 allows a stream or connection error).
  expect(conn.goawayCode()).toBeDefined();
  expect(errorName(conn.goawayCode()!)).not.toBe('NO_ERROR');
  const s = await connect();
  try {
    expect((await call(s, framed(3)).answer).status).toBe('0');
  } finally {
    s.destroy();
  }
});

test('a header section past --grpc-max-header-list-bytes resets that stream; a smaller one is answered', async () => {
  const s = await connect();
  try {
    const small = await call(s, framed(3), { 'x-meta': 'a'.repeat(1000) }).answer;
    expect(small.status).toBe('0');
    const big = await call(s, framed(3), { 'x-meta': 'a'.repeat(3000) }).answer;
    expect(big.status).toBeUndefined();
    expect(big.rstCode).not.toBe(http2.constants.NGHTTP2_NO_ERROR);
    // The connection survives it.
    expect((await call(s, framed(3)).answer).status).toBe('0');
  } finally {
    s.destroy();
  }
});

test('request bytes held by unfinished calls are bounded server-wide: the call that passes the budget is RESOURCE_EXHAUSTED, and the budget is given back', async () => {
  const a = await connect();
  const b = await connect();
  try {
    // Call 1 sends 60,000 of its 70,000 bytes and waits; call 2 (another connection) would pass 100,000.
    const first = call(a);
    first.stream.write(framed(70_000).subarray(0, 60_000));
    while (server.buffered < 60_000) await new Promise((r) => setTimeout(r, 5));
    const second = await call(b, framed(50_000)).answer;
    expect(second.status).toBe(String(GRPC_STATUS.RESOURCE_EXHAUSTED));
    expect(decodeURIComponent(second.message!)).toMatch(/the server holds too many request bytes \(limit 100000\)/);
    // Call 1 completes; everything it held is given back.
    first.stream.end(framed(70_000).subarray(60_000));
    expect((await first.answer).status).toBe('0');
    expect(server.buffered).toBe(0);
    expect((await call(b, framed(50_000)).answer).status).toBe('0');
    expect(server.buffered).toBe(0);
  } finally {
    a.destroy();
    b.destroy();
  }
});

test('--grpc-max-session-memory-bytes: while a large answer waits for a slow reader, new calls on that connection are reset; once read, calls work again', async () => {
  const big = new H2GrpcServer({
    methods: new Map<string, UnaryMethod>([
      ['/t.S/Big', (unary) => () => unary.ok(Buffer.alloc(4 * 1024 * 1024, 7))],
      ['/t.S/Len', echoLength],
    ]),
    maxReceiveBytes: 1000,
    maxSendBytes: 8 * 1024 * 1024,
    limits: { maxSessionMemoryBytes: 1024 * 1024, idleTimeoutMs: 0 },
  });
  const bigPort = await big.listen(0, '127.0.0.1');
  const s = http2.connect(`http://127.0.0.1:${bigPort}`);
  s.on('error', () => undefined);
  try {
    // The first call's 4 MiB answer is not read: it stays queued in the server's session.
    const slow = s.request({ ':method': 'POST', ':path': '/t.S/Big', 'content-type': 'application/grpc', 'te': 'trailers' });
    slow.pause();
    slow.on('error', () => undefined);
    const answered = new Promise<void>((resolve) => slow.once('response', () => resolve()));
    slow.end(framed(0));
    await answered;
    const refused = await call(s, framed(3)).answer;
    expect(refused.status).toBeUndefined();
    expect(refused.rstCode).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    // Reading the large answer frees the session's memory.
    const done = new Promise<void>((resolve) => slow.on('close', () => resolve()));
    slow.resume();
    await done;
    expect((await call(s, framed(3)).answer).status).toBe('0');
  } finally {
    s.destroy();
    await big.close(100);
  }
});
