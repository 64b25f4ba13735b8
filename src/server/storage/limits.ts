/**
 * The bounds every fetch runs under: a cap on bytes written, an overall deadline, and an idle
 * timer per attempt. Each error names the flag and variable that change the bound.
 */
import { StorageError } from './errors';

/** `12345 bytes (12.1 KiB)`: exact, and readable. */
export function formatBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let unit = '';
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return unit ? `${n} bytes (${v.toFixed(1)} ${unit})` : `${n} bytes`;
}

/**
 * Counts every byte a fetch writes (downloaded files, and what archives unpack to) and refuses
 * the write that would pass the cap, before it reaches the disk.
 */
export class WriteBudget {
  private used = 0;

  constructor(public readonly maxBytes: number) {}

  /** Bytes written so far. */
  get written(): number {
    return this.used;
  }

  /** Claims `n` bytes for `what`, or throws TOO_LARGE naming the cap and how to raise it. */
  take(n: number, what: string): void {
    if (this.used + n > this.maxBytes) {
      throw new StorageError('TOO_LARGE',
        `${what}: writing it would pass the storage cap of ${formatBytes(this.maxBytes)} after ${formatBytes(this.used)} ` +
        '(downloads plus unpacked archives); raise --storage-max-bytes (STORAGE_MAX_BYTES), or the model volume\'s size limit');
    }
    this.used += n;
  }

  /** Gives back bytes of a failed attempt, whose file the next attempt overwrites. */
  release(n: number): void {
    this.used = Math.max(0, this.used - n);
  }
}

/** The time left for a whole fetch, retries included. */
export class Deadline {
  private readonly end: number;

  constructor(public readonly ms: number, now = Date.now()) {
    this.end = now + ms;
  }

  remainingMs(): number {
    return Math.max(0, this.end - Date.now());
  }

  /** The TIMEOUT error for `what` (not retryable: the budget of time is spent). */
  error(what: string, cause?: unknown): StorageError {
    return new StorageError('TIMEOUT',
      `${what}: the fetch did not finish within its deadline of ${this.ms} ms; raise --storage-deadline-ms (STORAGE_DEADLINE_MS)`,
      { cause });
  }
}

/**
 * Arms an attempt's idle timer and the fetch's deadline. `kick()` on every byte of progress;
 * `stop()` when the attempt ends. When a timer fires, `abort` gets the TIMEOUT error, which
 * also stays in `fired`, so the caller reports it rather than the reset it causes.
 */
export class AttemptTimers {
  public fired?: StorageError;
  private idle?: NodeJS.Timeout;
  private readonly overall: NodeJS.Timeout;

  constructor(private readonly what: string, private readonly idleMs: number, deadline: Deadline,
    private readonly abort: (err: StorageError) => void) {
    this.overall = setTimeout(() => this.fire(deadline.error(what)), deadline.remainingMs());
    this.kick();
  }

  kick(): void {
    if (this.fired) return;
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.fire(new StorageError('TIMEOUT',
      `${this.what}: no data for ${this.idleMs} ms; raise --storage-idle-timeout-ms (STORAGE_IDLE_TIMEOUT_MS)`,
      { retryable: true })), this.idleMs);
  }

  stop(): void {
    clearTimeout(this.idle);
    clearTimeout(this.overall);
  }

  /** The timer's error if one fired, else `err` itself. */
  explain(err: unknown): unknown {
    return this.fired ?? err;
  }

  private fire(err: StorageError): void {
    if (this.fired) return;
    this.fired = err;
    this.stop();
    this.abort(err);
  }
}
