/**
 * The V2 binary tensor data extension: the pure wire-format functions
 * (src/server/http/binary-tensors.ts, src/server/http/infer-reply.ts), then a real `serve`
 * process: binary inputs and outputs on the iris and mlp-wide fixtures, every datatype through a
 * generated Identity model, each error path, and a fuzz of malformed binary bodies.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import fc from 'fast-check';
import { expected, expectClose, modelDir, RunningServer, startServer } from './server-harness';
import { binaryOutputSelector, encodeBinaryResponse, splitBinaryBody, withBinaryInputs } from '../../src/server/http/binary-tensors';
import { encodeInferReply } from '../../src/server/http/infer-reply';
import { fromHalf, toHalf } from '../../src/server/inference/datatypes';
import { InferOutputTensor, InferRequest, InferResponse } from '../../src/server/inference/types';
import { seeded } from '../seeded';

// ---------- a client-side codec, written from the extension's text (not from the server) ----------

type Values = ReadonlyArray<number | boolean | string>;

const ELEMENT: Record<string, [number, (v: DataView, at: number, x: any) => void, (v: DataView, at: number) => number | boolean]> = {
  BOOL: [1, (v, at, x) => v.setUint8(at, x ? 1 : 0), (v, at) => v.getUint8(at) === 1],
  UINT8: [1, (v, at, x) => v.setUint8(at, x), (v, at) => v.getUint8(at)],
  INT8: [1, (v, at, x) => v.setInt8(at, x), (v, at) => v.getInt8(at)],
  UINT16: [2, (v, at, x) => v.setUint16(at, x, true), (v, at) => v.getUint16(at, true)],
  INT16: [2, (v, at, x) => v.setInt16(at, x, true), (v, at) => v.getInt16(at, true)],
  UINT32: [4, (v, at, x) => v.setUint32(at, x, true), (v, at) => v.getUint32(at, true)],
  INT32: [4, (v, at, x) => v.setInt32(at, x, true), (v, at) => v.getInt32(at, true)],
  UINT64: [8, (v, at, x) => v.setBigUint64(at, BigInt(x), true), (v, at) => Number(v.getBigUint64(at, true))],
  INT64: [8, (v, at, x) => v.setBigInt64(at, BigInt(x), true), (v, at) => Number(v.getBigInt64(at, true))],
  FP16: [2, (v, at, x) => v.setUint16(at, toHalf(x), true), (v, at) => fromHalf(v.getUint16(at, true))],
  FP32: [4, (v, at, x) => v.setFloat32(at, x, true), (v, at) => v.getFloat32(at, true)],
  FP64: [8, (v, at, x) => v.setFloat64(at, x, true), (v, at) => v.getFloat64(at, true)],
};

/** Little-endian bytes of `values` as `datatype` (BYTES: 4-byte length, then UTF-8). */
function tensorBytes(datatype: string, values: Values): Buffer {
  if (datatype === 'BYTES') {
    return Buffer.concat(values.map((s) => {
      const b = Buffer.from(String(s), 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(b.length);
      return Buffer.concat([len, b]);
    }));
  }
  const [size, write] = ELEMENT[datatype];
  const out = Buffer.alloc(values.length * size);
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  values.forEach((x, i) => write(view, i * size, x));
  return out;
}

function decodeTensor(datatype: string, bytes: Buffer): Values {
  if (datatype === 'BYTES') {
    const out: string[] = [];
    for (let at = 0; at < bytes.length;) {
      const len = bytes.readUInt32LE(at);
      out.push(bytes.toString('utf8', at + 4, at + 4 + len));
      at += 4 + len;
    }
    return out;
  }
  const [size, , read] = ELEMENT[datatype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: bytes.length / size }, (_, i) => read(view, i * size));
}

interface BinaryInput { name: string; datatype: string; shape: number[]; values: Values; json?: boolean }

/** A binary request body: JSON header then the bytes of each non-JSON input. */
function binaryBody(inputs: BinaryInput[], extra: Record<string, unknown> = {}): { body: Buffer; headerLength: number } {
  const parts: Buffer[] = [];
  const header = {
    ...extra,
    inputs: inputs.map(({ name, datatype, shape, values, json }) => {
      if (json) return { name, datatype, shape, data: values };
      const bytes = tensorBytes(datatype, values);
      parts.push(bytes);
      return { name, datatype, shape, parameters: { binary_data_size: bytes.length } };
    }),
  };
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}

interface DecodedOutput { datatype: string; shape: number[]; data: Values; binary: boolean }
interface Answer { status: number; headers: http.IncomingHttpHeaders; raw: Buffer; json: any; outputs: Record<string, DecodedOutput> }

