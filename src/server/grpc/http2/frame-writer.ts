/**
 * A connection's output: frames gathered during a tick go out in one socket write (a vector
 * write when large), and backpressure: past a high-water mark of unsent bytes, reading stops
 * (no new work, no new output) and flow-controlled DATA waits, until the socket drains.
 */
import type { Socket } from 'node:net';

/** Pieces of output smaller than this together are copied into one buffer rather than written as a vector. */
const COALESCE_BYTES = 16 * 1024;

export class FrameWriter {
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  /** The socket's buffer is over the mark. */
  private congested = false;
  private readingPaused = false;
  /** Someone was told to wait: `onResume` is owed once there is room. */
  private waiting = false;
  private ended = false;

  /**
   * @param highWater unsent bytes above which the writer is `full`
   * @param onResume called when the writer is no longer full: send the DATA held back
   */
  constructor(private readonly socket: Socket, private readonly highWater: number, private readonly onResume: () => void) {
    socket.on('drain', () => {
      if ((this.congested || this.readingPaused) && !this.ended) this.resume();
    });
  }

  /**
   * True while DATA should wait (the socket's buffer is over the mark, or this tick's output is);
   * `onResume` is then called once there is room again.
   */
  public mustWait(): boolean {
    if (this.congested || this.outBytes + this.socket.writableLength > this.highWater) {
      this.waiting = true;
      return true;
    }
    return false;
  }

  /** Queues a frame (or a piece of one) for the end of this tick. */
  public write(buf: Buffer): void {
    if (this.ended) return;
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushWriter, this);
    }
  }

  /** Writes this tick's output; stops reading while the socket cannot keep up. */
  public flush(): void {
    this.flushScheduled = false;
    if (this.ended) return;
    this.writeOut();
    if (this.socket.writableLength > this.highWater) {
      this.congested = true;
      if (!this.readingPaused) {
        this.readingPaused = true;
        this.socket.pause();
      }
    } else if (this.congested || this.readingPaused || this.waiting) {
      this.resume();
    }
  }

  /** Writes what is queued, then ends the socket; later writes are dropped. */
  public end(): void {
    if (this.ended) return;
    this.writeOut();
    this.ended = true;
    this.socket.end();
  }

  /** Drops what is queued (the socket closed). */
  public discard(): void {
    this.ended = true;
    this.out = [];
    this.outBytes = 0;
  }

  private resume(): void {
    this.congested = false;
    this.waiting = false;
    if (this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
    this.onResume();
  }

  private writeOut(): void {
    const parts = this.out;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (parts.length === 0 || this.socket.destroyed) return;
    if (parts.length === 1) {
      this.socket.write(parts[0]);
    } else if (bytes < COALESCE_BYTES) {
      this.socket.write(Buffer.concat(parts, bytes));
    } else {
      this.socket.cork();
      for (const part of parts) this.socket.write(part);
      this.socket.uncork();
    }
  }
}

function flushWriter(writer: FrameWriter): void {
  writer.flush();
}
