// GRPCInferenceService against a real `cdk8s-model-server serve` process on ephemeral ports.
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as fc from 'fast-check';
import { SERVER_NODE } from './server-harness';
import { decodeInferRequest, encodeInferReply } from '../../src/server/grpc/codec';
import { encodeRaw } from '../../src/server/grpc/tensors';
import { seeded } from '../seeded';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'assets', 'server', 'cli.js');
const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const PROTO = path.join(ROOT, 'src', 'server', 'protocol', 'grpc_predict_v2.proto');

interface Fixture {
  model: string;
  tolerance: { atol: number; rtol: number };
  v2_request: { inputs: Array<{ name: string; shape: number[]; datatype: string; data: number[] }> };
  outputs: Array<{ name: string; shape: number[]; datatype: string; data: number[] }>;
}
const fixture = (name: string): Fixture => JSON.parse(readFileSync(path.join(MODELS, `${name}.expected.json`), 'utf8'));
const FIXTURES = ['iris-logreg', 'iris-mlp', 'diabetes-linreg', 'mlp-wide'].map(fixture);

type Call = (method: string, request: object) => Promise<any>;

let server: ChildProcess;
let logs = '';
let grpcPort: number;
let httpPort: number;
let client: grpc.Client & Record<string, Function>;
let call: Call;

/** Waits for a JSON log line with `event` from the server; bounded by jest's timeout. */
function waitForEvent(event: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const check = () => {
      for (const line of logs.split('\n')) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line);
        if (entry.event === event) {
          server.stdout!.off('data', check);
          resolve(entry);
          return;
        }
      }
    };
    server.stdout!.on('data', check);
    server.once('exit', (code) => reject(new Error(`server exited with ${code} before '${event}':\n${logs}`)));
    check();
  });
}

function expectClose(got: ArrayLike<number>, want: number[], tol: { atol: number; rtol: number }) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const diff = Math.abs(Number(got[i]) - want[i]);
    if (diff > tol.atol + tol.rtol * Math.abs(want[i])) {
      throw new Error(`element ${i}: got ${got[i]}, want ${want[i]} (diff ${diff})`);
    }
  }
}

/** Decodes one raw little-endian output by datatype. */
function decodeRaw(datatype: string, b: Buffer): number[] {
  const copy = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  switch (datatype) {
    case 'FP32': return Array.from(new Float32Array(copy));
    case 'FP64': return Array.from(new Float64Array(copy));
    case 'INT64': return Array.from(new BigInt64Array(copy), Number);
    case 'INT32': return Array.from(new Int32Array(copy));
    default: throw new Error(`unexpected datatype ${datatype}`);
  }
}

function contentsOf(datatype: string, contents: Record<string, number[]>): number[] {
  const field = { FP32: 'fp32_contents', FP64: 'fp64_contents', INT64: 'int64_contents', INT32: 'int_contents' }[datatype]!;
  return contents[field];
}

beforeAll(async () => {
  server = spawn(SERVER_NODE, [CLI, 'serve', '--model-dir', MODELS, '--mode', 'multi', '--http-port', '0', '--grpc-port', '0', '--shutdown-grace-ms', '5000'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout!.on('data', (c: Buffer) => { logs += c.toString(); });
  server.stderr!.on('data', (c: Buffer) => { logs += c.toString(); });
  grpcPort = Number((await waitForEvent('grpc_listening')).grpcPort);
  httpPort = Number((await waitForEvent('listening')).httpPort);
  await waitForEvent('ready');
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, oneofs: true });
  const Service = (grpc.loadPackageDefinition(def).inference as any).GRPCInferenceService;
  client = new Service(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  call = (method, request) => new Promise((resolve, reject) => {
    client[method](request, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res)));
  });
});

afterAll(async () => {
  client?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server.once('exit', r));
    server.kill('SIGKILL');
    await exited;
  }
});

