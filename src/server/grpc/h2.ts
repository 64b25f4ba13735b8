/**
 * A unary-only gRPC server on `node:http2` (nghttp2): the transport of `GRPCInferenceService`.
 *
 * HTTP/2 itself (frames, HPACK, flow control, and the floods and bombs a client can send) is
 * nghttp2's, configured for clients we do not trust (`GrpcTransportLimits`); this module is the
 * gRPC layer on top. A unary gRPC call is one HTTP/2 stream:
 *
 *   request:  HEADERS (:method POST, :path /pkg.Service/Method, content-type application/grpc,
 *             optional grpc-timeout / grpc-encoding), DATA: one length-prefixed message
 *             (1 byte compressed flag, 4 bytes big-endian length, the message);
 *   response: HEADERS (:status 200, content-type application/grpc), DATA: one length-prefixed
 *             message, trailers (grpc-status, grpc-message percent-encoded); or, for an error,
 *             "trailers-only": one HEADERS frame with the status and END_STREAM.
 *
 * Framing errors are INTERNAL, a message over the limit RESOURCE_EXHAUSTED, an unknown method
 * UNIMPLEMENTED, a gzip-compressed message is inflated (other encodings: UNIMPLEMENTED), an
 * expired `grpc-timeout` DEADLINE_EXCEEDED. A request that is not gRPC at all gets HTTP 415
 * (another content-type) or 405 (not POST), as the gRPC spec asks. An answer sent before the
 * request ended is followed by RST_STREAM(NO_ERROR) (RFC 9113 §8.1). `onEnd` reports the final
 * code once, CANCELLED when the client reset the stream or the connection dropped.
 *
 * Hot path: header objects are shared constants, stream events go to module-level functions
 * (no closures per call), and the answer is one pre-framed buffer written with `end`.
 */
import * as http2 from 'node:http2';
import { gunzip } from 'node:zlib';
import { GRPC_STATUS } from '../errors';
import { DEFAULT_GRPC_LIMITS, GrpcTransportLimits } from './limits';

/** The compressed flag and length in front of every gRPC message. */
export const MESSAGE_PREFIX_BYTES = 5;

/** One unary call, handed to a method handler with the request message. */
export interface UnaryCall {
  /** Request path, `/inference.GRPCInferenceService/ModelInfer`. */
  readonly path: string;
  /** True once a status was sent (or the client went away): later answers are dropped. */
  readonly finished: boolean;
  /**
   * True once nobody waits for the answer (the call finished, or this was set): the core's
   * `Cancellation`, so the call itself is passed and queued work for a dead call is dropped.
   * Setting it (the core does on its own timeout) does not answer the call.
   */
  cancelled: boolean;
  /** Called once with the final status code, however the call ended (metrics). */
  onEnd?: (code: number) => void;
  /** Answers with `message` (an encoded protobuf) and status OK. */
  ok(message: Uint8Array): void;
  /**
   * As `ok`, for a message encoded after `MESSAGE_PREFIX_BYTES` free bytes at the start of
   * `framed` (the length prefix goes there, so the message is not copied).
   */
  okFramed(framed: Buffer): void;
  /** Answers with an error status; `metadata` goes into the trailers (ASCII keys and values). */
  fail(code: number, message: string, metadata?: Record<string, string>): void;
}

/**
 * A unary method: called when a call to it starts (before its message has arrived: a place to
 * count it), returns the function that gets the request message.
 */
export type UnaryMethod = (call: UnaryCall) => (message: Buffer) => void;

export interface H2GrpcServerOptions {
  /** Handlers by path (`/package.Service/Method`). */
  readonly methods: ReadonlyMap<string, UnaryMethod>;
  /** Largest request message (after decompression); larger ones fail with RESOURCE_EXHAUSTED. */
  readonly maxReceiveBytes: number;
  /** Largest response message; larger ones fail with RESOURCE_EXHAUSTED. */
  readonly maxSendBytes: number;
  /** HTTP/2 limits. @default DEFAULT_GRPC_LIMITS */
  readonly limits?: Partial<GrpcTransportLimits>;
  /**
   * Request bytes all unfinished calls of the server may hold together (messages still arriving);
   * a call that would pass it fails RESOURCE_EXHAUSTED. @default max(64 MiB, 4 x maxReceiveBytes)
   */
  readonly maxBufferedBytes?: number;
}

