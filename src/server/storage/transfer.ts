/**
 * HTTP plumbing for the storage initializer: one request with an idle timeout, bodies streamed
 * to files, and retries with exponential backoff for errors that may go away.
 */
import { createWriteStream } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { pipeline } from 'node:stream/promises';
import { StorageError } from './errors';

/** Knobs shared by every transfer. */
export interface TransferOptions {
  /** Idle timeout of one request: connecting, waiting for headers, or between body chunks. */
  readonly timeoutMs: number;
  /** Retries after the first attempt, for 5xx, 429, network errors and timeouts. */
  readonly retries: number;
  /** First backoff delay; doubles on each retry (with jitter), capped at 10 s. */
  readonly retryBaseMs: number;
  readonly log: (msg: string) => void;
}

/** Where the request went, for messages: never includes the query string (may hold secrets). */
export function describe(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}`;
}

function networkError(what: string, err: NodeJS.ErrnoException, timeoutMs: number): StorageError {
  if (err instanceof StorageError) return err;
  if (err.code === 'ETIMEDOUT' || err.code === 'ERR_STORAGE_TIMEOUT') {
    return new StorageError('TIMEOUT', `${what}: timed out after ${timeoutMs} ms without data`, { retryable: true, cause: err });
  }
  return new StorageError('NETWORK', `${what}: ${err.code ?? 'network error'}: ${err.message}`, { retryable: true, cause: err });
}

/**
 * Sends one request and resolves with the response once its headers arrive. The caller must
 * consume or destroy the response. The idle timeout stays armed while the body is read.
 */
export function send(method: string, url: URL, headers: Record<string, string>, timeoutMs: number): Promise<http.IncomingMessage> {
  const what = describe(method, url);
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, agent: false }, (res) => resolve(res));
    req.setTimeout(timeoutMs, () => {
      const e: NodeJS.ErrnoException = new Error(`no data for ${timeoutMs} ms`);
      e.code = 'ERR_STORAGE_TIMEOUT';
      req.destroy(e);
    });
    req.on('error', (err: NodeJS.ErrnoException) => reject(networkError(what, err, timeoutMs)));
    req.end();
  });
}

/** Reads a (small) response body into memory, at most `limit` bytes. */
export async function readBody(res: http.IncomingMessage, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.destroy();
      throw new StorageError('IO', `response body larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Streams a response body into `file`; checks Content-Length when the server sent one. */
export async function saveBody(res: http.IncomingMessage, file: string, what: string, timeoutMs: number): Promise<number> {
  let bytes = 0;
  res.on('data', (c: Buffer) => { bytes += c.length; });
  try {
    await pipeline(res, createWriteStream(file));
  } catch (err) {
    throw networkError(what, err as NodeJS.ErrnoException, timeoutMs);
  }
  const expected = res.headers['content-length'];
  if (expected !== undefined && !res.headers['content-encoding'] && Number(expected) !== bytes) {
    throw new StorageError('NETWORK', `${what}: connection closed after ${bytes} of ${expected} bytes`, { retryable: true });
  }
  return bytes;
}

/** Whether an HTTP status is worth retrying. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` until it succeeds, it throws a non-retryable error, or the retries are used up. */
export async function withRetries<T>(what: string, opts: TransferOptions, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const retryable = err instanceof StorageError && err.retryable;
      if (!retryable || attempt >= opts.retries) {
        if (retryable && attempt > 0 && err instanceof Error) {
          err.message += ` (gave up after ${attempt + 1} attempts)`;
        }
        throw err;
      }
      const delay = Math.min(10_000, opts.retryBaseMs * 2 ** attempt) * (0.5 + Math.random() / 2);
      opts.log(`${what}: ${(err as Error).message}; retrying in ${Math.round(delay)} ms (${attempt + 1}/${opts.retries})`);
      await sleep(delay);
    }
  }
}
