// The lean HTTP/2 server (src/server/grpc/http2/) on loopback sockets: frames written by hand to
// check each RFC 9113 rule the server enforces (settings, ping, flow control both ways,
// CONTINUATION, padding, resets, GOAWAY, connection and stream errors), a fuzz of random frame
// sequences, and interop with the node:http2 and @grpc/grpc-js clients.
/* eslint-disable no-bitwise */
import { createHash, randomBytes } from 'node:crypto';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as fc from 'fast-check';
import { GRPC_STATUS } from '../../src/server/errors';
import { H2GrpcServer, UnaryMethod } from '../../src/server/grpc/h2';
import { CLIENT_PREFACE, ErrorCode, Flag, frame, FrameType, goawayFrame, Limits, Setting, settingsFrame, u32Frame } from '../../src/server/grpc/http2/frames';
import { encodeHeaderBlock, HpackDecoder } from '../../src/server/grpc/http2/hpack';
import { headerValue, RequestHead } from '../../src/server/grpc/http2/request-head';
import { Http2Server, Http2ServerOptions } from '../../src/server/grpc/http2/server';
import { IGNORE_STREAM, ServerStream, StreamHandler } from '../../src/server/grpc/http2/stream';

// --- a test application --------------------------------------------------------------------

const OK_HEAD = encodeHeaderBlock([[':status', '200'], ['content-type', 'application/octet-stream']]);
const TRAILERS = encodeHeaderBlock([['x-end', 'yes']]);

/** What the application saw, for assertions. */
const seen = { aborts: 0, requests: 0 };

/**
 * Routes: /echo answers with the request body (after it ended); /size/N answers N bytes of a
 * pattern as soon as the request ends; /hold never answers (for resets); anything else 404.
 */
function onRequest(stream: ServerStream, head: RequestHead): StreamHandler {
  seen.requests++;
  const chunks: Buffer[] = [];
  if (head.path === '/echo') {
    return {
      data: (c) => chunks.push(Buffer.from(c)),
      end: () => stream.respond(OK_HEAD, Buffer.concat(chunks), TRAILERS),
      abort: () => { seen.aborts++; },
    };
  }
  const size = /^\/size\/(\d+)$/.exec(head.path);
  if (size) {
    return { data: () => undefined, end: () => stream.respond(OK_HEAD, pattern(Number(size[1])), TRAILERS), abort: () => { seen.aborts++; } };
  }
  if (head.path === '/hold') return { data: () => undefined, end: () => undefined, abort: () => { seen.aborts++; } };
  if (head.path === '/big-head') {
    stream.respond(encodeHeaderBlock([[':status', '200'], ['x-big', 'h'.repeat(40_000)]]), undefined, TRAILERS);
    return IGNORE_STREAM;
  }
  if (head.path === '/throw') throw new Error('a bug in the application');
  stream.respond(encodeHeaderBlock([[':status', '404']]));
  return IGNORE_STREAM;
}

const patterns = new Map<number, Buffer>();
function pattern(n: number): Buffer {
  let out = patterns.get(n);
  if (!out) {
    out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = i % 251;
    patterns.set(n, out);
  }
  return out;
}

let server: Http2Server;
let port: number;

async function startServer(options: Partial<Http2ServerOptions> = {}): Promise<{ server: Http2Server; port: number }> {
  const s = new Http2Server({ onRequest, ...options });
  return { server: s, port: await s.listen(0, '127.0.0.1') };
}

beforeAll(async () => {
  ({ server, port } = await startServer());
});

afterAll(async () => {
  await server.close(100);
});

// --- a raw HTTP/2 client -------------------------------------------------------------------

interface Frame { type: number; flags: number; id: number; payload: Buffer }

