/**
 * Hand-written protobuf codec for the hot RPC, `ModelInfer` (`grpc_predict_v2.proto`).
 *
 * proto-loader turns every message into plain objects and back (decode + toObject, fromObject +
 * encode): one JS value per tensor element both ways. This codec instead reads packed tensor
 * contents straight into typed arrays (a view over the request buffer when aligned) and writes
 * output tensors from the runtime's typed arrays (FP32/FP64 contents and raw contents are a
 * byte copy). The other RPCs keep proto-loader's codec. Tests check it against protobufjs.
 */
import { endianness } from 'node:os';
import type { Datatype, InferOutputTensor, Parameters } from '../inference';

/* eslint-disable no-bitwise */

const LE = endianness() === 'LE';

/** A decoded `InferParameter` map: the values as the core takes them. */
export type DecodedParameters = Parameters;

/** A decoded `ModelInferRequest.InferInputTensor`. */
export interface DecodedInput {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: DecodedParameters;
  /** Tensor contents, by datatype (typed array, or string[] for BYTES); undefined if absent. */
  contents?: ArrayLike<unknown>;
  /** Whether the message had a `contents` field with any values. */
  hasContents: boolean;
}

/** A decoded `ModelInferRequest`. */
export interface DecodedInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: DecodedParameters;
  inputs: DecodedInput[];
  outputs: Array<{ name: string; parameters?: DecodedParameters }>;
  raw_input_contents: Uint8Array[];
}

/** Reads protobuf wire format from `buf[start, end)` (shared with ./client-codec). */
export class Reader {
  public pos: number;
  constructor(public readonly buf: Buffer, start = 0, public readonly end = buf.length) {
    this.pos = start;
  }

  /** A varint up to 2^53 (larger values lose precision; int64 contents use `varint64`). */
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** A varint as a 64-bit two's complement BigInt (signed when `signed`). */
  varint64(signed: boolean): bigint {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      if (shift < 28) {
        lo |= (b & 0x7f) << shift;
      } else if (shift === 28) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >>> 4;
      } else {
        hi |= (b & 0x7f) << (shift - 32);
      }
      shift += 7;
      if (b < 0x80) {
        const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
        return signed ? BigInt.asIntN(64, v) : v;
      }
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** Length-delimited field: returns [start, end) and moves past it. */
  delimited(): [number, number] {
    const len = this.varint();
    const start = this.pos;
    const end = start + len;
    if (end > this.end) throw new Error('length-delimited field past the end of the message');
    this.pos = end;
    return [start, end];
  }

  string(): string {
    const [s, e] = this.delimited();
    return this.buf.toString('utf8', s, e);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); break;
      case 1: this.pos += 8; break;
      case 2: this.delimited(); break;
      case 5: this.pos += 4; break;
      default: throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new Error('field past the end of the message');
  }
}

/** Protobuf wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
const WIRE = { VARINT: 0, I64: 1, LEN: 2, I32: 5 } as const;
const WIRE_NAMES = ['VARINT', 'I64', 'LEN', 'SGROUP', 'EGROUP', 'I32', '6', '7'];

/**
 * A known field sent with another wire type than the .proto declares. Reading it anyway would
 * decode garbage (a varint taken for a string length, a model name made of tensor bytes), so
 * the request is refused: the server answers INVALID_ARGUMENT with this message.
 */
export class WireTypeError extends Error {
  // eslint-disable-next-line @typescript-eslint/no-shadow
  constructor(public readonly field: string, got: number, expected: readonly number[]) {
    super(`field ${field} has wire type ${WIRE_NAMES[got]} (${got}), but the .proto declares ${expected.map((w) => `${WIRE_NAMES[w]} (${w})`).join(' or ')}: encode it as grpc_predict_v2.proto says`);
    this.name = 'WireTypeError';
  }
}

/** Checks a singular or message field's wire type. */
function expectWire(name: string, got: number, want: number): void {
  if (got !== want) throw new WireTypeError(name, got, [want]);
}

/** Checks a repeated scalar field's wire type: packed (LEN) or one element (`element`). */
function expectRepeated(name: string, got: number, element: number): void {
  if (got !== WIRE.LEN && got !== element) throw new WireTypeError(name, got, [WIRE.LEN, element]);
}

/**
 * An `InferParameter`: the last of its oneof fields wins, as in protobuf. Besides the OIP fields
 * (bool, int64, string) it reads KServe's double_param and uint64_param, which its clients send.
 */
