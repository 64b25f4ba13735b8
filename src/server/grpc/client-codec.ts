/**
 * Hand-written protobuf codec for the client side of `GRPCInferenceService` (the transformer's
 * and explainer's predictor calls): encodes `ModelInferRequest`, `ModelReadyRequest` and
 * `ModelMetadataRequest`; decodes their responses.
 *
 * The server side is ./codec (whose `Reader`, `Writer` and `decodeContents` this reuses).
 * Decoders skip unknown fields, and a known field number with an unexpected wire type counts
 * as unknown (it is never misread). Malformed bytes throw an `Error` whose message starts with
 * `malformed <Message>:`. Tests check both directions against protobufjs.
 */
import type { Datatype, ModelMetadata, Parameters, TensorMetadata } from '../inference';
import { decodeContents, Reader, readParameterEntry, Writer } from './codec';

/* eslint-disable no-bitwise */

/** A tensor of a `ModelInferRequest` (its contents travel in `raw_input_contents`). */
export interface InferInputMessage {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly parameters?: Parameters;
}

/** What `encodeModelInferRequest` writes. */
export interface InferRequestMessage {
  readonly model_name: string;
  readonly model_version?: string;
  readonly id?: string;
  readonly parameters?: Parameters;
  readonly inputs: readonly InferInputMessage[];
  readonly outputs?: ReadonlyArray<{ readonly name: string; readonly parameters?: Parameters }>;
  /** One entry per input, in order (an empty entry is still written: entries are positional). */
  readonly raw_input_contents: readonly Uint8Array[];
}

/** A decoded `ModelInferResponse.InferOutputTensor`. */
export interface DecodedOutput {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Parameters;
  /** Typed `contents` by datatype (as ./codec decodes them); undefined if absent or unknown datatype. */
  contents?: ArrayLike<unknown>;
}

/** A decoded `ModelInferResponse`. */
export interface DecodedInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: Parameters;
  outputs: DecodedOutput[];
  /** Views over the response buffer, one per output when the predictor answered raw. */
  raw_output_contents: Uint8Array[];
}

// --- encoding -----------------------------------------------------------------------------

function field(w: Writer, tag: number, payload: Uint8Array): void {
  w.varint(tag).varint(payload.length).bytes(payload);
}

function stringField(w: Writer, tag: number, s: string | undefined): void {
  if (s) field(w, tag, Buffer.from(s, 'utf8'));
}

/**
 * `map<string, InferParameter>`: booleans as bool_param, safe integers as int64_param, anything
 * else as string_param (the proto has no double_param; KServe's has, but our server lacks it).
 */
function parametersField(w: Writer, tag: number, p: Parameters | undefined): void {
  if (!p) return;
  for (const [k, v] of Object.entries(p)) {
    const pw = new Writer();
    if (typeof v === 'boolean') pw.varint(8).varint(v ? 1 : 0);
    else if (typeof v === 'number' && Number.isSafeInteger(v)) pw.varint(16).varint64(BigInt(v));
    // A oneof member is written even when empty: '' must not become "no value".
    else field(pw, 26, Buffer.from(String(v), 'utf8'));
    const entry = new Writer();
    stringField(entry, 10, k);
    field(entry, 18, pw.finish());
    field(w, tag, entry.finish());
  }
}

/** Packed `repeated int64` (negative values take the full 10 bytes, as protobuf writes them). */
function packedInt64(w: Writer, tag: number, values: readonly number[]): void {
  if (values.length === 0) return;
  const vw = new Writer();
  for (const v of values) {
    if (v >= 0) vw.varint(v);
    else vw.varint64(BigInt(v));
  }
  field(w, tag, vw.finish());
}

/** Encodes a `ModelInferRequest`; raw contents are referenced, then copied once. */
export function encodeModelInferRequest(req: InferRequestMessage): Buffer {
  const w = new Writer();
  stringField(w, 10, req.model_name);
  stringField(w, 18, req.model_version);
  stringField(w, 26, req.id);
  parametersField(w, 34, req.parameters);
  for (const t of req.inputs) {
    const tw = new Writer();
    stringField(tw, 10, t.name);
    stringField(tw, 18, t.datatype);
    packedInt64(tw, 26, t.shape);
    parametersField(tw, 34, t.parameters);
    field(w, 42, tw.finish());
  }
  for (const o of req.outputs ?? []) {
    const ow = new Writer();
    stringField(ow, 10, o.name);
    parametersField(ow, 18, o.parameters);
    field(w, 50, ow.finish());
  }
  for (const raw of req.raw_input_contents) field(w, 58, raw);
  return w.finish();
}

