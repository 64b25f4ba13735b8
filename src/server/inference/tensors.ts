/**
 * Request validation against model metadata, and conversion between V2 tensors and
 * onnxruntime tensors. Hot path: one pass over the data, no intermediate arrays for flat input.
 */
import { ERRORS, serverError } from '../errors';
import { DatatypeInfo, datatypeInfo, fromHalf, SUPPORTED_DATATYPES, toHalf } from './datatypes';
import { InferOutputTensor, InferRequest, InferTensor } from './types';
import { OnnxModel, ort, TensorSpec } from '../models/onnx-model';

/** Limits applied to every request. */
export interface TensorLimits {
  /** Largest first dimension (batch) of any input. */
  readonly maxBatchSize: number;
}

/** The runtime inputs of a validated request. */
export interface PreparedRequest {
  readonly feeds: Record<string, ort.Tensor>;
  readonly outputNames: readonly string[];
}

/** Validates `request` against `model` and builds onnxruntime tensors. Throws ServerError. */
export function prepareRequest(modelName: string, model: OnnxModel, request: InferRequest, limits: TensorLimits): PreparedRequest {
  const inputs = request.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw serverError(ERRORS.INVALID_REQUEST, "'inputs' must be a non-empty array");
  }
  const feeds: Record<string, ort.Tensor> = {};
  for (let i = 0; i < inputs.length; i++) {
    const input = inputs[i];
    if (input === null || typeof input !== 'object') {
      throw serverError(ERRORS.INVALID_REQUEST, `inputs[${i}] must be an object`);
    }
    const name = input.name;
    if (typeof name !== 'string') {
      throw serverError(ERRORS.INVALID_REQUEST, `inputs[${i}].name must be a string`);
    }
    const spec = model.inputsByName.get(name);
    if (!spec) {
      throw serverError(ERRORS.UNKNOWN_INPUT, modelName, name, model.inputs.map((t) => t.name).join(', '));
    }
    if (Object.prototype.hasOwnProperty.call(feeds, name)) {
      throw serverError(ERRORS.DUPLICATE_INPUT, name);
    }
    feeds[name] = toOrtTensor(input, spec, limits);
  }
  if (inputs.length !== model.inputs.length) {
    for (const spec of model.inputs) {
      if (!Object.prototype.hasOwnProperty.call(feeds, spec.name)) {
        throw serverError(ERRORS.MISSING_INPUT, modelName, spec.name);
      }
    }
  }
  return { feeds, outputNames: requestedOutputs(modelName, model, request) };
}

function requestedOutputs(modelName: string, model: OnnxModel, request: InferRequest): readonly string[] {
  const outputs = request.outputs;
  if (outputs === undefined || outputs === null) {
    return model.outputNames;
  }
  if (!Array.isArray(outputs)) {
    throw serverError(ERRORS.INVALID_REQUEST, "'outputs' must be an array");
  }
  if (outputs.length === 0) {
    return model.outputNames;
  }
  const names: string[] = [];
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i];
    const name = o !== null && typeof o === 'object' ? o.name : undefined;
    if (typeof name !== 'string') {
      throw serverError(ERRORS.INVALID_REQUEST, `outputs[${i}].name must be a string`);
    }
    if (!model.outputsByName.has(name)) {
      throw serverError(ERRORS.UNKNOWN_OUTPUT, modelName, name, model.outputNames.join(', '));
    }
    if (!names.includes(name)) {
      names.push(name);
    }
  }
  return names;
}