/** A socket that writes whatever it is given and parses what comes back into frames. */
class RawClient {
  /** Connects; by default sends the preface and an empty SETTINGS frame (plus `settings`). */
  static async connect(p = port, options: { preface?: boolean; settings?: Array<[number, number]> } = {}): Promise<RawClient> {
    const socket = net.connect(p, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new RawClient(socket);
    if (options.preface !== false) client.send(CLIENT_PREFACE, settingsFrame(options.settings ?? []));
    return client;
  }

  public readonly frames: Frame[] = [];
  public closed = false;
  private buf = Buffer.alloc(0);
  private readonly waiters: Array<() => void> = [];
  private readonly decoder = new HpackDecoder();

  private constructor(public readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      while (this.buf.length >= 9) {
        const length = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + length) break;
        const id = this.buf.readUInt32BE(5) & 0x7fffffff;
        this.frames.push({ type: this.buf[3], flags: this.buf[4], id, payload: this.buf.subarray(9, 9 + length) });
        this.buf = this.buf.subarray(9 + length);
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** The first unread frame matching `match` (removed from the list); fails after `ms`. */
  async next(match: (f: Frame) => boolean, ms = 3000): Promise<Frame> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closed) throw new Error(`connection closed; frames left: ${JSON.stringify(this.frames.map((f) => [f.type, f.flags, f.id]))}`);
      if (Date.now() > deadline) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  /** The GOAWAY the server sends, and then the end of the connection. */
  async goaway(): Promise<{ lastStreamId: number; code: number; debug: string }> {
    const f = await this.next((x) => x.type === FrameType.GOAWAY);
    return { lastStreamId: f.payload.readUInt32BE(0), code: f.payload.readUInt32BE(4), debug: f.payload.subarray(8).toString() };
  }

  async closedByServer(ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the server did not close the connection');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** A request's response: head fields, body, trailer fields, how it ended. */
  async response(id: number, ms = 3000): Promise<{ head: string[]; body: Buffer; trailers: string[] }> {
    const first = await this.next((f) => f.id === id && f.type === FrameType.HEADERS, ms);
    const head = this.decodeBlock(first);
    const chunks: Buffer[] = [];
    let trailers: string[] = [];
    if (!(first.flags & Flag.END_STREAM)) {
      for (;;) {
        const f = await this.next((x) => x.id === id && (x.type === FrameType.DATA || x.type === FrameType.HEADERS), ms);
        if (f.type === FrameType.DATA) chunks.push(f.payload);
        else trailers = this.decodeBlock(f);
        if (f.flags & Flag.END_STREAM) break;
      }
    }
    return { head, body: Buffer.concat(chunks), trailers };
  }

  close(): void {
    this.socket.destroy();
  }

  private decodeBlock(f: Frame): string[] {
    const out: string[] = [];
    this.decoder.decode(f.payload, 0, f.payload.length, out);
    return out;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const requestBlock = (path: string, extra: Array<[string, string]> = []) => encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'test'], ...extra]);
const headers = (id: number, block: Buffer, flags: number = Flag.END_HEADERS) => frame(FrameType.HEADERS, flags, id, block);
const data = (id: number, payload: Buffer, flags = 0) => frame(FrameType.DATA, flags, id, payload);
const ping = (payload: Buffer = Buffer.from('12345678'), flags = 0) => frame(FrameType.PING, flags, 0, payload);

/** Expects a connection error: GOAWAY with `code`, then the server closes the socket. */
async function expectConnectionError(client: RawClient, code: number): Promise<void> {
  const g = await client.goaway();
  expect({ code: g.code, debug: g.debug }).toEqual({ code, debug: expect.any(String) });
  await client.closedByServer();
}

/** The server still answers on a new connection. */
async function expectServing(p = port): Promise<void> {
  const c = await RawClient.connect(p);
  try {
    c.send(headers(1, requestBlock('/echo')), data(1, Buffer.from('still here'), Flag.END_STREAM));
    expect((await c.response(1)).body.toString()).toBe('still here');
  } finally {
    c.close();
  }
}

// --- connection basics -----------------------------------------------------------------------

describe('connection preface, SETTINGS and PING', () => {
  test('the server sends its SETTINGS and a connection WINDOW_UPDATE, and acknowledges ours', async () => {
    const c = await RawClient.connect();
    try {
      const settings = await c.next((f) => f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK));
      const values = new Map<number, number>();
      for (let p = 0; p < settings.payload.length; p += 6) values.set(settings.payload.readUInt16BE(p), settings.payload.readUInt32BE(p + 2));
      expect(values.get(Setting.INITIAL_WINDOW_SIZE)).toBe(1024 * 1024);
      expect(values.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(1000);
      expect(values.get(Setting.MAX_HEADER_LIST_SIZE)).toBe(64 * 1024);
      const update = await c.next((f) => f.type === FrameType.WINDOW_UPDATE && f.id === 0);
      expect(update.payload.readUInt32BE(0) + Limits.DEFAULT_WINDOW).toBe(16 * 1024 * 1024);
      const ack = await c.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
      expect(ack.payload.length).toBe(0);
    } finally {
      c.close();
    }
  });

  test('a PING is answered with an ACK carrying the same 8 bytes; a PING ACK is not answered', async () => {
    const c = await RawClient.connect();
    try {
      c.send(ping(Buffer.from('abcdefgh')), ping(Buffer.from('ignored!'), Flag.ACK), ping(Buffer.from('second!!')));
      const first = await c.next((f) => f.type === FrameType.PING);
      expect(first.flags & Flag.ACK).toBe(Flag.ACK);
      expect(first.payload.toString()).toBe('abcdefgh');
      expect((await c.next((f) => f.type === FrameType.PING)).payload.toString()).toBe('second!!');
    } finally {
      c.close();
    }
  });

  test('a preface split over many writes works', async () => {
    const c = await RawClient.connect(port, { preface: false });
    try {
      const all = Buffer.concat([CLIENT_PREFACE, settingsFrame([]), headers(1, requestBlock('/echo')), data(1, Buffer.from('bytewise'), Flag.END_STREAM)]);
      for (let i = 0; i < all.length; i++) {
        c.send(all.subarray(i, i + 1));
        if (i % 16 === 0) await new Promise((r) => setImmediate(r));
      }
      expect((await c.response(1)).body.toString()).toBe('bytewise');
    } finally {
      c.close();
    }
  });
});

describe('requests and responses', () => {
  test('a request body over several DATA frames is echoed; the response has head, body and trailers', async () => {
    const c = await RawClient.connect();
    try {
      c.send(headers(1, requestBlock('/echo')), data(1, Buffer.from('hello ')), data(1, Buffer.from('over ')), data(1, Buffer.from('frames'), Flag.END_STREAM));
      const res = await c.response(1);
      expect(res.head).toEqual([':status', '200', 'content-type', 'application/octet-stream']);
      expect(res.body.toString()).toBe('hello over frames');
      expect(res.trailers).toEqual(['x-end', 'yes']);
    } finally {
      c.close();
    }
  });

  test('CONTINUATION: a header block split over HEADERS and two CONTINUATION frames', async () => {
    const c = await RawClient.connect();
    try {
      const block = requestBlock('/echo', [['x-long', 'v'.repeat(3000)]]);
      c.send(
        headers(1, block.subarray(0, 10), 0),
        frame(FrameType.CONTINUATION, 0, 1, block.subarray(10, 1500)),
        frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(1500)),
        data(1, Buffer.from('continued'), Flag.END_STREAM),
      );
      expect((await c.response(1)).body.toString()).toBe('continued');
    } finally {
      c.close();
    }
  });

  test('padding: padded HEADERS with priority fields and padded DATA; the padding is dropped', async () => {
    const c = await RawClient.connect();
    try {
      const block = requestBlock('/echo');
      // Pad length 7, stream dependency 0 (exclusive bit set), weight 16, the block, 7 bytes of padding.
      const headersPayload = Buffer.concat([Buffer.from([7, 0x80, 0, 0, 0, 16]), block, Buffer.alloc(7)]);
      c.send(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED | Flag.PRIORITY, 1, headersPayload));
      c.send(frame(FrameType.DATA, Flag.PADDED, 1, Buffer.concat([Buffer.from([3]), Buffer.from('pad'), Buffer.alloc(3, 0xee)])));
      // Only padding: an empty body chunk.
      c.send(frame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([4, 1, 2, 3, 4])));
      c.send(frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, Buffer.concat([Buffer.from([0]), Buffer.from('ded')])));
      expect((await c.response(1)).body.toString()).toBe('padded');
    } finally {
      c.close();
    }
  });

  test('PRIORITY frames are accepted and ignored; unknown frame types too', async () => {
    const c = await RawClient.connect();
    try {
      c.send(frame(FrameType.PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])), frame(FrameType.PRIORITY, 0, 9, Buffer.from([0, 0, 0, 3, 16])));
      c.send(frame(0x42, 0xff, 1, Buffer.from('whatever')));
      c.send(headers(1, requestBlock('/echo')), data(1, Buffer.from('ok'), Flag.END_STREAM));
      expect((await c.response(1)).body.toString()).toBe('ok');
    } finally {
      c.close();
    }
  });

  test('a response header block larger than the client\'s frame size goes out as HEADERS + CONTINUATION', async () => {
    const c = await RawClient.connect();
    try {
      c.send(headers(1, requestBlock('/big-head'), Flag.END_HEADERS | Flag.END_STREAM));
      const first = await c.next((f) => f.id === 1);
      expect({ type: first.type, endHeaders: first.flags & Flag.END_HEADERS, length: first.payload.length })
        .toEqual({ type: FrameType.HEADERS, endHeaders: 0, length: 16384 });
      const parts = [first.payload];
      let f: Frame;
      do {
        f = await c.next((x) => x.id === 1);
        expect(f.type).toBe(FrameType.CONTINUATION);
        parts.push(f.payload);
      } while (!(f.flags & Flag.END_HEADERS));
      const fields: string[] = [];
      new HpackDecoder().decode(Buffer.concat(parts), 0, Buffer.concat(parts).length, fields);
      expect(fields).toEqual([':status', '200', 'x-big', 'h'.repeat(40_000)]);
      const trailers = await c.next((x) => x.id === 1);
      expect({ type: trailers.type, flags: trailers.flags }).toEqual({ type: FrameType.HEADERS, flags: Flag.END_HEADERS | Flag.END_STREAM });
    } finally {
      c.close();
    }
  });

  test('request trailers end the request', async () => {
    const c = await RawClient.connect();
    try {
      c.send(headers(1, requestBlock('/echo')), data(1, Buffer.from('with trailers')));
      c.send(headers(1, encodeHeaderBlock([['x-checksum', 'abc']]), Flag.END_HEADERS | Flag.END_STREAM));
      expect((await c.response(1)).body.toString()).toBe('with trailers');
    } finally {
      c.close();
    }
  });

  test('an answer before the request ended is followed by RST_STREAM(NO_ERROR); later DATA is ignored', async () => {
    const c = await RawClient.connect();
    try {
      c.send(headers(1, requestBlock('/nope')), data(1, Buffer.from('more to come')));
      const res = await c.response(1);
      expect(res.head).toEqual([':status', '404']);
      const rst = await c.next((f) => f.type === FrameType.RST_STREAM && f.id === 1);
      expect(rst.payload.readUInt32BE(0)).toBe(ErrorCode.NO_ERROR);
      c.send(data(1, Buffer.from('late'), Flag.END_STREAM), ping());
      await c.next((f) => f.type === FrameType.PING);
      expect(c.frames.filter((f) => f.type === FrameType.RST_STREAM || f.type === FrameType.GOAWAY)).toEqual([]);
    } finally {
      c.close();
    }
  });

  test('RST_STREAM from the client mid-call aborts that call only', async () => {
    const c = await RawClient.connect();
    try {
      const aborts = seen.aborts;
      c.send(headers(1, requestBlock('/hold')), data(1, Buffer.from('partial')));
      c.send(headers(3, requestBlock('/echo')), data(3, Buffer.from('other')));
      c.send(u32Frame(FrameType.RST_STREAM, 1, ErrorCode.CANCEL));
      c.send(data(3, Buffer.from(' call'), Flag.END_STREAM));
      expect((await c.response(3)).body.toString()).toBe('other call');
      expect(seen.aborts).toBe(aborts + 1);
      // Frames on the reset stream that were already in flight are ignored.
      c.send(data(1, Buffer.from('in flight')), u32Frame(FrameType.WINDOW_UPDATE, 1, 100), ping());
      await c.next((f) => f.type === FrameType.PING);
      expect(c.frames.filter((f) => f.type === FrameType.GOAWAY)).toEqual([]);
    } finally {
      c.close();
    }
  });

  test('a client that disconnects mid-call aborts its calls', async () => {
    const aborts = seen.aborts;
    const c = await RawClient.connect();
    c.send(headers(1, requestBlock('/hold')), headers(3, requestBlock('/hold')));
    c.send(ping());
    await c.next((f) => f.type === FrameType.PING);
    c.close();
    const deadline = Date.now() + 3000;
    while (seen.aborts < aborts + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(seen.aborts).toBe(aborts + 2);
  });
});

