/**
 * One server-side HTTP/2 stream: its state (RFC 9113 §5.1), flow-control windows and the part of
 * its response still waiting for send window. Plain fields, no events: the connection drives it
 * and calls the application's `StreamHandler` directly.
 */
import type { RequestHead } from './request-head';

/** What the application gets told about a request stream. */
export interface StreamHandler {
  /** A chunk of the request body (padding removed; a view of the socket's buffer, not a copy). */
  data(chunk: Buffer): void;
  /** The request body is complete (END_STREAM). */
  end(): void;
  /** The stream went away before the response was started: client reset, connection closed. */
  abort(): void;
}

/** The response side of a stream, as the application sees it. */
export interface ServerStream {
  readonly id: number;
  /** True once a response was started or the stream is gone: later `respond` calls do nothing. */
  readonly done: boolean;
  /**
   * Sends the whole response: HEADERS with the encoded `head` block, then `body` as DATA (as the
   * peer's flow-control windows allow), then a trailers HEADERS from `trailers`; END_STREAM on
   * the last of them. If the request has not ended, RST_STREAM(NO_ERROR) follows (RFC 9113 §8.1).
   */
  respond(head: Buffer, body?: Uint8Array, trailers?: Buffer): void;
}

/** Creates streams and sends their responses (the connection). */
export interface StreamOwner {
  respond(stream: Stream, head: Buffer, body: Uint8Array | undefined, trailers: Buffer | undefined): void;
}

/** Called for each new request stream; returns who gets its body. */
export type RequestListener = (stream: ServerStream, head: RequestHead) => StreamHandler;

/** A handler for streams the application never sees (refused, answered by the connection). */
export const IGNORE_STREAM: StreamHandler = { data() {}, end() {}, abort() {} };

export class Stream implements ServerStream {
  public handler: StreamHandler = IGNORE_STREAM;
  /** END_STREAM received: half-closed (remote). */
  public remoteEnded = false;
  /** A response was started (HEADERS sent or queued). */
  public responded = false;
  /** Removed from the connection (closed or reset). */
  public closed = false;
  /** Bytes the peer may still send on this stream. */
  public recvWindow: number;
  /** Received bytes not yet given back with WINDOW_UPDATE. */
  public recvUnacked = 0;
  /** Bytes we may still send. */
  public sendWindow: number;
  /** `content-length` of the request, or -1. */
  public contentLength = -1;
  /** Request body bytes received. */
  public received = 0;
  /** Response body still to send (from `pendingOffset`), and trailers to send after it. */
  public pending: Uint8Array | undefined;
  public pendingOffset = 0;
  public pendingTrailers: Buffer | undefined;

  constructor(private readonly owner: StreamOwner, public readonly id: number, recvWindow: number, sendWindow: number) {
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  public get done(): boolean {
    return this.responded || this.closed;
  }

  public respond(head: Buffer, body?: Uint8Array, trailers?: Buffer): void {
    if (this.responded || this.closed) return;
    this.responded = true;
    this.owner.respond(this, head, body, trailers);
  }
}