const GRPC_CONTENT_TYPE = /^application\/grpc(?:[+;]|$)/;
const TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const TIMEOUT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
// Header objects of every successful call, built once (node:http2 copies them on respond).
const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity,gzip' };
const OK_TRAILERS: http2.OutgoingHttpHeaders = { 'grpc-status': '0' };
const RESPOND_WITH_TRAILERS = { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions;
const RESPOND_END = { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions;
const NOT_GRPC_BODY = Buffer.from('not a gRPC request: POST with content-type application/grpc expected\n');
const NOT_GRPC_HEADERS: Record<415 | 405, http2.OutgoingHttpHeaders> = {
  415: { ':status': 415, 'content-type': 'text/plain' },
  405: { ':status': 405, 'content-type': 'text/plain', 'allow': 'POST' },
};
/** Metadata a handler may add to error trailers: gRPC's lowercase keys (not reserved) and printable ASCII values. */
const METADATA_KEY = /^(?!grpc-)[0-9a-z_.-]+$/;
const METADATA_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const MAX_TIMER_MS = 0x7fff_ffff;
const NEEDS_ESCAPE = /[^\x20-\x24\x26-\x7e]/;
const MIB = 1024 * 1024;
/** Flow-control windows we give clients: per stream, and per connection. */
const RECEIVE_WINDOW_BYTES = MIB;
const CONNECTION_WINDOW_BYTES = 4 * MIB;

/** `grpc-message` encoding: bytes outside printable ASCII, and '%', become %XX (UTF-8). */
export function encodeGrpcMessage(message: string): string {
  if (!NEEDS_ESCAPE.test(message)) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `grpc-timeout` in milliseconds; undefined if absent, NaN if malformed. */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = TIMEOUT.exec(String(value));
  return m ? Number(m[1]) * TIMEOUT_MS[m[2]] : NaN;
}

/** The trailers-only headers of a failed call. */
function errorHeaders(code: number, message: string, metadata?: Record<string, string>): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = { ...RESPONSE_HEADERS };
  if (metadata) {
    for (const [key, value] of Object.entries(metadata)) {
      if (METADATA_KEY.test(key) && METADATA_VALUE.test(value)) headers[key] = value;
    }
  }
  headers['grpc-status'] = String(code);
  headers['grpc-message'] = encodeGrpcMessage(message);
  return headers;
}

/** Where a stream's events find their call (module-level listeners, no closure per call). */
const CALL = Symbol('grpcCall');
const STATE = Symbol('grpcSession');
type CallStream = http2.ServerHttp2Stream & { [CALL]?: Call; [STATE]?: SessionState };

function onStreamData(this: CallStream, chunk: Buffer): void {
  this[CALL]!.data(chunk);
}
function onStreamEnd(this: CallStream): void {
  this[CALL]!.end();
}
/** A call's stream closed: one open stream less on its connection, and the call ends if unanswered. */
function onStreamClose(this: CallStream): void {
  this[STATE]!.streams--;
  this[CALL]?.closed();
}
function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  if (!this.destroyed) this.sendTrailers(OK_TRAILERS);
}
// Stream errors (a client's RST_STREAM with an error code, a write after the peer left) end
// the call through 'close'; without a listener they would be thrown.
function ignore(): void {}

/** One stream's call: collects the request message, answers once. */
class Call implements UnaryCall {
  public finished = false;
  public onEnd?: (code: number) => void;
  public timer?: NodeJS.Timeout;
  public handler?: (message: Buffer) => void;
  private cancelRequested = false;
  private requestEnded = false;
  private readonly chunks: Buffer[] = [];
  /** Request bytes this call holds against the server's budget. */
  private received = 0;
  private prefixChecked = false;

  constructor(
    private readonly stream: CallStream,
    public readonly path: string,
    private readonly encoding: string | undefined,
    private readonly server: H2GrpcServer,
  ) {}

  // Accessors on the class, not per call: an object literal with a getter per call costs
  // V8 a slow allocation that lands in old space.
  get cancelled(): boolean {
    return this.finished || this.cancelRequested;
  }

  set cancelled(value: boolean) {
    this.cancelRequested = value;
  }