/** Splits an answer into its JSON (header) and the decoded outputs, binary or not. */
function readAnswer(status: number, headers: http.IncomingHttpHeaders, raw: Buffer): Answer {
  const headerLength = headers['inference-header-content-length'];
  const length = headerLength === undefined ? raw.length : Number(headerLength);
  let json: any;
  try {
    json = JSON.parse(raw.toString('utf8', 0, length));
  } catch {
    json = undefined;
  }
  const outputs: Answer['outputs'] = {};
  let at = length;
  for (const o of json?.outputs ?? []) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) {
      outputs[o.name] = { datatype: o.datatype, shape: o.shape, data: o.data, binary: false };
    } else {
      outputs[o.name] = { datatype: o.datatype, shape: o.shape, data: decodeTensor(o.datatype, raw.subarray(at, at + size)), binary: true };
      at += size;
    }
  }
  if (status === 200) expect(at).toBe(raw.length);
  return { status, headers, raw, json, outputs };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

/** POSTs `body` with exactly `headers` (and Content-Length): no Content-Type unless given. */
function post(port: number, urlPath: string, body: Buffer, headers: Record<string, string | number>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: urlPath, agent, headers: { ...headers, 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(readAnswer(res.statusCode!, res.headers, Buffer.concat(chunks))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const OCTET = 'application/octet-stream';

function postBinary(
  port: number, model: string, inputs: BinaryInput[], extra: Record<string, unknown> = {}, contentType: string | undefined = OCTET,
) {
  const { body, headerLength } = binaryBody(inputs, extra);
  return post(port, `/v2/models/${model}/infer`, body, { 'inference-header-content-length': headerLength, ...(contentType ? { 'content-type': contentType } : {}) });
}

function postJson(port: number, urlPath: string, request: unknown): Promise<Answer> {
  return post(port, urlPath, Buffer.from(JSON.stringify(request)), { 'content-type': 'application/json' });
}

// ---------- unit tests of the pure functions ----------

const fp32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);

describe('splitBinaryBody', () => {
  test('splits the JSON header from the tensor bytes', () => {
    const body = Buffer.concat([Buffer.from('{"inputs":[]}'), Buffer.from([1, 2, 3])]);
    const split = splitBinaryBody(body, '13');
    expect(split.header).toEqual({ inputs: [] });
    expect([...split.tensorBytes]).toEqual([1, 2, 3]);
  });

  test.each([
    ['a negative length', '-1'],
    ['a fraction', '1.5'],
    ['an exponent', '1e1'],
    ['words', 'twelve'],
    ['an empty value', ''],
    ['zero', '0'],
    ['a repeated header', '3, 3'],
  ])('fails on %s', (_name, value) => {
    expect(() => splitBinaryBody(Buffer.from('{}xyz'), value)).toThrow(/Inference-Header-Content-Length must be a positive integer/);
  });

  test('fails when the header length is larger than the body', () => {
    expect(() => splitBinaryBody(Buffer.from('{}'), '3')).toThrow(/Inference-Header-Content-Length is 3, but the body has only 2 bytes/);
  });

  test('fails when the header is not JSON', () => {
    expect(() => splitBinaryBody(Buffer.from('{"a":1}'), '4')).toThrow(/not valid JSON: the first 4 bytes/);
  });
});

describe('withBinaryInputs', () => {
  const header = (inputs: object[]) => ({ inputs }) as unknown as InferRequest;

  test('decodes binary inputs into typed arrays, aligned ones without a copy', () => {
    const bytes = Buffer.concat([fp32([1, 2, 3, 4]), tensorBytes('INT64', [-5, 6])]);
    const request = withBinaryInputs(header([
      { name: 'a', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } },
      { name: 'b', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } },
    ]), bytes);
    const [a, b] = request.inputs;
    expect(a.data.constructor.name).toBe('Float32Array');
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4]);
    expect((a.data as unknown as Float32Array).buffer).toBe(bytes.buffer);
    expect(Array.from(b.data)).toEqual([BigInt(-5), BigInt(6)]);
  });

  test('copies an unaligned tensor', () => {
    const bytes = Buffer.concat([Buffer.from([7]), fp32([1.5, -2])]);
    const request = withBinaryInputs(header([
      { name: 'a', datatype: 'UINT8', shape: [1], parameters: { binary_data_size: 1 } },
      { name: 'b', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } },
    ]), bytes);
    expect(Array.from(request.inputs[1].data)).toEqual([1.5, -2]);
  });

  test('keeps JSON inputs beside binary ones, in order', () => {
    const request = withBinaryInputs(header([
      { name: 'a', datatype: 'FP32', shape: [1], data: [9] },
      { name: 'b', datatype: 'BYTES', shape: [2], parameters: { binary_data_size: 11 } },
      { name: 'c', datatype: 'BOOL', shape: [2], parameters: { binary_data_size: 2 } },
    ]), Buffer.concat([tensorBytes('BYTES', ['hé', '']), Buffer.from([1, 0])]));
    expect(request.inputs.map((i) => Array.from(i.data))).toEqual([[9], ['hé', ''], [1, 0]]);
  });

  test.each([
    ['a size that does not match the shape', [{ name: 'a', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 4 } }], 4, /input 'a': binary_data_size is 4, but shape \[2\] of FP32 needs 8 bytes/],
    ['sizes that add up to less than the bytes', [{ name: 'a', datatype: 'FP32', shape: [1], parameters: { binary_data_size: 4 } }], 8, /binary_data_size add up to 4 bytes, but 8 bytes follow the JSON header/],
    ['sizes that add up to more than the bytes', [{ name: 'a', datatype: 'FP32', shape: [2], parameters: { binary_data_size: 8 } }], 4, /add up to 8 bytes, but 4 bytes follow/],
    ['both data and binary_data_size', [{ name: 'a', datatype: 'FP32', shape: [1], data: [1], parameters: { binary_data_size: 4 } }], 4, /input 'a' has both 'data' and parameters.binary_data_size/],
    ['neither data nor binary_data_size', [{ name: 'a', datatype: 'FP32', shape: [1] }], 0, /input 'a' has neither 'data' nor parameters.binary_data_size/],
    ['an unsupported datatype', [{ name: 'a', datatype: 'BF16', shape: [1], parameters: { binary_data_size: 2 } }], 2, /datatype 'BF16' is not supported/],
    ['a fractional size', [{ name: 'a', datatype: 'UINT8', shape: [1], parameters: { binary_data_size: 1.5 } }], 1, /input 'a': binary_data_size must be a non-negative integer, got 1.5/],
    ['a string size', [{ name: 'a', datatype: 'UINT8', shape: [1], parameters: { binary_data_size: '1' } }], 1, /binary_data_size must be a non-negative integer, got "1"/],
    ['a BOOL byte other than 0 or 1', [{ name: 'a', datatype: 'BOOL', shape: [2], parameters: { binary_data_size: 2 } }], [0, 2], /input 'a': BOOL element 1 is the byte 2/],
    ['a BYTES length past the end', [{ name: 'a', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 5 } }], [9, 0, 0, 0, 65], /input 'a'.*claims 9 bytes/],
    ['a negative shape', [{ name: 'a', datatype: 'UINT8', shape: [-1], parameters: { binary_data_size: 1 } }], 1, /input 'a': shape dimension must be a non-negative integer/],
  ])('fails on %s', (_name, inputs, bytes, message) => {
    const tail = typeof bytes === 'number' ? Buffer.alloc(bytes) : Buffer.from(bytes as number[]);
    expect(() => withBinaryInputs(header(inputs), tail)).toThrow(message);
  });
});

