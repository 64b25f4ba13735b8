/**
 * Adaptive batching (src/server/models/batcher.ts) with a stand-in session: the batcher only
 * needs a run function and a tensor factory, so joining and splitting are checked exactly here;
 * the real onnxruntime path is covered end to end in fast-path.test.ts.
 */
import { RunBatcher, SessionRun, TensorFactory } from '../../src/server/models/batcher';

interface FakeTensor { type: string; data: Float32Array; dims: readonly number[] }

const tensor = ((type: string, data: Float32Array, dims: readonly number[]) => ({ type, data, dims })) as unknown as TensorFactory;

/** A model that doubles every element and sums each row, answering after a macrotask. */
function doublingModel(calls: Array<number>, failWhen?: (data: Float32Array) => boolean): SessionRun {
  return ((given: Record<string, FakeTensor>) => new Promise((resolve, reject) => {
    const x = given.input;
    calls.push(x.dims[0]);
    setImmediate(() => {
      if (failWhen?.(x.data)) {
        reject(new Error('bad row'));
        return;
      }
      const rows = x.dims[0];
      const width = x.dims[1];
      const doubled = x.data.map((v) => v * 2);
      const sums = new Float32Array(rows);
      for (let r = 0; r < rows; r++) for (let c = 0; c < width; c++) sums[r] += x.data[r * width + c];
      resolve({ doubled: { type: 'float32', data: doubled, dims: [rows, width] }, sums: { type: 'float32', data: sums, dims: [rows] } });
    });
  })) as unknown as SessionRun;
}

function feeds(rows: number[][]): any {
  return { input: { type: 'float32', data: Float32Array.from(rows.flat()), dims: [rows.length, rows[0].length] } };
}

test('a lone request runs at once, alone', async () => {
  const calls: number[] = [];
  const batcher = new RunBatcher(doublingModel(calls), tensor, 64);
  const out: any = await batcher.run(feeds([[1, 2]]), ['doubled', 'sums']);
  expect(Array.from(out.doubled.data)).toEqual([2, 4]);
  expect(calls).toEqual([1]);
  expect(batcher.stats).toEqual({ runs: 1, requests: 1, largestBatch: 1, cancelled: 0 });
});

test('requests that arrive while the model is busy are joined into one call, and each gets its own rows', async () => {
  const calls: number[] = [];
  const batcher = new RunBatcher(doublingModel(calls), tensor, 64);
  const inputs = Array.from({ length: 10 }, (_, i) => Array.from({ length: (i % 3) + 1 }, (_r, j) => [i, j]));
  const outs: any[] = await Promise.all(inputs.map((rows) => batcher.run(feeds(rows), ['doubled', 'sums'])));
  // The first runs alone; the nine that queued behind it share one call.
  expect(calls).toEqual([1, inputs.slice(1).reduce((n, rows) => n + rows.length, 0)]);
  outs.forEach((out, i) => {
    expect(out.doubled.dims).toEqual([inputs[i].length, 2]);
    expect(Array.from(out.doubled.data)).toEqual(inputs[i].flat().map((v) => v * 2));
    expect(Array.from(out.sums.data)).toEqual(inputs[i].map(([a, b]) => a + b));
  });
  expect(batcher.stats.largestBatch).toBe(9);
});

test('a batch never carries more rows than the limit', async () => {
  const calls: number[] = [];
  const batcher = new RunBatcher(doublingModel(calls), tensor, 4);
  await Promise.all(Array.from({ length: 9 }, (_, i) => batcher.run(feeds([[i, i]]), ['sums'])));
  expect(calls).toEqual([1, 4, 4]);
});

test('requests asking for different outputs are not joined', async () => {
  const calls: number[] = [];
  const batcher = new RunBatcher(doublingModel(calls), tensor, 64);
  await Promise.all([
    batcher.run(feeds([[1, 1]]), ['sums']),
    batcher.run(feeds([[2, 2]]), ['sums']),
    batcher.run(feeds([[3, 3]]), ['doubled']),
    batcher.run(feeds([[4, 4]]), ['sums']),
  ]);
  expect(calls).toEqual([1, 2, 1]);
});

test('when a joined call fails, each request runs alone and only the bad one fails', async () => {
  const calls: number[] = [];
  const batcher = new RunBatcher(doublingModel(calls, (data) => data.includes(13)), tensor, 64);
  const results = await Promise.allSettled([1, 2, 13, 4].map((v) => batcher.run(feeds([[v, v]]), ['sums'])));
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  expect((results[3] as PromiseFulfilledResult<any>).value.sums.data[0]).toBe(8);
  expect(calls).toEqual([1, 3, 1, 1, 1]);
});

test('a model whose outputs are not one row per input row stops being joined', async () => {
  const calls: number[] = [];
  const pooled = ((f: Record<string, FakeTensor>) => {
    calls.push(f.input.dims[0]);
    return new Promise((resolve) => setImmediate(() => resolve({ total: { type: 'float32', data: new Float32Array([1]), dims: [1] } })));
  }) as unknown as SessionRun;
  const batcher = new RunBatcher(pooled, tensor, 64);
  await Promise.all([1, 2, 3].map((v) => batcher.run(feeds([[v, v]]), ['total'])));
  await Promise.all([1, 2, 3].map((v) => batcher.run(feeds([[v, v]]), ['total'])));
  // First round: alone, then a joined try of 2 that fails to split and runs each alone.
  // Second round: never joined again.
  expect(calls).toEqual([1, 2, 1, 1, 1, 1, 1]);
});

test('requests cancelled while they wait in the queue never reach the model; the others run', async () => {
  const calls: number[] = [];
  const batcher = new RunBatcher(doublingModel(calls), tensor, 64);
  // The first request runs at once; the next four queue behind it.
  const running = batcher.run(feeds([[1, 1]]), ['sums']);
  const tokens = [0, 1, 2, 3].map(() => ({ cancelled: false }));
  const queued = tokens.map((token, i) => batcher.run(feeds([[i + 2, 0]]), ['sums'], token));
  tokens[0].cancelled = true; // would have led the next batch
  tokens[2].cancelled = true; // in the middle of it
  const settled = await Promise.allSettled([running, ...queued]);

  expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
  expect(((settled[1] as PromiseRejectedResult).reason as Error).message).toMatch(/^cancelled before it ran/);
  expect(Array.from((settled[2] as PromiseFulfilledResult<any>).value.sums.data)).toEqual([3]);
  expect(Array.from((settled[4] as PromiseFulfilledResult<any>).value.sums.data)).toEqual([5]);
  // One call for the first request, one joined call for the two that were still wanted.
  expect(calls).toEqual([1, 2]);
  expect(batcher.stats.cancelled).toBe(2);
});

test('a cancellation that comes after the run started changes nothing', async () => {
  const calls: number[] = [];
  const batcher = new RunBatcher(doublingModel(calls), tensor, 64);
  const token = { cancelled: false };
  const answer = batcher.run(feeds([[1, 2]]), ['sums'], token);
  token.cancelled = true;
  expect(Array.from(((await answer) as any).sums.data)).toEqual([3]);
  expect(batcher.stats.cancelled).toBe(0);
});
