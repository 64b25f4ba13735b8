/**
 * A unary-only gRPC client directly on `node:http2`: how a transformer or explainer calls a
 * `--predictor-protocol grpc-v2` predictor.
 *
 * @grpc/grpc-js costs about 100 µs of CPU per unary call (interceptors, metadata objects, call
 * state machines); a unary call is just one HTTP/2 stream (the frames are described in
 * ../grpc/h2, the server side). One session per target multiplexes every call. A session that
 * closes, fails or gets GOAWAY is dropped, and the next call connects again; while calls are
 * in flight, a PING every `keepaliveMs` that goes unanswered ends a silently dead connection
 * (what grpc-js's `grpc.keepalive_time_ms` did).
 *
 * Failures reject with a `GrpcCallError` carrying a gRPC status code, as grpc-js reports them:
 * - the server's status: `grpc-status` and percent-decoded `grpc-message` from the trailers or a
 *   trailers-only response, the trailers as `metadata`;
 * - no connection, or the connection lost mid-call: UNAVAILABLE, details the errno code
 *   (`ECONNREFUSED`), or `connection closed`;
 * - the local deadline (also sent as `grpc-timeout`): DEADLINE_EXCEEDED, the stream is cancelled;
 * - a non-200 HTTP status: the gRPC spec's mapping; a broken reply: INTERNAL.
 * A call the server never saw (refused stream, GOAWAY) on a session that was already connected
 * is retried once (on a new session if that one is gone).
 */
import * as http2 from 'node:http2';
import { GRPC_STATUS } from '../errors';

/** A failed call: its gRPC status code, message and (for server statuses) trailers. */
export class GrpcCallError extends Error {
  constructor(
    public readonly code: number,
    public readonly details: string,
    public readonly metadata: http2.IncomingHttpHeaders = {},
  ) {
    super(details);
    this.name = 'GrpcCallError';
  }
}

export interface GrpcUnaryClientOptions {
  /** Largest response message; larger ones fail with RESOURCE_EXHAUSTED. */
  readonly maxReceiveBytes: number;
  /** Largest request message; larger ones fail with RESOURCE_EXHAUSTED without being sent. */
  readonly maxSendBytes: number;
  /** PING interval while calls are in flight. @default 30_000 */
  readonly keepaliveMs?: number;
  /** How long a PING may go unanswered before the session is destroyed. @default 20_000 */
  readonly keepaliveTimeoutMs?: number;
}

const {
  NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY,
} = http2.constants;

