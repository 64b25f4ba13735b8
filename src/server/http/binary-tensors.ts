/**
 * The wire format of the V2 binary tensor data extension (Triton's `binary_tensor_data`, also
 * adopted by KServe), as pure functions over buffers.
 *
 * A binary body is a JSON inference header of `Inference-Header-Content-Length` bytes, followed by
 * the raw bytes of each tensor whose `parameters.binary_data_size` is set, in the order the header
 * lists them. Raw bytes are those of gRPC's `raw_input_contents` (little-endian, row-major, BOOL
 * as one byte, BYTES elements each behind a 4-byte little-endian length), so the gRPC raw codec
 * decodes and encodes them: inputs become typed arrays over the body without a copy when aligned.
 * https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
 */
import { ERRORS, serverError } from '../errors';
import { decodeRaw, encodeRaw } from '../grpc/tensors';
import { datatypeInfo, SUPPORTED_DATATYPES } from '../inference/datatypes';
import { InferOutputTensor, InferRequest, InferResponse, InferTensor } from '../inference/types';

/** The request and response header giving the JSON header's length (lowercase, as node has it). */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'inference-header-content-length';

/** A binary body split in two: the parsed JSON header and the tensor bytes after it. */
export interface BinaryBody {
  readonly header: unknown;
  readonly tensorBytes: Buffer;
}

const DIGITS = /^\d+$/;

/**
 * Splits `body` at `headerLength` (the raw `Inference-Header-Content-Length` value) and parses
 * the JSON before it. Throws a 400 ServerError for a bad length or invalid JSON.
 */
export function splitBinaryBody(body: Buffer, headerLength: string | string[] | undefined): BinaryBody {
  // Node joins a repeated header with ', ', which the digit check rejects too.
  const text = typeof headerLength === 'string' ? headerLength.trim() : undefined;
  const length = text !== undefined && DIGITS.test(text) ? Number(text) : NaN;
  if (!(length >= 1)) {
    throw serverError(ERRORS.INVALID_BINARY_DATA, `Inference-Header-Content-Length must be a positive integer, got '${String(headerLength).slice(0, 40)}'`);
  }
  if (length > body.length) {
    throw serverError(ERRORS.INVALID_BINARY_DATA, `Inference-Header-Content-Length is ${length}, but the body has only ${body.length} bytes`);
  }
  let header: unknown;
  try {
    header = JSON.parse(body.toString('utf8', 0, length));
  } catch (err) {
    throw serverError(ERRORS.INVALID_JSON, `the first ${length} bytes (Inference-Header-Content-Length): ${(err as Error).message}`);
  }
  return { header, tensorBytes: body.subarray(length) };
}

/**
 * Returns `header` with each binary input's `data` decoded from `tensorBytes`: a typed array of
 * the datatype (FP16 as half bits, BOOL as bytes), or strings for BYTES. JSON inputs are kept as
 * they are. Throws a 400 ServerError when sizes do not match shapes or do not add up to the bytes.
 */
export function withBinaryInputs(header: InferRequest, tensorBytes: Buffer): InferRequest {
  const inputs = header.inputs;
  if (!Array.isArray(inputs)) {
    throw serverError(ERRORS.INVALID_REQUEST, "'inputs' must be an array");
  }
  const sizes = inputs.map(binaryDataSize);
  const total = sizes.reduce((sum: number, size) => sum + (size ?? 0), 0);
  if (total !== tensorBytes.length) {
    throw serverError(ERRORS.INVALID_BINARY_DATA, `the inputs' binary_data_size add up to ${total} bytes, but ${tensorBytes.length} bytes follow the JSON header`);
  }
  let offset = 0;
  const decoded = inputs.map((input: InferTensor, i) => {
    const size = sizes[i];
    if (size === undefined) return input;
    const bytes = tensorBytes.subarray(offset, offset + size);
    offset += size;
    const data = decodeRaw(input.name, input.datatype, bytes);
    if (input.datatype === 'BOOL') checkBooleans(input.name, data as Uint8Array);
    return { ...input, data };
  });
  return { ...header, inputs: decoded };
}

