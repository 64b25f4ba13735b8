// The client-side ModelInfer / ModelReady / ModelMetadata codec (src/server/grpc/client-codec.ts)
// against protobufjs, through @grpc/proto-loader, as the reference encoder and decoder.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import * as fc from 'fast-check';
import {
  decodeModelInferResponse, decodeModelMetadataResponse, decodeModelReadyResponse, encodeModelInferRequest, encodeModelRequest, InferRequestMessage,
} from '../../src/server/grpc/client-codec';
import { seeded } from '../seeded';

const PROTO = path.join(__dirname, '..', '..', 'src', 'server', 'protocol', 'grpc_predict_v2.proto');

// KServe's InferParameter also has double_param and uint64_param: give the reference both.
const tmp = mkdtempSync(path.join(tmpdir(), 'client-codec-'));
const kserveProto = path.join(tmp, 'grpc_predict_v2.proto');
writeFileSync(kserveProto, readFileSync(PROTO, 'utf8').replace(/string string_param = 3;/, 'string string_param = 3;\n    double double_param = 4;\n    uint64 uint64_param = 5;'));
const service = protoLoader.loadSync(kserveProto, { keepCase: true, longs: String, enums: String, defaults: false, arrays: true, oneofs: true })['inference.GRPCInferenceService'] as any;
rmSync(tmp, { recursive: true, force: true });

const ref = {
  decodeInferRequest: (b: Buffer): any => service.ModelInfer.requestDeserialize(b),
  encodeInferResponse: (o: object): Buffer => service.ModelInfer.responseSerialize(o),
  decodeReadyRequest: (b: Buffer): any => service.ModelReady.requestDeserialize(b),
  encodeReadyResponse: (o: object): Buffer => service.ModelReady.responseSerialize(o),
  decodeMetadataRequest: (b: Buffer): any => service.ModelMetadata.requestDeserialize(b),
  encodeMetadataResponse: (o: object): Buffer => service.ModelMetadata.responseSerialize(o),
};

/** protobufjs's `{k: {bool_param: true, parameter_choice: 'bool_param'}}` as `{k: true}`. */
function flat(p: Record<string, any> | undefined): Record<string, unknown> | undefined {
  return p && Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v[v.parameter_choice]]));
}

// Hand-made wire bytes, for what protobufjs will not write (unknown fields, bad wire types).
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 128) + 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
const key = (field: number, wireType: number) => varint(field * 8 + wireType);
const delimited = (field: number, payload: Buffer) => Buffer.concat([key(field, 2), varint(payload.length), payload]);
const str = (field: number, s: string) => delimited(field, Buffer.from(s, 'utf8'));

const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'];

