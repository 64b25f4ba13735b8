/**
 * OIP datatypes and onnxruntime tensor types: names, typed arrays and element checks.
 */
import { Datatype } from './types';

/** onnxruntime-node's tensor type names for the datatypes we support. */
export type OrtType =
  | 'bool' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'int8' | 'int16' | 'int32' | 'int64'
  | 'float16' | 'float32' | 'float64' | 'string';

type TypedArrayCtor =
  | Uint8ArrayConstructor | Uint16ArrayConstructor | Uint32ArrayConstructor | BigUint64ArrayConstructor
  | Int8ArrayConstructor | Int16ArrayConstructor | Int32ArrayConstructor | BigInt64ArrayConstructor
  | Float32ArrayConstructor | Float64ArrayConstructor;

/** How one datatype is stored and checked. */
export interface DatatypeInfo {
  readonly datatype: Datatype;
  readonly ort: OrtType;
  /** Typed array constructor, or undefined for BYTES (string[]). */
  readonly ctor?: TypedArrayCtor;
  /** Element kind: what a JSON element must be. */
  readonly kind: 'bool' | 'int' | 'bigint' | 'float' | 'half' | 'string';
  readonly min?: number;
  readonly max?: number;
}

function info(datatype: Datatype, ort: OrtType, kind: DatatypeInfo['kind'], ctor?: TypedArrayCtor, min?: number, max?: number): DatatypeInfo {
  return { datatype, ort, kind, ctor, min, max };
}

/** Every supported datatype. */
export const DATATYPES: Record<Datatype, DatatypeInfo> = {
  BOOL: info('BOOL', 'bool', 'bool', Uint8Array),
  UINT8: info('UINT8', 'uint8', 'int', Uint8Array, 0, 0xff),
  UINT16: info('UINT16', 'uint16', 'int', Uint16Array, 0, 0xffff),
  UINT32: info('UINT32', 'uint32', 'int', Uint32Array, 0, 0xffffffff),
  UINT64: info('UINT64', 'uint64', 'bigint', BigUint64Array, 0, Number.MAX_SAFE_INTEGER),
  INT8: info('INT8', 'int8', 'int', Int8Array, -0x80, 0x7f),
  INT16: info('INT16', 'int16', 'int', Int16Array, -0x8000, 0x7fff),
  INT32: info('INT32', 'int32', 'int', Int32Array, -0x80000000, 0x7fffffff),
  INT64: info('INT64', 'int64', 'bigint', BigInt64Array, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  FP16: info('FP16', 'float16', 'half', Uint16Array),
  FP32: info('FP32', 'float32', 'float', Float32Array),
  FP64: info('FP64', 'float64', 'float', Float64Array),
  BYTES: info('BYTES', 'string', 'string'),
};

/** The supported datatype names, for error messages. */
export const SUPPORTED_DATATYPES = Object.keys(DATATYPES).join(', ');

const BY_ORT: Record<string, DatatypeInfo> = {};
for (const d of Object.values(DATATYPES)) {
  BY_ORT[d.ort] = d;
}

/** The datatype of an onnxruntime tensor type, or undefined if we do not support it. */
export function datatypeOfOrt(ort: string): DatatypeInfo | undefined {
  return BY_ORT[ort];
}

/** Looks up a datatype by its OIP name. */
export function datatypeInfo(name: string): DatatypeInfo | undefined {
  return Object.prototype.hasOwnProperty.call(DATATYPES, name) ? DATATYPES[name as Datatype] : undefined;
}

/* eslint-disable no-bitwise */
// IEEE 754 half precision <-> number, by hand: Node 20 has no Float16Array, and onnxruntime-node
// cannot read the one Node 24 has (see models/onnx-model.ts), so FP16 data is a Uint16Array.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Encodes a number as IEEE half bits (round to nearest even). */
export function toHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) {
    return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf or NaN
  }
  const e = exp - 127 + 15;
  if (e >= 0x1f) {
    return sign | 0x7c00; // overflow -> Inf
  }
  if (e <= 0) {
    if (e < -10) {
      return sign; // underflow -> 0
    }
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1))) {
      half++;
    }
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) {
    half++; // may carry into the exponent, which is still correct
  }
  return sign | half;
}

/** Decodes IEEE half bits to a number. */
export function fromHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) {
    return sign * mant * 2 ** -24;
  }
  if (exp === 0x1f) {
    return mant ? NaN : sign * Infinity;
  }
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
