/**
 * HTTP plumbing for the storage initializer: one request under an idle timer and the fetch's
 * deadline, bodies streamed to files through the write cap, Content-Length and the store's
 * checksums verified before a file counts as downloaded.
 */
import { createWriteStream } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChecksumVerifier, OfferedChecksum } from './checksum';
import { isStorageError, StorageError } from './errors';
import { AttemptTimers, Deadline, WriteBudget } from './limits';
import { RetryPolicy } from './retry';
import { StorageSettings } from './settings';

/** Everything one fetch shares: its settings, deadline, write budget and retry policy. */
export interface Transfer {
  readonly settings: StorageSettings;
  readonly deadline: Deadline;
  readonly budget: WriteBudget;
  readonly retry: RetryPolicy;
  readonly log: (msg: string) => void;
}

/** Where the request went, for messages: never includes the query string (may hold secrets). */
export function describe(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}`;
}

/** A StorageError for a failed request: our own errors as they are, socket errors as NETWORK (retryable). */
export function networkError(what: string, err: unknown): StorageError {
  if (isStorageError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  // The AWS SDK verifies x-amz-checksum-* itself, failing the body stream at its end.
  if (/checksum mismatch/i.test(e.message)) {
    return new StorageError('CHECKSUM', `${what}: ${e.message}; the download is corrupt`, { retryable: true, cause: err });
  }
  return new StorageError('NETWORK', `${what}: ${e.code ?? 'network error'}: ${e.message}`, { retryable: true, cause: err });
}

/** Arms the timers of one attempt; `abort` is called with the TIMEOUT error when one fires. */
export function attemptTimers(what: string, t: Transfer, abort: (err: StorageError) => void): AttemptTimers {
  return new AttemptTimers(what, t.settings.idleTimeoutMs, t.deadline, abort);
}

/**
 * Runs `work` (a credential lookup, an SDK call) under an attempt's timers: it rejects with the
 * TIMEOUT error when one fires, even if `work` itself never settles (a token endpoint that hangs).
 * `onLate` receives a result that arrives after that, to release it.
 */
export function bounded<T>(what: string, t: Transfer, work: (signal: AbortSignal) => Promise<T>, onLate?: (late: T) => void):
Promise<{ out: T; timers: AttemptTimers }> {
  return new Promise((resolve, reject) => {
    const abort = new AbortController();
    const timers = attemptTimers(what, t, (err) => {
      abort.abort(err);
      reject(err);
    });
    work(abort.signal).then((out) => {
      if (timers.fired) onLate?.(out);
      else resolve({ out, timers });
    }, (err) => {
      timers.stop();
      reject(timers.explain(err));
    });
  });
}

/** A response whose headers arrived, and the timers still watching its body. */
export interface Sent {
  readonly res: http.IncomingMessage;
  readonly timers: AttemptTimers;
}

/**
 * Sends one request and resolves with the response once its headers arrive, its timers still
 * armed: the caller consumes the body (kicking the timers) and stops them.
 */
export function send(method: string, url: URL, headers: Record<string, string>, t: Transfer): Promise<Sent> {
  const what = describe(method, url);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let res: http.IncomingMessage | undefined;
    const timers = attemptTimers(what, t, (err) => {
      req.destroy(err);
      res?.destroy(err);
    });
    const req = mod.request(url, { method, headers, agent: false }, (r) => {
      res = r;
      timers.kick();
      resolve({ res: r, timers });
    });
    req.on('error', (err) => {
      timers.stop();
      reject(networkError(what, timers.explain(err)));
    });
    req.end();
  });
}

/** Reads a small response body (an error document, a listing) into memory, at most `limit` bytes. */
export async function readBody(body: Readable, timers: AttemptTimers, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      timers.kick();
      size += (chunk as Buffer).length;
      if (size > limit) {
        body.destroy();
        throw new StorageError('IO', `response body larger than ${limit} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    throw timers.explain(err);
  } finally {
    timers.stop();
  }
  return Buffer.concat(chunks);
}

/** What a download can be checked against. */
export interface Expected {
  /** Content-Length, when the server sent one. */
  readonly length?: number;
  /** Checksums the store sent (see `./checksum`). */
  readonly checksums: readonly OfferedChecksum[];
}

/** Content-Length as a number, or undefined when absent or not a plain count. */
export function contentLength(value: string | undefined): number | undefined {
  return value !== undefined && /^\d+$/.test(value.trim()) ? Number(value) : undefined;
}

/**
 * Streams `body` into `file` through the write cap; then checks its length and checksums. The
 * bytes of a failed attempt are given back to the budget (the next attempt overwrites the file).
 */
export async function saveBody(body: Readable, file: string, what: string, t: Transfer, timers: AttemptTimers, expected: Expected): Promise<number> {
  let bytes = 0;
  const verifier = new ChecksumVerifier(expected.checksums);
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      timers.kick();
      // A body longer than it was announced (a listing's size; Content-Length is enforced by node:http)
      // stops at once rather than at the write cap.
      if (expected.length !== undefined && bytes + chunk.length > expected.length) {
        done(new StorageError('TOO_LARGE', `${what}: the body is longer than the ${expected.length} bytes announced; not keeping it`));
        return;
      }
      try {
        t.budget.take(chunk.length, what);
      } catch (err) {
        done(err as Error);
        return;
      }
      bytes += chunk.length;
      verifier.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, meter, createWriteStream(file));
    if (expected.length !== undefined && bytes !== expected.length) throw truncated(what, bytes, expected.length);
    verifier.verify(what);
    return bytes;
  } catch (err) {
    t.budget.release(bytes);
    if (!timers.fired && !isStorageError(err) && expected.length !== undefined && bytes < expected.length) {
      throw truncated(what, bytes, expected.length, err);
    }
    throw networkError(what, timers.explain(err));
  } finally {
    timers.stop();
  }
}

function truncated(what: string, got: number, want: number, cause?: unknown): StorageError {
  return new StorageError('TRUNCATED', `${what}: the body ended after ${got} of ${want} bytes (Content-Length); not keeping a truncated file`,
    { retryable: true, cause });
}