describe('encodeModelInferRequest', () => {
  test('protobufjs reads back every datatype, raw contents, parameters of each kind, ids and outputs', () => {
    const raw = DATATYPES.map((_, i) => Buffer.from(Array.from({ length: i * 3 }, (__, j) => (i * 31 + j) % 256)));
    const buf = encodeModelInferRequest({
      model_name: 'iris',
      model_version: '3',
      id: 'req-é',
      parameters: { flag: true, off: false, count: -5, big: 2 ** 53 - 1, text: 'x', empty: '', ratio: 2.5, huge: 2 ** 60 },
      inputs: DATATYPES.map((datatype, i) => ({ name: `in_${datatype}`, datatype, shape: [i, -1, 0, 2 ** 40], parameters: i === 0 ? { content_type: 'np' } : undefined })),
      outputs: [{ name: 'probabilities' }, { name: 'label', parameters: { binary_data: false } }],
      raw_input_contents: raw,
    });
    const d = ref.decodeInferRequest(buf);
    expect(d).toMatchObject({ model_name: 'iris', model_version: '3', id: 'req-é' });
    // Non-integers and unsafe integers go as strings (the proto has no double_param).
    // An empty string is still a string_param (not "no value").
    expect(flat(d.parameters)).toEqual({ flag: true, off: false, count: '-5', big: String(2 ** 53 - 1), text: 'x', empty: '', ratio: '2.5', huge: String(2 ** 60) });
    expect(d.inputs.map((t: any) => [t.name, t.datatype, t.shape])).toEqual(DATATYPES.map((dt, i) => [`in_${dt}`, dt, [String(i), '-1', '0', String(2 ** 40)]]));
    expect(flat(d.inputs[0].parameters)).toEqual({ content_type: 'np' });
    expect(d.inputs[1].parameters).toBeUndefined();
    expect(d.inputs.every((t: any) => t.contents === undefined)).toBe(true);
    expect(d.outputs.map((o: any) => [o.name, flat(o.parameters)])).toEqual([['probabilities', undefined], ['label', { binary_data: false }]]);
    // Entries are positional: the empty one (the first input's) is there too.
    expect(d.raw_input_contents.map((b: Uint8Array) => Buffer.from(b))).toEqual(raw);
  });

  test('empty and absent fields are left out', () => {
    const d = ref.decodeInferRequest(encodeModelInferRequest({ model_name: '', model_version: '', id: '', inputs: [{ name: 'x', datatype: 'FP32', shape: [] }], raw_input_contents: [] }));
    expect(d).toEqual({ inputs: [{ name: 'x', datatype: 'FP32', shape: [] }], outputs: [], raw_input_contents: [] });
    expect(encodeModelInferRequest({ model_name: '', inputs: [], raw_input_contents: [] })).toHaveLength(0);
  });

  test('large raw contents are copied once, intact', () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 7, 0xab);
    const d = ref.decodeInferRequest(encodeModelInferRequest({ model_name: 'm', inputs: [{ name: 'x', datatype: 'UINT8', shape: [big.length] }], raw_input_contents: [big] }));
    expect(Buffer.from(d.raw_input_contents[0]).equals(big)).toBe(true);
  });

  test('ModelReady and ModelMetadata requests carry the name and the version', () => {
    expect(ref.decodeReadyRequest(encodeModelRequest('iris'))).toEqual({ name: 'iris' });
    expect(ref.decodeMetadataRequest(encodeModelRequest('iris', '2'))).toEqual({ name: 'iris', version: '2' });
    expect(encodeModelRequest('')).toHaveLength(0);
  });
});

