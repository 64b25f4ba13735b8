/**
 * How the agent merges concurrent inference requests to one model into one upstream request and
 * splits the answer back, for the two REST protocols:
 *
 * - V1 `:predict` (as KServe's batcher): the `instances` of every request, in arrival order, in
 *   one request; the answer's `predictions` are cut back into runs of the same lengths.
 * - V2 `/infer`: every input concatenated along dim 0 (flat row-major `data`), which needs the
 *   same input names, datatypes and trailing shapes, and the same `outputs` and `parameters`; each
 *   output's dim 0 is cut back the same way and each request gets its own `id` back.
 *
 * Requests whose `compat` keys differ never share a batch. A request that cannot be batched (no
 * key) goes upstream alone, unchanged, and the runtime answers it as it would without the agent.
 */

export type BatchProtocol = 'v1' | 'v2';

/** A request the batcher can merge: its row count and the key of the requests it can share a batch with. */
export interface Batchable {
  readonly rows: number;
  readonly compat: string;
  readonly body: Record<string, unknown>;
}

/** Why an answer cannot be split: becomes a 502 naming the problem. */
export class SplitError extends Error {}

interface V2Tensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: unknown;
  data: unknown[];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The batch view of a parsed request body, or undefined when it must go alone. */
export function batchable(protocol: BatchProtocol, body: unknown): Batchable | undefined {
  if (!isObject(body)) return undefined;
  if (protocol === 'v1') {
    const instances = body.instances;
    if (!Array.isArray(instances) || instances.length === 0) return undefined;
    const { instances: _omit, ...rest } = body;
    return { rows: instances.length, compat: JSON.stringify(rest), body };
  }
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) return undefined;
  let rows: number | undefined;
  const meta: unknown[] = [];
  for (const input of inputs) {
    if (!isObject(input) || typeof input.name !== 'string' || typeof input.datatype !== 'string' || !Array.isArray(input.data)) return undefined;
    const shape = input.shape;
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return undefined;
    // Binary tensor data (the extension) carries no JSON `data`: never batched.
    if (isObject(input.parameters) && input.parameters.binary_data_size !== undefined) return undefined;
    if (shape[0] < 1 || (rows !== undefined && shape[0] !== rows)) return undefined;
    rows = shape[0] as number;
    if (flatLength(input.data) !== product(shape as number[])) return undefined;
    meta.push([input.name, input.datatype, shape.slice(1), input.parameters ?? null]);
  }
  const { inputs: _i, id: _id, ...rest } = body;
  return { rows: rows!, compat: JSON.stringify([meta, rest]), body };
}

/** The one upstream request of `batch` (all with the same `compat`). */
export function mergeRequests(protocol: BatchProtocol, batch: readonly Batchable[]): Record<string, unknown> {
  const first = batch[0].body;
  if (protocol === 'v1') {
    return { ...first, instances: batch.flatMap((b) => b.body.instances as unknown[]) };
  }
  const rows = batch.reduce((n, b) => n + b.rows, 0);
  const inputs = (first.inputs as V2Tensor[]).map((input, i) => {
    const data = batch.flatMap((b) => flat((b.body.inputs as V2Tensor[])[i].data));
    return { ...input, shape: [rows, ...input.shape.slice(1)], data };
  });
  const { id: _id, ...rest } = first;
  return { ...rest, inputs };
}

/** The answer of each request of `batch`, in order; throws `SplitError` when `answer` does not fit the batch. */
export function splitAnswer(protocol: BatchProtocol, batch: readonly Batchable[], answer: unknown): Array<Record<string, unknown>> {
  const rows = batch.reduce((n, b) => n + b.rows, 0);
  if (!isObject(answer)) throw new SplitError(`an answer that is not a JSON object for ${rows} rows`);
  if (protocol === 'v1') {
    const predictions = answer.predictions;
    if (!Array.isArray(predictions)) throw new SplitError(`an answer without a 'predictions' array for ${rows} instances`);
    if (predictions.length !== rows) throw new SplitError(`${predictions.length} predictions for ${rows} instances`);
    let at = 0;
    return batch.map((b) => {
      const part = predictions.slice(at, at + b.rows);
      at += b.rows;
      return { ...answer, predictions: part };
    });
  }
  const outputs = answer.outputs;
  if (!Array.isArray(outputs)) throw new SplitError(`an answer without an 'outputs' array for ${rows} rows`);
  const cut = outputs.map((o) => {
    if (!isObject(o) || !Array.isArray(o.shape) || !Array.isArray(o.data)) throw new SplitError('an output without a shape or JSON data');
    const shape = o.shape as number[];
    if (shape[0] !== rows) throw new SplitError(`output '${String(o.name)}' with ${shape[0]} rows (shape ${JSON.stringify(shape)}) for ${rows} rows`);
    const data = flat(o.data as unknown[]);
    if (data.length !== product(shape)) throw new SplitError(`output '${String(o.name)}' with ${data.length} values for shape ${JSON.stringify(shape)}`);
    return { tensor: o, perRow: product(shape.slice(1)), data };
  });
  let row = 0;
  return batch.map((b) => {
    const start = row;
    row += b.rows;
    const parts = cut.map(({ tensor, perRow, data }) => ({
      ...tensor,
      shape: [b.rows, ...(tensor.shape as number[]).slice(1)],
      data: data.slice(start * perRow, row * perRow),
    }));
    const { id: _id, outputs: _o, ...rest } = answer;
    const id = b.body.id;
    return id === undefined ? { ...rest, outputs: parts } : { ...rest, id, outputs: parts };
  });
}

function product(dims: readonly number[]): number {
  return dims.reduce((p, d) => p * d, 1);
}

/** Nested JSON tensor data as one flat row-major array. */
function flat(data: readonly unknown[]): unknown[] {
  return data.some(Array.isArray) ? (data as unknown[]).flat(Infinity) : data as unknown[];
}

function flatLength(data: readonly unknown[]): number {
  return flat(data).length;
}
