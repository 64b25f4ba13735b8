/**
 * Retries with exponential backoff and jitter for errors that may go away: network errors, idle
 * timeouts, short bodies, 408, 429 and 5xx. A `Retry-After` from the server is honoured; no
 * wait runs past the fetch's deadline.
 */
import { isStorageError } from './errors';
import { Deadline } from './limits';

/** How retries are spaced. */
export interface RetryPolicy {
  /** Attempts per request, the first included (`--storage-max-attempts`). */
  readonly maxAttempts: number;
  /** Backoff before the second attempt; doubles each time. */
  readonly baseMs: number;
  /** Longest backoff between two attempts (a `Retry-After` may ask for more). */
  readonly maxMs: number;
  /** Source of jitter in [0, 1): `Math.random` in production, seeded in tests. */
  readonly random: () => number;
  readonly deadline: Deadline;
  readonly log: (msg: string) => void;
}

/** Longest `Retry-After` we wait for; a server asking for more gets its error reported. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** Whether an HTTP status is worth retrying. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/** `Retry-After` (delta-seconds or an HTTP-date) in ms, or undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The backoff before attempt `attempt + 1` (attempt counts from 1): half fixed, half jitter. */
export function backoffMs(attempt: number, policy: Pick<RetryPolicy, 'baseMs' | 'maxMs' | 'random'>): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1));
  return ceiling / 2 + policy.random() * (ceiling / 2);
}

/** Runs `fn` until it succeeds, throws a non-retryable error, or the attempts or the deadline run out. */
export async function withRetries<T>(what: string, policy: RetryPolicy, fn: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const retryable = isStorageError(err) && err.retryable;
      if (!retryable || attempt >= policy.maxAttempts) {
        if (retryable && attempt > 1 && err instanceof Error) {
          err.message += ` (gave up after ${attempt} attempts; --storage-max-attempts)`;
        }
        throw err;
      }
      const asked = err.retryAfterMs;
      if (asked !== undefined && asked > MAX_RETRY_AFTER_MS) {
        err.message += ` (the server asked to retry after ${Math.round(asked / 1000)} s; not waiting that long)`;
        throw err;
      }
      const delay = asked ?? backoffMs(attempt, policy);
      if (delay >= policy.deadline.remainingMs()) throw policy.deadline.error(what, err);
      policy.log(`${what}: ${err.message}; attempt ${attempt + 1}/${policy.maxAttempts} in ${Math.round(delay)} ms${asked !== undefined ? ' (Retry-After)' : ''}`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}