/** Checks the shape, then converts the data of one input to an onnxruntime tensor. */
export function toOrtTensor(input: InferTensor, spec: TensorSpec, limits: TensorLimits): ort.Tensor {
  const name = spec.name;
  const dt = input.datatype;
  if (typeof dt !== 'string') {
    throw serverError(ERRORS.INVALID_REQUEST, `input '${name}': 'datatype' must be a string`);
  }
  if (dt !== spec.datatype) {
    if (!datatypeInfo(dt)) {
      throw serverError(ERRORS.UNSUPPORTED_DATATYPE, dt, SUPPORTED_DATATYPES);
    }
    throw serverError(ERRORS.INVALID_DATATYPE, name, dt, spec.datatype);
  }
  const shape = input.shape;
  if (!Array.isArray(shape)) {
    throw serverError(ERRORS.INVALID_SHAPE, name, "'shape' must be an array of non-negative integers");
  }
  const expected = spec.shape;
  if (shape.length !== expected.length) {
    throw serverError(ERRORS.INVALID_SHAPE, name, `shape [${shape.join(',')}] has rank ${shape.length}, but the model expects rank ${expected.length} ([${expected.join(',')}])`);
  }
  let size = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw serverError(ERRORS.INVALID_SHAPE, name, `shape dimension ${i} must be a non-negative integer, got ${JSON.stringify(d)}`);
    }
    if (expected[i] !== -1 && expected[i] !== d) {
      throw serverError(ERRORS.INVALID_SHAPE, name, `shape [${shape.join(',')}] does not match the model's [${expected.join(',')}] at dimension ${i}`);
    }
    size *= d;
  }
  if (shape.length > 0 && shape[0] > limits.maxBatchSize) {
    throw serverError(ERRORS.BATCH_TOO_LARGE, shape[0], limits.maxBatchSize);
  }
  if (!Number.isSafeInteger(size)) {
    throw serverError(ERRORS.INVALID_SHAPE, name, 'shape has too many elements');
  }
  const data = input.data;
  if (data === null || typeof data !== 'object' || typeof (data as ArrayLike<unknown>).length !== 'number') {
    throw serverError(ERRORS.INVALID_DATA, name, "'data' must be an array");
  }
  const values = convertData(name, data as ArrayLike<unknown>, size, spec.info);
  return new ort.Tensor(spec.info.ort, values as any, shape as number[]);
}

type Converted = ArrayBufferView | string[];

function convertData(name: string, data: ArrayLike<unknown>, size: number, info: DatatypeInfo): Converted {
  // A typed array of exactly the runtime's type (gRPC raw contents) is used as it is.
  if (ArrayBuffer.isView(data)) {
    if (info.ctor && (data as object).constructor === info.ctor) {
      if ((data as unknown as ArrayLike<unknown>).length !== size) {
        throw sizeError(name, (data as unknown as ArrayLike<unknown>).length, size);
      }
      return data as unknown as ArrayBufferView;
    }
    return convertFlat(name, Array.from(data as unknown as ArrayLike<unknown>), size, info);
  }
  const arr = data as unknown[];
  // Flat data is the common case; nested data is flattened first.
  if (arr.length === size && (size === 0 || !Array.isArray(arr[0]))) {
    return convertFlat(name, arr, size, info);
  }
  const flat: unknown[] = [];
  flatten(name, arr, flat, 0);
  if (flat.length !== size) {
    throw sizeError(name, flat.length, size);
  }
  return convertFlat(name, flat, size, info);
}

const MAX_NESTING = 32;

function flatten(name: string, arr: readonly unknown[], out: unknown[], depth: number): void {
  if (depth > MAX_NESTING) {
    throw serverError(ERRORS.INVALID_DATA, name, 'data is nested too deeply');
  }
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    if (Array.isArray(v)) {
      flatten(name, v, out, depth + 1);
    } else {
      out.push(v);
    }
  }
}

function sizeError(name: string, got: number, want: number) {
  return serverError(ERRORS.INVALID_SHAPE, name, `data has ${got} elements, but the shape needs ${want}`);
}

function elementError(name: string, index: number, value: unknown, info: DatatypeInfo) {
  let want: string;
  switch (info.kind) {
    case 'bool': want = 'a boolean'; break;
    case 'string': want = 'a string'; break;
    case 'float': case 'half': want = 'a number'; break;
    default: want = `an integer between ${info.min} and ${info.max}`;
  }
  const shown = JSON.stringify(value);
  return serverError(ERRORS.INVALID_DATA, name, `element ${index} must be ${want} for datatype ${info.datatype}, got ${shown === undefined ? String(value) : shown.slice(0, 40)}`);
}

