/**
 * A lean HTTP/1.1 front for the inference routes, on the sockets of the `node:http` server.
 *
 * `node:http` costs about 14 µs of CPU per request here before any handler runs (request and
 * response objects, streams, header maps), as much as the model and our own code together for
 * a small model. This front reads each new connection's bytes itself and answers the ordinary
 * inference request (`POST` of a JSON body with a `Content-Length`, HTTP/1.1, to one of the two
 * inference routes) straight from the buffer. The first request it does not serve hands the
 * connection, with every unread byte, to `node:http` for good: health checks, metadata, other
 * methods, chunked bodies, `Expect`, upgrades, the binary tensor extension, oversized or
 * malformed requests, HTTP/1.0, and the whole shutdown are `node:http`'s and fastify's, so there
 * is one implementation of each of those paths. A request is either wholly ours or wholly
 * theirs, so the two parsers never disagree about where a message ends (checked by a differential
 * test against node:http, `test/server/attacks/http1-smuggling-differential.test.ts`).
 * `--http-front node` leaves it off (`../app.ts`).
 *
 * Requests on one connection are answered one at a time, in order. Memory per connection is
 * bounded (README "Limits"): a request head (16 KiB), one body (`maxBodyBytes`), pipelined bytes
 * read ahead while an answer is in flight (`READ_AHEAD_BYTES` plus one socket read), and answers
 * the client has not read (`maxUnreadResponseBytes`, plus the one answer that crossed it): past
 * the last two bounds the front stops reading from that client until it catches up. Bytes are
 * kept as the chunks that arrived and joined once per message, so a large body costs linear time.
 */
import * as http from 'http';
import { Socket } from 'net';
import { INFERENCE_HEADER_CONTENT_LENGTH } from './binary-tensors';
import { InferCall, InferHotPath, InferRoute, JSON_CONTENT_TYPE_PATTERN, matchInferRoute } from './infer-hot-path';
import { InferReply } from './infer-reply';

export interface LeanHttp1Options {
  readonly hotPath: InferHotPath;
  readonly maxBodyBytes: number;
  /** Idle keep-alive connections are closed after this long (as `server.keepAliveTimeout`). */
  readonly keepAliveTimeoutMs: number;
  /** A request body still arriving after this long gets a 408 (as `server.requestTimeout`; 0: none). */
  readonly requestTimeoutMs: number;
  /** Past this many answer bytes the client has not read, the front reads no more of its requests. */
  readonly maxUnreadResponseBytes: number;
}

/** Larger head sections go to node:http (its default `maxHeaderSize` answers 431). */
const MAX_HEAD_BYTES = 16 * 1024;
/** Pipelined bytes read while an answer is in flight or unread; then reading pauses. */
export const READ_AHEAD_BYTES = MAX_HEAD_BYTES;
const REQUEST_LINE = /^POST ([\x21-\x7e]+) HTTP\/1\.1$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const DIGITS = /^\d{1,15}$/;
const CLOSE_TOKEN = /(?:^|,)\s*close\s*(?:,|$)/i;
/** Headers whose presence means the request is node:http's. */
const NOT_OURS = new Set(['transfer-encoding', 'expect', 'upgrade', INFERENCE_HEADER_CONTENT_LENGTH]);

/** Puts the front on `server` (before it listens); returns it for shutdown. */
export function attachLeanHttp1(server: http.Server, options: LeanHttp1Options): LeanHttp1 {
  return new LeanHttp1(server, options);
}

export class LeanHttp1 {
  /** Connections still on the front. */
  private readonly connections = new Set<LeanConnection>();
  /** The connection headers of a keep-alive answer, as node:http writes them. */
  public readonly keepAliveHeaders: string;
  private closing = false;
  private readonly handOffToNode: (socket: Socket) => void;