describe('decodeModelInferResponse', () => {
  test('raw_output_contents of every datatype come back byte for byte, as views', () => {
    const raw = DATATYPES.map((_, i) => Buffer.from(Array.from({ length: 8 * i }, (__, j) => j)));
    const buf = ref.encodeInferResponse({
      model_name: 'iris',
      model_version: '1',
      id: 'r1',
      outputs: DATATYPES.map((datatype, i) => ({ name: `o${i}`, datatype, shape: [String(i), '8'] })),
      raw_output_contents: raw,
    });
    const d = decodeModelInferResponse(buf);
    expect(d).toMatchObject({ model_name: 'iris', model_version: '1', id: 'r1' });
    expect(d.outputs).toEqual(DATATYPES.map((datatype, i) => ({ name: `o${i}`, datatype, shape: [i, 8] })));
    expect(d.raw_output_contents.map((b) => Buffer.from(b))).toEqual(raw);
    expect(d.raw_output_contents[3].buffer).toBe(buf.buffer);
  });

  test('typed contents of every datatype', () => {
    const d = decodeModelInferResponse(ref.encodeInferResponse({
      model_name: 'm',
      outputs: [
        { name: 'b', datatype: 'BOOL', shape: ['3'], contents: { bool_contents: [true, false, true] } },
        { name: 'i8', datatype: 'INT8', shape: ['2'], contents: { int_contents: [-128, 127] } },
        { name: 'i16', datatype: 'INT16', shape: ['2'], contents: { int_contents: [-32768, 32767] } },
        { name: 'i32', datatype: 'INT32', shape: ['3'], contents: { int_contents: [-2147483648, 0, 2147483647] } },
        { name: 'i64', datatype: 'INT64', shape: ['2'], contents: { int64_contents: ['-9223372036854775808', '9223372036854775807'] } },
        { name: 'u8', datatype: 'UINT8', shape: ['1'], contents: { uint_contents: [255] } },
        { name: 'u16', datatype: 'UINT16', shape: ['1'], contents: { uint_contents: [65535] } },
        { name: 'u32', datatype: 'UINT32', shape: ['1'], contents: { uint_contents: [4294967295] } },
        { name: 'u64', datatype: 'UINT64', shape: ['1'], contents: { uint64_contents: ['18446744073709551615'] } },
        { name: 'f16', datatype: 'FP16', shape: ['2'], contents: { fp32_contents: [0.5, -2] } },
        { name: 'f32', datatype: 'FP32', shape: ['2'], contents: { fp32_contents: [1.5, -0.25] } },
        { name: 'f64', datatype: 'FP64', shape: ['1'], contents: { fp64_contents: [Math.PI] } },
        { name: 's', datatype: 'BYTES', shape: ['2'], contents: { bytes_contents: [Buffer.from('héllo'), Buffer.alloc(0)] } },
        { name: 'odd', datatype: 'COMPLEX', shape: ['1'], contents: { fp32_contents: [1] } },
      ],
    }));
    const values = Object.fromEntries(d.outputs.map((o) => [o.name, o.contents && Array.from(o.contents)]));
    expect(values).toEqual({
      b: [1, 0, 1],
      i8: [-128, 127],
      i16: [-32768, 32767],
      i32: [-2147483648, 0, 2147483647],
      i64: [-(2n ** 63n), 2n ** 63n - 1n],
      u8: [255],
      u16: [65535],
      u32: [4294967295],
      u64: [2n ** 64n - 1n],
      f16: [0.5, -2],
      f32: [1.5, -0.25],
      f64: [Math.PI],
      s: ['héllo', ''],
      odd: undefined,
    });
    expect(d.raw_output_contents).toEqual([]);
  });

  test('parameters of each kind: bool, int64, string, double and uint64', () => {
    const params = {
      b: { bool_param: true },
      n: { int64_param: '-42' },
      s: { string_param: 'text' },
      d: { double_param: -1.25 },
      u: { uint64_param: '9007199254740991' },
      no: { bool_param: false },
    };
    const d = decodeModelInferResponse(ref.encodeInferResponse({
      model_name: 'm',
      parameters: params,
      outputs: [{ name: 'o', datatype: 'FP32', shape: ['1'], parameters: { binary_data_size: { int64_param: '4' } } }],
    }));
    expect(d.parameters).toEqual({ b: true, n: -42, s: 'text', d: -1.25, u: 9007199254740991, no: false });
    expect(d.outputs[0].parameters).toEqual({ binary_data_size: 4 });
  });

  test('an empty message and empty fields decode to the proto3 defaults', () => {
    expect(decodeModelInferResponse(Buffer.alloc(0))).toEqual({ model_name: '', model_version: '', id: '', outputs: [], raw_output_contents: [] });
    const d = decodeModelInferResponse(ref.encodeInferResponse({ model_name: '', outputs: [{ name: 'o', datatype: 'FP32' }], raw_output_contents: [Buffer.alloc(0)] }));
    expect(d.outputs).toEqual([{ name: 'o', datatype: 'FP32', shape: [] }]);
    expect(d.raw_output_contents.map((b) => b.length)).toEqual([0]);
    // A map entry without a value has no parameter; one without a key is the '' key.
    const noValue = delimited(4, str(1, 'k'));
    const noKey = delimited(4, delimited(2, Buffer.from([0x08, 0x01])));
    expect(decodeModelInferResponse(Buffer.concat([noValue, noKey])).parameters).toEqual({ '': true });
  });

  test('unknown fields of every wire type are skipped, at every level; a known field with another wire type is too', () => {
    const unknown = Buffer.concat([
      key(90, 0), varint(300),
      key(91, 1), Buffer.alloc(8, 0xee),
      delimited(92, Buffer.from('skip me')),
      key(93, 5), Buffer.alloc(4, 0xdd),
    ]);
    const parameter = Buffer.concat([unknown, key(3, 2), varint(1), Buffer.from('v')]);
    const entry = Buffer.concat([str(1, 'p'), unknown, delimited(2, parameter)]);
    const output = Buffer.concat([str(1, 'o'), unknown, str(2, 'INT32'), key(3, 0), varint(2), key(3, 0), varint(3), delimited(4, entry), key(1, 0), varint(7)]);
    const message = Buffer.concat([unknown, str(1, 'm'), key(2, 0), varint(5), delimited(4, entry), delimited(5, output), unknown, delimited(6, Buffer.from([1, 2]))]);
    const d = decodeModelInferResponse(message);
    expect(d).toEqual({ model_name: 'm', model_version: '', id: '', parameters: { p: 'v' }, outputs: [{ name: 'o', datatype: 'INT32', shape: [2, 3], parameters: { p: 'v' } }], raw_output_contents: [Buffer.from([1, 2])] });
  });

  test.each([
    ['a truncated varint', [0x80], 'truncated varint'],
    ['a varint longer than 10 bytes', Array(11).fill(0xff), 'varint longer than 10 bytes'],
    ['a string past the end', [0x0a, 0x05, 0x61], 'length-delimited field past the end of the message'],
    ['a nested message past its end', [0x2a, 0x03, 0x0a, 0x05, 0x61], 'length-delimited field past the end of the message'],
    ['a group (wire type 3)', [0x0b], 'unsupported wire type 3'],
    ['a fixed64 past the end', [0x09, 0x01, 0x02], 'field past the end of the message'],
    ['fp32 contents with a partial element', [0x2a, 0x0d, 0x12, 0x04, 0x46, 0x50, 0x33, 0x32, 0x2a, 0x05, 0x32, 0x03, 0x00, 0x00, 0x80], 'packed fixed-width field has a partial element'],
    ['a truncated double parameter', [0x22, 0x07, 0x0a, 0x01, 0x6b, 0x12, 0x02, 0x21, 0x00], 'truncated double'],
  ])('%s is a clear error', (_name, bytes, reason) => {
    expect(() => decodeModelInferResponse(Buffer.from(bytes as number[]))).toThrow(`malformed ModelInferResponse: ${reason}`);
  });

  test('every truncation of a valid response decodes or fails with a malformed error', () => {
    const buf = ref.encodeInferResponse({
      model_name: 'iris',
      id: 'x',
      parameters: { d: { double_param: 1.5 } },
      outputs: [{ name: 'p', datatype: 'FP32', shape: ['1', '3'], contents: { fp32_contents: [0.1, 0.2, 0.7] } }],
      raw_output_contents: [Buffer.from([1, 2, 3, 4])],
    });
    for (let n = 0; n < buf.length; n++) {
      try {
        decodeModelInferResponse(buf.subarray(0, n));
      } catch (err) {
        expect((err as Error).message).toMatch(/^malformed ModelInferResponse: /);
      }
    }
  });
});