function decodeParameter(r: Reader, end: number): string | number | boolean | undefined {
  let value: string | number | boolean | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: expectWire('InferParameter.bool_param', wt, WIRE.VARINT); value = r.varint() !== 0; break;
      case 2: expectWire('InferParameter.int64_param', wt, WIRE.VARINT); value = Number(r.varint64(true)); break;
      case 3: expectWire('InferParameter.string_param', wt, WIRE.LEN); value = r.string(); break;
      case 4: // double_param (KServe's proto)
        expectWire('InferParameter.double_param', wt, WIRE.I64);
        if (r.pos + 8 > end) throw new Error('truncated double');
        value = r.buf.readDoubleLE(r.pos);
        r.pos += 8;
        break;
      case 5: expectWire('InferParameter.uint64_param', wt, WIRE.VARINT); value = Number(r.varint64(false)); break; // KServe's proto
      default: r.skip(wt);
    }
  }
  return value;
}

/**
 * Reads a map<string, InferParameter> entry at the reader's position (a delimited field) into
 * `into` (shared with ./client-codec).
 */
export function readParameterEntry(r: Reader, into: DecodedParameters): void {
  const [start, end] = r.delimited();
  const sub = new Reader(r.buf, start, end);
  let key = '';
  let value: string | number | boolean | undefined;
  while (sub.pos < end) {
    const tag = sub.varint();
    const num = tag >>> 3;
    if (num === 1) {
      expectWire('parameters (map entry key)', tag & 7, WIRE.LEN);
      key = sub.string();
    } else if (num === 2) {
      expectWire('parameters (map entry value)', tag & 7, WIRE.LEN);
      const [ps, pe] = sub.delimited();
      value = decodeParameter(new Reader(sub.buf, ps, pe), pe);
    } else {
      sub.skip(tag & 7);
    }
  }
  if (value !== undefined) into[key] = value;
}

interface Packed { ranges: Array<[number, number, boolean]> }

/** Reads a packed-or-not repeated field occurrence into `acc` (ranges of the buffer). */
function collect(acc: Packed, r: Reader, wireType: number): void {
  if (wireType === 2) {
    const [s, e] = r.delimited();
    acc.ranges.push([s, e, true]);
  } else {
    const s = r.pos;
    r.skip(wireType);
    acc.ranges.push([s, r.pos, false]);
  }
}

function byteLength(ranges: Array<[number, number, boolean]>): number {
  let n = 0;
  for (const [s, e] of ranges) n += e - s;
  return n;
}

/** Fixed-width elements from ranges: a view if one aligned range, else one copy. */
interface FixedCtor<T> {
  readonly BYTES_PER_ELEMENT: number;
  new(b: ArrayBufferLike, o: number, n: number): T;
  new(n: number): T;
}

function fixedArray<T extends Float32Array | Float64Array>(buf: Buffer, ranges: Array<[number, number, boolean]>, ctor: FixedCtor<T>): T {
  const size = ctor.BYTES_PER_ELEMENT;
  const total = byteLength(ranges);
  if (total % size !== 0) throw new Error('packed fixed-width field has a partial element');
  if (ranges.length === 1 && (buf.byteOffset + ranges[0][0]) % size === 0 && LE) {
    return new ctor(buf.buffer, buf.byteOffset + ranges[0][0], total / size);
  }
  const out = new ctor(total / size);
  const bytes = new Uint8Array(out.buffer);
  let o = 0;
  for (const [s, e] of ranges) {
    bytes.set(buf.subarray(s, e), o);
    o += e - s;
  }
  if (!LE) throw new Error('big-endian hosts are not supported');
  return out;
}

function varintValues(buf: Buffer, ranges: Array<[number, number, boolean]>, read: (r: Reader) => number | bigint): Array<number | bigint> {
  const out: Array<number | bigint> = [];
  for (const [s, e] of ranges) {
    const r = new Reader(buf, s, e);
    while (r.pos < e) out.push(read(r));
  }
  return out;
}

/** Which contents field (number) each datatype reads; FP16 may come as fp32_contents. */
const FIELD_OF: Record<string, number> = {
  BOOL: 1, INT8: 2, INT16: 2, INT32: 2, INT64: 3, UINT8: 4, UINT16: 4, UINT32: 4, UINT64: 5, FP16: 6, FP32: 6, FP64: 7, BYTES: 8,
};

