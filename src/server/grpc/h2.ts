/**
 * A unary-only gRPC server on our own HTTP/2 transport (`./http2`, the transport of
 * `GRPCInferenceService`).
 *
 * @grpc/grpc-js spends about 100 µs of CPU per unary call in its own machinery, and node:http2
 * itself about 35 µs (sessions, stream objects and events, header objects); `./http2` parses
 * frames from the socket's buffers and writes each response as one buffer, a few µs. A unary gRPC
 * call is just one HTTP/2 stream:
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
 * expired `grpc-timeout` DEADLINE_EXCEEDED. A request that is not gRPC at all gets HTTP 415
 * (another content-type) or 405 (not POST), as the gRPC spec asks. An answer sent before the
 * request ended is followed by RST_STREAM(NO_ERROR) (the transport does that). `onEnd` reports
 * the final code once, CANCELLED when the client reset the stream or the connection dropped.
 */
import { gunzip } from 'node:zlib';
import { GRPC_STATUS } from '../errors';
import { encodeHeaderBlock } from './http2/hpack';
import { headerValue, RequestHead } from './http2/request-head';
import { Http2Server } from './http2/server';
import { IGNORE_STREAM, ServerStream, StreamHandler } from './http2/stream';

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
}

const GRPC_CONTENT_TYPE = /^application\/grpc(?:[+;]|$)/;
const TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const TIMEOUT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };
const RESPONSE_FIELDS: ReadonlyArray<readonly [string, string]> = [[':status', '200'], ['content-type', 'application/grpc'], ['grpc-accept-encoding', 'identity,gzip']];
// Header blocks of every successful call, encoded once.
const RESPONSE_HEAD = encodeHeaderBlock(RESPONSE_FIELDS);
const OK_TRAILERS = encodeHeaderBlock([['grpc-status', '0']]);
const NOT_GRPC_BODY = Buffer.from('not a gRPC request: POST with content-type application/grpc expected\n');
const NOT_GRPC_HEAD = {
  415: encodeHeaderBlock([[':status', '415'], ['content-type', 'text/plain']]),
  405: encodeHeaderBlock([[':status', '405'], ['content-type', 'text/plain'], ['allow', 'POST']]),
};
/** Metadata a handler may add to error trailers: gRPC's lowercase keys (not reserved) and printable ASCII values. */
const METADATA_KEY = /^(?!grpc-)[0-9a-z_.-]+$/;
const METADATA_VALUE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
const MAX_TIMER_MS = 0x7fff_ffff;
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

/** The trailers-only block of a failed call. */
function errorBlock(code: number, message: string, metadata?: Record<string, string>): Buffer {
  const fields: Array<readonly [string, string]> = [...RESPONSE_FIELDS];
  if (metadata) {
    for (const [key, value] of Object.entries(metadata)) {
      if (METADATA_KEY.test(key) && METADATA_VALUE.test(value)) fields.push([key, value]);
    }
  }
  fields.push(['grpc-status', String(code)], ['grpc-message', encodeGrpcMessage(message)]);
  return encodeHeaderBlock(fields);
}

/** One stream's call: collects the request message, answers once. */
class Call implements UnaryCall, StreamHandler {
  public finished = false;
  public onEnd?: (code: number) => void;
  public timer?: NodeJS.Timeout;
  public handler?: (message: Buffer) => void;
  private cancelRequested = false;
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private prefixChecked = false;

  constructor(
    private readonly stream: ServerStream,
    public readonly path: string,
    private readonly encoding: string | undefined,
    private readonly server: H2GrpcServer,
    private readonly limits: H2GrpcServerOptions,
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
    const max = this.limits.maxSendBytes;
    if (length > max) {
      this.fail(GRPC_STATUS.RESOURCE_EXHAUSTED, `response message of ${length} bytes is larger than the limit of ${max}`);
      return;
    }
    framed[0] = 0;
    framed.writeUInt32BE(length, 1);
    this.stream.respond(RESPONSE_HEAD, framed, OK_TRAILERS);
    this.finish(GRPC_STATUS.OK);
  }

  fail(code: number, message: string, metadata?: Record<string, string>): void {
    if (this.finished) return;
    // Trailers-only response: the status travels in the only HEADERS frame.
    this.stream.respond(errorBlock(code, message, metadata));
    this.finish(code);
  }