describe('ModelReady and ModelMetadata responses', () => {
  test('ready is read as protobufjs wrote it', () => {
    expect(decodeModelReadyResponse(ref.encodeReadyResponse({ ready: true }))).toBe(true);
    expect(decodeModelReadyResponse(ref.encodeReadyResponse({ ready: false }))).toBe(false);
    expect(decodeModelReadyResponse(Buffer.concat([str(7, 'future'), key(1, 0), varint(1)]))).toBe(true);
    expect(() => decodeModelReadyResponse(Buffer.from([0x08]))).toThrow('malformed ModelReadyResponse: truncated varint');
  });

  test('metadata: name, versions, platform and tensor shapes (dynamic dims included)', () => {
    const d = decodeModelMetadataResponse(ref.encodeMetadataResponse({
      name: 'iris',
      versions: ['1', '2'],
      platform: 'onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '4'] }],
      outputs: [{ name: 'label', datatype: 'INT64', shape: ['-1'] }, { name: 'scalar', datatype: 'FP32' }],
    }));
    expect(d).toEqual({
      name: 'iris',
      versions: ['1', '2'],
      platform: 'onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'label', datatype: 'INT64', shape: [-1] }, { name: 'scalar', datatype: 'FP32', shape: [] }],
    });
    expect(decodeModelMetadataResponse(Buffer.alloc(0))).toEqual({ name: '', versions: [], platform: '', inputs: [], outputs: [] });
    expect(() => decodeModelMetadataResponse(Buffer.from([0x22, 0x02, 0x0a]))).toThrow(/^malformed ModelMetadataResponse: /);
  });
});