  ok(message: Uint8Array): void {
    if (this.finished) return;
    const framed = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + message.length);
    framed.set(message, MESSAGE_PREFIX_BYTES);
    this.okFramed(framed);
  }

  okFramed(framed: Buffer): void {
    if (this.finished) return;
    const length = framed.length - MESSAGE_PREFIX_BYTES;
    const max = this.server.maxSendBytes;
    if (length > max) {
      this.fail(GRPC_STATUS.RESOURCE_EXHAUSTED, `response message of ${length} bytes is larger than the limit of ${max}`);
      return;
    }
    framed[0] = 0;
    framed.writeUInt32BE(length, 1);
    const stream = this.stream;
    if (!stream.destroyed && !stream.closed) {
      try {
        stream.respond(RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
        // `on`, not `once`: each fires at most once, and `once` wraps the listener per call.
        stream.on('wantTrailers', sendOkTrailers);
        stream.end(framed);
        this.resetIfRequestOpen();
      } catch {
        // The connection went away under us (node:http2 throws on a dead session): nobody to answer.
        this.finish(GRPC_STATUS.CANCELLED);
        return;
      }
    }
    this.finish(GRPC_STATUS.OK);
  }

  fail(code: number, message: string, metadata?: Record<string, string>): void {
    if (this.finished) return;
    const stream = this.stream;
    if (!stream.destroyed && !stream.closed && !stream.headersSent) {
      try {
        // Trailers-only response: the status travels in the only HEADERS frame.
        stream.respond(errorHeaders(code, message, metadata), RESPOND_END);
        this.resetIfRequestOpen();
      } catch {
        // As in okFramed: the connection is gone.
      }
    }
    this.finish(code);
  }

  /** An answer sent before the request ended: RST_STREAM(NO_ERROR) once the answer is out. */
  private resetIfRequestOpen(): void {
    if (!this.requestEnded) this.stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }

  /** Marks the call finished (once), gives back its request bytes and reports its code. */
  finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    this.release();
    if (this.timer) clearTimeout(this.timer);
    this.onEnd?.(code);
  }

  private release(): void {
    this.server.buffered -= this.received;
    this.received = 0;
    this.chunks.length = 0;
  }

  // The request side, from the stream's events.

  data(chunk: Buffer): void {
    if (this.finished) return;
    this.received += chunk.length;
    this.server.buffered += chunk.length;
    this.chunks.push(chunk);
    // Reject an oversized message as soon as its length prefix (or its data) says so.
    const limit = this.server.maxReceiveBytes;
    let declared = 0;
    if (!this.prefixChecked && this.received >= MESSAGE_PREFIX_BYTES) {
      this.prefixChecked = true;
      declared = (this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks)).readUInt32BE(1);
    }
    if (declared > limit || this.received > limit + MESSAGE_PREFIX_BYTES) {
      this.fail(GRPC_STATUS.RESOURCE_EXHAUSTED, `request message of ${Math.max(declared, this.received - MESSAGE_PREFIX_BYTES)} bytes is larger than the limit of ${limit}`);
    } else if (this.server.buffered > this.server.maxBufferedBytes) {
      this.fail(GRPC_STATUS.RESOURCE_EXHAUSTED, `the server holds too many request bytes (limit ${this.server.maxBufferedBytes}): retry later`);
    }
  }

  end(): void {
    this.requestEnded = true;
    if (this.finished) return;
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.received);
    if (body.length < MESSAGE_PREFIX_BYTES) {
      this.fail(GRPC_STATUS.INTERNAL, body.length === 0 ? 'no request message for a unary method' : 'truncated message: incomplete length prefix');
      return;
    }
    const flag = body[0];
    const length = body.readUInt32BE(1);
    if (body.length < MESSAGE_PREFIX_BYTES + length) {
      this.fail(GRPC_STATUS.INTERNAL, `truncated message: the length prefix says ${length} bytes, ${body.length - MESSAGE_PREFIX_BYTES} arrived`);
      return;
    }
    if (body.length > MESSAGE_PREFIX_BYTES + length) {
      this.fail(GRPC_STATUS.INTERNAL, 'more than one request message for a unary method');
      return;
    }
    // The message now belongs to the handler (and the core's queue, which has its own bounds).
    this.release();
    const message = body.subarray(MESSAGE_PREFIX_BYTES);
    if (flag === 0) {
      this.dispatch(message);
      return;
    }
    const encoding = this.encoding;
    if (flag !== 1 || encoding !== 'gzip') {
      this.fail(flag !== 1 ? GRPC_STATUS.INTERNAL : GRPC_STATUS.UNIMPLEMENTED, flag !== 1
        ? `invalid compressed flag ${flag}`
        : `compressed message with grpc-encoding '${String(encoding ?? 'identity').slice(0, 40)}': only gzip is supported`);
      return;
    }
    const limit = this.server.maxReceiveBytes;
    gunzip(message, { maxOutputLength: limit }, (err, inflated) => {
      if (err) {
        const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        this.fail(tooLarge ? GRPC_STATUS.RESOURCE_EXHAUSTED : GRPC_STATUS.INTERNAL, tooLarge ? `request message is larger than the limit of ${limit} once decompressed` : `gzip: ${err.message}`);
        return;
      }
      this.dispatch(inflated);
    });
  }

  /** The stream closed: if no answer was sent, the client reset it or the connection dropped. */
  closed(): void {
    this.finish(GRPC_STATUS.CANCELLED);
  }

  /** Hands the complete request message to the method. */
  private dispatch(message: Buffer): void {
    if (this.finished) return;
    try {
      this.handler!(message);
    } catch (err) {
      // Handlers report their own errors; this is a last resort so a bug never hangs a call.
      this.fail(GRPC_STATUS.INTERNAL, 'internal server error');
    }
  }
}