/** Encodes a `ModelReadyRequest` or a `ModelMetadataRequest` (both are `{name, version}`). */
export function encodeModelRequest(name: string, version?: string): Buffer {
  const w = new Writer();
  stringField(w, 10, name);
  stringField(w, 18, version);
  return w.finish();
}

// --- decoding -----------------------------------------------------------------------------

/** Runs `read`, turning any failure into `malformed <what>: <reason>`. */
function decoding<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new Error(`malformed ${what}: ${err instanceof Error ? err.message : String(err)}`);
  }
}


/** Appends one occurrence of a `repeated int64` field (packed, tag & 7 == 2, or not) to `into`. */
function readInt64s(r: Reader, tag: number, into: number[]): void {
  if ((tag & 7) === 0) {
    into.push(Number(r.varint64(true)));
    return;
  }
  const [s, e] = r.delimited();
  const packed = new Reader(r.buf, s, e);
  while (packed.pos < e) into.push(Number(packed.varint64(true)));
}

function readOutput(buf: Buffer, start: number, end: number): DecodedOutput {
  const r = new Reader(buf, start, end);
  const out: DecodedOutput = { name: '', datatype: '', shape: [] };
  let contents: [number, number] | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: out.name = r.string(); break;
      case 18: out.datatype = r.string(); break;
      case 24: case 26: readInt64s(r, tag, out.shape); break;
      case 34: readParameterEntry(r, out.parameters ??= {}); break;
      case 42: contents = r.delimited(); break;
      default: r.skip(tag & 7);
    }
  }
  // Contents are read by datatype, which may come after them.
  if (contents) out.contents = decodeContents(buf, contents[0], contents[1], out.datatype).values;
  return out;
}

/** Decodes a `ModelInferResponse`; throws `malformed ModelInferResponse: ...` on bad bytes. */
export function decodeModelInferResponse(buf: Buffer): DecodedInferResponse {
  return decoding('ModelInferResponse', () => {
    const r = new Reader(buf);
    const res: DecodedInferResponse = { model_name: '', model_version: '', id: '', outputs: [], raw_output_contents: [] };
    while (r.pos < r.end) {
      const tag = r.varint();
      switch (tag) {
        case 10: res.model_name = r.string(); break;
        case 18: res.model_version = r.string(); break;
        case 26: res.id = r.string(); break;
        case 34: readParameterEntry(r, res.parameters ??= {}); break;
        case 42: {
          const [s, e] = r.delimited();
          res.outputs.push(readOutput(buf, s, e));
          break;
        }
        case 50: {
          const [s, e] = r.delimited();
          res.raw_output_contents.push(buf.subarray(s, e));
          break;
        }
        default: r.skip(tag & 7);
      }
    }
    return res;
  });
}

/** Decodes a `ModelReadyResponse` to its `ready` flag. */
export function decodeModelReadyResponse(buf: Buffer): boolean {
  return decoding('ModelReadyResponse', () => {
    const r = new Reader(buf);
    let ready = false;
    while (r.pos < r.end) {
      const tag = r.varint();
      if (tag === 8) ready = r.varint() !== 0;
      else r.skip(tag & 7);
    }
    return ready;
  });
}

function readTensorMetadata(buf: Buffer, start: number, end: number): TensorMetadata {
  const r = new Reader(buf, start, end);
  let name = '';
  let datatype = '';
  const shape: number[] = [];
  while (r.pos < end) {
    const tag = r.varint();
    switch (tag) {
      case 10: name = r.string(); break;
      case 18: datatype = r.string(); break;
      case 24: case 26: readInt64s(r, tag, shape); break;
      default: r.skip(tag & 7);
    }
  }
  return { name, datatype: datatype as Datatype, shape };
}

/** Decodes a `ModelMetadataResponse` to the V2 REST metadata shape. */
export function decodeModelMetadataResponse(buf: Buffer): ModelMetadata {
  return decoding('ModelMetadataResponse', () => {
    const r = new Reader(buf);
    let name = '';
    let platform = '';
    const versions: string[] = [];
    const inputs: TensorMetadata[] = [];
    const outputs: TensorMetadata[] = [];
    while (r.pos < r.end) {
      const tag = r.varint();
      switch (tag) {
        case 10: name = r.string(); break;
        case 18: versions.push(r.string()); break;
        case 26: platform = r.string(); break;
        case 34: case 42: {
          const [s, e] = r.delimited();
          (tag === 34 ? inputs : outputs).push(readTensorMetadata(buf, s, e));
          break;
        }
        default: r.skip(tag & 7);
      }
    }
    return { name, versions, platform, inputs, outputs };
  });
}
