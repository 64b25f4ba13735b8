/**
 * Adaptive batching: requests that arrive while the model is busy are joined along the batch
 * dimension and run together, then the outputs are split back per request.
 *
 * No request ever waits for a batch to fill: a lone request runs at once, so latency at low
 * load is unchanged; under concurrency one onnxruntime call serves many requests, which is
 * where a CPU-bound server spends its time (a call has a fixed cost of tens of microseconds).
 * Only models whose every input and output has a dynamic leading dimension are batched.
 */
import type * as ortTypes from 'onnxruntime-node';

type Tensor = ortTypes.Tensor;
type Feeds = Record<string, Tensor>;
type Results = Record<string, Tensor>;

/** Runs a session call: the batcher's only dependency on onnxruntime. */
export type SessionRun = (feeds: Feeds, outputNames: readonly string[]) => Promise<Results>;
/** Builds a tensor of the same runtime as the session. */
export type TensorFactory = (type: Tensor['type'], data: Tensor['data'], dims: readonly number[]) => Tensor;

/**
 * Set by the caller when nobody waits for the answer any more (the request timed out, its
 * deadline passed, the client left): a request still queued then never reaches the model, so an
 * overloaded server spends its CPU on requests that can still be answered.
 */
export interface Cancellation {
  cancelled: boolean;
}

/** The rejection of a request cancelled while it waited in the queue. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled before it ran: the request timed out or its client left');
  }
}

interface Pending {
  readonly feeds: Feeds;
  readonly outputNames: readonly string[];
  readonly rows: number;
  /** Requests join a batch only with others of the same key (outputs and trailing dims). */
  readonly key: string;
  readonly cancellation?: Cancellation;
  readonly resolve: (results: Results) => void;
  readonly reject: (err: unknown) => void;
}

/** Counters for tests and metrics. */
export interface BatcherStats {
  /** Session calls made. */
  runs: number;
  /** Requests served. */
  requests: number;
  /** Largest number of requests served by one call. */
  largestBatch: number;
  /** Requests cancelled while queued, so never run. */
  cancelled: number;
}

export class RunBatcher {
  public readonly stats: BatcherStats = { runs: 0, requests: 0, largestBatch: 0, cancelled: 0 };
  private readonly queue: Pending[] = [];
  private busy = false;
  /** Set when the model turns out not to map rows one to one: every request runs alone. */
  private joinDisabled = false;

  /**
   * @param maxRows the most rows one call may carry: bounds the latency a batch adds
   */
  constructor(
    private readonly sessionRun: SessionRun,
    private readonly tensor: TensorFactory,
    private readonly maxRows: number,
  ) {}

  /** Runs one request, alone or inside a batch; a queued request whose `cancellation` is set is dropped. */
  public run(feeds: Feeds, outputNames: readonly string[], cancellation?: Cancellation): Promise<Results> {
    const names = Object.keys(feeds);
    const rows = feeds[names[0]].dims[0];
    return new Promise<Results>((resolve, reject) => {
      const item: Pending = { feeds, outputNames, rows, key: batchKey(feeds, names, outputNames), cancellation, resolve, reject };
      if (this.busy || rows > this.maxRows) {
        // Too big to join others: it still waits its turn, then runs alone.
        this.queue.push(item);
        if (!this.busy) this.drain();
        return;
      }
      this.busy = true;
      void this.execute([item]);
    });
  }

  /** Starts the next batch from the queue, if any. */
  private drain(): void {
    let first = this.queue.shift();
    while (first && this.dropIfCancelled(first)) first = this.queue.shift();
    if (!first) {
      this.busy = false;
      return;
    }
    this.busy = true;
    const batch = [first];
    let rows = first.rows;
    // Take every queued request with the same key that still fits, in arrival order.
    for (let i = 0; i < this.queue.length && rows < this.maxRows;) {
      const next = this.queue[i];
      if (this.dropIfCancelled(next)) {
        this.queue.splice(i, 1);
      } else if (next.key === first.key && rows + next.rows <= this.maxRows) {
        batch.push(next);
        rows += next.rows;
        this.queue.splice(i, 1);
      } else {
        i++;
      }
    }
    void this.execute(batch);
  }

