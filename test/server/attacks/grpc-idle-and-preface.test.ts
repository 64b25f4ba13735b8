// Connections that hold a slot without using it: a client that never sends the HTTP/2 preface is
// closed after --grpc-preface-timeout-ms; a connection with no call and no traffic is closed
// (GOAWAY) after --grpc-idle-timeout-ms, but not while a call is open. Short timeouts through
// the flags; the tests wait for the server's close, they never measure time.
import * as http2 from 'node:http2';
import { MODELS, RunningServer, startServer } from '../server-harness';
import { connectRaw, errorName, expectStillServing, FRAME, sleep } from './grpc-raw-h2';

const INFER = '/inference.GRPCInferenceService/ModelInfer';
const IDLE_MS = 400;
const PREFACE_MS = 300;
let server: RunningServer;
let grpcPort: number;

beforeAll(async () => {
  server = await startServer(['--model-dir', MODELS, '--mode', 'multi', '--grpc-idle-timeout-ms', String(IDLE_MS), '--grpc-preface-timeout-ms', String(PREFACE_MS)]);
  grpcPort = Number(server.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
});
afterAll(async () => {
  await server?.stop();
});

test('a connection that never sends the preface is closed by the server', async () => {
  const conn = await connectRaw(grpcPort, false);
  await conn.closed;
  // Closed by the server: it never got a byte from us.
  expect(conn.socket.bytesWritten).toBe(0);
  await expectStillServing(server.port, grpcPort);
});

test('a connection that sends half the preface and stops is closed too', async () => {
  const conn = await connectRaw(grpcPort, false);
  await conn.write(Buffer.from('PRI * HTTP/2.0\r\n'));
  await conn.closed;
  expect(conn.frames.some((f) => f.type === FRAME.HEADERS)).toBe(false);
});

test('an idle connection (preface and SETTINGS, then nothing) gets a GOAWAY(NO_ERROR) and is closed', async () => {
  const conn = await connectRaw(grpcPort);
  // Acknowledge the server's SETTINGS, as a well-behaved client does, then stay silent.
  await conn.write(Buffer.from([0, 0, 0, FRAME.SETTINGS, 1, 0, 0, 0, 0]));
  await conn.closed;
  expect(errorName(conn.goawayCode() ?? -1)).toBe('NO_ERROR');
});

test('a node:http2 client left idle is told GOAWAY and its session closes', async () => {
  const session = http2.connect(`http://127.0.0.1:${grpcPort}`);
  session.on('error', () => undefined);
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
  const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
  expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
  await closed;
});

test('a call that stays open longer than the idle timeout keeps its connection, and is answered', async () => {
  const session = http2.connect(`http://127.0.0.1:${grpcPort}`);
  session.on('error', () => undefined);
  let goaway = false;
  session.on('goaway', () => { goaway = true; });
  try {
    const stream = session.request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', 'te': 'trailers' });
    const status = new Promise<string | undefined>((resolve) => {
      let s: string | undefined;
      stream.on('response', (h) => { s = (h['grpc-status'] as string | undefined) ?? s; });
      stream.on('trailers', (t) => { s = t['grpc-status'] as string; });
      stream.on('data', () => undefined);
      stream.on('close', () => resolve(s));
      stream.on('error', () => undefined);
    });
    // The request stays open with no traffic for three idle timeouts; the call holds the connection.
    await sleep(3 * IDLE_MS);
    expect(goaway).toBe(false);
    // An empty ModelInferRequest: answered (NOT_FOUND for model ''), over the same connection.
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    expect(await status).toBe('5');
    expect(goaway).toBe(false);
  } finally {
    session.destroy();
  }
});

test('a connection whose calls all ended (answered, or cancelled by the client) is closed once idle', async () => {
  const session = http2.connect(`http://127.0.0.1:${grpcPort}`);
  session.on('error', () => undefined);
  const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
  const call = (cancel: boolean) => new Promise<void>((resolve) => {
    const stream = session.request({ ':method': 'POST', ':path': INFER, 'content-type': 'application/grpc', 'te': 'trailers' });
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    stream.on('close', () => resolve());
    if (cancel) stream.close(http2.constants.NGHTTP2_CANCEL);
    else stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  await Promise.all([call(false), call(true), call(false), call(true)]);
  expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
  session.destroy();
});

test('an HTTP/1.1 request or garbage instead of the preface gets the connection closed; the server keeps serving', async () => {
  for (const bytes of ['GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n\0\0\0\0\0\0\0\0\0']) {
    const conn = await connectRaw(grpcPort, false);
    await conn.write(Buffer.from(bytes));
    await conn.closed;
    expect(conn.frames.some((f) => f.type === FRAME.HEADERS)).toBe(false);
  }
  await expectStillServing(server.port, grpcPort);
});