describe('health and metadata', () => {
  test('ServerLive, ServerReady, ModelReady', async () => {
    expect(await call('ServerLive', {})).toEqual({ live: true });
    expect(await call('ServerReady', {})).toEqual({ ready: true });
    expect(await call('ModelReady', { name: 'iris-logreg' })).toEqual({ ready: true });
    await expect(call('ModelReady', { name: 'nope' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  test('ServerMetadata and ModelMetadata', async () => {
    const sm = await call('ServerMetadata', {});
    expect(sm.name).toBe('cdk8s-model-server');
    expect(sm.extensions).toContain('model_repository');
    const mm = await call('ModelMetadata', { name: 'iris-logreg' });
    expect(mm).toMatchObject({
      name: 'iris-logreg',
      platform: 'onnx_onnxv1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }, { name: 'label', datatype: 'INT64', shape: [-1] }],
    });
  });
});

describe('ModelInfer', () => {
  test.each(FIXTURES.map((f) => [f.model, f]))('%s: typed contents match the fixture', async (_name, f) => {
    const res = await call('ModelInfer', {
      model_name: f.model,
      id: 'req-1',
      inputs: f.v2_request.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape, contents: { fp32_contents: i.data } })),
    });
    expect(res.model_name).toBe(f.model);
    expect(res.id).toBe('req-1');
    expect(res.raw_output_contents).toEqual([]);
    expect(res.outputs.map((o: any) => o.name)).toEqual(f.outputs.map((o) => o.name));
    for (const want of f.outputs) {
      const got = res.outputs.find((o: any) => o.name === want.name);
      expect(got.datatype).toBe(want.datatype);
      expect(got.shape).toEqual(want.shape);
      expectClose(contentsOf(want.datatype, got.contents), want.data, f.tolerance);
    }
  });

  test.each(FIXTURES.map((f) => [f.model, f]))('%s: raw contents in, raw contents out', async (_name, f) => {
    const res = await call('ModelInfer', {
      model_name: f.model,
      inputs: f.v2_request.inputs.map((i) => ({ name: i.name, datatype: i.datatype, shape: i.shape })),
      raw_input_contents: f.v2_request.inputs.map((i) => Buffer.from(Float32Array.from(i.data).buffer)),
    });
    expect(res.raw_output_contents).toHaveLength(f.outputs.length);
    for (let k = 0; k < res.outputs.length; k++) {
      const got = res.outputs[k];
      const want = f.outputs.find((o) => o.name === got.name)!;
      expect(got.contents).toBeUndefined();
      expect(got.shape).toEqual(want.shape);
      expectClose(decodeRaw(want.datatype, res.raw_output_contents[k]), want.data, f.tolerance);
    }
  });

  test('a requested subset of outputs is all that comes back', async () => {
    const f = fixture('iris-logreg');
    const i = f.v2_request.inputs[0];
    const res = await call('ModelInfer', {
      model_name: 'iris-logreg',
      inputs: [{ name: i.name, datatype: 'FP32', shape: i.shape, contents: { fp32_contents: i.data } }],
      outputs: [{ name: 'label' }],
    });
    expect(res.outputs).toHaveLength(1);
    expect(res.outputs[0].contents.int64_contents).toEqual([0, 1, 2, 2, 2]);
  });
});

describe('errors map to gRPC status codes', () => {
  const iris = (over: object) => ({ model_name: 'iris-logreg', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [5.1, 3.5, 1.4, 0.2] } }], ...over });

  test('unknown model is NOT_FOUND', async () => {
    await expect(call('ModelInfer', iris({ model_name: 'no-such-model' }))).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND, details: "model 'no-such-model' not found",
    });
  });

  test('bad shape, wrong datatype and malformed raw contents are INVALID_ARGUMENT', async () => {
    const badShape = await call('ModelInfer', iris({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 5], contents: { fp32_contents: [1, 2, 3, 4, 5] } }] })).catch((e) => e);
    expect(badShape).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    expect(badShape.details).toMatch(/shape \[1,5\] does not match/);
    expect(badShape.metadata.get('ms-error-code')).toEqual(['MS_ERR_INVALID_SHAPE']);

    await expect(call('ModelInfer', iris({ inputs: [{ name: 'input', datatype: 'INT32', shape: [1, 4], contents: { int_contents: [1, 2, 3, 4] } }] })))
      .rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    // 15 bytes is not a whole number of FP32 elements.
    await expect(call('ModelInfer', { model_name: 'iris-logreg', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [Buffer.alloc(15)] }))
      .rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/not a whole number of FP32 elements/) });
    // Raw data of the wrong size for the shape.
    await expect(call('ModelInfer', { model_name: 'iris-logreg', inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4] }], raw_input_contents: [Buffer.alloc(16)] }))
      .rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/data has 4 elements, but the shape needs 8/) });
    // One raw entry per input.
    await expect(call('ModelInfer', { model_name: 'iris-logreg', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [Buffer.alloc(16), Buffer.alloc(16)] }))
      .rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  test('a model that failed to load is UNAVAILABLE', async () => {
    const err = await call('ModelInfer', iris({ model_name: 'corrupt' })).catch((e) => e);
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
  });
});