// --- flow control ----------------------------------------------------------------------------

describe('flow control', () => {
  test('a response larger than the client\'s stream window waits for WINDOW_UPDATE, then completes', async () => {
    const c = await RawClient.connect(port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 100]] });
    try {
      c.send(headers(1, requestBlock('/size/1000'), Flag.END_HEADERS | Flag.END_STREAM));
      await c.next((f) => f.type === FrameType.HEADERS && f.id === 1);
      const first = await c.next((f) => f.type === FrameType.DATA && f.id === 1);
      expect(first.payload.length).toBe(100);
      c.send(ping());
      await c.next((f) => f.type === FrameType.PING);
      expect(c.frames.filter((f) => f.id === 1)).toEqual([]);
      c.send(u32Frame(FrameType.WINDOW_UPDATE, 1, 900));
      const chunks = [first.payload];
      let f: Frame;
      do {
        f = await c.next((x) => x.id === 1 && (x.type === FrameType.DATA || x.type === FrameType.HEADERS));
        if (f.type === FrameType.DATA) chunks.push(f.payload);
      } while (!(f.flags & Flag.END_STREAM));
      expect(f.type).toBe(FrameType.HEADERS);
      expect(Buffer.concat(chunks)).toEqual(pattern(1000));
    } finally {
      c.close();
    }
  });

  test('the connection window holds a response back too, and a SETTINGS window increase releases a stream', async () => {
    const c = await RawClient.connect(port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
    try {
      c.send(headers(1, requestBlock('/size/100000'), Flag.END_HEADERS | Flag.END_STREAM));
      await c.next((f) => f.type === FrameType.HEADERS && f.id === 1);
      c.send(ping());
      await c.next((f) => f.type === FrameType.PING);
      expect(c.frames.filter((f) => f.type === FrameType.DATA)).toEqual([]);
      // Stream window 1 MiB: now the connection window (65535) is the limit.
      c.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1 << 20]]));
      let received = 0;
      while (received < Limits.DEFAULT_WINDOW) {
        const f = await c.next((x) => x.type === FrameType.DATA);
        expect(f.payload.length).toBeLessThanOrEqual(16384);
        received += f.payload.length;
      }
      expect(received).toBe(Limits.DEFAULT_WINDOW);
      c.send(u32Frame(FrameType.WINDOW_UPDATE, 0, 100000));
      let f: Frame;
      do {
        f = await c.next((x) => x.id === 1 && (x.type === FrameType.DATA || x.type === FrameType.HEADERS));
        if (f.type === FrameType.DATA) received += f.payload.length;
      } while (!(f.flags & Flag.END_STREAM));
      expect(received).toBe(100000);
    } finally {
      c.close();
    }
  });

  test('streams released by a SETTINGS window increase share the connection window, and all finish after WINDOW_UPDATE', async () => {
    const c = await RawClient.connect(port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
    try {
      for (const id of [1, 3, 5]) c.send(headers(id, requestBlock('/size/40000'), Flag.END_HEADERS | Flag.END_STREAM));
      for (const id of [1, 3, 5]) await c.next((f) => f.type === FrameType.HEADERS && f.id === id);
      c.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1 << 20]]), ping());
      await c.next((f) => f.type === FrameType.PING);
      const sent = (id: number) => c.frames.filter((f) => f.type === FrameType.DATA && f.id === id).reduce((n, f) => n + f.payload.length, 0);
      // 65535 bytes of connection window: stream 1 gets its 40000, stream 3 the rest, stream 5 waits.
      expect([sent(1), sent(3), sent(5)]).toEqual([40000, Limits.DEFAULT_WINDOW - 40000, 0]);
      c.send(u32Frame(FrameType.WINDOW_UPDATE, 0, 100000));
      for (const id of [3, 5]) await c.next((f) => f.type === FrameType.HEADERS && f.id === id && (f.flags & Flag.END_STREAM) !== 0);
      expect([sent(1), sent(3), sent(5)]).toEqual([40000, 40000, 40000]);
    } finally {
      c.close();
    }
  });

  test('DATA frames follow the client\'s SETTINGS_MAX_FRAME_SIZE', async () => {
    const c = await RawClient.connect(port, { settings: [[Setting.MAX_FRAME_SIZE, 40_000], [Setting.INITIAL_WINDOW_SIZE, 1 << 20]] });
    try {
      c.send(u32Frame(FrameType.WINDOW_UPDATE, 0, 1 << 20));
      await c.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
      c.send(headers(1, requestBlock('/size/100000'), Flag.END_HEADERS | Flag.END_STREAM));
      await c.next((f) => f.type === FrameType.HEADERS && f.id === 1);
      const sizes: number[] = [];
      for (let n = 0; n < 100000;) {
        const f = await c.next((x) => x.type === FrameType.DATA);
        sizes.push(f.payload.length);
        n += f.payload.length;
      }
      expect(sizes).toEqual([40_000, 40_000, 20_000]);
    } finally {
      c.close();
    }
  });

  test('large request bodies work because the server gives credit back (raw frames, 3 MiB)', async () => {
    const c = await RawClient.connect();
    try {
      await c.next((f) => f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK));
      const body = randomBytes(3 * 1024 * 1024);
      c.send(headers(1, requestBlock('/echo')));
      // The client may send 1 MiB on the stream before it needs the server's WINDOW_UPDATE.
      let window = 1024 * 1024;
      let sent = 0;
      while (sent < body.length) {
        while (window <= 0) {
          const u = await c.next((f) => f.type === FrameType.WINDOW_UPDATE && f.id === 1);
          window += u.payload.readUInt32BE(0);
        }
        const n = Math.min(16384, window, body.length - sent);
        c.send(data(1, body.subarray(sent, sent + n), sent + n === body.length ? Flag.END_STREAM : 0));
        sent += n;
        window -= n;
      }
      c.send(u32Frame(FrameType.WINDOW_UPDATE, 0, 64 * 1024 * 1024), u32Frame(FrameType.WINDOW_UPDATE, 1, 64 * 1024 * 1024));
      const res = await c.response(1, 10_000);
      expect(res.body.length).toBe(body.length);
      expect(res.body.equals(body)).toBe(true);
    } finally {
      c.close();
    }
  });

  test('node:http2 client: 20 MiB up and down (more than the connection window) and many concurrent streams', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const call = (path: string, body: Buffer) => new Promise<Buffer>((resolve, reject) => {
        const s = session.request({ ':method': 'POST', ':path': path });
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => resolve(Buffer.concat(chunks)));
        s.on('error', reject);
        s.end(body);
      });
      const big = randomBytes(20 * 1024 * 1024);
      const echoed = await call('/echo', big);
      expect(createHash('sha256').update(echoed).digest('hex')).toBe(createHash('sha256').update(big).digest('hex'));
      const many = await Promise.all(Array.from({ length: 200 }, (_, i) => call('/echo', Buffer.from(`call ${i}`))));
      many.forEach((b, i) => expect(b.toString()).toBe(`call ${i}`));
      expect((await call('/size/300000', Buffer.alloc(0))).equals(pattern(300000))).toBe(true);
    } finally {
      session.close();
    }
  });
});

