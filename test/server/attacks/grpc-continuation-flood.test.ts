// Issue 11, section 1: HEADERS without END_HEADERS, then endless zero-length CONTINUATION frames.
// On the hand-written HTTP/2 server each empty fragment was kept (72 MB took RSS from 156 MiB to
// 1.1 GiB; eight connections ended the process). On node:http2 the connection gets a GOAWAY and
// is closed after a few frames, memory stays flat and REST keeps serving.
import { MODELS, RunningServer, startServer } from '../server-harness';
import { connectRaw, errorName, expectStillServing, FRAME, frame, grpcRequestBlock, rssBytes } from './grpc-raw-h2';

let server: RunningServer;
let grpcPort: number;

beforeAll(async () => {
  server = await startServer(['--model-dir', MODELS, '--mode', 'multi']);
  grpcPort = Number(server.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
});
afterAll(async () => {
  await server?.stop();
});

/** 8,192 empty CONTINUATION frames of stream 1 in one 72 KiB buffer. */
const EMPTY_CONTINUATIONS = Buffer.concat(Array.from({ length: 8192 }, () => frame(FRAME.CONTINUATION, 0, 1)));
/** What each connection tries to send before giving up: 9 MiB, 72 MiB over the 8 connections. */
const BYTES_PER_CONNECTION = 9 * 1024 * 1024;

/** Floods one connection until the server closes it (or 9 MiB went out); returns the bytes written. */
async function flood(): Promise<number> {
  const conn = await connectRaw(grpcPort);
  // A request header block that never ends: no END_HEADERS flag.
  await conn.write(frame(FRAME.HEADERS, 0, 1, grpcRequestBlock()));
  let written = 0;
  while (written < BYTES_PER_CONNECTION && await conn.write(EMPTY_CONTINUATIONS)) written += EMPTY_CONTINUATIONS.length;
  conn.socket.destroy();
  await conn.closed;
  return written;
}

test('a header block continued by 100 empty CONTINUATION frames gets a GOAWAY and the connection is closed', async () => {
  const conn = await connectRaw(grpcPort);
  // One write that the server reads whole, so its close is a clean one and the GOAWAY arrives.
  await conn.write(Buffer.concat([frame(FRAME.HEADERS, 0, 1, grpcRequestBlock()), EMPTY_CONTINUATIONS.subarray(0, 100 * 9)]));
  await conn.closed;
  // nghttp2 answers "too many CONTINUATION frames" with INTERNAL_ERROR; other versions may say ENHANCE_YOUR_CALM.
  expect(['INTERNAL_ERROR', 'PROTOCOL_ERROR', 'ENHANCE_YOUR_CALM']).toContain(errorName(conn.goawayCode() ?? -1));
  expect(conn.frames.some((f) => f.type === FRAME.HEADERS)).toBe(false);
});

test('eight connections flooding empty CONTINUATION frames are closed by the server; RSS stays bounded; REST and gRPC keep serving', async () => {
  const pid = server.proc.pid!;
  const before = rssBytes(pid);
  const written = await Promise.all(Array.from({ length: 8 }, flood));
  const after = rssBytes(pid);
  // The server ended each connection long before its 9 MiB (72 MiB in all, what took the old server to 1.1 GiB) were sent.
  for (const w of written) expect(w).toBeLessThan(BYTES_PER_CONNECTION);
  // Generous bound: the old server grew by ~1 GiB; a GOAWAY after a few frames costs next to nothing.
  expect(after - before).toBeLessThan(64 * 1024 * 1024);
  expect(server.proc.exitCode).toBeNull();
  await expectStillServing(server.port, grpcPort);
});
