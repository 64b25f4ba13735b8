/**
 * One server-side HTTP/2 connection (RFC 9113) on a plain TCP socket ("h2c" with prior knowledge,
 * what gRPC clients speak).
 *
 * This is the protocol state machine: frames in (from `./frame-reader`, straight from the
 * socket's chunks), frames out (through `./frame-writer`, once per tick), streams in between.
 * Header blocks are decoded by HPACK from the frame buffer; DATA payloads reach the application
 * as views of the chunk; a response whose body fits the windows goes out as one buffer
 * (HEADERS + DATA + trailers). No timers, no events per stream.
 *
 * Flow control: we advertise a large stream window and raise the connection window at start, and
 * give credit back in batches (once half a window is used). On the send side we honour the
 * peer's windows, SETTINGS_INITIAL_WINDOW_SIZE and MAX_FRAME_SIZE, and queue what does not fit.
 *
 * Errors: a connection error sends GOAWAY with its code and closes; a stream error sends
 * RST_STREAM and ends that stream only. Bounds against a hostile peer: frame size, header block
 * size (with CONTINUATION), header list size, concurrent streams, request bytes held by open
 * streams, the rate of client resets of unanswered streams, and unsent output (reading stops
 * while the socket's write buffer is full).
 */
import type { Socket } from 'node:net';
import { FrameReader, FrameSink } from './frame-reader';
import { FrameWriter } from './frame-writer';
import { Flag, FrameType, ErrorCode, Setting, Limits, Http2Error, FRAME_HEADER_BYTES, writeFrameHeader, settingsFrame, u32Frame, goawayFrame, frame } from './frames';
import { HpackDecoder } from './hpack';
import { parseRequestHead, validTrailers } from './request-head';
import { RequestListener, Stream, StreamOwner } from './stream';

/* eslint-disable no-bitwise */

export interface ConnectionOptions {
  /** Called for each new request stream. */
  readonly onRequest: RequestListener;
  /** SETTINGS_MAX_CONCURRENT_STREAMS. @default 1000 */
  readonly maxConcurrentStreams?: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on a stream before we give credit. @default 1 MiB */
  readonly initialWindowSize?: number;
  /** Receive window of the whole connection. @default 16 MiB */
  readonly connectionWindowSize?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE; a larger request header section gets 431. @default 64 KiB */
  readonly maxHeaderListSize?: number;
  /** Request body bytes held by the open streams of one connection; past it, RST_STREAM(ENHANCE_YOUR_CALM). @default 256 MiB */
  readonly maxBufferedBytes?: number;
  /** Unsent output above which the connection stops reading and holds back DATA. @default 1 MiB */
  readonly writeHighWaterMark?: number;
}

const enum State {
  /** Waiting for the client connection preface. */
  PREFACE,
  /** Preface received; the next frame must be SETTINGS. */
  SETTINGS,
  OPEN,
  /** GOAWAY sent or socket ended: input is ignored. */
  CLOSED,
}

/** PING payload of the graceful-shutdown round trip. */
const SHUTDOWN_PING = Buffer.from('shutdown', 'latin1');
/** A 431 answer (RFC 6585) to a header section above SETTINGS_MAX_HEADER_LIST_SIZE. */
const HEADERS_TOO_LARGE = Buffer.from([0x08, 0x03, 0x34, 0x33, 0x31]);
/** Reset budget: a client may reset this many unanswered streams at once... */
const RESET_BURST = 1000;
/** ...and this many more per second (the "rapid reset" attack, CVE-2023-44487, needs far more). */
const RESETS_PER_SECOND = 100;
/** How long a closed connection waits for the peer to close its side. */
const LINGER_MS = 5000;

export class Http2Connection implements StreamOwner, FrameSink {
  private state = State.PREFACE;
  private readonly reader: FrameReader;
  private readonly output: FrameWriter;
  // A header block spread over HEADERS + CONTINUATION.
  private blockStream = 0;
  private blockEndStream = false;
  private blockSelfDependent = false;
  private blockParts: Buffer[] = [];
  private blockBytes = 0;

