// GRPCInferenceService against a real `cdk8s-model-server serve` process on ephemeral ports.
import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

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
  server = spawn(process.execPath, [CLI, 'serve', '--model-dir', MODELS, '--mode', 'multi', '--http-port', '0', '--grpc-port', '0', '--shutdown-grace-ms', '5000'], {
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
