/**
 * Raw tensor contents of `GRPCInferenceService` (typed `contents` are in ./codec):
 * `raw_input_contents` / `raw_output_contents` hold little-endian bytes, one entry per tensor in
 * order; BYTES elements each carry a 4-byte little-endian length prefix (as in Triton).
 *
 * Raw inputs become typed arrays over the request buffer without a copy when the bytes are
 * aligned for the element type (a copy of just that tensor otherwise); raw outputs are
 * Buffers over the runtime's result arrays, copied once, into the response message.
 */
import { endianness } from 'node:os';
import { ERRORS, serverError } from '../errors';
import { Datatype, InferOutputTensor, TensorData } from '../inference';

interface TypedCtor {
  readonly BYTES_PER_ELEMENT: number;
  new(buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayBufferView & ArrayLike<unknown>;
}

/** Typed array type of raw data per datatype (FP16 as IEEE half bits, BOOL as bytes). */
const RAW_CTOR: Record<Exclude<Datatype, 'BYTES'>, TypedCtor> = {
  BOOL: Uint8Array,
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array as unknown as TypedCtor,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array as unknown as TypedCtor,
  FP16: Uint16Array,
  FP32: Float32Array,
  FP64: Float64Array,
};

const LITTLE_ENDIAN = endianness() === 'LE';

/** Decodes one tensor's raw bytes into the typed array the core uses (no copy if aligned). */
export function decodeRaw(name: string, datatype: string, raw: Uint8Array): TensorData {
  if (datatype === 'BYTES') return decodeRawBytes(name, raw);
  const ctor = RAW_CTOR[datatype as Exclude<Datatype, 'BYTES'>];
  if (!ctor) {
    // Let the core report the unknown datatype with the supported list.
    return [];
  }
  const size = ctor.BYTES_PER_ELEMENT;
  if (raw.byteLength % size !== 0) {
    throw serverError(ERRORS.INVALID_DATA, name, `raw contents of ${raw.byteLength} bytes are not a whole number of ${datatype} elements (${size} bytes each)`);
  }
  if (!LITTLE_ENDIAN && size > 1) {
    throw serverError(ERRORS.INTERNAL);
  }
  if (raw.byteOffset % size === 0) {
    return new ctor(raw.buffer, raw.byteOffset, raw.byteLength / size);
  }
  // Unaligned view: copy this tensor's bytes. Buffer.allocUnsafe takes small sizes from Node's
  // pool without a malloc; its slices start on 8-byte boundaries today (checked, not assumed).
  let copy: Uint8Array = Buffer.allocUnsafe(raw.byteLength);
  if (copy.byteOffset % size !== 0) copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  return new ctor(copy.buffer, copy.byteOffset, raw.byteLength / size);
}

function decodeRawBytes(name: string, raw: Uint8Array): string[] {
  const out: string[] = [];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  let pos = 0;
  while (pos < raw.byteLength) {
    if (pos + 4 > raw.byteLength) {
      throw serverError(ERRORS.INVALID_DATA, name, `raw BYTES contents end inside a length prefix at byte ${pos}`);
    }
    const len = view.getUint32(pos, true);
    pos += 4;
    if (pos + len > raw.byteLength) {
      throw serverError(ERRORS.INVALID_DATA, name, `raw BYTES element at byte ${pos - 4} claims ${len} bytes, but only ${raw.byteLength - pos} remain`);
    }
    out.push(Buffer.from(raw.buffer, raw.byteOffset + pos, len).toString('utf8'));
    pos += len;
  }
  return out;
}

/** Encodes one output tensor as raw little-endian bytes (a view over the runtime's array). */
export function encodeRaw(output: InferOutputTensor): Buffer {
  const raw = output.raw;
  if (output.datatype === 'BYTES') {
    const strings = (raw ?? output.data) as ArrayLike<string>;
    const parts: Buffer[] = [];
    for (let i = 0; i < strings.length; i++) {
      const b = Buffer.from(String(strings[i]), 'utf8');
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32LE(b.length, 0);
      parts.push(len, b);
    }
    return Buffer.concat(parts);
  }
  if (raw && ArrayBuffer.isView(raw)) {
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  }
  // No runtime array (should not happen): rebuild one from the plain data.
  const ctor = RAW_CTOR[output.datatype];
  const data = output.data as unknown[];
  const big = output.datatype === 'INT64' || output.datatype === 'UINT64';
  const arr = new (ctor as unknown as { new(n: number): ArrayBufferView & Record<number, unknown> })(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    arr[i] = big ? BigInt(v as number) : typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }
  return Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength);
}