/** `InferTensorContents` field names and element wire types, by field number. */
const CONTENTS_FIELDS = ['', 'bool_contents', 'int_contents', 'int64_contents', 'uint_contents', 'uint64_contents', 'fp32_contents', 'fp64_contents', 'bytes_contents']
  .map((name) => `InferTensorContents.${name}`);
const CONTENTS_ELEMENT_WIRE = [-1, WIRE.VARINT, WIRE.VARINT, WIRE.VARINT, WIRE.VARINT, WIRE.VARINT, WIRE.I32, WIRE.I64, WIRE.LEN];

/** Decodes `InferTensorContents` for `datatype` (shared with ./client-codec). */
export function decodeContents(buf: Buffer, start: number, end: number, datatype: string): { values?: ArrayLike<unknown>; any: boolean } {
  const want = FIELD_OF[datatype];
  const r = new Reader(buf, start, end);
  const acc: Packed = { ranges: [] };
  const strings: string[] = [];
  let any = false;
  while (r.pos < end) {
    const tag = r.varint();
    const num = tag >>> 3;
    const wt = tag & 7;
    if (num >= 1 && num <= 8) {
      any = true;
      expectRepeated(CONTENTS_FIELDS[num], wt, CONTENTS_ELEMENT_WIRE[num]);
    }
    if (num !== want) {
      r.skip(wt);
      continue;
    }
    if (num === 8) {
      const [s, e] = r.delimited();
      strings.push(buf.toString('utf8', s, e));
    } else {
      collect(acc, r, wt);
    }
  }
  switch (want) {
    case undefined: return { any };
    case 8: return { values: strings, any };
    case 6: return { values: fixedArray(buf, acc.ranges, Float32Array), any };
    case 7: return { values: fixedArray(buf, acc.ranges, Float64Array), any };
    case 1: {
      const v = varintValues(buf, acc.ranges, (x) => x.varint());
      const out = new Uint8Array(v.length);
      for (let i = 0; i < v.length; i++) out[i] = v[i] ? 1 : 0;
      return { values: out, any };
    }
    case 2: return { values: Int32Array.from(varintValues(buf, acc.ranges, (x) => Number(x.varint64(true)) | 0) as number[]), any };
    case 4: return { values: Uint32Array.from(varintValues(buf, acc.ranges, (x) => x.varint() >>> 0) as number[]), any };
    case 3: return { values: BigInt64Array.from(varintValues(buf, acc.ranges, (x) => x.varint64(true)) as bigint[]), any };
    case 5: return { values: BigUint64Array.from(varintValues(buf, acc.ranges, (x) => x.varint64(false)) as bigint[]), any };
    default: return { any };
  }
}

function decodeInput(buf: Buffer, start: number, end: number): DecodedInput {
  const r = new Reader(buf, start, end);
  const input: DecodedInput = { name: '', datatype: '', shape: [], hasContents: false };
  let contents: [number, number] | undefined;
  const shape: Packed = { ranges: [] };
  while (r.pos < end) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: expectWire('ModelInferRequest.inputs.name', wt, WIRE.LEN); input.name = r.string(); break;
      case 2: expectWire('ModelInferRequest.inputs.datatype', wt, WIRE.LEN); input.datatype = r.string(); break;
      case 3: expectRepeated('ModelInferRequest.inputs.shape', wt, WIRE.VARINT); collect(shape, r, wt); break;
      case 4: expectWire('ModelInferRequest.inputs.parameters', wt, WIRE.LEN); readParameterEntry(r, input.parameters ??= {}); break;
      case 5: expectWire('ModelInferRequest.inputs.contents', wt, WIRE.LEN); contents = r.delimited(); break;
      default: r.skip(wt);
    }
  }
  input.shape = varintValues(buf, shape.ranges, (x) => Number(x.varint64(true))) as number[];
  if (contents) {
    const c = decodeContents(buf, contents[0], contents[1], input.datatype);
    input.contents = c.values;
    input.hasContents = c.any;
  }
  return input;
}

/**
 * Decodes a `ModelInferRequest`. Throws `WireTypeError` for a known field of the wrong wire type
 * (INVALID_ARGUMENT), another Error for bytes that are not protobuf (INTERNAL, as grpc-js answers).
 */
