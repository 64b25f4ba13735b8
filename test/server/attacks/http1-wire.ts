// Raw HTTP/1.1 on real sockets for the attack tests: write exact bytes, read the answers back,
// and read a server process's memory from /proc.
import * as fs from 'fs';
import * as net from 'net';

/** One parsed response; `interim` for 1xx. */
export interface WireResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
  interim: boolean;
}

/** A header's value (first one, case-insensitive). */
export function header(r: WireResponse, name: string): string | undefined {
  return r.headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

/**
 * Splits bytes into complete responses (Content-Length, chunked, or 1xx); `rest` holds an
 * incomplete tail. A response without a length reads to the end (`atEnd`).
 */
export function parseResponses(raw: Buffer, atEnd = false): { responses: WireResponse[]; rest: Buffer } {
  const responses: WireResponse[] = [];
  let at = 0;
  for (;;) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const [statusLine, ...lines] = raw.toString('latin1', at, headEnd).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) throw new Error(`not a status line: ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const headers = lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string]);
    let p = headEnd + 4;
    const r: WireResponse = { status, headers, body: Buffer.alloc(0), interim: status < 200 };
    const length = header(r, 'content-length');
    if (r.interim || status === 204 || status === 304) {
      // no body
    } else if (length !== undefined) {
      const n = Number(length);
      if (raw.length < p + n) break;
      r.body = raw.subarray(p, p + n);
      p += n;
    } else if (/chunked/i.test(header(r, 'transfer-encoding') ?? '')) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', p);
        if (lineEnd < 0) break;
        const size = parseInt(raw.toString('latin1', p, lineEnd), 16);
        if (raw.length < lineEnd + 2 + size + 2) break;
        parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
        p = lineEnd + 2 + size + 2;
        if (size === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) break;
      r.body = Buffer.concat(parts);
    } else {
      if (!atEnd) break;
      r.body = raw.subarray(p);
      p = raw.length;
    }
    responses.push(r);
    at = p;
  }
  return { responses, rest: raw.subarray(at) };
}

/** A raw client connection that collects everything the server sends. */
export class RawClient {
  public readonly socket: net.Socket;
  public readonly received: Buffer[] = [];
  public closed = false;
  public reset = false;
  private readonly connected: Promise<void>;
  private readonly waiters = new Set<() => void>();

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.connected = new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.socket.on('data', (c: Buffer) => {
      this.received.push(c);
      this.wake();
    });
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.reset = true;
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  public ready(): Promise<void> {
    return this.connected;
  }

  /** Final (non-1xx) responses so far. */
  public finals(): WireResponse[] {
    return parseResponses(Buffer.concat(this.received), this.closed).responses.filter((r) => !r.interim);
  }

  /** Resolves once `n` final responses arrived, the server closed, or `quietMs` passed with nothing new. */
  public async waitFor(n: number, quietMs: number): Promise<void> {
    for (;;) {
      if (this.closed || this.finals().length >= n) return;
      const before = this.received.length;
      await new Promise<void>((resolve) => {
        const waiter = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          this.waiters.delete(waiter);
          resolve();
        }, quietMs);
        this.waiters.add(waiter);
      });
      if (this.received.length === before && !this.closed) return;
    }
  }

  /** Resolves when the server closed the connection (or after `timeoutMs`, then destroys it). */
  public async untilClosed(timeoutMs: number): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}

/** Resident memory of a process in bytes (`VmRSS` in /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export const MiB = 1024 * 1024;