  /** Marks the call finished (once) and reports its code. */
  finish(code: number): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer) clearTimeout(this.timer);
    this.onEnd?.(code);
  }

  // StreamHandler: the transport's view of the request.

  data(chunk: Buffer): void {
    if (this.finished) return;
    this.received += chunk.length;
    this.chunks.push(chunk);
    // Reject an oversized message as soon as its length prefix (or its data) says so.
    const limit = this.limits.maxReceiveBytes;
    let declared = 0;
    if (!this.prefixChecked && this.received >= 5) {
      this.prefixChecked = true;
      declared = (this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks)).readUInt32BE(1);
    }
    if (declared > limit || this.received > limit + 5) {
      this.fail(GRPC_STATUS.RESOURCE_EXHAUSTED, `request message of ${Math.max(declared, this.received - 5)} bytes is larger than the limit of ${limit}`);
    }
  }

  end(): void {
    if (this.finished) return;
    const body = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.received);
    if (body.length < 5) {
      this.fail(GRPC_STATUS.INTERNAL, body.length === 0 ? 'no request message for a unary method' : 'truncated message: incomplete length prefix');
      return;
    }
    const flag = body[0];
    const length = body.readUInt32BE(1);
    if (body.length < 5 + length) {
      this.fail(GRPC_STATUS.INTERNAL, `truncated message: the length prefix says ${length} bytes, ${body.length - 5} arrived`);
      return;
    }
    if (body.length > 5 + length) {
      this.fail(GRPC_STATUS.INTERNAL, 'more than one request message for a unary method');
      return;
    }
    const message = body.subarray(5);
    if (flag === 0) {
      this.server.dispatch(this, message);
      return;
    }
    const encoding = this.encoding;
    if (flag !== 1 || encoding !== 'gzip') {
      this.fail(flag !== 1 ? GRPC_STATUS.INTERNAL : GRPC_STATUS.UNIMPLEMENTED, flag !== 1
        ? `invalid compressed flag ${flag}`
        : `compressed message with grpc-encoding '${String(encoding ?? 'identity').slice(0, 40)}': only gzip is supported`);
      return;
    }
    const limit = this.limits.maxReceiveBytes;
    gunzip(message, { maxOutputLength: limit }, (err, inflated) => {
      if (err) {
        const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        this.fail(tooLarge ? GRPC_STATUS.RESOURCE_EXHAUSTED : GRPC_STATUS.INTERNAL, tooLarge ? `request message is larger than the limit of ${limit} once decompressed` : `gzip: ${err.message}`);
        return;
      }
      this.server.dispatch(this, inflated);
    });
  }

  abort(): void {
    this.finish(GRPC_STATUS.CANCELLED);
  }
}

/** A running HTTP/2 gRPC server. */
export class H2GrpcServer {
  public readonly http2: Http2Server;

  constructor(private readonly options: H2GrpcServerOptions) {
    this.http2 = new Http2Server({
      onRequest: (stream, head) => this.onRequest(stream, head),
      // Request bytes one connection may hold: room for a largest message in and out, twice.
      maxBufferedBytes: Math.max(16 * 1024 * 1024, 2 * (options.maxReceiveBytes + options.maxSendBytes)),
    });
  }

  /** Binds; resolves with the port. */
  public listen(port: number, host: string): Promise<number> {
    return this.http2.listen(port, host);
  }

  /**
   * Graceful stop: no new connections, GOAWAY on every connection (streams already started
   * finish, new ones are refused); after `graceMs` the connections left are destroyed.
   */
  public close(graceMs: number): Promise<void> {
    return this.http2.close(graceMs);
  }

  /** Hands a complete request message to its method (used by `Call`). */
  public dispatch(call: Call, message: Buffer): void {
    if (call.finished) return;
    try {
      call.handler!(message);
    } catch (err) {
      // Handlers report their own errors; this is a last resort so a bug never hangs a call.
      call.fail(GRPC_STATUS.INTERNAL, 'internal server error');
    }
  }

  private onRequest(stream: ServerStream, head: RequestHead): StreamHandler {
    const contentType = headerValue(head, 'content-type');
    if (head.method !== 'POST' || contentType === undefined || !GRPC_CONTENT_TYPE.test(contentType)) {
      stream.respond(NOT_GRPC_HEAD[head.method === 'POST' ? 415 : 405], NOT_GRPC_BODY);
      return IGNORE_STREAM;
    }
    const path = head.path;
    const call = new Call(stream, path, headerValue(head, 'grpc-encoding'), this, this.options);
    const method = this.options.methods.get(path);
    if (!method) {
      call.fail(GRPC_STATUS.UNIMPLEMENTED, `unknown method ${path.slice(0, 200)}`);
      return call;
    }
    try {
      call.handler = method(call);
    } catch (err) {
      call.fail(GRPC_STATUS.INTERNAL, 'internal server error');
      return call;
    }
    const timeout = headerValue(head, 'grpc-timeout');
    const timeoutMs = parseGrpcTimeout(timeout);
    if (timeoutMs !== undefined) {
      if (Number.isNaN(timeoutMs)) {
        call.fail(GRPC_STATUS.INTERNAL, `invalid grpc-timeout value '${String(timeout).slice(0, 40)}'`);
        return call;
      }
      // Past setTimeout's range (about 24 days) a deadline never fires in practice.
      if (timeoutMs <= MAX_TIMER_MS) call.timer = setTimeout(() => call.fail(GRPC_STATUS.DEADLINE_EXCEEDED, 'deadline exceeded'), timeoutMs);
    }
    return call;
  }
}