  constructor(private readonly server: http.Server, public readonly options: LeanHttp1Options) {
    this.keepAliveHeaders = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(options.keepAliveTimeoutMs / 1000)}`;
    const nodeListeners = server.listeners('connection') as Array<(socket: Socket) => void>;
    server.removeAllListeners('connection');
    this.handOffToNode = (socket) => {
      for (const listener of nodeListeners) listener.call(server, socket);
    };
    server.on('connection', (socket: Socket) => {
      if (this.closing) this.handOffToNode(socket);
      else this.connections.add(new LeanConnection(socket, this));
    });
  }

  public get isClosing(): boolean {
    return this.closing;
  }

  /**
   * Shutdown (`./graceful-close`): idle connections go to node:http now, which closes them once
   * no request arrived on them; busy ones answer with `Connection: close` (or hand the pipelined
   * rest to node:http) when their answer is ready.
   */
  public beginClose(): void {
    this.closing = true;
    for (const connection of this.connections) connection.closeWhenIdle();
  }

  /** @internal */
  public handOff(connection: LeanConnection, socket: Socket): void {
    this.connections.delete(connection);
    this.handOffToNode(socket);
  }

  /** @internal */
  public forget(connection: LeanConnection): void {
    this.connections.delete(connection);
  }

  /**
   * A request cut short by the client's FIN: answered as node:http answers it (its `clientError`
   * event, which fastify turns into a 400), so both paths end such a connection alike.
   * @internal
   */
  public clientError(connection: LeanConnection, socket: Socket): void {
    this.connections.delete(connection);
    socket.on('error', ignore);
    const err = Object.assign(new Error('Parse Error: Invalid EOF state'), { code: 'HPE_INVALID_EOF_STATE' });
    if (this.server.listenerCount('clientError') > 0) {
      this.server.emit('clientError', err, socket);
    } else {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    }
  }
}

const enum State { Head, Body, Busy, Gone }

/** One connection while it is on the front. */
class LeanConnection {
  /**
   * Bytes received and not consumed yet, as they arrived: joined once a head or a whole body is
   * there, so a body in many segments is copied once (linear, not quadratic, in its size).
   */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes of the pending head already searched for its end. */
  private scanned = 0;
  private state = State.Head;
  private call?: InferCall;
  private bodyStart = 0;
  private bodyLength = 0;
  /** The client asked to close (`Connection: close`) or sent its FIN. */
  private closeAfter = false;
  /** The client left answers unread past the bound: serve no more until the socket drains. */
  private awaitingDrain = false;
  /** Runs while a request is incomplete (a slow head or body), as node:http's `requestTimeout`. */
  private requestTimer?: NodeJS.Timeout;
  private readonly onData: (chunk: Buffer) => void;
  private readonly onClose: () => void;
  private readonly onTimeout: () => void;
  private readonly onError: () => void;
  private readonly onEnd: () => void;
  private readonly onDrain: () => void;

  constructor(private readonly socket: Socket, private readonly front: LeanHttp1) {
    this.onData = (chunk) => this.received(chunk);
    this.onClose = () => this.closed();
    this.onTimeout = () => this.timedOut();
    this.onError = () => socket.destroy();
    this.onEnd = () => this.clientEnded();
    this.onDrain = () => this.drained();
    socket.setNoDelay(true);
    socket.setTimeout(front.options.keepAliveTimeoutMs);
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('timeout', this.onTimeout);
    socket.on('error', this.onError);
    socket.on('end', this.onEnd);
  }

  /** Shutdown: an idle connection goes to node:http now (`LeanHttp1.beginClose`), a busy one after its answer. */
  public closeWhenIdle(): void {
    if (this.state === State.Head && this.pendingBytes === 0) this.handOff();
  }

  private received(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.state === State.Busy || this.awaitingDrain) {
      // Pipelined bytes wait for the answer in flight (or for the client to read it); reading
      // pauses past a small bound, so a client that never reads holds little here.
      if (this.pendingBytes > READ_AHEAD_BYTES) this.socket.pause();
      return;
    }
    this.advance();
  }

  /** Serves what the buffer holds, as far as it goes. */
  private advance(): void {
    while (this.pendingBytes > 0 && this.state !== State.Gone) {
      if (this.state === State.Head && !this.readHead()) break;
      if (this.state === State.Body && !this.readBody()) break;
      if (this.state === State.Busy) break;
    }
    if (this.state === State.Gone) return;
    this.watchIncomplete();
    this.updateReading();
  }

  /**
   * Reads on while the request being parsed needs more bytes; with an answer in flight, reads
   * ahead at most `READ_AHEAD_BYTES` of what follows (so a pipelining client that never reads
   * its answers holds little here).
   */
  private updateReading(): void {
    const waitingForBytes = this.state === State.Head || this.state === State.Body;
    if (waitingForBytes || this.pendingBytes <= READ_AHEAD_BYTES) {
      if (this.socket.isPaused()) this.socket.resume();
    } else if (!this.socket.isPaused()) {
      this.socket.pause();
    }
  }

  /** Starts the request timer while part of a request waits for the rest; stops it otherwise. */
  private watchIncomplete(): void {
    const waiting = this.state === State.Body || (this.state === State.Head && this.pendingBytes > 0);
    if (!waiting) {
      if (this.requestTimer) {
        clearTimeout(this.requestTimer);
        this.requestTimer = undefined;
      }
    } else if (!this.requestTimer && this.front.options.requestTimeoutMs > 0) {
      this.requestTimer = setTimeout(() => this.requestTimedOut(), this.front.options.requestTimeoutMs);
    }
  }

  /** The pending bytes as one buffer (joined in place). */
  private joined(): Buffer {
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
    return this.pending[0];
  }

  /** Consumes the pending bytes up to `end` of `buf` (the joined pending bytes). */
  private consume(buf: Buffer, end: number): void {
    // The array is reused: this runs once per request.
    this.pending.length = 0;
    if (buf.length === end) {
      this.pendingBytes = 0;
    } else {
      // A copy when the rest is small next to what it would keep alive (a large joined body).
      const rest = buf.subarray(end);
      this.pending.push(rest.length * 4 < buf.length ? Buffer.from(rest) : rest);
      this.pendingBytes = rest.length;
    }
  }

  /** Parses a request head; false when more bytes are needed or the connection left the front. */
  private readHead(): boolean {
    const { hotPath, maxBodyBytes } = this.front.options;
    // A head still arriving is at most MAX_HEAD_BYTES plus one read: joining it each time is bounded.
    const buf = this.joined();
    const headEnd = buf.indexOf('\r\n\r\n', Math.max(0, this.scanned - 3));
    if (headEnd < 0) {
      this.scanned = buf.length;
      // A request line that is not ours needs no more bytes to decide.
      const lineEnd = buf.indexOf('\r\n');
      const notOurs = lineEnd >= 0 && !REQUEST_LINE.test(buf.toString('latin1', 0, lineEnd));
      if (notOurs || buf.length > MAX_HEAD_BYTES) this.handOff();
      return false;
    }
    this.scanned = 0;
    if (headEnd > MAX_HEAD_BYTES || hotPath.draining || this.front.isClosing) {
      this.handOff();
      return false;
    }
    const lines = buf.toString('latin1', 0, headEnd).split('\r\n');
    const requestLine = REQUEST_LINE.exec(lines[0]);
    const route = requestLine ? matchInferRoute(requestLine[1]) : undefined;
    const head = route && parseHeaders(lines);
    if (!head || !head.host || !(head.contentLength > 0) || head.contentLength > maxBodyBytes || !JSON_CONTENT_TYPE_PATTERN.test(head.contentType)) {
      this.handOff();
      return false;
    }
    this.closeAfter ||= head.close;
    this.bodyStart = headEnd + 4;
    this.bodyLength = head.contentLength;
    this.state = State.Body;
    this.call = hotPath.begin(route as InferRoute, (status, reply) => this.answer(status, reply));
    return true;
  }

  /** Starts the request once its body is complete (the only time a body's segments are joined). */
  private readBody(): boolean {
    const end = this.bodyStart + this.bodyLength;
    if (this.pendingBytes < end) return false;
    const buf = this.joined();
    const body = buf.toString('utf8', this.bodyStart, end);
    this.consume(buf, end);
    this.state = State.Busy;
    this.call!.answer(body);
    return true;
  }

  private answer(status: number, reply: InferReply): void {
    if (this.state === State.Gone) return;
    const socket = this.socket;
    // Shutting down with pipelined bytes waiting: answer this one keep-alive, then node:http
    // answers the rest (with `Connection: close`), so no request that arrived is dropped.
    const handOffAfter = this.front.isClosing && !this.closeAfter && this.pendingBytes > 0;
    const close = !handOffAfter && (this.closeAfter || this.front.isClosing);
    const { body } = reply;
    const head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: ${reply.contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${
      reply.headerLength === undefined ? '' : `Inference-Header-Content-Length: ${reply.headerLength}\r\n`}Date: ${httpDate()}\r\n${close ? 'Connection: close' : this.front.keepAliveHeaders}\r\n\r\n`;
    if (typeof body === 'string') {
      socket.write(head + body);
    } else {
      socket.cork();
      socket.write(head, 'latin1');
      socket.write(body);
      socket.uncork();
    }
    this.call = undefined;
    if (close) {
      this.end();
      return;
    }
    this.state = State.Head;
    if (handOffAfter) {
      this.handOff();
      return;
    }
    if (socket.writableLength > this.front.options.maxUnreadResponseBytes) {
      // A client that does not read its answers gets no more work done for it: the unread
      // answers stay under the bound plus this one. (The bound is at least the socket's
      // high-water mark, so 'drain' comes once the client reads.)
      this.awaitingDrain = true;
      socket.pause();
      socket.once('drain', this.onDrain);
      return;
    }
    this.advance();
  }

  private drained(): void {
    if (this.state === State.Gone) return;
    this.awaitingDrain = false;
    this.advance();
  }

  /** Gives the connection, and every byte not yet consumed, to node:http. */
  private handOff(): void {
    const socket = this.socket;
    this.detach();
    if (this.pendingBytes > 0) socket.unshift(this.joined());
    this.pending.length = 0;
    this.pendingBytes = 0;
    this.front.handOff(this, socket);
    // node:http reads through its own listener; reading may have been paused here.
    if (socket.isPaused()) socket.resume();
  }

  private detach(): void {
    this.state = State.Gone;
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('close', this.onClose);
    socket.off('timeout', this.onTimeout);
    socket.off('error', this.onError);
    socket.off('end', this.onEnd);
    socket.off('drain', this.onDrain);
    socket.setTimeout(0);
    if (this.requestTimer) clearTimeout(this.requestTimer);
    this.requestTimer = undefined;
  }

  private end(): void {
    this.detach();
    this.front.forget(this);
    // Errors after this point (a reset while flushing) have nowhere to go.
    this.socket.on('error', ignore);
    this.socket.end();
  }

  /**
   * The client finished sending: answer what is in flight, then close (as node:http does); a
   * request cut short by the FIN is a client error, as node:http's parser reports it.
   */
  private clientEnded(): void {
    this.closeAfter = true;
    if (this.state === State.Busy) return;
    this.call?.abort();
    if (this.state === State.Body || this.pendingBytes > 0) {
      this.detach();
      this.front.clientError(this, this.socket);
      return;
    }
    this.end();
  }

  private closed(): void {
    this.detach();
    this.front.forget(this);
    this.call?.abort();
  }

  /** Idle past the keep-alive timeout, or a head that never completes: close. */
  private timedOut(): void {
    if (this.state === State.Busy) return;
    if (this.state === State.Body) {
      this.requestTimedOut();
      return;
    }
    this.detach();
    this.front.forget(this);
    this.socket.destroy();
  }

  /** A request that does not arrive in time: 408 and close, as node:http does. */
  private requestTimedOut(): void {
    this.call?.abort();
    this.call = undefined;
    const socket = this.socket;
    this.detach();
    this.front.forget(this);
    socket.on('error', ignore);
    socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
  }
}

