/**
 * KServe V1 (`{"instances": [...]}` -> `{"predictions": [...]}`) on top of the V2 core.
 *
 * Request: for a model with one input, each instance is one row of that input (a number for a
 * `[N]` input, an array for `[N,k]`, nested arrays for higher ranks); the batch is the list of
 * instances. For a model with several inputs, each instance is an object `{inputName: row}`.
 * Element types follow the model's input datatype (numbers, booleans for BOOL, strings for BYTES).
 *
 * Response: if the model has exactly one output, `predictions[i]` is row i of it (a number for a
 * `[N]` output such as a regression, an array for `[N,k]`). If it has several outputs,
 * `predictions[i]` is an object with one key per output: for the iris classifiers
 * `{"probabilities": [p0, p1, p2], "label": 2}`. INT64 values are JSON numbers.
 */
import { ERRORS, serverError } from '../errors';
import { InferOutputTensor, InferRequest, InferTensor } from './types';
import { OnnxModel } from '../models/onnx-model';

/** Converts a V1 body to a V2 request for `model`. */
export function v1ToInferRequest(model: OnnxModel, body: unknown): InferRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw serverError(ERRORS.INVALID_INSTANCES, 'the body must be a JSON object with an "instances" array');
  }
  const instances = (body as { instances?: unknown }).instances;
  if (!Array.isArray(instances) || instances.length === 0) {
    throw serverError(ERRORS.INVALID_INSTANCES, '"instances" must be a non-empty array');
  }
  const n = instances.length;
  if (model.inputs.length === 1) {
    const spec = model.inputs[0];
    return { inputs: [tensorOf(spec.name, spec.datatype, instances)] };
  }
  const columns = new Map<string, unknown[]>(model.inputs.map((t) => [t.name, new Array(n)]));
  for (let i = 0; i < n; i++) {
    const inst = instances[i];
    if (inst === null || typeof inst !== 'object' || Array.isArray(inst)) {
      throw serverError(ERRORS.INVALID_INSTANCES, `the model has ${model.inputs.length} inputs, so each instance must be an object {inputName: value}; instance ${i} is not`);
    }
    for (const [name, col] of columns) {
      if (!Object.prototype.hasOwnProperty.call(inst, name)) {
        throw serverError(ERRORS.INVALID_INSTANCES, `instance ${i} has no value for input '${name}'`);
      }
      col[i] = (inst as Record<string, unknown>)[name];
    }
  }
  return { inputs: model.inputs.map((t) => tensorOf(t.name, t.datatype, columns.get(t.name)!)) };
}

function tensorOf(name: string, datatype: string, rows: unknown[]): InferTensor {
  // Row shape from the first instance; every row must have the same element count.
  const rowShape: number[] = [];
  let v: unknown = rows[0];
  while (Array.isArray(v)) {
    rowShape.push(v.length);
    v = v[0];
  }
  if (rowShape.length > 0) {
    const rowSize = rowShape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (!Array.isArray(r) || (rowShape.length === 1 ? r.length !== rowSize : r.flat(rowShape.length).length !== rowSize)) {
        throw serverError(ERRORS.INVALID_INSTANCES, `instance ${i} of input '${name}' does not have the shape [${rowShape.join(',')}] of instance 0`);
      }
    }
  }
  return { name, datatype, shape: [rows.length, ...rowShape], data: rows };
}

/** Maps V2 outputs to V1 predictions (see the module comment). */
export function outputsToPredictions(outputs: InferOutputTensor[]): unknown[] {
  if (outputs.length === 1) {
    return rowsOf(outputs[0]);
  }
  const columns = outputs.map(rowsOf);
  const n = columns.length > 0 ? columns[0].length : 0;
  const predictions = new Array(n);
  for (let i = 0; i < n; i++) {
    const p: Record<string, unknown> = {};
    for (let j = 0; j < outputs.length; j++) {
      p[outputs[j].name] = columns[j][i];
    }
    predictions[i] = p;
  }
  return predictions;
}

/** Splits a tensor along its first dimension into nested rows. */
function rowsOf(t: InferOutputTensor): unknown[] {
  const data = t.data as unknown[];
  if (t.shape.length <= 1) {
    return data;
  }
  return nest(data, t.shape, 0, 0).value as unknown[];
}

function nest(data: unknown[], shape: number[], dim: number, offset: number): { value: unknown; next: number } {
  if (dim === shape.length - 1) {
    return { value: data.slice(offset, offset + shape[dim]), next: offset + shape[dim] };
  }
  const out = new Array(shape[dim]);
  let at = offset;
  for (let i = 0; i < shape[dim]; i++) {
    const r = nest(data, shape, dim + 1, at);
    out[i] = r.value;
    at = r.next;
  }
  return { value: out, next: at };
}