// --- errors ----------------------------------------------------------------------------------

describe('connection errors: GOAWAY with the code, the connection closes, the server keeps serving', () => {
  const cases: Array<[string, number, (c: RawClient) => void, boolean?]> = [
    ['an invalid preface (an HTTP/1.1 request)', ErrorCode.PROTOCOL_ERROR, (c) => c.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), false],
    ['a first frame that is not SETTINGS', ErrorCode.PROTOCOL_ERROR, (c) => c.send(CLIENT_PREFACE, ping()), false],
    ['DATA on stream 0', ErrorCode.PROTOCOL_ERROR, (c) => c.send(data(0, Buffer.from('x')))],
    ['DATA on an idle stream', ErrorCode.PROTOCOL_ERROR, (c) => c.send(data(5, Buffer.from('x')))],
    ['a frame larger than SETTINGS_MAX_FRAME_SIZE', ErrorCode.FRAME_SIZE_ERROR, (c) => c.send(headers(1, requestBlock('/echo')), data(1, Buffer.alloc(16385)))],
    ['HEADERS on an even stream id', ErrorCode.PROTOCOL_ERROR, (c) => c.send(headers(2, requestBlock('/echo')))],
    ['HEADERS on stream 0', ErrorCode.PROTOCOL_ERROR, (c) => c.send(headers(0, requestBlock('/echo')))],
    ['HPACK garbage', ErrorCode.COMPRESSION_ERROR, (c) => c.send(headers(1, Buffer.from([0x80, 0xff, 0xff])))],
    ['an HPACK index outside the table', ErrorCode.COMPRESSION_ERROR, (c) => c.send(headers(1, Buffer.from([0xff, 0x7f])))],
    ['a frame between HEADERS and its CONTINUATION', ErrorCode.PROTOCOL_ERROR, (c) => c.send(headers(1, requestBlock('/echo'), 0), ping())],
    ['CONTINUATION on another stream', ErrorCode.PROTOCOL_ERROR, (c) => c.send(headers(1, requestBlock('/echo'), 0), frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, Buffer.alloc(0)))],
    ['CONTINUATION without HEADERS', ErrorCode.PROTOCOL_ERROR, (c) => c.send(frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, requestBlock('/echo')))],
    ['an endless header block (CONTINUATION flood)', ErrorCode.COMPRESSION_ERROR, (c) => {
      c.send(headers(1, Buffer.alloc(16384, 0x82), 0));
      for (let i = 0; i < 10; i++) c.send(frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16384, 0x82)));
    }],
    ['DATA padding longer than the frame', ErrorCode.PROTOCOL_ERROR, (c) => c.send(headers(1, requestBlock('/echo')), frame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([5, 1, 2])))],
    ['HEADERS padding longer than the frame', ErrorCode.PROTOCOL_ERROR, (c) => c.send(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PADDED, 1, Buffer.from([200, 0x82])))],
    ['PING on a stream', ErrorCode.PROTOCOL_ERROR, (c) => c.send(frame(FrameType.PING, 0, 1, Buffer.alloc(8)))],
    ['PING of the wrong length', ErrorCode.FRAME_SIZE_ERROR, (c) => c.send(frame(FrameType.PING, 0, 0, Buffer.alloc(7)))],
    ['SETTINGS of a length not a multiple of 6', ErrorCode.FRAME_SIZE_ERROR, (c) => c.send(frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5)))],
    ['SETTINGS ACK with a payload', ErrorCode.FRAME_SIZE_ERROR, (c) => c.send(frame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(6)))],
    ['SETTINGS on a stream', ErrorCode.PROTOCOL_ERROR, (c) => c.send(frame(FrameType.SETTINGS, 0, 1))],
    ['SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1', ErrorCode.FLOW_CONTROL_ERROR, (c) => c.send(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0x80000000]]))],
    ['SETTINGS_MAX_FRAME_SIZE below 16384', ErrorCode.PROTOCOL_ERROR, (c) => c.send(settingsFrame([[Setting.MAX_FRAME_SIZE, 100]]))],
    ['SETTINGS_ENABLE_PUSH of 2', ErrorCode.PROTOCOL_ERROR, (c) => c.send(settingsFrame([[Setting.ENABLE_PUSH, 2]]))],
    ['WINDOW_UPDATE of 0 on the connection', ErrorCode.PROTOCOL_ERROR, (c) => c.send(u32Frame(FrameType.WINDOW_UPDATE, 0, 0))],
    ['a connection window above 2^31-1', ErrorCode.FLOW_CONTROL_ERROR, (c) => c.send(u32Frame(FrameType.WINDOW_UPDATE, 0, 0x7fffffff))],
    ['WINDOW_UPDATE of the wrong length', ErrorCode.FRAME_SIZE_ERROR, (c) => c.send(frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.alloc(3)))],
    ['WINDOW_UPDATE on an idle stream', ErrorCode.PROTOCOL_ERROR, (c) => c.send(u32Frame(FrameType.WINDOW_UPDATE, 7, 1))],
    ['RST_STREAM on stream 0', ErrorCode.PROTOCOL_ERROR, (c) => c.send(u32Frame(FrameType.RST_STREAM, 0, 0))],
    ['RST_STREAM on an idle stream', ErrorCode.PROTOCOL_ERROR, (c) => c.send(u32Frame(FrameType.RST_STREAM, 1, 0))],
    ['RST_STREAM of the wrong length', ErrorCode.FRAME_SIZE_ERROR, (c) => c.send(headers(1, requestBlock('/hold')), frame(FrameType.RST_STREAM, 0, 1, Buffer.alloc(5)))],
    ['PUSH_PROMISE from a client', ErrorCode.PROTOCOL_ERROR, (c) => c.send(frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)))],
    ['PRIORITY on stream 0', ErrorCode.PROTOCOL_ERROR, (c) => c.send(frame(FrameType.PRIORITY, 0, 0, Buffer.alloc(5)))],
    ['GOAWAY on a stream', ErrorCode.PROTOCOL_ERROR, (c) => c.send(frame(FrameType.GOAWAY, 0, 1, Buffer.alloc(8)))],
    ['a SETTINGS_INITIAL_WINDOW_SIZE change that overflows an open stream\'s window', ErrorCode.FLOW_CONTROL_ERROR, (c) => c.send(
      headers(1, requestBlock('/hold')), u32Frame(FrameType.WINDOW_UPDATE, 1, 0x7fffffff - Limits.DEFAULT_WINDOW), settingsFrame([[Setting.INITIAL_WINDOW_SIZE, Limits.DEFAULT_WINDOW + 1]]))],
    ['an application that throws (a bug): INTERNAL_ERROR for that connection only', ErrorCode.INTERNAL_ERROR, (c) => c.send(headers(1, requestBlock('/throw')))],
  ];

  test.each(cases)('%s', async (_name, code, send, preface = true) => {
    const c = await RawClient.connect(port, { preface });
    try {
      send(c);
      await expectConnectionError(c, code);
    } finally {
      c.close();
    }
    await expectServing();
  });

  test('HEADERS on a stream id below the last one (a closed stream) is ignored', async () => {
    const c = await RawClient.connect();
    try {
      c.send(headers(5, requestBlock('/echo')), data(5, Buffer.from('five'), Flag.END_STREAM));
      expect((await c.response(5)).body.toString()).toBe('five');
      // Stream 3 was skipped (it is closed now): a HEADERS there is ignored, the connection lives.
      c.send(headers(3, requestBlock('/echo'), Flag.END_HEADERS | Flag.END_STREAM), ping());
      await c.next((f) => f.type === FrameType.PING);
      expect(c.frames.filter((f) => f.id === 3 || f.type === FrameType.GOAWAY)).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('stream errors: RST_STREAM on that stream, the connection goes on', () => {
  const cases: Array<[string, number, Buffer[]]> = [
    ['an uppercase field name', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/echo', [['X-Upper', '1']]))]],
    ['a missing :path', ErrorCode.PROTOCOL_ERROR, [headers(1, encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http']]))]],
    ['an unknown pseudo-header field', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/echo', [[':protocol', 'websocket']]))]],
    ['a pseudo-header field after a regular one', ErrorCode.PROTOCOL_ERROR, [headers(1, encodeHeaderBlock([[':method', 'POST'], ['x', '1'], [':scheme', 'http'], [':path', '/echo']]))]],
    ['a connection-specific field', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/echo', [['connection', 'keep-alive']]))]],
    ['te other than trailers', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/echo', [['te', 'gzip']]))]],
    ['a value with a line feed', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/echo', [['x-bad', 'a\nb']]))]],
    ['a body longer than content-length', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/hold', [['content-length', '2']])), data(1, Buffer.from('abc'))]],
    ['a body shorter than content-length', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/hold', [['content-length', '5']])), data(1, Buffer.from('abc'), Flag.END_STREAM)]],
    ['DATA after END_STREAM', ErrorCode.STREAM_CLOSED, [headers(1, requestBlock('/hold'), Flag.END_HEADERS | Flag.END_STREAM), data(1, Buffer.from('late'))]],
    ['trailers without END_STREAM', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/hold')), headers(1, encodeHeaderBlock([['x', 'y']]))]],
    ['trailers with a pseudo-header field', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/hold')), headers(1, encodeHeaderBlock([[':path', '/x']]), Flag.END_HEADERS | Flag.END_STREAM)]],
    ['a stream that depends on itself', ErrorCode.PROTOCOL_ERROR, [frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.PRIORITY, 1, Buffer.concat([Buffer.from([0, 0, 0, 1, 16]), requestBlock('/echo')]))]],
    ['a PRIORITY frame of the wrong length', ErrorCode.FRAME_SIZE_ERROR, [headers(1, requestBlock('/hold')), frame(FrameType.PRIORITY, 0, 1, Buffer.alloc(4))]],
    ['WINDOW_UPDATE of 0 on a stream', ErrorCode.PROTOCOL_ERROR, [headers(1, requestBlock('/hold')), u32Frame(FrameType.WINDOW_UPDATE, 1, 0)]],
    ['a stream window above 2^31-1', ErrorCode.FLOW_CONTROL_ERROR, [headers(1, requestBlock('/hold')), u32Frame(FrameType.WINDOW_UPDATE, 1, 0x7fffffff)]],
  ];

  test.each(cases)('%s', async (_name, code, frames) => {
    const c = await RawClient.connect();
    try {
      c.send(...frames);
      const rst = await c.next((f) => f.type === FrameType.RST_STREAM && f.id === 1);
      expect(rst.payload.readUInt32BE(0)).toBe(code);
      c.send(headers(3, requestBlock('/echo')), data(3, Buffer.from('next'), Flag.END_STREAM));
      expect((await c.response(3)).body.toString()).toBe('next');
    } finally {
      c.close();
    }
  });

  test('a header list above SETTINGS_MAX_HEADER_LIST_SIZE gets 431', async () => {
    const c = await RawClient.connect();
    try {
      const block = requestBlock('/echo', Array.from({ length: 10 }, (_, i): [string, string] => [`x-big-${i}`, 'v'.repeat(8000)]));
      c.send(headers(1, block.subarray(0, 16000), 0));
      for (let p = 16000; p < block.length; p += 16000) {
        c.send(frame(FrameType.CONTINUATION, p + 16000 >= block.length ? Flag.END_HEADERS : 0, 1, block.subarray(p, p + 16000)));
      }
      const res = await c.response(1);
      expect(res.head).toEqual([':status', '431']);
      c.send(headers(3, requestBlock('/echo')), data(3, Buffer.from('fine'), Flag.END_STREAM));
      expect((await c.response(3)).body.toString()).toBe('fine');
    } finally {
      c.close();
    }
  });
});

describe('limits', () => {
  test('streams above SETTINGS_MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM', async () => {
    const small = await startServer({ maxConcurrentStreams: 2 });
    const c = await RawClient.connect(small.port);
    try {
      c.send(headers(1, requestBlock('/hold')), headers(3, requestBlock('/hold')), headers(5, requestBlock('/echo')));
      const rst = await c.next((f) => f.type === FrameType.RST_STREAM);
      expect({ id: rst.id, code: rst.payload.readUInt32BE(0) }).toEqual({ id: 5, code: ErrorCode.REFUSED_STREAM });
      // Once one ends, a new stream fits again.
      c.send(u32Frame(FrameType.RST_STREAM, 1, ErrorCode.CANCEL));
      c.send(headers(7, requestBlock('/echo')), data(7, Buffer.from('room'), Flag.END_STREAM));
      expect((await c.response(7)).body.toString()).toBe('room');
    } finally {
      c.close();
      await small.server.close(100);
    }
  });

  test('request bytes held by one connection are bounded: ENHANCE_YOUR_CALM on the stream that goes over', async () => {
    const small = await startServer({ maxBufferedBytes: 100_000 });
    const c = await RawClient.connect(small.port);
    try {
      c.send(headers(1, requestBlock('/hold')));
      for (let i = 0; i < 7; i++) c.send(data(1, Buffer.alloc(16000)));
      const rst = await c.next((f) => f.type === FrameType.RST_STREAM);
      expect({ id: rst.id, code: rst.payload.readUInt32BE(0) }).toEqual({ id: 1, code: ErrorCode.ENHANCE_YOUR_CALM });
      // The bytes are released with the stream.
      c.send(headers(3, requestBlock('/echo')));
      for (let i = 0; i < 6; i++) c.send(data(3, Buffer.alloc(10_000, 0x61), i === 5 ? Flag.END_STREAM : 0));
      expect((await c.response(3)).body.length).toBe(60_000);
    } finally {
      c.close();
      await small.server.close(100);
    }
  });

  test('rapid reset: a client that opens and resets streams without end gets GOAWAY(ENHANCE_YOUR_CALM)', async () => {
    const c = await RawClient.connect();
    try {
      const frames: Buffer[] = [];
      for (let id = 1; id < 2 * 1500; id += 2) frames.push(headers(id, requestBlock('/hold')), u32Frame(FrameType.RST_STREAM, id, ErrorCode.CANCEL));
      c.send(...frames);
      await expectConnectionError(c, ErrorCode.ENHANCE_YOUR_CALM);
    } finally {
      c.close();
    }
    await expectServing();
  });

  test('a client that never reads makes the server stop reading (bounded output)', async () => {
    const small = await startServer({ writeHighWaterMark: 64 * 1024 });
    const c = await RawClient.connect(small.port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0x7fffffff]] });
    try {
      c.send(u32Frame(FrameType.WINDOW_UPDATE, 0, 0x7fffffff - Limits.DEFAULT_WINDOW));
      await c.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
      c.socket.pause();
      const before = seen.requests;
      // 100 requests for 1 MB each, one every 10 ms: far more than the socket buffers take.
      for (let id = 1; id < 200; id += 2) {
        c.send(headers(id, requestBlock('/size/1000000'), Flag.END_HEADERS | Flag.END_STREAM));
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, 200));
      const started = seen.requests - before;
      expect(started).toBeGreaterThan(0);
      expect(started).toBeLessThan(50);
      c.socket.resume();
      for (let id = 1; id < 200; id += 2) {
        const res = await c.response(id, 20_000);
        expect(res.body.length).toBe(1_000_000);
      }
    } finally {
      c.close();
      await small.server.close(100);
    }
  }, 60_000);
});

// --- graceful close --------------------------------------------------------------------------

describe('graceful close', () => {
  test('GOAWAY with the highest id and a PING; after the ACK, GOAWAY with the last stream; in-flight calls finish', async () => {
    const s = await startServer();
    const c = await RawClient.connect(s.port);
    try {
      c.send(headers(1, requestBlock('/echo')), data(1, Buffer.from('in ')));
      c.send(ping());
      await c.next((f) => f.type === FrameType.PING);
      const closed = s.server.close(5000);
      const first = await c.goaway();
      expect(first).toEqual({ lastStreamId: Limits.MAX_STREAM_ID, code: ErrorCode.NO_ERROR, debug: '' });
      const probe = await c.next((f) => f.type === FrameType.PING && !(f.flags & Flag.ACK));
      // A stream the client opened before it saw the GOAWAY is still served.
      c.send(headers(3, requestBlock('/echo')), data(3, Buffer.from('three'), Flag.END_STREAM));
      c.send(ping(probe.payload, Flag.ACK));
      const second = await c.goaway();
      expect(second).toEqual({ lastStreamId: 3, code: ErrorCode.NO_ERROR, debug: '' });
      // Streams after the final GOAWAY are ignored.
      c.send(headers(5, requestBlock('/echo'), Flag.END_HEADERS | Flag.END_STREAM));
      expect((await c.response(3)).body.toString()).toBe('three');
      c.send(data(1, Buffer.from('flight'), Flag.END_STREAM));
      expect((await c.response(1)).body.toString()).toBe('in flight');
      await c.closedByServer();
      expect(c.frames.filter((f) => f.id === 5)).toEqual([]);
      await closed;
    } finally {
      c.close();
    }
  });

  test('after the grace period, connections left are destroyed', async () => {
    const s = await startServer();
    const c = await RawClient.connect(s.port);
    c.send(headers(1, requestBlock('/hold')));
    await c.next((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0);
    const started = Date.now();
    await s.server.close(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    await c.closedByServer();
  });

  test('a connection that has not sent its preface yet gets GOAWAY and is closed', async () => {
    const s = await startServer();
    const c = await RawClient.connect(s.port, { preface: false });
    try {
      await c.next((f) => f.type === FrameType.SETTINGS);
      const closed = s.server.close(5000);
      expect(await c.goaway()).toEqual({ lastStreamId: 0, code: ErrorCode.NO_ERROR, debug: '' });
      await c.closedByServer();
      await closed;
    } finally {
      c.close();
    }
  });

  test('a client GOAWAY: open streams finish, then the server closes', async () => {
    const c = await RawClient.connect();
    c.send(headers(1, requestBlock('/echo')), goawayFrame(0, ErrorCode.NO_ERROR), data(1, Buffer.from('bye'), Flag.END_STREAM));
    expect((await c.response(1)).body.toString()).toBe('bye');
    await c.closedByServer();
  });
});

// --- fuzz ------------------------------------------------------------------------------------

test('fuzz: random frame sequences never crash the server; it answers PING or closes, and keeps serving', async () => {
  const id = fc.oneof(fc.constantFrom(0, 1, 2, 3, 5, 7), fc.integer({ min: 0, max: 0x7fffffff }));
  const anyFrame = fc.record({
    type: fc.integer({ min: 0, max: 11 }),
    flags: fc.integer({ min: 0, max: 255 }),
    id,
    payload: fc.uint8Array({ maxLength: 40 }),
  })
    .map((f) => frame(f.type, f.flags, f.id, f.payload));
  const goodFrame = fc.oneof(
    fc.constantFrom(1, 3, 5, 7).map((i) => headers(i, requestBlock('/echo'))),
    fc.constantFrom(1, 3, 5, 7).map((i) => headers(i, requestBlock('/size/70000'), Flag.END_HEADERS | Flag.END_STREAM)),
    fc.tuple(fc.constantFrom(1, 3, 5, 7), fc.boolean()).map(([i, end]) => data(i, Buffer.from('data'), end ? Flag.END_STREAM : 0)),
    fc.constantFrom(1, 3, 5, 7).map((i) => u32Frame(FrameType.WINDOW_UPDATE, i, 1000)),
    fc.constantFrom(1, 3, 5, 7).map((i) => u32Frame(FrameType.RST_STREAM, i, ErrorCode.CANCEL)),
    fc.constant(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 10]])),
    fc.constant(ping()),
  );
  const s = await startServer();
  const outcomes = { acked: 0, closed: 0 };
  try {
    await fc.assert(fc.asyncProperty(fc.array(fc.oneof(anyFrame, goodFrame), { maxLength: 12 }), async (frames) => {
      const c = await RawClient.connect(s.port);
      try {
        c.send(...frames, ping(Buffer.from('fuzzdone')));
        const isAck = (f: Frame) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.toString() === 'fuzzdone';
        const ack = await c.next(isAck, 3000).catch(() => undefined);
        if (ack) {
          outcomes.acked++;
          return;
        }
        // No answer to the PING: the server must have closed the connection (after a GOAWAY).
        await c.closedByServer(100);
        expect(c.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(true);
        outcomes.closed++;
      } finally {
        c.close();
      }
    }), { numRuns: 400, seed: 11 });
    expect(outcomes.acked).toBeGreaterThan(0);
    expect(outcomes.closed).toBeGreaterThan(0);
    await expectServing(s.port);
  } finally {
    await s.server.close(100);
  }
}, 60_000);

// --- gRPC over it: @grpc/grpc-js interop -------------------------------------------------------

describe('H2GrpcServer with @grpc/grpc-js', () => {
  let grpcServer: H2GrpcServer;
  let grpcPort: number;
  const echo: UnaryMethod = (call) => (message) => {
    if (message.toString() === 'fail') call.fail(GRPC_STATUS.UNAVAILABLE, 'asked to fail: 100% é', { 'ms-error-code': 'X', 'Bad Key': 'dropped' });
    else if (message.toString() === 'slow') setTimeout(() => call.ok(message), 300);
    else call.ok(message);
  };
  const same = (x: Buffer) => x;
  const passthrough = { requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same };
  const Client = grpc.makeGenericClientConstructor({ Echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, ...passthrough } }, 'Echo');
  let client: grpc.Client & { Echo: Function };
  const callEcho = (message: Buffer, options: grpc.CallOptions = {}) => new Promise<Buffer>((resolve, reject) => {
    client.Echo(message, new grpc.Metadata(), options, (err: grpc.ServiceError | null, res: Buffer) => (err ? reject(err) : resolve(res)));
  });

  beforeAll(async () => {
    grpcServer = new H2GrpcServer({ methods: new Map([['/test.Echo/Echo', echo]]), maxReceiveBytes: 8 * 1024 * 1024, maxSendBytes: 8 * 1024 * 1024 });
    grpcPort = await grpcServer.listen(0, '127.0.0.1');
    client = new Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 }) as any;
  });

  afterAll(async () => {
    client.close();
    await grpcServer.close(100);
  });

  test('small, empty and 6 MiB messages round-trip', async () => {
    expect((await callEcho(Buffer.from('hi'))).toString()).toBe('hi');
    expect((await callEcho(Buffer.alloc(0))).length).toBe(0);
    const big = randomBytes(6 * 1024 * 1024);
    expect((await callEcho(big)).equals(big)).toBe(true);
  });

  test('500 concurrent calls each get their own answer', async () => {
    const answers = await Promise.all(Array.from({ length: 500 }, (_, i) => callEcho(Buffer.from(`m${i}`))));
    answers.forEach((a, i) => expect(a.toString()).toBe(`m${i}`));
  });

  test('errors carry code, decoded message and valid metadata only', async () => {
    const err: grpc.ServiceError = await callEcho(Buffer.from('fail')).then(() => { throw new Error('expected a failure'); }, (e) => e);
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toBe('asked to fail: 100% é');
    expect(err.metadata.get('ms-error-code')).toEqual(['X']);
    expect(Object.keys(err.metadata.getMap()).filter((k) => k.includes('bad'))).toEqual([]);
  });

  test('a message over the limit is RESOURCE_EXHAUSTED; a deadline DEADLINE_EXCEEDED', async () => {
    const tooBig: grpc.ServiceError = await callEcho(Buffer.alloc(9 * 1024 * 1024)).then(() => { throw new Error('expected a failure'); }, (e) => e);
    expect(tooBig.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const late: grpc.ServiceError = await callEcho(Buffer.from('slow'), { deadline: Date.now() + 50 }).then(() => { throw new Error('expected a failure'); }, (e) => e);
    expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect((await callEcho(Buffer.from('after'))).toString()).toBe('after');
  });

  test('a client cancel reports CANCELLED to onEnd once', async () => {
    const codes: number[] = [];
    let received = false;
    const holder = new H2GrpcServer({
      methods: new Map<string, UnaryMethod>([['/test.Echo/Echo', (call) => {
        call.onEnd = (code) => codes.push(code);
        return () => { received = true; };
      }]]),
      maxReceiveBytes: 1024,
      maxSendBytes: 1024,
    });
    const p = await holder.listen(0, '127.0.0.1');
    const c = new Client(`127.0.0.1:${p}`, grpc.credentials.createInsecure()) as any;
    try {
      const call = c.Echo(Buffer.from('x'), () => undefined);
      const deadline = Date.now() + 3000;
      while (!received && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      expect(holder.http2.connectionCount).toBe(1);
      call.cancel();
      while (codes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 50));
      expect(codes).toEqual([GRPC_STATUS.CANCELLED]);
    } finally {
      c.close();
      await holder.close(100);
    }
  });
});

test('unit: headerValue finds the first field of a name', () => {
  expect(headerValue({ method: 'POST', path: '/', scheme: 'http', authority: '', contentLength: -1, fields: [':method', 'POST', 'a', '1', 'a', '2'] }, 'a')).toBe('1');
});