/** Per-connection state: open calls (for the idle timeout) and the preface timer. */
interface SessionState {
  streams: number;
  prefaceTimer?: NodeJS.Timeout;
}
type StatefulSession = http2.ServerHttp2Session & { [STATE]: SessionState };

function onSessionIdle(this: StatefulSession): void {
  // node:http2 reports inactivity on the socket; a call that is still being computed is not idle.
  if (this[STATE].streams === 0 && !this.destroyed) this.destroy();
}
function onRemoteSettings(this: StatefulSession): void {
  const state = this[STATE];
  if (state.prefaceTimer) clearTimeout(state.prefaceTimer);
  state.prefaceTimer = undefined;
}

/** A running HTTP/2 gRPC server. */
export class H2GrpcServer {
  /** The node:http2 server (cleartext, prior knowledge: how gRPC clients connect without TLS). */
  public readonly http2: http2.Http2Server;
  public readonly maxReceiveBytes: number;
  public readonly maxSendBytes: number;
  public readonly maxBufferedBytes: number;
  public readonly limits: GrpcTransportLimits;
  /** Request bytes held by unfinished calls (see `maxBufferedBytes`). */
  public buffered = 0;
  private readonly methods: ReadonlyMap<string, UnaryMethod>;
  private readonly sessions = new Set<StatefulSession>();
  private closing = false;

