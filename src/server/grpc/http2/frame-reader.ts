/**
 * Splits a client's byte stream into the connection preface and frames.
 *
 * A frame that arrived whole is handed over as (buffer, offset, length) of the socket's own chunk:
 * no copy. A frame cut by chunk boundaries waits, with the chunks after it, until enough bytes are
 * there, and is then joined once (so a frame trickling in byte by byte costs linear time).
 */
import { CLIENT_PREFACE, ErrorCode, FRAME_HEADER_BYTES, Http2Error } from './frames';

/* eslint-disable no-bitwise */

/** Who gets the frames. */
export interface FrameSink {
  /** True once the connection stopped reading (a connection error): the rest is dropped. */
  readonly stopped: boolean;
  /** One complete frame: its header at `offset` of `buf`, then `length` bytes of payload. */
  onFrame(buf: Buffer, offset: number, length: number): void;
  /** The client preface arrived; frames follow. */
  onPreface(): void;
}

export class FrameReader {
  private prefaceMatched = 0;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Bytes the partial frame needs before it can be looked at again. */
  private needed = 0;

  /** @param maxFrameSize our SETTINGS_MAX_FRAME_SIZE: a longer frame is a FRAME_SIZE_ERROR */
  constructor(private readonly sink: FrameSink, private readonly maxFrameSize: number) {}

  /** Consumes a chunk; throws an Http2Error for a bad preface or an oversized frame. */
  public push(chunk: Buffer): void {
    let buf = chunk;
    if (this.partialBytes > 0) {
      this.partial.push(chunk);
      this.partialBytes += chunk.length;
      if (this.partialBytes < this.needed) return;
      buf = Buffer.concat(this.partial, this.partialBytes);
      this.partial = [];
      this.partialBytes = 0;
    }
    let off = 0;
    if (this.prefaceMatched < CLIENT_PREFACE.length) {
      while (off < buf.length && this.prefaceMatched < CLIENT_PREFACE.length) {
        if (buf[off++] !== CLIENT_PREFACE[this.prefaceMatched++]) {
          throw new Http2Error(ErrorCode.PROTOCOL_ERROR, 'invalid connection preface');
        }
      }
      if (this.prefaceMatched < CLIENT_PREFACE.length) return;
      this.sink.onPreface();
    }
    const n = buf.length;
    while (!this.sink.stopped) {
      if (n - off < FRAME_HEADER_BYTES) {
        this.needed = FRAME_HEADER_BYTES;
        break;
      }
      const length = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
      if (length > this.maxFrameSize) {
        throw new Http2Error(ErrorCode.FRAME_SIZE_ERROR, `frame of ${length} bytes is larger than SETTINGS_MAX_FRAME_SIZE`);
      }
      if (n - off < FRAME_HEADER_BYTES + length) {
        this.needed = FRAME_HEADER_BYTES + length;
        break;
      }
      this.sink.onFrame(buf, off, length);
      off += FRAME_HEADER_BYTES + length;
    }
    if (off < n && !this.sink.stopped) {
      this.partial.push(off === 0 ? buf : buf.subarray(off));
      this.partialBytes = n - off;
    }
  }

  /** Drops what is buffered (the connection closed). */
  public clear(): void {
    this.partial = [];
    this.partialBytes = 0;
  }
}
