/**
 * A unary-only gRPC server directly on `node:http2` (the transport of `GRPCInferenceService`).
 *
 * @grpc/grpc-js spends about 100 µs of CPU per unary call in its own machinery (interceptors,
 * metadata objects, per-call state machines), several times what the model and the REST fast
 * path cost for a small model. A unary gRPC call is just one HTTP/2 stream:
 *
 *   request:  HEADERS (:method POST, :path /pkg.Service/Method, content-type application/grpc,
 *             optional grpc-timeout / grpc-encoding), DATA: one length-prefixed message
 *             (1 byte compressed flag, 4 bytes big-endian length, the message);
 *   response: HEADERS (:status 200, content-type application/grpc), DATA: one length-prefixed
 *             message, trailers (grpc-status, grpc-message percent-encoded); or, for an error,
 *             "trailers-only": one HEADERS frame with the status and END_STREAM.
 *
 * This module does that and nothing else (no streaming RPCs, no server reflection). Framing
 * errors are INTERNAL, a message over the limit RESOURCE_EXHAUSTED, an unknown method
 * UNIMPLEMENTED, a gzip-compressed message is inflated (other encodings: UNIMPLEMENTED), an
 * expired `grpc-timeout` DEADLINE_EXCEEDED. A request that is not gRPC at all (another
 * content-type) gets HTTP 415, as the gRPC spec asks.
 */
import * as http2 from 'node:http2';
import { gunzip } from 'node:zlib';

/** gRPC status codes used by the transport (the error table has the rest). */
export const STATUS = {
  OK: 0,
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** One unary call, handed to a method handler with the request message. */
export interface UnaryCall {
  /** Request path, `/inference.GRPCInferenceService/ModelInfer`. */
  readonly path: string;
  /** True once a status was sent (or the client went away): later answers are dropped. */
  readonly finished: boolean;
  /** Called once with the final status code, however the call ended (metrics). */
  onEnd?: (code: number) => void;
  /** Answers with `message` (an encoded protobuf) and status OK. */
  ok(message: Uint8Array): void;
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
}

const GRPC_CONTENT_TYPE = /^application\/grpc(?:[+;]|$)/;
const TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const TIMEOUT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
const RESPONSE_HEADERS = Object.freeze({ ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity,gzip' });
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });
const NEEDS_ESCAPE = /[^\x20-\x24\x26-\x7e]/;

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

/** One stream's call state. */
class Call implements UnaryCall {
  public finished = false;
  public onEnd?: (code: number) => void;
  public timer?: NodeJS.Timeout;

  constructor(private readonly stream: http2.ServerHttp2Stream, public readonly path: string, private readonly maxSendBytes: number) {}

  ok(message: Uint8Array): void {
    if (this.finished) return;
    if (message.length > this.maxSendBytes) {
      this.fail(STATUS.RESOURCE_EXHAUSTED, `response message of ${message.length} bytes is larger than the limit of ${this.maxSendBytes}`);
      return;
    }
    const stream = this.stream;
    if (stream.destroyed) {
      this.end(STATUS.CANCELLED);
      return;
    }
    const frame = Buffer.allocUnsafe(5 + message.length);
    frame[0] = 0;
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', sendOkTrailers);
    stream.end(frame);
    this.end(STATUS.OK);
  }

  fail(code: number, message: string, metadata?: Record<string, string>): void {
    if (this.finished) return;
    const stream = this.stream;
    if (!stream.destroyed && !stream.headersSent) {
      // Trailers-only response: the status travels in the only HEADERS frame.
      stream.respond({ ...RESPONSE_HEADERS, ...metadata, 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message) }, { endStream: true });
      // Answered before the request ended (deadline, oversized message): RST_STREAM(NO_ERROR)
      // after the status tells the client to stop sending.
      if (!stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    }
    this.end(stream.destroyed ? STATUS.CANCELLED : code);
  }

  /** Marks the call finished (once) and reports its code. */
  end(code: number): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.onEnd?.(code);
  }
}

function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

function ignore(): void {}

/** A running HTTP/2 gRPC server. */
export class H2GrpcServer {
  public readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private closing = false;