describe('binary outputs', () => {
  const output = (name: string, datatype: any, data: any[], raw?: ArrayLike<unknown>): InferOutputTensor => {
    const o = { name, datatype, shape: [data.length], data } as InferOutputTensor;
    if (raw) Object.defineProperty(o, 'raw', { value: raw, enumerable: false });
    return o;
  };
  const response: InferResponse = {
    model_name: 'm',
    id: 'r1',
    outputs: [
      output('p', 'FP32', [0.5, 0.25], new Float32Array([0.5, 0.25])),
      output('label', 'INT64', [2, -1], new BigInt64Array([BigInt(2), BigInt(-1)])),
      output('words', 'BYTES', ['a', 'bc'], ['a', 'bc']),
      output('flags', 'BOOL', [true, false]),
    ],
  };
  const request = (extra: object) => ({ inputs: [], ...extra }) as unknown as InferRequest;

  test('a request that asks for no binary output gets JSON', () => {
    expect(binaryOutputSelector(request({}))).toBeUndefined();
    expect(binaryOutputSelector(request({ outputs: [{ name: 'p' }], parameters: { binary_data_output: false } }))).toBeUndefined();
    const reply = encodeInferReply(request({ outputs: [{ name: 'p', parameters: { binary_data: false } }] }), response);
    expect(reply.contentType).toMatch(/^application\/json/);
    expect(reply.headerLength).toBeUndefined();
    expect(JSON.parse(reply.body as string)).toEqual(JSON.parse(JSON.stringify(response)));
  });

  test('binary_data on an output wins over binary_data_output', () => {
    const isBinary = binaryOutputSelector(request({ parameters: { binary_data_output: true }, outputs: [{ name: 'p', parameters: { binary_data: false } }] }))!;
    expect(isBinary('p')).toBe(false);
    expect(isBinary('label')).toBe(true);
    const some = binaryOutputSelector(request({ outputs: [{ name: 'p', parameters: { binary_data: true } }, { name: 'label' }] }))!;
    expect([some('p'), some('label')]).toEqual([true, false]);
  });

  test('binary outputs follow the JSON header, in output order, each with its size', () => {
    const reply = encodeInferReply(request({ parameters: { binary_data_output: true }, outputs: [{ name: 'label', parameters: { binary_data: false } }] }), response);
    expect(reply.contentType).toBe(OCTET);
    const answer = readAnswer(200, { 'inference-header-content-length': String(reply.headerLength) }, reply.body as Buffer);
    expect(answer.json.id).toBe('r1');
    expect(answer.json.outputs.map((o: any) => [o.name, o.parameters?.binary_data_size, 'data' in o])).toEqual([
      ['p', 8, false], ['label', undefined, true], ['words', 11, false], ['flags', 2, false],
    ]);
    expect(answer.outputs.p.data).toEqual([0.5, 0.25]);
    expect(answer.outputs.label.data).toEqual([2, -1]);
    expect(answer.outputs.words.data).toEqual(['a', 'bc']);
    expect(answer.outputs.flags.data).toEqual([true, false]);
  });

  test('an output asked for by name only is not made binary when absent from the response', () => {
    expect(encodeBinaryResponse(response, (name) => name === 'nope')).toBeUndefined();
  });
});