  constructor(options: H2GrpcServerOptions) {
    this.methods = options.methods;
    this.maxReceiveBytes = options.maxReceiveBytes;
    this.maxSendBytes = options.maxSendBytes;
    this.maxBufferedBytes = options.maxBufferedBytes ?? Math.max(64 * MIB, 4 * options.maxReceiveBytes);
    const limits = this.limits = { ...DEFAULT_GRPC_LIMITS, ...options.limits };
    this.http2 = http2.createServer({
      // node:http2 counts session memory in whole MiB.
      maxSessionMemory: Math.max(1, Math.floor(limits.maxSessionMemoryBytes / MIB)),
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: limits.maxHeaderListBytes,
        enablePush: false,
        // A request message of 64 KiB or more (mlp-wide, 64 rows) would otherwise wait a round
        // trip for a WINDOW_UPDATE. Received bytes are read at once and count against
        // `maxBufferedBytes`, so a larger window does not let a client hold more memory.
        initialWindowSize: RECEIVE_WINDOW_BYTES,
      },
    });
    this.http2.maxConnections = limits.maxConnections;
    this.http2.on('session', (session) => this.onSession(session as StatefulSession));
    this.http2.on('stream', (stream, headers) => this.onStream(stream as CallStream, headers));
    // Session errors (a protocol violation, a reset socket) close that connection; node:http2
    // reports them here, and they must not end the process.
    this.http2.on('sessionError', ignore);
  }

  /** Number of open connections. */
  public get connectionCount(): number {
    return this.sessions.size;
  }

  /** Binds; resolves with the port. */
  public listen(port: number, host: string): Promise<number> {
    const server = this.http2;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        // Accept failures (EMFILE, a connection reset before accept) must not end the process;
        // the listening socket keeps accepting.
        server.on('error', ignore);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /**
   * Graceful stop: no new connections; every connection gets GOAWAY, its accepted streams finish
   * and it closes; after `graceMs` the connections left are destroyed.
   */
  public close(graceMs: number): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
      }, Math.max(0, graceMs));
      timer.unref();
      this.http2.close(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const s of this.sessions) s.close();
    });
  }

  private onSession(session: StatefulSession): void {
    const state: SessionState = { streams: 0 };
    session[STATE] = state;
    this.sessions.add(session);
    session.once('close', () => {
      if (state.prefaceTimer) clearTimeout(state.prefaceTimer);
      this.sessions.delete(session);
    });
    session.on('error', ignore);
    // The connection-level window, for several large messages arriving at once (see initialWindowSize).
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    const { prefaceTimeoutMs, idleTimeoutMs } = this.limits;
    // A client that never sends the preface holds a connection slot: close it.
    state.prefaceTimer = setTimeout(() => {
      if (!session.destroyed) session.destroy();
    }, prefaceTimeoutMs);
    state.prefaceTimer.unref();
    session.once('remoteSettings', onRemoteSettings);
    if (idleTimeoutMs > 0) session.setTimeout(idleTimeoutMs, onSessionIdle);
    if (this.closing) session.close();
  }

  private onStream(stream: CallStream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', ignore);
    // A stream reset before its 'stream' event has nothing left to answer.
    const session = stream.session as StatefulSession | undefined;
    if (!session || stream.destroyed) return;
    // The connection's state on the stream itself: node:http2 clears `stream.session` before 'close'.
    const state = session[STATE];
    state.streams++;
    stream[STATE] = state;
    stream.on('close', onStreamClose);
    const method = headers[':method'];
    const contentType = headers['content-type'];
    if (method !== 'POST' || contentType === undefined || !GRPC_CONTENT_TYPE.test(contentType)) {
      this.notGrpc(stream, method === 'POST' ? 415 : 405);
      return;
    }
    const path = headers[':path'] ?? '';
    const call = new Call(stream, path, headers['grpc-encoding'] as string | undefined, this);
    stream[CALL] = call;
    stream.on('data', onStreamData);
    stream.on('end', onStreamEnd);
    const handlerOf = this.methods.get(path);
    if (!handlerOf) {
      call.fail(GRPC_STATUS.UNIMPLEMENTED, `unknown method ${path.slice(0, 200)}`);
      return;
    }
    try {
      call.handler = handlerOf(call);
    } catch (err) {
      call.fail(GRPC_STATUS.INTERNAL, 'internal server error');
      return;
    }
    const timeout = headers['grpc-timeout'];
    const timeoutMs = parseGrpcTimeout(timeout);
    if (timeoutMs !== undefined) {
      if (Number.isNaN(timeoutMs)) {
        call.fail(GRPC_STATUS.INTERNAL, `invalid grpc-timeout value '${String(timeout).slice(0, 40)}'`);
        return;
      }
      // Past setTimeout's range (about 24 days) a deadline never fires in practice.
      if (timeoutMs <= MAX_TIMER_MS) call.timer = setTimeout(() => call.fail(GRPC_STATUS.DEADLINE_EXCEEDED, 'deadline exceeded'), timeoutMs);
    }
  }

  /** HTTP 415 or 405 for a request that is not gRPC; its body is read and dropped. */
  private notGrpc(stream: CallStream, status: 415 | 405): void {
    stream.resume();
    if (stream.destroyed || stream.closed) return;
    if (status === 405) {
      stream.respond(NOT_GRPC_HEADERS[405], RESPOND_END);
    } else {
      stream.respond(NOT_GRPC_HEADERS[415], { sendDate: false } as http2.ServerStreamResponseOptions);
      stream.end(NOT_GRPC_BODY);
    }
  }
}