  constructor(private readonly options: H2GrpcServerOptions) {
    const mb = 1024 * 1024;
    this.server = http2.createServer({
      // Session memory bounds buffered data; room for a largest message in and out.
      maxSessionMemory: Math.max(10, Math.ceil((2 * (options.maxReceiveBytes + options.maxSendBytes)) / mb)),
      settings: { initialWindowSize: mb },
    });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.on('close', () => this.sessions.delete(session));
      // Protocol errors from a client end its session only.
      session.on('error', ignore);
      if (this.closing) session.close();
    });
    this.server.on('stream', (stream, headers) => this.onStream(stream as http2.ServerHttp2Stream, headers));
    // A TCP-level client error (not HTTP/2, reset) ends that connection, not the server.
    this.server.on('sessionError', ignore);
  }

  /** Binds; resolves with the port. */
  public listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /**
   * Graceful stop: no new connections, GOAWAY on every session (streams already started finish,
   * new ones are refused); after `graceMs` the sessions left are destroyed.
   */
  public close(graceMs: number): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
        resolve();
      }, Math.max(0, graceMs));
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const s of this.sessions) s.close();
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    // A client reset must not become an uncaught 'error' event.
    stream.on('error', ignore);
    const contentType = headers['content-type'];
    if (headers[':method'] !== 'POST' || typeof contentType !== 'string' || !GRPC_CONTENT_TYPE.test(contentType)) {
      stream.respond({ ':status': headers[':method'] === 'POST' ? 415 : 405, 'content-type': 'text/plain' });
      stream.end('not a gRPC request: POST with content-type application/grpc expected\n');
      stream.resume();
      return;
    }
    const path = headers[':path'] ?? '';
    const call = new Call(stream, path, this.options.maxSendBytes);
    const method = this.options.methods.get(path);
    if (!method) {
      stream.resume();
      call.fail(STATUS.UNIMPLEMENTED, `unknown method ${path.slice(0, 200)}`);
      return;
    }
    const handler = method(call);
    const timeoutMs = parseGrpcTimeout(headers['grpc-timeout']);
    if (timeoutMs !== undefined) {
      if (Number.isNaN(timeoutMs)) {
        stream.resume();
        call.fail(STATUS.INTERNAL, `invalid grpc-timeout value '${String(headers['grpc-timeout']).slice(0, 40)}'`);
        return;
      }
      call.timer = setTimeout(() => call.fail(STATUS.DEADLINE_EXCEEDED, 'deadline exceeded'), timeoutMs);
    }
    stream.on('close', () => call.end(STATUS.CANCELLED));

    const limit = this.options.maxReceiveBytes;
    const chunks: Buffer[] = [];
    let received = 0;
    let prefixChecked = false;
    stream.on('data', (chunk: Buffer) => {
      if (call.finished) return;
      received += chunk.length;
      chunks.push(chunk);
      // Reject an oversized message as soon as its length prefix (or its data) says so.
      let declared = 0;
      if (!prefixChecked && received >= 5) {
        prefixChecked = true;
        declared = (chunks.length === 1 ? chunk : Buffer.concat(chunks)).readUInt32BE(1);
      }
      if (declared > limit || received > limit + 5) {
        call.fail(STATUS.RESOURCE_EXHAUSTED, `request message of ${Math.max(declared, received - 5)} bytes is larger than the limit of ${limit}`);
      }
    });
    stream.on('end', () => {
      if (call.finished) return;
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      if (body.length < 5) {
        call.fail(STATUS.INTERNAL, body.length === 0 ? 'no request message for a unary method' : 'truncated message: incomplete length prefix');
        return;
      }
      const flag = body[0];
      const length = body.readUInt32BE(1);
      if (body.length < 5 + length) {
        call.fail(STATUS.INTERNAL, `truncated message: the length prefix says ${length} bytes, ${body.length - 5} arrived`);
        return;
      }
      if (body.length > 5 + length) {
        call.fail(STATUS.INTERNAL, 'more than one request message for a unary method');
        return;
      }
      const message = body.subarray(5);
      if (flag === 0) {
        this.dispatch(handler, message, call);
        return;
      }
      const encoding = headers['grpc-encoding'];
      if (flag !== 1 || encoding !== 'gzip') {
        call.fail(flag !== 1 ? STATUS.INTERNAL : STATUS.UNIMPLEMENTED, flag !== 1
          ? `invalid compressed flag ${flag}`
          : `compressed message with grpc-encoding '${String(encoding ?? 'identity').slice(0, 40)}': only gzip is supported`);
        return;
      }
      gunzip(message, { maxOutputLength: limit }, (err, inflated) => {
        if (err) {
          const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
          call.fail(tooLarge ? STATUS.RESOURCE_EXHAUSTED : STATUS.INTERNAL, tooLarge ? `request message is larger than the limit of ${limit} once decompressed` : `gzip: ${err.message}`);
          return;
        }
        this.dispatch(handler, inflated, call);
      });
    });
  }

  private dispatch(handler: (message: Buffer) => void, message: Buffer, call: Call): void {
    if (call.finished) return;
    try {
      handler(message);
    } catch (err) {
      // Handlers report their own errors; this is a last resort so a bug never hangs a call.
      call.fail(STATUS.INTERNAL, 'internal server error');
    }
  }
}