  /** Rejects a cancelled request (true) instead of running it. */
  private dropIfCancelled(item: Pending): boolean {
    if (!item.cancellation?.cancelled) return false;
    this.stats.cancelled++;
    item.reject(new CancelledError());
    return true;
  }

  private async execute(batch: Pending[]): Promise<void> {
    this.stats.runs++;
    this.stats.requests += batch.length;
    if (batch.length > this.stats.largestBatch) this.stats.largestBatch = batch.length;
    try {
      if (batch.length === 1 || this.joinDisabled) {
        if (batch.length > 1) {
          await this.executeEach(batch);
          return;
        }
        batch[0].resolve(await this.sessionRun(batch[0].feeds, batch[0].outputNames));
      } else {
        await this.executeJoined(batch);
      }
    } catch (err) {
      for (const item of batch) item.reject(err);
    } finally {
      this.drain();
    }
  }

  private async executeJoined(batch: Pending[]): Promise<void> {
    let split: Results[];
    try {
      split = this.split(batch, await this.sessionRun(this.join(batch), batch[0].outputNames));
    } catch (err) {
      if (err instanceof RowMismatch) this.joinDisabled = true;
      // One request's data may be what the runtime rejects: run each alone, so only that one
      // fails.
      await this.executeEach(batch);
      return;
    }
    batch.forEach((item, i) => item.resolve(split[i]));
  }

  private async executeEach(batch: Pending[]): Promise<void> {
    for (const item of batch) {
      try {
        item.resolve(await this.sessionRun(item.feeds, item.outputNames));
      } catch (err) {
        item.reject(err);
      }
    }
  }

  /** Concatenates each input along the first dimension. */
  private join(batch: Pending[]): Feeds {
    const joined: Feeds = {};
    const totalRows = batch.reduce((sum, item) => sum + item.rows, 0);
    for (const name of Object.keys(batch[0].feeds)) {
      const first = batch[0].feeds[name];
      const rowSize = rowLength(first);
      const data = new (first.data.constructor as TypedArrayConstructor)(totalRows * rowSize);
      let offset = 0;
      for (const item of batch) {
        const part = item.feeds[name].data as TypedArray;
        data.set(part as never, offset);
        offset += part.length;
      }
      joined[name] = this.tensor(first.type, data as Tensor['data'], [totalRows, ...first.dims.slice(1)]);
    }
    return joined;
  }

  /** Cuts each output back into the rows of each request (views, no copies). */
  private split(batch: Pending[], results: Results): Results[] {
    const totalRows = batch.reduce((sum, item) => sum + item.rows, 0);
    const parts: Results[] = batch.map(() => ({}));
    for (const [name, tensor] of Object.entries(results)) {
      if (tensor.dims[0] !== totalRows) {
        throw new RowMismatch(name);
      }
      const rowSize = rowLength(tensor);
      const data = tensor.data as TypedArray;
      let row = 0;
      batch.forEach((item, i) => {
        const view = data.subarray(row * rowSize, (row + item.rows) * rowSize);
        parts[i][name] = this.tensor(tensor.type, view as Tensor['data'], [item.rows, ...tensor.dims.slice(1)]);
        row += item.rows;
      });
    }
    return parts;
  }
}

/** The model's outputs do not have one row per input row: it cannot be batched. */
class RowMismatch extends Error {
  constructor(output: string) {
    super(`output '${output}' does not have one row per input row`);
  }
}

type TypedArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array
| Int32Array | Uint32Array | BigInt64Array | BigUint64Array;
type TypedArrayConstructor = new (length: number) => TypedArray;

function rowLength(tensor: Tensor): number {
  let size = 1;
  for (let i = 1; i < tensor.dims.length; i++) size *= tensor.dims[i];
  return size;
}

function batchKey(feeds: Feeds, names: string[], outputNames: readonly string[]): string {
  let key = outputNames.join(',');
  for (const name of names) {
    const t = feeds[name];
    key += `|${name}:${t.type}:${t.dims.slice(1).join('x')}`;
  }
  return key;
}