test('gRPC requests are counted in /metrics with protocol="grpc"', async () => {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  expect(text).toMatch(/model_server_requests_total\{model="iris-logreg",protocol="grpc",code="0"\} \d+/);
  expect(text).toMatch(/model_server_requests_total\{model="_unknown",protocol="grpc",code="5"\} \d+/);
});

test('SIGTERM stops the gRPC server gracefully and the process exits 0', async () => {
  const exited = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
  server.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(logs).toContain('"event":"stopped"');
});

describe('ModelInfer codec agrees with protobufjs', () => {
  // proto-loader's (protobufjs) serializers for the same messages.
  const def = protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: false, arrays: true, oneofs: true });
  const infer = (def['inference.GRPCInferenceService'] as any).ModelInfer;
  const pbEncodeRequest = (o: object): Buffer => infer.requestSerialize(o);
  const pbDecodeResponse = (b: Buffer): any => infer.responseDeserialize(b);

  test('decodes every contents type, parameters, outputs and raw contents', () => {
    const buf = pbEncodeRequest({
      model_name: 'm',
      model_version: '3',
      id: 'abc',
      parameters: { a: { bool_param: true }, b: { int64_param: '-5' }, c: { string_param: 'x' } },
      inputs: [
        { name: 'b', datatype: 'BOOL', shape: [3], contents: { bool_contents: [true, false, true] } },
        { name: 'i8', datatype: 'INT8', shape: [2], contents: { int_contents: [-128, 127] } },
        { name: 'i32', datatype: 'INT32', shape: [1, 3], contents: { int_contents: [-2147483648, 0, 2147483647] } },
        { name: 'i64', datatype: 'INT64', shape: [2], contents: { int64_contents: ['-9223372036854775808', '9223372036854775807'] } },
        { name: 'u32', datatype: 'UINT32', shape: [1], contents: { uint_contents: [4294967295] } },
        { name: 'u64', datatype: 'UINT64', shape: [1], contents: { uint64_contents: ['18446744073709551615'] } },
        { name: 'f32', datatype: 'FP32', shape: [2], contents: { fp32_contents: [1.5, -0.25] } },
        { name: 'f64', datatype: 'FP64', shape: [1], contents: { fp64_contents: [Math.PI] } },
        { name: 's', datatype: 'BYTES', shape: [2], contents: { bytes_contents: [Buffer.from('héllo'), Buffer.from('')] } },
        { name: 'none', datatype: 'FP32', shape: [-1, 0] },
      ],
      outputs: [{ name: 'o', parameters: { k: { string_param: 'v' } } }],
      raw_input_contents: [Buffer.from([1, 2, 3])],
    });
    const d = decodeInferRequest(buf);
    expect(d).toMatchObject({ model_name: 'm', model_version: '3', id: 'abc', parameters: { a: true, b: -5, c: 'x' } });
    expect(d.outputs).toEqual([{ name: 'o', parameters: { k: 'v' } }]);
    expect(Array.from(d.raw_input_contents[0])).toEqual([1, 2, 3]);
    const byName = Object.fromEntries(d.inputs.map((i) => [i.name, i]));
    expect(byName.i32.shape).toEqual([1, 3]);
    expect(byName.none).toMatchObject({ shape: [-1, 0], hasContents: false });
    expect(byName.none.contents).toBeUndefined();
    expect(Array.from(byName.b.contents as Uint8Array)).toEqual([1, 0, 1]);
    expect(Array.from(byName.i8.contents as Int32Array)).toEqual([-128, 127]);
    expect(Array.from(byName.i32.contents as Int32Array)).toEqual([-2147483648, 0, 2147483647]);
    expect(Array.from(byName.i64.contents as BigInt64Array)).toEqual([-(2n ** 63n), 2n ** 63n - 1n]);
    expect(Array.from(byName.u32.contents as Uint32Array)).toEqual([4294967295]);
    expect(Array.from(byName.u64.contents as BigUint64Array)).toEqual([2n ** 64n - 1n]);
    expect(Array.from(byName.f32.contents as Float32Array)).toEqual([1.5, -0.25]);
    expect(Array.from(byName.f64.contents as Float64Array)).toEqual([Math.PI]);
    expect(byName.s.contents).toEqual(['héllo', '']);
  });

  test('decodes unpacked repeated fields too', () => {
    // inputs[0] = {name: 'x', datatype: 'FP32', contents: {fp32_contents: [1, 2]} unpacked (wire type 5)}
    const f = (v: number) => { const b = Buffer.alloc(4); b.writeFloatLE(v); return b; };
    const contents = Buffer.concat([Buffer.from([0x35]), f(1), Buffer.from([0x35]), f(2)]);
    const tensor = Buffer.concat([Buffer.from([0x0a, 1]), Buffer.from('x'), Buffer.from([0x12, 4]), Buffer.from('FP32'), Buffer.from([0x18, 2]), Buffer.from([0x2a, contents.length]), contents]);
    const d = decodeInferRequest(Buffer.concat([Buffer.from([0x2a, tensor.length]), tensor]));
    expect(d.inputs[0]).toMatchObject({ name: 'x', datatype: 'FP32', shape: [2] });
    expect(Array.from(d.inputs[0].contents as Float32Array)).toEqual([1, 2]);
  });

  test('typed outputs encode to what protobufjs decodes', () => {
    const out = (name: string, datatype: string, shape: number[], data: unknown[], raw?: ArrayLike<unknown>) => {
      const o: any = { name, datatype, shape, data };
      if (raw) Object.defineProperty(o, 'raw', { value: raw, enumerable: false });
      return o;
    };
    const buf = encodeInferReply({
      model_name: 'm',
      model_version: '1',
      id: 'r',
      parameters: { p: 7, q: true, s: 'z', empty: '' },
      raw: false,
      encodeRaw,
      outputs: [
        out('f', 'FP32', [2, 1], [0.5, -3], Float32Array.of(0.5, -3)),
        out('d', 'FP64', [1], [Math.E], Float64Array.of(Math.E)),
        out('l', 'INT64', [3], [-1, 0, 2 ** 40], BigInt64Array.of(-1n, 0n, 2n ** 40n)),
        out('i', 'INT32', [2], [-7, 300]),
        out('u', 'UINT8', [2], [0, 255]),
        out('b', 'BOOL', [2], [true, false]),
        out('s', 'BYTES', [1], ['ok']),
        out('e', 'FP32', [0], [], new Float32Array(0)),
      ],
    });
    const r = pbDecodeResponse(buf);
    expect(r).toMatchObject({ model_name: 'm', model_version: '1', id: 'r' });
    expect(r.parameters).toEqual({
      p: { int64_param: '7', parameter_choice: 'int64_param' },
      q: { bool_param: true, parameter_choice: 'bool_param' },
      s: { string_param: 'z', parameter_choice: 'string_param' },
      // An empty string is still a set oneof member.
      empty: { string_param: '', parameter_choice: 'string_param' },
    });
    const o = Object.fromEntries(r.outputs.map((x: any) => [x.name, x]));
    expect(o.f.shape).toEqual(['2', '1']);
    expect(o.f.contents.fp32_contents).toEqual([0.5, -3]);
    expect(o.d.contents.fp64_contents).toEqual([Math.E]);
    expect(o.l.contents.int64_contents).toEqual(['-1', '0', String(2 ** 40)]);
    expect(o.i.contents.int_contents).toEqual([-7, 300]);
    expect(o.u.contents.uint_contents).toEqual([0, 255]);
    expect(o.b.contents.bool_contents).toEqual([true, false]);
    expect(o.s.contents.bytes_contents.map(String)).toEqual(['ok']);
    expect(o.e.shape).toEqual(['0']);
    expect(r.raw_output_contents).toEqual([]);
  });

  test('raw outputs: one little-endian entry per output, no contents', () => {
    const o: any = { name: 'f', datatype: 'FP32', shape: [2], data: [1, 2] };
    Object.defineProperty(o, 'raw', { value: Float32Array.of(1, 2), enumerable: false });
    const s: any = { name: 's', datatype: 'BYTES', shape: [2], data: ['a', 'bc'] };
    const r = pbDecodeResponse(encodeInferReply({ model_name: 'm', outputs: [o, s], raw: true, encodeRaw }));
    expect(r.outputs.map((x: any) => x.contents)).toEqual([undefined, undefined]);
    expect(Array.from(new Float32Array(new Uint8Array(r.raw_output_contents[0]).buffer))).toEqual([1, 2]);
    expect(Buffer.from(r.raw_output_contents[1])).toEqual(Buffer.from([1, 0, 0, 0, 0x61, 2, 0, 0, 0, 0x62, 0x63]));
  });

  test('KServe\'s double_param and uint64_param parameters are read too', () => {
    const entry = (key: string, value: Buffer) => {
      const body = Buffer.concat([Buffer.from([10, key.length]), Buffer.from(key), Buffer.from([18, value.length]), value]);
      return Buffer.concat([Buffer.from([34, body.length]), body]);
    };
    const double = Buffer.alloc(9);
    double[0] = 33; // field 4, wire type 1
    double.writeDoubleLE(0.25, 1);
    const message = Buffer.concat([Buffer.from([10, 1, 0x6d]), entry('d', double), entry('u', Buffer.from([40, 0xac, 0x02]))]);
    expect(decodeInferRequest(message).parameters).toEqual({ d: 0.25, u: 300 });
  });

  test('property: any reply the codec encodes, protobufjs decodes to the same fields', () => {
    // Short strings, and long ones whose length needs a two-byte varint.
    const text = fc.oneof(fc.string({ maxLength: 10 }), fc.string({ minLength: 120, maxLength: 300 }));
    const param = fc.oneof(fc.boolean(), fc.integer(), fc.string({ maxLength: 8 }));
    const output = fc.record({
      name: text,
      shape: fc.array(fc.nat(2 ** 40), { maxLength: 4 }),
      values: fc.array(fc.float({ noNaN: true }), { maxLength: 80 }),
      parameters: fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), param, { maxKeys: 3 }), { nil: undefined }),
    });
    fc.assert(fc.property(
      text, fc.option(text, { nil: undefined }), fc.option(text, { nil: undefined }), fc.array(output, { maxLength: 4 }), fc.boolean(),
      (modelName, version, id, outs, raw) => {
        const outputs = outs.map((o) => {
          const t: any = { name: o.name, datatype: 'FP32', shape: o.shape, data: o.values, parameters: o.parameters };
          Object.defineProperty(t, 'raw', { value: Float32Array.from(o.values), enumerable: false });
          return t;
        });
        const r = pbDecodeResponse(encodeInferReply({ model_name: modelName, model_version: version, id, outputs, raw, encodeRaw }));
        // proto3: an empty string is the default, so it reads back as absent.
        expect(r.model_name ?? '').toBe(modelName);
        expect(r.model_version ?? '').toBe(version ?? '');
        expect(r.id ?? '').toBe(id ?? '');
        expect(r.outputs ?? []).toHaveLength(outs.length);
        outs.forEach((o, i) => {
          const got = r.outputs[i];
          expect(got.name ?? '').toBe(o.name);
          expect(got.datatype).toBe('FP32');
          expect((got.shape ?? []).map(Number)).toEqual(o.shape);
          const want = o.values.map((x) => Math.fround(x));
          const values = raw ? Array.from(new Float32Array(new Uint8Array(r.raw_output_contents[i]).buffer)) : got.contents?.fp32_contents ?? [];
          expect(values).toEqual(want);
          expect(Object.keys(got.parameters ?? {}).sort()).toEqual(Object.keys(o.parameters ?? {}).sort());
        });
        if (raw) expect(r.raw_output_contents).toHaveLength(outs.length);
      },
    ), seeded({ numRuns: 300, seed: 7 }));
  });

  test('property: int64, int32 and fp32 contents survive protobufjs -> codec', () => {
    fc.assert(fc.property(
      fc.array(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { maxLength: 20 }),
      fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 20 }),
      fc.array(fc.float({ noNaN: true }), { maxLength: 20 }),
      (i64, i32, f32) => {
        const d = decodeInferRequest(pbEncodeRequest({
          model_name: 'm',
          inputs: [
            { name: 'a', datatype: 'INT64', shape: [i64.length], contents: { int64_contents: i64.map(String) } },
            { name: 'b', datatype: 'INT32', shape: [i32.length], contents: { int_contents: i32 } },
            { name: 'c', datatype: 'FP32', shape: [f32.length], contents: { fp32_contents: f32 } },
          ],
        }));
        expect(Array.from((d.inputs[0].contents ?? []) as BigInt64Array)).toEqual(i64);
        expect(Array.from((d.inputs[1].contents ?? []) as Int32Array)).toEqual(i32);
        expect(Array.from((d.inputs[2].contents ?? []) as Float32Array)).toEqual(f32.map((x) => Math.fround(x)));
      },
    ), seeded({ numRuns: 100, seed: 42 }));
  });
});