/** Metadata we forward: lowercase gRPC keys, printable ASCII values, nothing the transport owns. */
const METADATA_KEY = /^[0-9a-z_.-]+$/;
const METADATA_VALUE = /^[\x20-\x7e]*$/;
const RESERVED = new Set(['content-type', 'te', 'host', 'user-agent', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** One HTTP/2 session and what the calls on it need to know about it. */
class Connection {
  /** Calls in flight (keepalive pings only then, as gRPC servers police idle pings). */
  public active = 0;
  /** The session finished its handshake at least once (so a call on it is a reuse). */
  public connected = false;
  /** The session's own error (ECONNREFUSED, ECONNRESET, keepalive), for the calls' details. */
  public error?: Error;
  private pinging = false;
  private readonly keepalive: NodeJS.Timeout;

  constructor(public readonly session: http2.ClientHttp2Session, keepaliveMs: number, keepaliveTimeoutMs: number) {
    this.keepalive = setInterval(() => this.ping(keepaliveTimeoutMs), keepaliveMs);
    this.keepalive.unref();
    session.once('close', () => clearInterval(this.keepalive));
  }

  public get usable(): boolean {
    return !this.session.closed && !this.session.destroyed;
  }

  private ping(timeoutMs: number): void {
    if (this.active === 0 || this.pinging || !this.usable) return;
    this.pinging = true;
    const timer = setTimeout(() => {
      this.session.destroy(Object.assign(new Error(`keepalive PING not answered within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    timer.unref();
    this.session.ping(() => {
      clearTimeout(timer);
      this.pinging = false;
    });
  }
}

/** Unary gRPC calls to one `host:port` over one HTTP/2 session at a time. */
export class GrpcUnaryClient {
  private connection?: Connection;
  private closed = false;
  private readonly authority: string;

  constructor(target: string, private readonly options: GrpcUnaryClientOptions) {
    this.authority = `http://${target}`;
  }

  /**
   * Calls `path` (`/package.Service/Method`) with an encoded request message; resolves with the
   * response message. `metadata` entries that are not valid gRPC ASCII metadata are left out;
   * `timeoutMs` 0 means no deadline.
   */
  public call(path: string, message: Uint8Array, metadata: Readonly<Record<string, string>>, timeoutMs: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new GrpcCallError(GRPC_STATUS.UNAVAILABLE, 'client closed'));
    if (message.length > this.options.maxSendBytes) {
      return Promise.reject(new GrpcCallError(GRPC_STATUS.RESOURCE_EXHAUSTED, `request message of ${message.length} bytes is larger than the limit of ${this.options.maxSendBytes}`));
    }
    const headers = requestHeaders(path, metadata, timeoutMs);
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(message.length, 1);
    return new Promise((resolve, reject) => {
      let stream: http2.ClientHttp2Stream | undefined;
      let timer: NodeJS.Timeout | undefined;
      let done = false;
      const finish = (err: GrpcCallError | undefined, reply?: Buffer) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        if (err) reject(err);
        else resolve(reply!);
      };
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          stream?.close(NGHTTP2_CANCEL);
          finish(new GrpcCallError(GRPC_STATUS.DEADLINE_EXCEEDED, 'deadline exceeded'));
        }, timeoutMs);
      }
      const attempt = (mayRetry: boolean) => {
        let connection: Connection;
        let reused: boolean;
        try {
          connection = this.connect();
          reused = connection.connected;
          stream = connection.session.request(headers);
        } catch (err) {
          finish(new GrpcCallError(GRPC_STATUS.UNAVAILABLE, errnoOf(err) ?? 'connection closed'));
          return;
        }
        connection.active++;
        readReply(stream, connection, this.options.maxReceiveBytes, (err, reply, unseen) => {
          connection.active--;
          if (err && unseen && reused && mayRetry && !done) attempt(false);
          else finish(err, reply);
        });
        // Small messages go in one DATA write; large ones are not copied behind the prefix.
        if (message.length <= 16 * 1024) {
          stream.end(Buffer.concat([prefix, message]));
        } else {
          stream.write(prefix);
          stream.end(message);
        }
      };
      attempt(true);
    });
  }

  /** Ends the session once its calls are done; later calls fail with UNAVAILABLE. */
  public close(): void {
    this.closed = true;
    this.connection?.session.close();
    this.connection = undefined;
  }

  /** The current session, or a new one if there is none or it can take no more calls. */
  private connect(): Connection {
    if (this.connection?.usable) return this.connection;
    const mb = 1024 * 1024;
    const session = http2.connect(this.authority, {
      // Buffered data is bounded by session memory: room for a largest message each way.
      maxSessionMemory: Math.max(10, Math.ceil((2 * (this.options.maxReceiveBytes + this.options.maxSendBytes)) / mb)),
      settings: { enablePush: false, initialWindowSize: mb },
      // Passed on to net.connect: a small request must not wait for the previous segment's ACK.
      noDelay: true,
    } as http2.ClientSessionOptions);
    const connection = new Connection(session, this.options.keepaliveMs ?? 30_000, this.options.keepaliveTimeoutMs ?? 20_000);
    const drop = () => {
      if (this.connection === connection) this.connection = undefined;
    };
    session.on('connect', () => {
      connection.connected = true;
      session.setLocalWindowSize(8 * mb);
    });
    session.on('error', (err) => {
      connection.error = err;
      drop();
    });
    // New calls go to a new session; the calls already on this one finish.
    session.on('goaway', drop);
    session.on('close', drop);
    // An idle session must not keep the process alive (calls have their own timers).
    session.unref();
    this.connection = connection;
    return connection;
  }
}

function requestHeaders(path: string, metadata: Readonly<Record<string, string>>, timeoutMs: number): http2.OutgoingHttpHeaders {
  const headers: http2.OutgoingHttpHeaders = {
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    'te': 'trailers',
  };
  for (const key of Object.keys(metadata)) {
    const value = metadata[key];
    if (METADATA_KEY.test(key) && !key.startsWith('grpc-') && !RESERVED.has(key) && METADATA_VALUE.test(value)) headers[key] = value;
  }
  if (timeoutMs > 0) headers['grpc-timeout'] = grpcTimeout(timeoutMs);
  return headers;
}

/** `grpc-timeout`: at most 8 digits, so large values go in seconds (rounded up). */
export function grpcTimeout(ms: number): string {
  const whole = Math.ceil(ms);
  return whole < 1e8 ? `${whole}m` : `${Math.ceil(whole / 1000)}S`;
}

/** `grpc-message` decoding: %XX sequences are UTF-8 bytes; a malformed one is kept as it is. */
export function decodeGrpcMessage(value: string | string[] | undefined): string {
  const text = Array.isArray(value) ? value[0] : value ?? '';
  if (!text.includes('%')) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text[i] === '%' ? text.slice(i + 1, i + 3) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(text[i], 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** gRPC status of a non-200 HTTP answer (grpc/doc/http-grpc-status-mapping.md). */
function statusOfHttp(status: number): number {
  switch (status) {
    case 400: return GRPC_STATUS.INTERNAL;
    case 401: return GRPC_STATUS.UNAUTHENTICATED;
    case 403: return GRPC_STATUS.PERMISSION_DENIED;
    case 404: return GRPC_STATUS.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GRPC_STATUS.UNAVAILABLE;
    default: return GRPC_STATUS.UNKNOWN;
  }
}

function errnoOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: unknown } | undefined;
  if (e && typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code)) return e.code;
  return e?.cause ? errnoOf(e.cause) : undefined;
}

type ReplyCallback = (err: GrpcCallError | undefined, reply?: Buffer, unseen?: boolean) => void;

/** Collects one call's answer and calls `done` once: the message, or the error with whether the server never saw the call. */
function readReply(stream: http2.ClientHttp2Stream, connection: Connection, limit: number, done: ReplyCallback): void {
  let headers: http2.IncomingHttpHeaders | undefined;
  let trailers: http2.IncomingHttpHeaders | undefined;
  let failure: Error | undefined;
  let tooLarge = false;
  let settled = false;
  const chunks: Buffer[] = [];
  let received = 0;
  const settle = (err: GrpcCallError | undefined, reply?: Buffer, unseen = false) => {
    if (settled) return;
    settled = true;
    done(err, reply, unseen);
  };
  stream.on('response', (h) => {
    headers = h;
    // Trailers-only: the status travels in the only HEADERS frame.
    if (h['grpc-status'] !== undefined) trailers = h;
  });
  stream.on('trailers', (t) => {
    trailers = t;
  });
  stream.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit + 5) {
      tooLarge = true;
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    chunks.push(chunk);
  });
  stream.on('error', (err) => {
    failure = err;
  });
  // With a status in hand, 'end' answers a tick before 'close'.
  stream.on('end', () => {
    if (trailers) settle(...outcome(trailers, chunks));
  });
  stream.on('close', () => {
    if (tooLarge) {
      settle(new GrpcCallError(GRPC_STATUS.RESOURCE_EXHAUSTED, `response message is larger than the limit of ${limit} bytes`));
    } else if (trailers) {
      settle(...outcome(trailers, chunks));
    } else if (headers && Number(headers[':status']) !== 200) {
      settle(new GrpcCallError(statusOfHttp(Number(headers[':status'])), `HTTP status ${headers[':status']}`));
    } else if (stream.rstCode === NGHTTP2_REFUSED_STREAM) {
      settle(new GrpcCallError(GRPC_STATUS.UNAVAILABLE, 'stream refused'), undefined, !headers);
    } else if (failure && (failure as NodeJS.ErrnoException).code === 'ERR_HTTP2_STREAM_ERROR') {
      settle(resetError(stream.rstCode));
    } else if (headers && !failure && stream.readableEnded) {
      settle(new GrpcCallError(GRPC_STATUS.INTERNAL, 'the response ended without a grpc-status'));
    } else {
      // The connection failed or closed. A stream still pending (no id) was never sent.
      const detail = errnoOf(failure) ?? errnoOf(connection.error) ?? 'connection closed';
      const pending = (failure as NodeJS.ErrnoException | undefined)?.code === 'ERR_HTTP2_STREAM_CANCEL' || stream.id === undefined;
      settle(new GrpcCallError(GRPC_STATUS.UNAVAILABLE, detail), undefined, pending && !headers);
    }
  });
}