function convertFlat(name: string, arr: readonly unknown[], size: number, info: DatatypeInfo): Converted {
  if (arr.length !== size) {
    throw sizeError(name, arr.length, size);
  }
  switch (info.kind) {
    case 'float': {
      const out = new info.ctor!(size) as Float32Array | Float64Array;
      for (let i = 0; i < size; i++) {
        const v = arr[i];
        if (typeof v !== 'number') {
          throw elementError(name, i, v, info);
        }
        out[i] = v;
      }
      return out;
    }
    case 'int': {
      const out = new info.ctor!(size) as Int32Array;
      const min = info.min!;
      const max = info.max!;
      for (let i = 0; i < size; i++) {
        const v = arr[i];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
          throw elementError(name, i, v, info);
        }
        out[i] = v;
      }
      return out;
    }
    case 'bigint': {
      const out = new info.ctor!(size) as BigInt64Array;
      const min = info.min!;
      const max = info.max!;
      for (let i = 0; i < size; i++) {
        const v = arr[i];
        if (typeof v === 'bigint') {
          out[i] = v;
          continue;
        }
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
          throw elementError(name, i, v, info);
        }
        out[i] = BigInt(v);
      }
      return out;
    }
    case 'half': {
      const out = new Uint16Array(size);
      for (let i = 0; i < size; i++) {
        const v = arr[i];
        if (typeof v !== 'number') {
          throw elementError(name, i, v, info);
        }
        out[i] = toHalf(v);
      }
      return out;
    }
    case 'bool': {
      const out = new Uint8Array(size);
      for (let i = 0; i < size; i++) {
        const v = arr[i];
        if (typeof v !== 'boolean') {
          throw elementError(name, i, v, info);
        }
        out[i] = v ? 1 : 0;
      }
      return out;
    }
    case 'string': {
      const out: string[] = new Array(size);
      for (let i = 0; i < size; i++) {
        const v = arr[i];
        if (typeof v !== 'string') {
          throw elementError(name, i, v, info);
        }
        out[i] = v;
      }
      return out;
    }
  }
}

/**
 * A V2 output tensor that keeps the runtime's typed array aside as `raw`: a getter on the
 * prototype over a private field, so `JSON.stringify` and object spread skip it (a copy a
 * transformer module makes never carries a stale `raw`), at no cost to the JSON fast path (a
 * non-enumerable own property, or a WeakMap, costs a third of a small answer's serialization).
 */
class OutputTensor implements InferOutputTensor {
  readonly #raw: ArrayLike<unknown>;

  constructor(
    public readonly name: string,
    public readonly datatype: InferOutputTensor['datatype'],
    public readonly shape: number[],
    public readonly data: number[] | boolean[] | string[],
    raw: ArrayLike<unknown>,
  ) {
    this.#raw = raw;
  }

  get raw(): ArrayLike<unknown> {
    return this.#raw;
  }
}

/**
 * Converts a runtime output to a V2 output tensor (plain JSON-ready data plus `raw`). The arrays
 * are built by `push`, so they are packed: JSON.stringify takes its slow path on holey arrays.
 */
export function fromOrtTensor(name: string, tensor: ort.Tensor, spec: TensorSpec): InferOutputTensor {
  const raw = tensor.data as ArrayLike<unknown>;
  const n = raw.length;
  let data: number[] | boolean[] | string[];
  switch (spec.info.kind) {
    case 'bigint': {
      const out: number[] = [];
      const src = raw as BigInt64Array;
      for (let i = 0; i < n; i++) out.push(Number(src[i]));
      data = out;
      break;
    }
    case 'bool': {
      const out: boolean[] = [];
      const src = raw as Uint8Array;
      for (let i = 0; i < n; i++) out.push(src[i] !== 0);
      data = out;
      break;
    }
    case 'half': {
      const out: number[] = [];
      const src = raw as Uint16Array;
      for (let i = 0; i < n; i++) out.push(fromHalf(src[i]));
      data = out;
      break;
    }
    case 'string':
      data = Array.from(raw as string[]);
      break;
    default: {
      const out: number[] = [];
      const src = raw as Float32Array;
      for (let i = 0; i < n; i++) out.push(src[i]);
      data = out;
    }
  }
  const shape: number[] = [];
  for (const d of tensor.dims) shape.push(d);
  return new OutputTensor(name, spec.info.datatype, shape, data, raw);
}