export function decodeInferRequest(buf: Buffer): DecodedInferRequest {
  const r = new Reader(buf);
  const req: DecodedInferRequest = { model_name: '', model_version: '', id: '', inputs: [], outputs: [], raw_input_contents: [] };
  while (r.pos < r.end) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: expectWire('ModelInferRequest.model_name', wt, WIRE.LEN); req.model_name = r.string(); break;
      case 2: expectWire('ModelInferRequest.model_version', wt, WIRE.LEN); req.model_version = r.string(); break;
      case 3: expectWire('ModelInferRequest.id', wt, WIRE.LEN); req.id = r.string(); break;
      case 4: expectWire('ModelInferRequest.parameters', wt, WIRE.LEN); readParameterEntry(r, req.parameters ??= {}); break;
      case 5: {
        expectWire('ModelInferRequest.inputs', wt, WIRE.LEN);
        const [s, e] = r.delimited();
        req.inputs.push(decodeInput(buf, s, e));
        break;
      }
      case 6: {
        expectWire('ModelInferRequest.outputs', wt, WIRE.LEN);
        const [s, e] = r.delimited();
        const sub = new Reader(buf, s, e);
        const out: { name: string; parameters?: DecodedParameters } = { name: '' };
        while (sub.pos < e) {
          const t = sub.varint();
          const num = t >>> 3;
          if (num === 1) {
            expectWire('ModelInferRequest.outputs.name', t & 7, WIRE.LEN);
            out.name = sub.string();
          } else if (num === 2) {
            expectWire('ModelInferRequest.outputs.parameters', t & 7, WIRE.LEN);
            readParameterEntry(sub, out.parameters ??= {});
          } else {
            sub.skip(t & 7);
          }
        }
        req.outputs.push(out);
        break;
      }
      case 7: {
        expectWire('ModelInferRequest.raw_input_contents', wt, WIRE.LEN);
        const [s, e] = r.delimited();
        req.raw_input_contents.push(buf.subarray(s, e));
        break;
      }
      default: r.skip(wt);
    }
  }
  return req;
}

/** A decoded `ModelReadyRequest` or `ModelMetadataRequest` (the same two fields). */
export interface DecodedModelRequest {
  name: string;
  version: string;
}

/** Decodes a `ModelReadyRequest` / `ModelMetadataRequest` (`what` names it in errors). */
export function decodeModelRequest(buf: Buffer, what: string): DecodedModelRequest {
  const r = new Reader(buf);
  const req: DecodedModelRequest = { name: '', version: '' };
  while (r.pos < r.end) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: expectWire(`${what}.name`, wt, WIRE.LEN); req.name = r.string(); break;
      case 2: expectWire(`${what}.version`, wt, WIRE.LEN); req.version = r.string(); break;
      default: r.skip(wt);
    }
  }
  return req;
}

// --- encoding -----------------------------------------------------------------------------

/** Collects chunks and concatenates them once (shared with ./client-codec). */
export class Writer {
  private readonly chunks: Uint8Array[] = [];
  private scratch = Buffer.allocUnsafe(256);
  private used = 0;

  private ensure(n: number): void {
    if (this.scratch.length - this.used < n) {
      this.flush();
      this.scratch = Buffer.allocUnsafe(Math.max(256, n));
    }
  }

  private flush(): void {
    if (this.used > 0) {
      this.chunks.push(this.scratch.subarray(0, this.used));
      this.scratch = this.scratch.subarray(this.used);
      this.used = 0;
    }
  }