// ---------- a real server ----------

// ONNX protobuf, hand-encoded: enough for a graph of Identity nodes (onnx.proto field numbers).
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 128) + 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const bytesField = (no: number, payload: Buffer | string) => {
  const b = Buffer.from(payload);
  return Buffer.concat([Buffer.from([...varint(no * 8 + 2), ...varint(b.length)]), b]);
};
const intField = (no: number, value: number) => Buffer.from([...varint(no * 8), ...varint(value)]);

const ONNX_TYPES: Record<string, number> = {
  FP32: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, BYTES: 8, BOOL: 9, FP16: 10, FP64: 11, UINT32: 12, UINT64: 13,
};

/** A model with an input `in_<T>` of shape [N, 2] per datatype T, copied to output `out_<T>`. */
function identityModel(datatypes: string[]): Buffer {
  const valueInfo = (name: string, dt: string) => Buffer.concat([
    bytesField(1, name),
    bytesField(2, bytesField(1, Buffer.concat([
      intField(1, ONNX_TYPES[dt]),
      bytesField(2, Buffer.concat([bytesField(1, bytesField(2, 'N')), bytesField(1, intField(1, 2))])),
    ]))),
  ]);
  const graph = Buffer.concat([
    ...datatypes.map((dt) => bytesField(1, Buffer.concat([bytesField(1, `in_${dt}`), bytesField(2, `out_${dt}`), bytesField(3, `copy_${dt}`), bytesField(4, 'Identity')]))),
    bytesField(2, 'identity'),
    ...datatypes.map((dt) => bytesField(11, valueInfo(`in_${dt}`, dt))),
    ...datatypes.map((dt) => bytesField(12, valueInfo(`out_${dt}`, dt))),
  ]);
  return Buffer.concat([intField(1, 8), bytesField(2, 'binary-tensors.test'), bytesField(7, graph), bytesField(8, intField(2, 13))]);
}

const ALL: Record<string, Values> = {
  BOOL: [true, false, false, true],
  UINT8: [0, 255, 1, 128],
  INT8: [-128, 127, 0, -1],
  UINT16: [0, 65535, 2, 300],
  INT16: [-32768, 32767, -2, 5],
  UINT32: [0, 4294967295, 7, 65536],
  INT32: [-2147483648, 2147483647, -9, 0],
  UINT64: [0, Number.MAX_SAFE_INTEGER, 3, 2 ** 40],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, -1, 0],
  FP16: [0.5, -2, 65504, 2 ** -14],
  FP32: [1.5, -2.25, 3.4028234663852886e38, 2 ** -100],
  FP64: [Math.PI, -1e300, 5e-324, 0],
  // Not a NUL: onnxruntime-node's string tensors end at the first one.
  BYTES: ['', 'héllo', 'x'.repeat(300), '\u00ff€'],
};
const DATATYPES = Object.keys(ALL);
const allInputs = (json: (dt: string, i: number) => boolean): BinaryInput[] =>
  DATATYPES.map((dt, i) => ({ name: `in_${dt}`, datatype: dt, shape: [2, 2], values: ALL[dt], json: json(dt, i) }));

const MAX_BODY = 2 ** 20;
let server: RunningServer;
let port: number;
const iris = expected('iris-logreg');
const mlp = expected('mlp-wide');

