// The other HTTP/2 attacks the attacker tried (issue 11): rapid reset (CVE-2023-44487),
// SETTINGS and PING floods, and an HPACK bomb (one large header in the dynamic table, referenced
// thousands of times). nghttp2 stops each (GOAWAY, or a reset per stream); the server's RSS stays
// bounded and it keeps serving REST and gRPC. node:http2 leaves a connection open after nghttp2's
// own GOAWAY (rapid reset): the idle timeout (short here, through its flag) closes it.
/* eslint-disable no-bitwise */
import { metricSamples, MODELS, request, RunningServer, startServer } from '../server-harness';
import { connectRaw, errorName, expectStillServing, FLAG, FRAME, frame, grpcRequestBlock, rssBytes } from './grpc-raw-h2';

let server: RunningServer;
let grpcPort: number;
const MIB = 1024 * 1024;
const IDLE_MS = 1000;
/** gRPC calls counted so far, by label set. */
const metrics = async () => {
  const samples = metricSamples((await request(server.port, 'GET', '/metrics')).text, 'model_server_requests_total');
  const total = new Map<string, number>();
  for (const [labels, n] of samples) if (labels.includes('protocol="grpc"')) total.set('{protocol="grpc"}', (total.get('{protocol="grpc"}') ?? 0) + n);
  return total;
};

beforeAll(async () => {
  server = await startServer(['--model-dir', MODELS, '--mode', 'multi', '--grpc-idle-timeout-ms', String(IDLE_MS)]);
  grpcPort = Number(server.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
});
afterAll(async () => {
  await server?.stop();
});

/** What one attack connection saw. */
interface Outcome {
  /** Batches written before the server closed the connection. */
  sent: number;
  /** The first GOAWAY's error code, if it could be read before the close. */
  goaway?: number;
  /** Frames the server sent, by type. */
  received: (type: number, flags?: number) => number;
  /** RST_STREAM codes the server sent. */
  resets: number[];
  /** Server RSS growth over the attack, in bytes. */
  grew: number;
}

/**
 * Writes `batch(0)`, `batch(1)`, ... (`count` of them) on one connection, stopping if the server
 * closes it, then waits until the server has closed it (by its own limits, else the idle timeout).
 */
async function attack(count: number, batch: (i: number) => Buffer): Promise<Outcome> {
  const pid = server.proc.pid!;
  const before = rssBytes(pid);
  const conn = await connectRaw(grpcPort);
  let sent = 0;
  while (sent < count && await conn.write(batch(sent))) sent++;
  await conn.closed;
  const grew = rssBytes(pid) - before;
  return {
    sent,
    goaway: conn.goawayCode(),
    received: (type, flags) => conn.frames.filter((f) => f.type === type && (flags === undefined || f.flags === flags)).length,
    resets: conn.frames.filter((f) => f.type === FRAME.RST_STREAM).map((f) => f.payload.readUInt32BE(0)),
    grew,
  };
}

test('rapid reset: 20,000 streams opened and cancelled at once: the server sends GOAWAY and closes; RSS bounded; still serving', async () => {
  // Batch b: streams 1000b+1, 1000b+3, ... (ids must grow), each HEADERS then RST_STREAM(CANCEL).
  const r = await attack(40, (b) => {
    const frames: Buffer[] = [];
    for (let id = b * 1000 + 1; id < (b + 1) * 1000; id += 2) {
      frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS, id, grpcRequestBlock()), frame(FRAME.RST_STREAM, 0, id, Buffer.from([0, 0, 0, 8])));
    }
    return Buffer.concat(frames);
  });
  // nghttp2's reset rate limit (1000 at once, then 33/s) ends the connection with an error
  // GOAWAY. Node 20 then keeps the socket until the idle timeout, and the GOAWAY is read; Node 24
  // closes it at once, and the close can cut our writes short (and discard the unread GOAWAY).
  if (r.sent === 40) expect(r.goaway).toBeDefined();
  if (r.goaway !== undefined) expect(errorName(r.goaway)).not.toBe('NO_ERROR');
  expect(r.grew).toBeLessThan(64 * MIB);
  await expectStillServing(server.port, grpcPort);
});

test.each([
  ['SETTINGS', frame(FRAME.SETTINGS, 0, 0)],
  ['PING', frame(FRAME.PING, 0, 0, Buffer.alloc(8))],
])('%s flood: of 200,000 frames that each need an ACK, the server acknowledges a fraction and closes; RSS bounded; still serving', async (_name, one) => {
  const batch = Buffer.concat(Array.from({ length: 5000 }, () => one));
  const r = await attack(40, () => batch);
  // nghttp2 stops reading a peer whose ACKs pile up (flood detection) and ends the connection;
  // a server without that protection would acknowledge all 200,000.
  expect(r.received(one[3], FLAG.ACK)).toBeLessThan(100_000);
  if (r.goaway !== undefined) expect(errorName(r.goaway)).not.toBe('NO_ERROR');
  expect(r.grew).toBeLessThan(64 * MIB);
  await expectStillServing(server.port, grpcPort);
});

/** HPACK integer with an n-bit prefix (RFC 7541 §5.1). */
function hpackInt(first: number, n: number, value: number): Buffer {
  const max = (1 << n) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) | 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Buffer.from(out);
}

test('HPACK bomb: 20 requests whose headers decode to 48 MB each are reset before any call runs; RSS bounded; still serving', async () => {
  // Literal with incremental indexing, new name: a 4,000-byte value enters the dynamic table as entry 62.
  const name = Buffer.from('x-bomb');
  const value = Buffer.alloc(4000, 0x61);
  const insert = Buffer.concat([Buffer.from([0x40]), hpackInt(0, 7, name.length), name, hpackInt(0, 7, value.length), value]);
  // 12,000 one-byte references to entry 62 (0xbe): 48 MB of decoded headers from 12 KB.
  const refs = Buffer.alloc(12_000, 0xbe);
  const streams: Buffer[] = [];
  for (let id = 1; id <= 39; id += 2) {
    const block = Buffer.concat([grpcRequestBlock(), id === 1 ? insert : Buffer.alloc(0), refs]);
    streams.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, block));
  }
  const before = (await metrics()).get('{protocol="grpc"}') ?? 0;
  const r = await attack(1, () => Buffer.concat(streams));
  // Every stream was reset (past --grpc-max-header-list-bytes), none answered.
  expect(r.resets.length).toBe(20);
  for (const code of r.resets) expect(errorName(code)).not.toBe('NO_ERROR');
  expect(r.received(FRAME.HEADERS)).toBe(0);
  expect(r.grew).toBeLessThan(64 * MIB);
  // No call was started for any of them.
  expect((await metrics()).get('{protocol="grpc"}') ?? 0).toBe(before);
  await expectStillServing(server.port, grpcPort);
});