describe('properties', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 12 });
  const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
  const safeInt = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
  const parameter = fc.oneof(
    fc.boolean().map((v) => [{ bool_param: v }, v] as const),
    safeInt.map((v) => [{ int64_param: String(v) }, v] as const),
    text.map((v) => [{ string_param: v }, v] as const),
    fc.double({ noNaN: true }).map((v) => [{ double_param: v }, v] as const),
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map((v) => [{ uint64_param: String(v) }, v] as const),
  );
  const parameters = fc.dictionary(text, parameter, { maxKeys: 4 });
  const tensor = fc.record({
    name: text,
    datatype: fc.constantFrom(...DATATYPES),
    shape: fc.array(int64, { maxLength: 4 }),
    parameters,
    raw: fc.uint8Array({ maxLength: 40 }),
  });

  test('protobufjs-encoded responses decode to the same values', () => {
    fc.assert(fc.property(text, text, text, parameters, fc.array(tensor, { maxLength: 5 }), (name, version, id, params, outputs) => {
      const wire = (p: Record<string, readonly [object, unknown]>) => Object.fromEntries(Object.entries(p).map(([k, [w]]) => [k, w]));
      const plain = (p: Record<string, readonly [object, unknown]>) => (Object.keys(p).length
        ? Object.fromEntries(Object.entries(p).map(([k, [, v]]) => [k, v])) : undefined);
      const d = decodeModelInferResponse(ref.encodeInferResponse({
        model_name: name,
        model_version: version,
        id,
        parameters: wire(params),
        outputs: outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape.map(String), parameters: wire(o.parameters) })),
        raw_output_contents: outputs.map((o) => o.raw),
      }));
      expect(d.model_name).toBe(name);
      expect(d.model_version).toBe(version);
      expect(d.id).toBe(id);
      expect(d.parameters).toEqual(plain(params));
      expect(d.outputs).toEqual(outputs.map((o) => {
        const out: Record<string, unknown> = { name: o.name, datatype: o.datatype, shape: o.shape.map(Number) };
        if (plain(o.parameters)) out.parameters = plain(o.parameters);
        return out;
      }));
      expect(d.raw_output_contents.map((b) => Array.from(b))).toEqual(outputs.map((o) => Array.from(o.raw)));
    }), seeded({ numRuns: 200, seed: 7 }));
  });

  test('encoded requests decode in protobufjs to the same values', () => {
    const scalar = fc.oneof(fc.boolean(), safeInt, text);
    fc.assert(fc.property(text, text, fc.dictionary(text, scalar, { maxKeys: 4 }), fc.array(tensor, { maxLength: 5 }), (name, id, params, inputs) => {
      const shapes = inputs.map((t) => t.shape.map((v) => Number(BigInt.asIntN(53, v))).filter(Number.isSafeInteger));
      const req: InferRequestMessage = {
        model_name: name,
        id,
        parameters: params,
        inputs: inputs.map((t, i) => ({ name: t.name, datatype: t.datatype, shape: shapes[i] })),
        raw_input_contents: inputs.map((t) => t.raw),
      };
      const d = ref.decodeInferRequest(encodeModelInferRequest(req));
      expect(d.model_name ?? '').toBe(name);
      expect(d.id ?? '').toBe(id);
      const wantParams = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, typeof v === 'number' ? String(v) : v]));
      expect(flat(d.parameters) ?? {}).toEqual(wantParams);
      expect(d.inputs.map((t: any) => [t.name ?? '', t.datatype, t.shape])).toEqual(inputs.map((t, i) => [t.name, t.datatype, shapes[i].map(String)]));
      expect(d.raw_input_contents.map((b: Uint8Array) => Array.from(b))).toEqual(inputs.map((t) => Array.from(t.raw)));
    }), seeded({ numRuns: 200, seed: 11 }));
  });

  test('arbitrary bytes decode or fail with a malformed error, never anything else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      for (const decode of [decodeModelInferResponse, decodeModelReadyResponse, decodeModelMetadataResponse]) {
        try {
          decode(Buffer.from(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          expect((err as Error).message).toMatch(/^malformed Model(Infer|Ready|Metadata)Response: /);
        }
      }
    }), seeded({ numRuns: 2000, seed: 3 }));
  });
});