  private readonly streams = new Map<number, Stream>();
  /** Highest stream id the client opened (or skipped): ids up to it are no longer idle. */
  private lastStreamId = 0;
  private readonly decoder = new HpackDecoder();

  // Peer settings and our send windows.
  private peerMaxFrameSize: number = Limits.MIN_MAX_FRAME_SIZE;
  private peerInitialWindow: number = Limits.DEFAULT_WINDOW;
  private sendWindow: number = Limits.DEFAULT_WINDOW;
  /**
   * Streams with response data waiting for the connection window or the socket. A stream waiting
   * for its own window is not here: its WINDOW_UPDATE (or a SETTINGS change) resumes it, so a
   * connection WINDOW_UPDATE costs work only for the streams that can use it.
   */
  private readonly blocked = new Set<Stream>();

  // Our receive side.
  private recvWindow: number;
  private recvUnacked = 0;
  private buffered = 0;

  /** 0: serving; 1: first GOAWAY and PING sent; 2: final GOAWAY sent. */
  private drainPhase = 0;
  private peerWentAway = false;
  private resetTokens = RESET_BURST;
  private resetTokensAt = 0;
  private linger: NodeJS.Timeout | undefined;

  private readonly maxConcurrentStreams: number;
  private readonly initialWindow: number;
  private readonly connectionWindow: number;
  private readonly maxHeaderListSize: number;
  private readonly maxBlockBytes: number;
  private readonly maxBuffered: number;

  constructor(private readonly socket: Socket, private readonly options: ConnectionOptions, private readonly onClose: (c: Http2Connection) => void) {
    this.maxConcurrentStreams = options.maxConcurrentStreams ?? 1000;
    this.initialWindow = Math.min(options.initialWindowSize ?? 1024 * 1024, Limits.MAX_WINDOW);
    this.connectionWindow = Math.max(Limits.DEFAULT_WINDOW, Math.min(options.connectionWindowSize ?? 16 * 1024 * 1024, Limits.MAX_WINDOW));
    this.maxHeaderListSize = options.maxHeaderListSize ?? 64 * 1024;
    this.maxBlockBytes = 2 * this.maxHeaderListSize;
    this.maxBuffered = options.maxBufferedBytes ?? 256 * 1024 * 1024;
    this.recvWindow = this.connectionWindow;
    this.reader = new FrameReader(this, Limits.MIN_MAX_FRAME_SIZE);
    this.output = new FrameWriter(socket, options.writeHighWaterMark ?? 1024 * 1024, () => this.flushBlocked());

    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // A reset or broken socket ends in 'close', handled there.
    socket.on('error', () => undefined);
    socket.on('close', () => this.onSocketClose());

    // Server connection preface (RFC 9113 §3.4): our SETTINGS, then the connection window.
    this.write(settingsFrame([
      [Setting.MAX_CONCURRENT_STREAMS, this.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, this.initialWindow],
      [Setting.MAX_HEADER_LIST_SIZE, this.maxHeaderListSize],
    ]));
    if (this.connectionWindow > Limits.DEFAULT_WINDOW) {
      this.write(u32Frame(FrameType.WINDOW_UPDATE, 0, this.connectionWindow - Limits.DEFAULT_WINDOW));
    }
  }

  /**
   * Graceful shutdown (RFC 9113 §6.8): GOAWAY with the highest id, then a PING; when its ACK
   * proves the client has seen the GOAWAY, a second GOAWAY with the last stream we accepted.
   * Streams already accepted finish; the socket ends once none is left.
   */
  public shutdown(): void {
    if (this.state === State.CLOSED || this.drainPhase > 0) return;
    if (this.state !== State.OPEN) {
      this.write(goawayFrame(0, ErrorCode.NO_ERROR));
      this.finish();
      return;
    }
    this.drainPhase = 1;
    this.write(goawayFrame(Limits.MAX_STREAM_ID, ErrorCode.NO_ERROR));
    this.write(frame(FrameType.PING, 0, 0, SHUTDOWN_PING));
  }

  /** Closes the socket now; open streams are aborted. */
  public destroy(): void {
    this.socket.destroy();
  }

  // ---------------------------------------------------------------------------------------------
  // Input