  varint(v: number): this {
    this.ensure(10);
    while (v > 0x7f) {
      this.scratch[this.used++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.scratch[this.used++] = v;
    return this;
  }

  /** Two's complement 64-bit varint. */
  varint64(v: bigint): this {
    let u = BigInt.asUintN(64, v);
    this.ensure(10);
    while (u > 0x7fn) {
      this.scratch[this.used++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.scratch[this.used++] = Number(u);
    return this;
  }

  bytes(b: Uint8Array): this {
    if (b.length <= 64) {
      this.ensure(b.length);
      this.scratch.set(b, this.used);
      this.used += b.length;
    } else {
      this.flush();
      this.chunks.push(b);
    }
    return this;
  }

  finish(): Buffer {
    this.flush();
    return Buffer.concat(this.chunks);
  }
}

function varintSize(v: number): number {
  let n = 1;
  while (v > 0x7f) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

function varint64Size(v: bigint): number {
  let u = BigInt.asUintN(64, v);
  let n = 1;
  while (u > 0x7fn) {
    u >>= 7n;
    n++;
  }
  return n;
}

function int32Size(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

/** A length-delimited field from an already encoded payload. */
function field(w: Writer, tag: number, payload: Uint8Array): void {
  w.varint(tag).varint(payload.length).bytes(payload);
}

function stringField(w: Writer, tag: number, s: string | undefined): void {
  if (!s) return;
  field(w, tag, Buffer.from(s, 'utf8'));
}

function encodeParameters(w: Writer, tag: number, p: Parameters | undefined): void {
  if (!p) return;
  for (const [k, v] of Object.entries(p)) {
    const pw = new Writer();
    if (typeof v === 'boolean') pw.varint(8).varint(v ? 1 : 0);
    else if (typeof v === 'number' && Number.isSafeInteger(v)) pw.varint(16).varint64(BigInt(v));
    // A oneof member is written even when empty: that is how the reader knows which one is set.
    else field(pw, 26, Buffer.from(String(v), 'utf8'));
    const value = pw.finish();
    const ew = new Writer();
    stringField(ew, 10, k);
    field(ew, 18, value);
    field(w, tag, ew.finish());
  }
}

function bytesOf(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** `InferTensorContents` of one output (packed fields). */
function encodeContents(o: InferOutputTensor): Buffer {
  const w = new Writer();
  const raw = o.raw as ArrayLike<unknown> | undefined;
  const dt: Datatype = o.datatype;
  switch (dt) {
    case 'FP32': {
      const a = raw instanceof Float32Array ? raw : Float32Array.from(o.data as number[]);
      if (a.length) field(w, 50, bytesOf(a));
      break;
    }
    case 'FP16': {
      const a = Float32Array.from(o.data as number[]);
      if (a.length) field(w, 50, bytesOf(a));
      break;
    }
    case 'FP64': {
      const a = raw instanceof Float64Array ? raw : Float64Array.from(o.data as number[]);
      if (a.length) field(w, 58, bytesOf(a));
      break;
    }
    case 'INT64':
    case 'UINT64': {
      const vals: bigint[] = raw && (raw instanceof BigInt64Array || raw instanceof BigUint64Array)
        ? Array.from(raw as ArrayLike<bigint>) : (o.data as number[]).map((x) => BigInt(x));
      if (vals.length) {
        let size = 0;
        for (const v of vals) size += varint64Size(v);
        w.varint(dt === 'INT64' ? 26 : 42).varint(size);
        for (const v of vals) w.varint64(v);
      }
      break;
    }
    case 'INT8':
    case 'INT16':
    case 'INT32': {
      const vals = o.data as number[];
      if (vals.length) {
        let size = 0;
        for (const v of vals) size += int32Size(v);
        w.varint(18).varint(size);
        for (const v of vals) {
          if (v < 0) w.varint64(BigInt(v));
          else w.varint(v);
        }
      }
      break;
    }
    case 'UINT8':
    case 'UINT16':
    case 'UINT32': {
      const vals = o.data as number[];
      if (vals.length) {
        let size = 0;
        for (const v of vals) size += varintSize(v);
        w.varint(34).varint(size);
        for (const v of vals) w.varint(v);
      }
      break;
    }
    case 'BOOL': {
      const vals = o.data as boolean[];
      if (vals.length) {
        w.varint(10).varint(vals.length);
        for (const v of vals) w.varint(v ? 1 : 0);
      }
      break;
    }
    case 'BYTES':
      for (const s of o.data as string[]) field(w, 66, Buffer.from(s, 'utf8'));
      break;
  }
  return w.finish();
}

/** What the ModelInfer handler hands to the serializer. */
export interface InferReply {
  readonly model_name: string;
  readonly model_version?: string;
  readonly id?: string;
  readonly parameters?: Parameters;
  readonly outputs: readonly InferOutputTensor[];
  /** Answer with `raw_output_contents` (the request used raw inputs). */
  readonly raw: boolean;
  /** Encodes one output's raw bytes (BYTES: length-prefixed). */
  readonly encodeRaw: (o: InferOutputTensor) => Buffer;
}

/**
 * Encodes a `ModelInferResponse`. This runs for every gRPC answer, so it sizes every field first
 * and writes them once into one buffer (no intermediate writers, chunk lists or concatenation);
 * names and datatypes, the same on every answer, are encoded once (`utf8Of`). `reserve` bytes
 * are left free at the start (for the gRPC message prefix).
 */
export function encodeInferReply(reply: InferReply, reserve = 0): Buffer {
  const modelName = utf8Of(reply.model_name);
  const version = utf8Of(reply.model_version);
  // An id differs per request: not cached.
  const id = reply.id ? Buffer.from(reply.id, 'utf8') : EMPTY;
  const parameters = encodedParameters(34, reply.parameters);
  const outputs = reply.outputs;
  const parts: OutputParts[] = new Array(outputs.length);
  let size = fieldSize(modelName.length) + fieldSize(version.length) + fieldSize(id.length) + parameters.length;
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i];
    const part: OutputParts = {
      name: utf8Of(o.name),
      datatype: utf8Of(o.datatype),
      shapeBytes: 0,
      parameters: encodedParameters(34, o.parameters),
      contents: reply.raw ? undefined : encodeContents(o),
      raw: reply.raw ? reply.encodeRaw(o) : undefined,
      size: 0,
    };
    for (const d of o.shape) part.shapeBytes += varintSize(d);
    part.size = fieldSize(part.name.length) + fieldSize(part.datatype.length)
      + (o.shape.length ? 1 + varintSize(part.shapeBytes) + part.shapeBytes : 0)
      + part.parameters.length
      + (part.contents ? 1 + varintSize(part.contents.length) + part.contents.length : 0);
    size += 1 + varintSize(part.size) + part.size;
    // raw_output_contents entries are written even when empty: one per output, in order.
    if (part.raw) size += 1 + varintSize(part.raw.length) + part.raw.length;
    parts[i] = part;
  }

  const out = Buffer.allocUnsafe(reserve + size);
  let at = putString(out, reserve, 10, modelName);
  at = putString(out, at, 18, version);
  at = putString(out, at, 26, id);
  at += parameters.copy(out, at);
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    at = putVarint(out, putVarint(out, at, 42), part.size);
    at = putString(out, at, 10, part.name);
    at = putString(out, at, 18, part.datatype);
    const shape = outputs[i].shape;
    if (shape.length) {
      at = putVarint(out, putVarint(out, at, 26), part.shapeBytes);
      for (const d of shape) at = putVarint(out, at, d);
    }
    at += part.parameters.copy(out, at);
    if (part.contents) at = putBytes(out, at, 42, part.contents);
  }
  for (const part of parts) {
    if (part.raw) at = putBytes(out, at, 50, part.raw);
  }
  return out;
}

/** One output of a reply, encoded and sized before the reply is written. */
interface OutputParts {
  readonly name: Buffer;
  readonly datatype: Buffer;
  shapeBytes: number;
  readonly parameters: Buffer;
  readonly contents?: Buffer;
  readonly raw?: Buffer;
  size: number;
}

const EMPTY = Buffer.alloc(0);
/** Encoded names and datatypes; bounded, since model and output names come from requests. */
const utf8Cache = new Map<string, Buffer>();
const UTF8_CACHE_ENTRIES = 4096;

function utf8Of(s: string | undefined): Buffer {
  if (!s) return EMPTY;
  let b = utf8Cache.get(s);
  if (!b) {
    b = Buffer.from(s, 'utf8');
    if (utf8Cache.size < UTF8_CACHE_ENTRIES) utf8Cache.set(s, b);
  }
  return b;
}

/** Bytes of a length-delimited field with a one-byte tag; 0 for an empty string (proto3 default). */
function fieldSize(length: number): number {
  return length === 0 ? 0 : 1 + varintSize(length) + length;
}

function putVarint(out: Buffer, at: number, v: number): number {
  while (v > 0x7f) {
    out[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

/** A length-delimited field, written even when empty. */
function putBytes(out: Buffer, at: number, tag: number, b: Uint8Array): number {
  at = putVarint(out, at, tag);
  at = putVarint(out, at, b.length);
  out.set(b, at);
  return at + b.length;
}

/** A string field, skipped when empty (proto3 default). */
function putString(out: Buffer, at: number, tag: number, b: Buffer): number {
  return b.length === 0 ? at : putBytes(out, at, tag, b);
}

/** `parameters` map entries as they stand in the message (tags included); empty when none. */
function encodedParameters(tag: number, p: Parameters | undefined): Buffer {
  if (!p) return EMPTY;
  const w = new Writer();
  encodeParameters(w, tag, p);
  return w.finish();
}