/** The call's result from its final status and the DATA it got. */
function outcome(trailers: http2.IncomingHttpHeaders, chunks: Buffer[]): [GrpcCallError | undefined, Buffer?] {
  const code = Number(trailers['grpc-status']);
  if (!Number.isInteger(code) || code < 0) {
    return [new GrpcCallError(GRPC_STATUS.INTERNAL, `invalid grpc-status '${String(trailers['grpc-status']).slice(0, 20)}'`)];
  }
  if (code !== GRPC_STATUS.OK) return [new GrpcCallError(code, decodeGrpcMessage(trailers['grpc-message']), trailers)];
  const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  if (body.length < 5) {
    return [new GrpcCallError(GRPC_STATUS.INTERNAL, body.length === 0 ? 'no response message for a unary call' : 'truncated response: incomplete length prefix')];
  }
  const length = body.readUInt32BE(1);
  if (body[0] !== 0) {
    return [new GrpcCallError(GRPC_STATUS.INTERNAL, `compressed response message (flag ${body[0]}), but the call accepts only identity`)];
  }
  if (body.length !== 5 + length) {
    return [new GrpcCallError(GRPC_STATUS.INTERNAL, body.length < 5 + length
      ? `truncated response: the length prefix says ${length} bytes, ${body.length - 5} arrived`
      : 'more than one response message for a unary call')];
  }
  return [undefined, body.subarray(5)];
}

/** The status of a stream the server reset (RST_STREAM) before sending a status. */
function resetError(rstCode: number): GrpcCallError {
  const code = rstCode === NGHTTP2_CANCEL ? GRPC_STATUS.CANCELLED
    : rstCode === NGHTTP2_ENHANCE_YOUR_CALM ? GRPC_STATUS.RESOURCE_EXHAUSTED
      : rstCode === NGHTTP2_INADEQUATE_SECURITY ? GRPC_STATUS.PERMISSION_DENIED
        : GRPC_STATUS.INTERNAL;
  return new GrpcCallError(code, `stream reset by the server (HTTP/2 error code ${rstCode})`);
}
