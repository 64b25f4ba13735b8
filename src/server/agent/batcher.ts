/**
 * Gathers requests that can share a batch (same queue key: protocol, path and compat key) until
 * `maxRows` rows are waiting or the first of them has waited `maxLatencyMs`, then hands the batch
 * to `run`, which settles every request of it. A request as large as `maxRows` or larger goes
 * alone at once; one that would overflow the waiting batch sends that batch first. Waiting
 * requests are bounded by the HTTP front (connections x one request body each).
 */
import { Batchable } from './batch-merge';

/** One request's outcome: what its client gets. */
export interface BatchResult {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

/** A request waiting in a batch, with how to settle it. */
export interface Waiting {
  readonly request: Batchable;
  /** The request as it came, for a batch of one. */
  readonly raw: Buffer;
  readonly headers: Record<string, string | string[]>;
  resolve(result: BatchResult): void;
  reject(err: unknown): void;
}

interface Queue {
  readonly items: Waiting[];
  rows: number;
  timer?: NodeJS.Timeout;
}

export class Batcher {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly maxRows: number,
    private readonly maxLatencyMs: number,
    private readonly run: (key: string, batch: Waiting[]) => Promise<void>,
  ) {}

  /** Queues one request under `key`; resolves with its own answer once its batch came back. */
  public submit(key: string, request: Batchable, raw: Buffer, headers: Record<string, string | string[]>): Promise<BatchResult> {
    return new Promise<BatchResult>((resolve, reject) => {
      const item: Waiting = { request, raw, headers, resolve, reject };
      if (request.rows >= this.maxRows) {
        this.dispatch(key, [item]);
        return;
      }
      let queue = this.queues.get(key);
      if (queue && queue.rows + request.rows > this.maxRows) {
        this.flush(key);
        queue = undefined;
      }
      if (!queue) {
        const fresh: Queue = { items: [], rows: 0 };
        fresh.timer = setTimeout(() => this.flush(key), this.maxLatencyMs);
        this.queues.set(key, fresh);
        queue = fresh;
      }
      queue.items.push(item);
      queue.rows += request.rows;
      if (queue.rows >= this.maxRows) this.flush(key);
    });
  }

  /** Sends every waiting batch now (shutdown). */
  public flushAll(): void {
    for (const key of [...this.queues.keys()]) this.flush(key);
  }

  private flush(key: string): void {
    const queue = this.queues.get(key);
    if (!queue) return;
    this.queues.delete(key);
    clearTimeout(queue.timer);
    this.dispatch(key, queue.items);
  }

  private dispatch(key: string, batch: Waiting[]): void {
    this.run(key, batch).catch((err) => {
      for (const item of batch) item.reject(err);
    });
  }
}