beforeAll(async () => {
  const dir = modelDir({ 'iris/1/model.onnx': 'iris-logreg.onnx', 'mlp/model.onnx': 'mlp-wide.onnx' });
  fs.mkdirSync(path.join(dir, 'identity'));
  fs.writeFileSync(path.join(dir, 'identity', 'model.onnx'), identityModel(DATATYPES));
  server = await startServer(['--model-dir', dir, '--mode', 'multi', '--max-body-bytes', String(MAX_BODY)]);
  port = server.port;
});
afterAll(async () => server?.stop());

const irisInput = (json = false): BinaryInput => ({ name: 'input', datatype: 'FP32', shape: iris.v2_request.inputs[0].shape, values: iris.v2_request.inputs[0].data, json });
const outputOf = (name: string, fixture: any) => fixture.outputs.find((o: any) => o.name === name);

describe('a real server', () => {
  test('reports the extension in its metadata', async () => {
    const res = await new Promise<any>((resolve) => http.get({ host: '127.0.0.1', port, path: '/v2', agent }, (r) => {
      let text = '';
      r.on('data', (c) => { text += c; });
      r.on('end', () => resolve(JSON.parse(text)));
    }));
    expect(res.extensions).toContain('binary_tensor_data');
  });

  test.each([
    ['application/octet-stream', OCTET],
    ['no content type', undefined],
    ['application/json', 'application/json'],
    ['a form content type (urllib\'s default)', 'application/x-www-form-urlencoded'],
  ])('binary inputs sent as %s give the JSON answer to 1e-5', async (_name, contentType) => {
    const res = await postBinary(port, 'iris', [irisInput()], {}, contentType);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['inference-header-content-length']).toBeUndefined();
    for (const name of ['probabilities', 'label']) {
      expectClose(res.outputs[name].data as number[], outputOf(name, iris).data, iris.tolerance);
    }
  });

  test('binary and JSON inputs give the same mlp-wide outputs for 64 rows', async () => {
    const values = Array.from({ length: 64 * 256 }, (_, i) => Math.sin(i) * 0.9);
    const input = { name: 'input', datatype: 'FP32', shape: [64, 256], values };
    const binary = await postBinary(port, 'mlp', [input]);
    const json = await postJson(port, '/v2/models/mlp/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [64, 256], data: values }] });
    expect(binary.status).toBe(200);
    expect(json.status).toBe(200);
    expect(binary.outputs.logits.shape).toEqual([64, 10]);
    expectClose(binary.outputs.logits.data as number[], json.outputs.logits.data as number[], { atol: 1e-5, rtol: 1e-5 });
  });

  test('binary outputs decode to the expected values', async () => {
    const res = await postBinary(port, 'mlp', [{ name: 'input', datatype: 'FP32', shape: mlp.v2_request.inputs[0].shape, values: mlp.v2_request.inputs[0].data }], {
      outputs: [{ name: 'logits', parameters: { binary_data: true } }],
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(OCTET);
    expect(Number(res.headers['inference-header-content-length'])).toBeLessThan(res.raw.length);
    expect(res.json.outputs[0]).toEqual({ name: 'logits', datatype: 'FP32', shape: [3, 10], parameters: { binary_data_size: 120 } });
    expectClose(res.outputs.logits.data as number[], outputOf('logits', mlp).data, mlp.tolerance);
  });

  test('binary_data picks outputs one by one; binary_data_output picks all, unless an output says false', async () => {
    const one = await postBinary(port, 'iris', [irisInput()], { outputs: [{ name: 'label', parameters: { binary_data: true } }, { name: 'probabilities' }] });
    expect([one.outputs.label.binary, one.outputs.probabilities.binary]).toEqual([true, false]);
    expect(one.outputs.label.data).toEqual(outputOf('label', iris).data);
    expect(one.json.outputs[0].parameters).toEqual({ binary_data_size: 40 });

    const all = await postBinary(port, 'iris', [irisInput()], { parameters: { binary_data_output: true } });
    expect([all.outputs.probabilities.binary, all.outputs.label.binary]).toEqual([true, true]);
    expectClose(all.outputs.probabilities.data as number[], outputOf('probabilities', iris).data, iris.tolerance);
    expect(all.outputs.label.data).toEqual(outputOf('label', iris).data);

    const allBut = await postBinary(port, 'iris', [irisInput()], { parameters: { binary_data_output: true }, outputs: [{ name: 'probabilities', parameters: { binary_data: false } }, { name: 'label' }] });
    expect([allBut.outputs.probabilities.binary, allBut.outputs.label.binary]).toEqual([false, true]);
  });

  // A query string sends the request to fastify's route rather than the inference hot path.
  test.each([['the hot path', ''], ['fastify', '?via=fastify']])('a JSON request can ask for binary outputs (%s)', async (_path, query) => {
    const res = await postJson(port, `/v2/models/iris/infer${query}`, { ...iris.v2_request, outputs: [{ name: 'probabilities' }, { name: 'label', parameters: { binary_data: true } }] });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe(OCTET);
    expect(res.outputs.label).toMatchObject({ binary: true, data: outputOf('label', iris).data });
    expectClose(res.outputs.probabilities.data as number[], outputOf('probabilities', iris).data, iris.tolerance);
  });

  test('a header-only binary request (all inputs JSON) is answered', async () => {
    const res = await postBinary(port, 'iris', [irisInput(true)]);
    expect(res.status).toBe(200);
    expect(res.outputs.label.data).toEqual(outputOf('label', iris).data);
  });

  test('the versioned path takes binary bodies too', async () => {
    const { body, headerLength } = binaryBody([irisInput()]);
    const res = await post(port, '/v2/models/iris/versions/1/infer', body, { 'inference-header-content-length': headerLength, 'content-type': OCTET });
    expect(res.status).toBe(200);
    expect(res.json.model_version).toBe('1');
    expect(res.outputs.label.data).toEqual(outputOf('label', iris).data);
  });

  test('every datatype round-trips through the runtime as binary', async () => {
    const res = await postBinary(port, 'identity', allInputs(() => false), { parameters: { binary_data_output: true } });
    expect(res.status).toBe(200);
    for (const dt of DATATYPES) {
      const out = res.outputs[`out_${dt}`];
      expect({ dt, binary: out.binary, shape: out.shape, data: out.data }).toEqual({ dt, binary: true, shape: [2, 2], data: ALL[dt] });
    }
  });

  test('JSON and binary inputs mix in one request, and mixed outputs follow', async () => {
    // FP16 has no JSON form other than numbers, which the server rounds to half precision.
    const res = await postBinary(port, 'identity', allInputs((_dt, i) => i % 2 === 0), {
      outputs: DATATYPES.map((dt, i) => ({ name: `out_${dt}`, parameters: { binary_data: i % 3 === 0 } })),
    });
    expect(res.status).toBe(200);
    DATATYPES.forEach((dt, i) => {
      const out = res.outputs[`out_${dt}`];
      expect({ dt, binary: out.binary, data: out.data }).toEqual({ dt, binary: i % 3 === 0, data: ALL[dt] });
    });
  });

  describe('errors', () => {
    const irisBody = () => binaryBody([irisInput()]);
    const send = (body: Buffer, headers: Record<string, string | number>) => post(port, '/v2/models/iris/infer', body, { 'content-type': OCTET, ...headers });
    const expectError = (res: Answer, status: number, code: string, message: RegExp) => {
      expect({ status: res.status, type: res.headers['content-type'], code: res.json?.code }).toEqual({ status, type: expect.stringMatching(/^application\/json/), code });
      expect(res.json.error).toMatch(message);
    };

    test.each([
      ['a header length larger than the body', (b: Buffer) => b.length + 1, /Inference-Header-Content-Length is \d+, but the body has only/],
      ['a negative header length', () => '-4', /Inference-Header-Content-Length must be a positive integer, got '-4'/],
      ['a non-integer header length', () => '12.5', /Inference-Header-Content-Length must be a positive integer, got '12.5'/],
      ['a header length of zero', () => '0', /Inference-Header-Content-Length must be a positive integer/],
    ])('fails on %s', async (_name, length, message) => {
      const { body } = irisBody();
      expectError(await send(body, { 'inference-header-content-length': length(body) }), 400, 'MS_ERR_INVALID_BINARY_DATA', message);
    });

    test('fails when the header length cuts the JSON', async () => {
      const { body, headerLength } = irisBody();
      expectError(await send(body, { 'inference-header-content-length': headerLength - 2 }), 400, 'MS_ERR_INVALID_JSON', /the first \d+ bytes \(Inference-Header-Content-Length\)/);
    });

    test('fails when binary_data_size does not match shape × element size', async () => {
      const { body, headerLength } = binaryBody([{ ...irisInput(), shape: [4, 4] }]);
      expectError(await send(body, { 'inference-header-content-length': headerLength }), 400, 'MS_ERR_INVALID_BINARY_DATA', /input 'input': binary_data_size is 80, but shape \[4,4\] of FP32 needs 64 bytes/);
    });

    test('fails when the sizes do not add up to the body', async () => {
      const { body, headerLength } = irisBody();
      const longer = Buffer.concat([body, Buffer.alloc(3)]);
      expectError(await send(longer, { 'inference-header-content-length': headerLength }), 400, 'MS_ERR_INVALID_BINARY_DATA', /add up to 80 bytes, but 83 bytes follow the JSON header/);
      expectError(await send(body.subarray(0, body.length - 4), { 'inference-header-content-length': headerLength }), 400, 'MS_ERR_INVALID_BINARY_DATA', /add up to 80 bytes, but 76 bytes follow/);
    });

    test('fails on an input with both data and binary_data_size', async () => {
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4], parameters: { binary_data_size: 16 } }] }));
      expectError(await send(Buffer.concat([header, Buffer.alloc(16)]), { 'inference-header-content-length': header.length }), 400, 'MS_ERR_INVALID_BINARY_DATA', /input 'input' has both 'data' and parameters.binary_data_size/);
    });

    test('fails on an unsupported datatype', async () => {
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'BF16', shape: [1, 4], parameters: { binary_data_size: 8 } }] }));
      expectError(await send(Buffer.concat([header, Buffer.alloc(8)]), { 'inference-header-content-length': header.length }), 400, 'MS_ERR_UNSUPPORTED_DATATYPE', /datatype 'BF16' is not supported/);
    });

    test('fails on a datatype the model does not take', async () => {
      const { body, headerLength } = binaryBody([{ ...irisInput(), datatype: 'FP64' }]);
      expectError(await send(body, { 'inference-header-content-length': headerLength }), 400, 'MS_ERR_INVALID_DATATYPE', /input 'input' has datatype FP64, but the model expects FP32/);
    });

    test.each([
      ['a string binary_data_size', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: '16' } }] }, /body\/inputs\/0\/parameters\/binary_data_size must be integer/],
      ['a negative binary_data_size', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: -16 } }] }, /binary_data_size must be >= 0/],
      ['a non-boolean binary_data', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }], outputs: [{ name: 'label', parameters: { binary_data: 'yes' } }] }, /body\/outputs\/0\/parameters\/binary_data must be boolean/],
      ['a non-boolean binary_data_output', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }], parameters: { binary_data_output: 1 } }, /body\/parameters\/binary_data_output must be boolean/],
      ['a header without inputs', { outputs: [] }, /must have required property 'inputs'/],
      ['a header that is an array', [1], /body must be object/],
    ])('fails on %s, naming the field', async (_name, header, message) => {
      const json = Buffer.from(JSON.stringify(header));
      expectError(await send(Buffer.concat([json, Buffer.alloc(16)]), { 'inference-header-content-length': json.length }), 400, 'MS_ERR_INVALID_REQUEST', message);
    });

    test('a JSON request with binary_data_size but no header is a JSON request without data', async () => {
      const res = await postJson(port, '/v2/models/iris/infer', { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: 16 } }] });
      expectError(res, 400, 'MS_ERR_INVALID_REQUEST', /must have required property 'data'/);
    });

    test('fails with 413 over the maximum body size', async () => {
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], parameters: { binary_data_size: MAX_BODY } }] }));
      expectError(await send(Buffer.concat([header, Buffer.alloc(MAX_BODY)]), { 'inference-header-content-length': header.length }), 413, 'MS_ERR_BODY_TOO_LARGE', /larger than the limit of 1048576 bytes/);
    });

    test('an unknown model is a 404', async () => {
      const { body, headerLength } = irisBody();
      const res = await post(port, '/v2/models/nope/infer', body, { 'content-type': OCTET, 'inference-header-content-length': headerLength });
      expectError(res, 404, 'MS_ERR_MODEL_NOT_FOUND', /model 'nope' not found/);
    });

    test('application/octet-stream without the header is still a 415', async () => {
      const { body } = irisBody();
      expectError(await send(body, {}), 415, 'MS_ERR_UNSUPPORTED_MEDIA_TYPE', /application\/octet-stream/);
    });
  });

  test('malformed binary bodies always get a 4xx JSON error and the server stays up', async () => {
    const often = <T>(usual: fc.Arbitrary<T>, rest: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: usual }, { weight: 1, arbitrary: rest });
    // Mostly near-valid iris inputs (so the core and the runtime see them), each with a flaw
    // at times: datatype, shape, size, content (NaN patterns, BOOL bytes), JSON data too.
    const input = fc.record({
      name: often(fc.constant('input'), fc.string({ maxLength: 4 })),
      datatype: often(fc.constant('FP32'), fc.oneof(fc.constantFrom(...DATATYPES, 'BF16', ''), fc.anything())),
      shape: often(
        fc.tuple(fc.integer({ min: 0, max: 10 }), fc.constantFrom(4, 4, 3)),
        fc.oneof(fc.array(fc.integer({ min: -2, max: 6 }), { maxLength: 3 }), fc.anything()),
      ),
      content: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      sizeDelta: often(fc.constant(0), fc.integer({ min: -5, max: 5 })),
      oddSize: often(fc.constant(null), fc.oneof(fc.double(), fc.string({ maxLength: 3 }), fc.boolean(), fc.constant(-8))),
      data: often(fc.constant(null), fc.oneof(fc.array(fc.double(), { maxLength: 6 }), fc.anything())),
    }).map(({ name, datatype, shape, content, sizeDelta, oddSize, data }) => {
      const dims = Array.isArray(shape) && shape.every((d) => Number.isInteger(d) && d >= 0) ? shape as number[] : [1, 4];
      const count = Math.min(dims.reduce((a, b) => a * b, 1), 64); // a huge shape gets too few bytes
      const element = ELEMENT[datatype as string]?.[0] ?? 4;
      const bytes = datatype === 'BYTES'
        ? tensorBytes('BYTES', Array.from({ length: count }, (_, k) => String.fromCharCode(97 + (content[k % content.length] % 26))))
        : Buffer.from(Array.from({ length: count * element }, (_, k) => content[k % content.length]));
      const size = oddSize ?? bytes.length + sizeDelta;
      return { header: { name, datatype, shape, parameters: { binary_data_size: size }, ...(data === null ? {} : { data }) }, bytes };
    });
    const inputs = often(input.map((x) => [x]), fc.array(input, { minLength: 1, maxLength: 3 }));
    const outputs = fc.option(fc.array(fc.record({ name: often(fc.constantFrom('label', 'probabilities'), fc.constant('x')), parameters: fc.record({ binary_data: often(fc.boolean(), fc.anything()) }) }), { maxLength: 2 }));
    const parameters = fc.option(fc.record({ binary_data_output: often(fc.boolean(), fc.anything()) }));
    const request = fc.record({ inputs, outputs, parameters }).map(({ inputs: ins, outputs: outs, parameters: params }) => ({
      header: JSON.stringify({ inputs: ins.map((x) => x.header), ...(outs ? { outputs: outs } : {}), ...(params ? { parameters: params } : {}) }),
      tail: Buffer.concat(ins.map((x) => x.bytes)),
    }));
    // Anything at all, now and then.
    const junk = fc.record({ header: fc.oneof(fc.string({ maxLength: 40 }), fc.anything().map((a) => JSON.stringify(a) ?? '')), tail: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) });
    const body = often(request, junk);
    const tailDelta = often(fc.constant(0), fc.integer({ min: -3, max: 3 }));
    const length = often(fc.integer({ min: 0, max: 0 }).map(() => undefined), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.constantFrom('-1', '1.5', 'abc', '', ' 7', '0x10', '1e2', '99999999999999999999')));
    const contentType = fc.constantFrom(OCTET, OCTET, 'application/json', 'text/plain', undefined);

    const seen = new Map<string, number>();
    await fc.assert(fc.asyncProperty(body, tailDelta, length, contentType, async ({ header, tail }, delta, headerLength, type) => {
      const json = Buffer.from(header);
      const rest = delta >= 0 ? Buffer.concat([tail, Buffer.alloc(delta)]) : tail.subarray(0, Math.max(0, tail.length + delta));
      const headers: Record<string, string | number> = {
        'inference-header-content-length': typeof headerLength === 'string' ? headerLength : json.length + (headerLength ?? 0),
      };
      if (type) headers['content-type'] = type;
      const res = await post(port, '/v2/models/iris/infer', Buffer.concat([json, rest]), headers);
      const key = res.status === 200 ? '200' : String(res.json?.code);
      seen.set(key, (seen.get(key) ?? 0) + 1);
      if (res.status !== 200) {
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(res.headers['content-type']).toMatch(/^application\/json/);
        expect(typeof res.json?.error).toBe('string');
        expect(res.json.code).toMatch(/^MS_ERR_/);
      }
    }), seeded({ numRuns: 2000, seed: 59 }));

    // The bodies reached every layer: the splitter, the schema, the core and the runtime.
    for (const code of ['200', 'MS_ERR_INVALID_BINARY_DATA', 'MS_ERR_INVALID_JSON', 'MS_ERR_INVALID_REQUEST', 'MS_ERR_INVALID_DATATYPE', 'MS_ERR_INVALID_SHAPE']) {
      expect({ code, seen: (seen.get(code) ?? 0) > 10 }).toEqual({ code, seen: true });
    }
    expect(server.proc.exitCode).toBeNull();
    const ok = await postBinary(port, 'iris', [irisInput()]);
    expect(ok.status).toBe(200);
    expect(server.logs.filter((l) => l.event === 'unhandled_error' || l.event === 'request_failed')).toEqual([]);
  });
});