interface RequestHead {
  host: boolean;
  contentLength: number;
  contentType: string;
  close: boolean;
}

/** The headers the front needs; undefined when the request must go to node:http. */
function parseHeaders(lines: string[]): RequestHead | undefined {
  const head: RequestHead = { host: false, contentLength: -1, contentType: '', close: false };
  let typeSeen = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    // Folded lines, spaces before the colon, control characters: node:http rejects them itself.
    if (!TOKEN.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) return undefined;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        if (head.host) return undefined;
        head.host = true;
        continue;
      case 'content-length':
        if (head.contentLength >= 0 || !DIGITS.test(value)) return undefined;
        head.contentLength = Number(value);
        continue;
      case 'content-type':
        if (typeSeen) return undefined;
        typeSeen = true;
        head.contentType = value;
        continue;
      case 'connection':
        if (CLOSE_TOKEN.test(value)) head.close = true;
        continue;
      default:
        if (NOT_OURS.has(lower)) return undefined;
    }
  }
  return head;
}

let dateText = '';
let dateExpires = 0;
/** The `Date` header value, computed at most once a second. */
function httpDate(): string {
  const now = Date.now();
  if (now >= dateExpires) {
    dateText = new Date(now).toUTCString();
    dateExpires = now - (now % 1000) + 1000;
  }
  return dateText;
}

function ignore(): void {}