  private onData(chunk: Buffer): void {
    if (this.state === State.CLOSED) return;
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (err instanceof Http2Error) {
        this.connectionError(err.code, err.message);
      } else {
        // A bug must cost this connection only, never the process.
        this.connectionError(ErrorCode.INTERNAL_ERROR, 'internal error');
      }
    }
  }

  /** `FrameSink`: the client preface is in; its SETTINGS frame must come first. */
  public onPreface(): void {
    this.state = State.SETTINGS;
  }

  /** `FrameSink`: input stops after a connection error. */
  public get stopped(): boolean {
    return this.state === State.CLOSED;
  }

  /** `FrameSink`: one frame. */
  public onFrame(buf: Buffer, off: number, length: number): void {
    const type = buf[off + 3];
    const flags = buf[off + 4];
    const id = buf.readUInt32BE(off + 5) & 0x7fff_ffff;
    const start = off + FRAME_HEADER_BYTES;
    const end = start + length;
    if (this.blockStream !== 0 && type !== FrameType.CONTINUATION) {
      throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'header block interrupted: CONTINUATION expected');
    }
    if (this.state === State.SETTINGS) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
      this.state = State.OPEN;
    }
    switch (type) {
      case FrameType.DATA: return this.onDataFrame(buf, start, end, flags, id);
      case FrameType.HEADERS: return this.onHeadersFrame(buf, start, end, flags, id);
      case FrameType.PRIORITY: return this.onPriority(buf, start, length, id);
      case FrameType.RST_STREAM: return this.onResetStream(length, id);
      case FrameType.SETTINGS: return this.onSettings(buf, start, length, flags, id);
      case FrameType.PUSH_PROMISE: throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case FrameType.PING: return this.onPing(buf, start, length, flags, id);
      case FrameType.GOAWAY: return this.onGoaway(length, id);
      case FrameType.WINDOW_UPDATE: return this.onWindowUpdate(buf, start, length, id);
      case FrameType.CONTINUATION: return this.onContinuation(buf, start, end, flags, id);
      default: return; // Unknown frame types are ignored (RFC 9113 §4.1).
    }
  }

  /** Ids the client has not opened yet (even ids never are): frames other than HEADERS/PRIORITY are errors there. */
  private isIdle(id: number): boolean {
    return (id & 1) === 0 || id > this.lastStreamId;
  }

  private onDataFrame(buf: Buffer, start: number, end: number, flags: number, id: number): void {
    if (id === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    if (this.isIdle(id)) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
    const length = end - start;
    // The whole payload, padding included, counts against the connection window (§6.9.1).
    this.recvWindow -= length;
    if (this.recvWindow < 0) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, 'connection receive window exceeded');
    this.recvUnacked += length;
    if (this.recvUnacked >= this.connectionWindow >>> 1) {
      this.write(u32Frame(FrameType.WINDOW_UPDATE, 0, this.recvUnacked));
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
    }
    let dataStart = start;
    let dataEnd = end;
    if (flags & Flag.PADDED) {
      if (length < 1) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'padded DATA without a pad length');
      const pad = buf[start];
      if (pad >= length) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'DATA padding longer than the payload');
      dataStart = start + 1;
      dataEnd = end - pad;
    }
    const stream = this.streams.get(id);
    // Closed (answered or reset) streams: frames still in flight are ignored (§5.1).
    if (!stream) return;
    if (stream.remoteEnded) return this.resetStream(stream, ErrorCode.STREAM_CLOSED);
    stream.recvWindow -= length;
    if (stream.recvWindow < 0) return this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
    const dataLength = dataEnd - dataStart;
    stream.received += dataLength;
    this.buffered += dataLength;
    if (this.buffered > this.maxBuffered) return this.resetStream(stream, ErrorCode.ENHANCE_YOUR_CALM);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (stream.contentLength >= 0 && (stream.received > stream.contentLength || (endStream && stream.received !== stream.contentLength))) {
      // §8.1.1: a body that disagrees with content-length is malformed.
      return this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
    }
    if (endStream) {
      stream.remoteEnded = true;
    } else {
      stream.recvUnacked += length;
      if (stream.recvUnacked >= this.initialWindow >>> 1) {
        this.write(u32Frame(FrameType.WINDOW_UPDATE, id, stream.recvUnacked));
        stream.recvWindow += stream.recvUnacked;
        stream.recvUnacked = 0;
      }
    }
    if (stream.responded) return;
    if (dataLength > 0) stream.handler.data(buf.subarray(dataStart, dataEnd));
    if (endStream && !stream.responded) stream.handler.end();
  }

  private onHeadersFrame(buf: Buffer, start: number, end: number, flags: number, id: number): void {
    if (id === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS on stream 0');
    if ((id & 1) === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `HEADERS on even stream ${id}: client streams are odd`);
    let p = start;
    let pad = 0;
    if (flags & Flag.PADDED) {
      if (end - p < 1) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'padded HEADERS without a pad length');
      pad = buf[p++];
    }
    let selfDependent = false;
    if (flags & Flag.PRIORITY) {
      if (end - p < 5) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority fields');
      selfDependent = (buf.readUInt32BE(p) & 0x7fff_ffff) === id;
      p += 5;
    }
    if (pad > end - p) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding longer than the payload');
    const fragmentEnd = end - pad;
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (flags & Flag.END_HEADERS) {
      this.onHeaderBlock(id, endStream, selfDependent, buf, p, fragmentEnd);
      return;
    }
    if (fragmentEnd - p > this.maxBlockBytes) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'header block too large');
    this.blockStream = id;
    this.blockEndStream = endStream;
    this.blockSelfDependent = selfDependent;
    this.blockParts = [buf.subarray(p, fragmentEnd)];
    this.blockBytes = fragmentEnd - p;
  }

  private onContinuation(buf: Buffer, start: number, end: number, flags: number, id: number): void {
    if (this.blockStream === 0 || id !== this.blockStream) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without a header block in progress on that stream');
    this.blockBytes += end - start;
    if (this.blockBytes > this.maxBlockBytes) throw new Http2Error(ErrorCode.COMPRESSION_ERROR, 'header block too large');
    this.blockParts.push(buf.subarray(start, end));
    if ((flags & Flag.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.blockParts, this.blockBytes);
    this.blockStream = 0;
    this.blockParts = [];
    this.blockBytes = 0;
    this.onHeaderBlock(id, this.blockEndStream, this.blockSelfDependent, block, 0, block.length);
  }

  /** A complete header block: a new request, or trailers of an open one. */
  private onHeaderBlock(id: number, endStream: boolean, selfDependent: boolean, block: Buffer, start: number, end: number): void {
    // Every block is decoded, even one we then refuse: the HPACK table is shared (§4.3).
    const fields: string[] = [];
    const listSize = this.decoder.decode(block, start, end, fields, this.maxHeaderListSize);
    const existing = this.streams.get(id);
    if (existing) return this.onTrailers(existing, endStream, fields, listSize);
    // An id we already saw: a stream that is closed now (trailers after our answer, for one).
    if (id <= this.lastStreamId) return;
    this.lastStreamId = id;
    // After the final GOAWAY, new streams are ignored: the client knows they were not processed.
    if (this.drainPhase === 2) return;
    if (selfDependent) return this.sendReset(id, ErrorCode.PROTOCOL_ERROR);
    if (this.streams.size >= this.maxConcurrentStreams) return this.sendReset(id, ErrorCode.REFUSED_STREAM);
    const stream = new Stream(this, id, this.initialWindow, this.peerInitialWindow);
    if (listSize > this.maxHeaderListSize) {
      this.streams.set(id, stream);
      stream.remoteEnded = endStream;
      stream.respond(HEADERS_TOO_LARGE);
      return;
    }
    const head = parseRequestHead(fields);
    if (typeof head === 'string' || (endStream && head.contentLength > 0)) return this.sendReset(id, ErrorCode.PROTOCOL_ERROR);
    stream.contentLength = head.contentLength;
    stream.remoteEnded = endStream;
    this.streams.set(id, stream);
    stream.handler = this.options.onRequest(stream, head);
    if (endStream && !stream.responded) stream.handler.end();
  }

  private onTrailers(stream: Stream, endStream: boolean, fields: string[], listSize: number): void {
    if (stream.remoteEnded) return this.resetStream(stream, ErrorCode.STREAM_CLOSED);
    // §8.1: trailers end the stream, carry no pseudo-header fields.
    if (!endStream || listSize > this.maxHeaderListSize || !validTrailers(fields)) return this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
    if (stream.contentLength >= 0 && stream.received !== stream.contentLength) return this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
    stream.remoteEnded = true;
    if (!stream.responded) stream.handler.end();
  }

  private onPriority(buf: Buffer, start: number, length: number, id: number): void {
    if (id === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
    // Priorities are deprecated (RFC 9113 §5.3.2) and ignored; only the frame is checked.
    if (length !== 5) return this.streamError(id, ErrorCode.FRAME_SIZE_ERROR);
    if ((buf.readUInt32BE(start) & 0x7fff_ffff) === id) this.streamError(id, ErrorCode.PROTOCOL_ERROR);
  }

  private onResetStream(length: number, id: number): void {
    if (id === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (length !== 4) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM must be 4 bytes');
    if (this.isIdle(id)) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
    const stream = this.streams.get(id);
    if (!stream) return;
    const unanswered = !stream.responded;
    this.closeStream(stream);
    if (!unanswered) return;
    stream.handler.abort();
    this.chargeReset();
  }

  /** Token bucket over resets of unanswered streams: many of them in a burst is an attack. */
  private chargeReset(): void {
    const now = Date.now();
    this.resetTokens = Math.min(RESET_BURST, this.resetTokens + ((now - this.resetTokensAt) * RESETS_PER_SECOND) / 1000);
    this.resetTokensAt = now;
    if (--this.resetTokens < 0) this.connectionError(ErrorCode.ENHANCE_YOUR_CALM, 'too many stream resets');
  }

  private onSettings(buf: Buffer, start: number, length: number, flags: number, id: number): void {
    if (id !== 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (length !== 0) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (length % 6 !== 0) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS length is not a multiple of 6');
    let initialWindow = this.peerInitialWindow;
    for (let p = start; p < start + length; p += 6) {
      const setting = buf.readUInt16BE(p);
      const value = buf.readUInt32BE(p + 2);
      switch (setting) {
        case Setting.ENABLE_PUSH:
          if (value > 1) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH must be 0 or 1');
          break;
        case Setting.INITIAL_WINDOW_SIZE:
          if (value > Limits.MAX_WINDOW) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          initialWindow = value;
          break;
        case Setting.MAX_FRAME_SIZE:
          if (value < Limits.MIN_MAX_FRAME_SIZE || value > Limits.MAX_MAX_FRAME_SIZE) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
          this.peerMaxFrameSize = value;
          break;
        default:
          // HEADER_TABLE_SIZE: our encoder never indexes. MAX_CONCURRENT_STREAMS: we open none.
          // MAX_HEADER_LIST_SIZE: advisory. Unknown settings are ignored (§6.5.2).
          break;
      }
    }
    // §6.9.2: a new initial window changes every open stream's window (which may go negative).
    // Applied once per frame, with the last value: a frame full of changes costs one pass.
    const delta = initialWindow - this.peerInitialWindow;
    this.peerInitialWindow = initialWindow;
    if (delta !== 0) {
      for (const stream of this.streams.values()) {
        stream.sendWindow += delta;
        if (stream.sendWindow > Limits.MAX_WINDOW) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, 'stream window above 2^31-1');
      }
    }
    this.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    if (delta > 0) {
      // Every stream with queued data: it sends, or waits in the right place (its own window, or
      // `blocked` for the connection window).
      for (const stream of this.streams.values()) if (stream.pending) this.flushStream(stream);
    }
  }

  private onPing(buf: Buffer, start: number, length: number, flags: number, id: number): void {
    if (id !== 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
    if (length !== 8) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'PING must be 8 bytes');
    if (flags & Flag.ACK) {
      if (this.drainPhase === 1 && buf.compare(SHUTDOWN_PING, 0, 8, start, start + 8) === 0) this.finalGoaway();
      return;
    }
    this.write(frame(FrameType.PING, Flag.ACK, 0, buf.subarray(start, start + 8)));
  }

  private onGoaway(length: number, id: number): void {
    if (id !== 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (length < 8) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY shorter than 8 bytes');
    // The client opens no more streams: finish the open ones, then close.
    this.peerWentAway = true;
    if (this.streams.size === 0) this.closeIdle();
  }

  private onWindowUpdate(buf: Buffer, start: number, length: number, id: number): void {
    if (length !== 4) throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE must be 4 bytes');
    const increment = buf.readUInt32BE(start) & 0x7fff_ffff;
    if (id === 0) {
      if (increment === 0) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendWindow += increment;
      if (this.sendWindow > Limits.MAX_WINDOW) throw new Http2Error(ErrorCode.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      this.flushBlocked();
      return;
    }
    if (this.isIdle(id)) throw new Http2Error(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
    const stream = this.streams.get(id);
    if (!stream) return;
    if (increment === 0) return this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
    stream.sendWindow += increment;
    if (stream.sendWindow > Limits.MAX_WINDOW) return this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
    if (stream.pending) this.flushStream(stream);
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  /** `StreamOwner`: sends a response, in one buffer when it fits the windows. */
  public respond(stream: Stream, head: Buffer, body: Uint8Array | undefined, trailers: Buffer | undefined): void {
    if (this.state === State.CLOSED) return;
    const id = stream.id;
    const bodyLength = body ? body.length : 0;
    const maxFrame = this.peerMaxFrameSize;
    if (bodyLength === 0) {
      if (trailers) {
        this.writeHeaders(id, head, 0);
        this.writeHeaders(id, trailers, Flag.END_STREAM);
      } else {
        this.writeHeaders(id, head, Flag.END_STREAM);
      }
      this.endLocal(stream);
      return;
    }
    if (bodyLength <= maxFrame && bodyLength <= stream.sendWindow && bodyLength <= this.sendWindow && head.length <= maxFrame
      && (!trailers || trailers.length <= maxFrame) && !this.output.mustWait()) {
      // The common case: HEADERS + DATA + trailers HEADERS in one buffer.
      const total = 2 * FRAME_HEADER_BYTES + head.length + bodyLength + (trailers ? FRAME_HEADER_BYTES + trailers.length : 0);
      const out = Buffer.allocUnsafe(total);
      writeFrameHeader(out, 0, head.length, FrameType.HEADERS, Flag.END_HEADERS, id);
      head.copy(out, FRAME_HEADER_BYTES);
      let p = FRAME_HEADER_BYTES + head.length;
      writeFrameHeader(out, p, bodyLength, FrameType.DATA, trailers ? 0 : Flag.END_STREAM, id);
      out.set(body!, p + FRAME_HEADER_BYTES);
      p += FRAME_HEADER_BYTES + bodyLength;
      if (trailers) {
        writeFrameHeader(out, p, trailers.length, FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id);
        trailers.copy(out, p + FRAME_HEADER_BYTES);
      }
      stream.sendWindow -= bodyLength;
      this.sendWindow -= bodyLength;
      this.write(out);
      this.endLocal(stream);
      return;
    }
    this.writeHeaders(id, head, 0);
    stream.pending = body;
    stream.pendingOffset = 0;
    stream.pendingTrailers = trailers;
    this.flushStream(stream);
  }

  /** Sends what the windows allow of a stream's queued body; then its trailers. */
  private flushStream(stream: Stream): void {
    const body = stream.pending!;
    const trailers = stream.pendingTrailers;
    while (stream.pendingOffset < body.length) {
      const n = Math.min(body.length - stream.pendingOffset, stream.sendWindow, this.sendWindow, this.peerMaxFrameSize);
      const wait = this.output.mustWait();
      if (n <= 0 || wait) {
        if (!wait && stream.sendWindow <= 0) this.blocked.delete(stream);
        else this.blocked.add(stream);
        return;
      }
      const last = stream.pendingOffset + n === body.length;
      const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      writeFrameHeader(header, 0, n, FrameType.DATA, last && !trailers ? Flag.END_STREAM : 0, stream.id);
      this.write(header);
      this.write(Buffer.from(body.buffer, body.byteOffset + stream.pendingOffset, n));
      stream.pendingOffset += n;
      stream.sendWindow -= n;
      this.sendWindow -= n;
    }
    this.blocked.delete(stream);
    stream.pending = undefined;
    stream.pendingTrailers = undefined;
    if (trailers) this.writeHeaders(stream.id, trailers, Flag.END_STREAM);
    this.endLocal(stream);
  }

  private flushBlocked(): void {
    for (const stream of this.blocked) {
      if (this.sendWindow <= 0 || this.output.mustWait()) return;
      this.flushStream(stream);
    }
  }

  /** A header block as HEADERS (+ CONTINUATION when larger than the peer's frame size). */
  private writeHeaders(id: number, block: Buffer, flags: number): void {
    const maxFrame = this.peerMaxFrameSize;
    if (block.length <= maxFrame) {
      this.write(frame(FrameType.HEADERS, flags | Flag.END_HEADERS, id, block));
      return;
    }
    for (let p = 0; p < block.length; p += maxFrame) {
      const piece = block.subarray(p, Math.min(block.length, p + maxFrame));
      const last = p + maxFrame >= block.length;
      this.write(frame(p === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, (p === 0 ? flags : 0) | (last ? Flag.END_HEADERS : 0), id, piece));
    }
  }

  /** Our END_STREAM is out: the stream closes, with RST_STREAM(NO_ERROR) if the client is still sending. */
  private endLocal(stream: Stream): void {
    if (!stream.remoteEnded) this.write(u32Frame(FrameType.RST_STREAM, stream.id, ErrorCode.NO_ERROR));
    this.closeStream(stream);
  }

  private closeStream(stream: Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.buffered -= stream.received;
    stream.pending = undefined;
    if ((this.drainPhase === 2 || this.peerWentAway) && this.streams.size === 0) this.closeIdle();
  }

  /** Stream error (§5.4.2): RST_STREAM, and the application hears of it if it had not answered. */
  private resetStream(stream: Stream, code: number): void {
    this.write(u32Frame(FrameType.RST_STREAM, stream.id, code));
    const unanswered = !stream.responded;
    this.closeStream(stream);
    if (unanswered) stream.handler.abort();
  }

  private streamError(id: number, code: number): void {
    const stream = this.streams.get(id);
    if (stream) this.resetStream(stream, code);
    else this.sendReset(id, code);
  }

  private sendReset(id: number, code: number): void {
    this.write(u32Frame(FrameType.RST_STREAM, id, code));
  }

  private finalGoaway(): void {
    this.drainPhase = 2;
    this.write(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
    if (this.streams.size === 0) this.finish();
  }

  /** No stream left after a GOAWAY (ours or the client's): close, with our GOAWAY if not sent yet. */
  private closeIdle(): void {
    if (this.drainPhase !== 2) this.write(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
    this.finish();
  }

  /** Connection error (§5.4.1): GOAWAY with the code, then close. */
  private connectionError(code: number, message: string): void {
    if (this.state === State.CLOSED) return;
    this.write(goawayFrame(this.lastStreamId, code, message));
    this.finish();
  }

  /** Flushes, ends the socket, aborts what is left; the peer gets `LINGER_MS` to close its side. */
  private finish(): void {
    if (this.state === State.CLOSED) return;
    this.state = State.CLOSED;
    this.output.end();
    this.linger = setTimeout(() => this.socket.destroy(), LINGER_MS);
    this.linger.unref();
    this.abortAll();
  }

  private abortAll(): void {
    const open = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    for (const stream of open) {
      stream.closed = true;
      stream.pending = undefined;
      if (!stream.responded) stream.handler.abort();
    }
  }

  private onSocketClose(): void {
    this.state = State.CLOSED;
    if (this.linger) clearTimeout(this.linger);
    this.reader.clear();
    this.blockParts = [];
    this.output.discard();
    this.abortAll();
    this.onClose(this);
  }

  private write(buf: Buffer): void {
    this.output.write(buf);
  }
}