/** An input's `binary_data_size`, checked against its shape; undefined for a JSON input. */
function binaryDataSize(input: InferTensor, index: number): number | undefined {
  if (input === null || typeof input !== 'object') {
    throw serverError(ERRORS.INVALID_REQUEST, `inputs[${index}] must be an object`);
  }
  const name = typeof input.name === 'string' ? input.name : `inputs[${index}]`;
  const size = input.parameters?.binary_data_size;
  if (size === undefined) {
    if (input.data === undefined) {
      throw serverError(ERRORS.INVALID_BINARY_DATA, `input '${name}' has neither 'data' nor parameters.binary_data_size`);
    }
    return undefined;
  }
  if (input.data !== undefined) {
    throw serverError(ERRORS.INVALID_BINARY_DATA, `input '${name}' has both 'data' and parameters.binary_data_size: send one`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw serverError(ERRORS.INVALID_BINARY_DATA, `input '${name}': binary_data_size must be a non-negative integer, got ${JSON.stringify(size)}`);
  }
  const info = datatypeInfo(String(input.datatype));
  if (!info) {
    throw serverError(ERRORS.UNSUPPORTED_DATATYPE, input.datatype, SUPPORTED_DATATYPES);
  }
  // BYTES elements vary in length: the element count is checked once decoded (by the core).
  if (info.ctor) {
    const elements = elementCount(name, input.shape);
    const expected = elements * info.ctor.BYTES_PER_ELEMENT;
    if (size !== expected) {
      throw serverError(ERRORS.INVALID_BINARY_DATA, `input '${name}': binary_data_size is ${size}, but shape [${input.shape.join(',')}] of ${info.datatype} needs ${expected} bytes`);
    }
  }
  return size;
}

function elementCount(name: string, shape: readonly number[]): number {
  if (!Array.isArray(shape)) {
    throw serverError(ERRORS.INVALID_SHAPE, name, "'shape' must be an array of non-negative integers");
  }
  let count = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw serverError(ERRORS.INVALID_SHAPE, name, `shape dimension must be a non-negative integer, got ${JSON.stringify(d)}`);
    }
    count *= d;
  }
  if (!Number.isSafeInteger(count)) {
    throw serverError(ERRORS.INVALID_SHAPE, name, 'shape has too many elements');
  }
  return count;
}

// The runtime would read any non-zero byte as true; the extension defines only 0 and 1.
function checkBooleans(name: string, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] > 1) {
      throw serverError(ERRORS.INVALID_DATA, name, `BOOL element ${i} is the byte ${bytes[i]}, but binary booleans are 0 or 1`);
    }
  }
}

/**
 * Which outputs `request` wants as binary: an output's `binary_data` wins over the request's
 * `binary_data_output`. Undefined when none can be (the common JSON case, decided cheaply).
 */
export function binaryOutputSelector(request: InferRequest): ((name: string) => boolean) | undefined {
  const all = request?.parameters?.binary_data_output === true;
  let perOutput: Map<string, boolean> | undefined;
  const outputs = request?.outputs;
  if (Array.isArray(outputs)) {
    for (const o of outputs) {
      const flag = o?.parameters?.binary_data;
      if (typeof flag === 'boolean') {
        (perOutput ??= new Map()).set(o.name, flag);
      }
    }
  }
  if (!all && !perOutput) return undefined;
  return (name) => perOutput?.get(name) ?? all;
}

/** A response encoded with binary outputs: the whole body and its JSON header's length. */
export interface BinaryResponse {
  readonly body: Buffer;
  readonly headerLength: number;
}

/**
 * Encodes `response` with the outputs `isBinary` picks as raw bytes after the JSON header (each
 * with `parameters.binary_data_size` and no `data`). Undefined if no output is binary.
 */
export function encodeBinaryResponse(response: InferResponse, isBinary: (name: string) => boolean): BinaryResponse | undefined {
  const parts: Buffer[] = [];
  const outputs = response.outputs.map((output): InferOutputTensor | object => {
    if (!isBinary(output.name)) return output;
    const bytes = encodeRaw(output);
    parts.push(bytes);
    return {
      name: output.name,
      datatype: output.datatype,
      shape: output.shape,
      parameters: { ...output.parameters, binary_data_size: bytes.length },
    };
  });
  if (parts.length === 0) return undefined;
  const header = Buffer.from(JSON.stringify({ ...response, outputs }), 'utf8');
  return { body: Buffer.concat([header, ...parts]), headerLength: header.length };
}
