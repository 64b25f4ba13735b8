/**
 * The work queue between the informers and the reconcilers, with client-go's workqueue semantics:
 * a key is queued at most once however many events name it (dedup); a key being reconciled is
 * never handed to a second worker, and an event during its reconcile queues it once more after it
 * (`dirty`); failures come back after an exponential delay with jitter, per key, until `forget`.
 * No I/O: tested in-process with a seeded random source.
 */

export interface WorkQueueOptions {
  /** First retry delay. */
  readonly baseDelayMs: number;
  /** Longest retry delay. */
  readonly maxDelayMs: number;
  /** Random source in [0, 1) for jitter (seeded in tests). */
  readonly random?: () => number;
  /** Called whenever the number of waiting keys changes (the queue-depth gauge). */
  readonly onDepthChange?: (depth: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly waiters: Array<(key: string | undefined) => void> = [];
  private shuttingDown = false;
  private readonly random: () => number;

  constructor(private readonly options: WorkQueueOptions) {
    this.random = options.random ?? Math.random;
  }

  /** Keys waiting: queued now, or waiting for a delayed retry. */
  get depth(): number {
    return this.queued.size + this.timers.size;
  }

  /** Every key waiting (queued, waiting for a retry, or to run again after its current reconcile). */
  waitingKeys(): string[] {
    return [...new Set([...this.queued, ...this.timers.keys(), ...this.dirty])];
  }

  /** Queues `key` now (no-op when it is already queued; after the current reconcile when one runs). */
  add(key: string): void {
    if (this.shuttingDown) return;
    const timer = this.timers.get(key);
    if (timer) {
      // An event beats a pending retry: run now, and the timer's run would be a duplicate.
      clearTimeout(timer);
      this.timers.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      this.changed();
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    const waiter = this.waiters.shift();
    if (waiter) {
      this.queued.delete(key);
      this.processing.add(key);
      waiter(key);
    } else {
      this.queue.push(key);
    }
    this.changed();
  }

  /** Queues `key` after `delayMs` (an earlier `add` wins; a second delayed add keeps the earlier timer). */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown || this.timers.has(key) || this.queued.has(key)) return;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, timer);
    this.changed();
  }

  /** Queues `key` again after its next backoff delay; returns the delay. */
  addRateLimited(key: string): number {
    const delay = this.nextDelay(key);
    this.addAfter(key, delay);
    return delay;
  }

  /** The delay of `key`'s next retry: base * 2^failures, capped, times a jitter in [0.5, 1.5) (then capped again). */
  nextDelay(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const exp = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(n, 30));
    return Math.min(this.options.maxDelayMs, Math.round(exp * (0.5 + this.random())));
  }

  /** Failures of `key` since the last `forget`. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resets `key`'s backoff (after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** The next key to reconcile; waits for one. `undefined` once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.queued.delete(key);
      this.processing.add(key);
      this.changed();
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key`'s reconcile finished; re-queues it when an event came in meanwhile. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.add(key);
    this.changed();
  }

  /** Stops handing out keys: waiting `get`s resolve with undefined, pending retries are dropped. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
    this.changed();
  }

  private changed(): void {
    this.options.onDepthChange?.(this.depth + this.dirty.size);
  }
}
