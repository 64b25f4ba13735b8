// Transformer end to end: real `serve` processes on loopback ports. A transformer (V2 REST or
// gRPC to the predictor) and an in-process transformer run the same TypeScript module
// (test/fixtures/transformer/iris-features.ts, bundled with esbuild as a module author would).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { CLI, expectClose, expected, metricSamples, modelDir, request, RunningServer, SERVER_NODE, startServer, waitForLog } from './server-harness';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'transformer');
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const iris = expected('iris-logreg');
const named = (iris.v1_request.instances as number[][]).map((row) => Object.fromEntries(FEATURES.map((f, i) => [f, row[i]])));
const probabilities = (iris.outputs as Array<{ name: string; data: number[] }>).find((o) => o.name === 'probabilities')!.data;
const CLASSES = ['setosa', 'versicolor', 'virginica'];
const wantClasses = (iris.outputs as Array<{ name: string; data: number[] }>).find((o) => o.name === 'label')!.data.map((l) => CLASSES[l]);

let tmp: string;
let moduleFile: string;
let predictor: RunningServer;
let restTransformer: RunningServer;
let grpcTransformer: RunningServer;
let inProcess: RunningServer;
const started: RunningServer[] = [];

async function start(args: string[], env: Record<string, string> = {}): Promise<RunningServer> {
  const s = await startServer(args, env);
  started.push(s);
  return s;
}

/** Runs `serve` expecting it to fail at startup; bounded by jest's timeout. */
function failingServe(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(SERVER_NODE, [CLI, 'serve', '--http-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    proc.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'transformer-'));
  moduleFile = path.join(tmp, 'iris-features.js');
  await esbuild.build({ entryPoints: [path.join(FIXTURES, 'iris-features.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: moduleFile, logLevel: 'warning' });
  const dir = modelDir({ 'iris-logreg.onnx': 'iris-logreg.onnx' });
  [predictor, inProcess] = await Promise.all([
    start(['--model-dir', dir, '--model-name', 'iris']),
    start(['--model-dir', dir, '--model-name', 'iris', '--transformer-module', moduleFile]),
  ]);
  const grpcPort = predictor.logs.find((l) => l.event === 'grpc_listening')!.grpcPort as number;
  [restTransformer, grpcTransformer] = await Promise.all([
    start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${predictor.port}`, '--transformer-module', moduleFile]),
    start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${grpcPort}`, '--predictor-protocol', 'grpc-v2', '--transformer-module', moduleFile]),
  ]);
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe.each([
  ['V2 REST', () => restTransformer, 'v2'],
  ['gRPC', () => grpcTransformer, 'grpc-v2'],
  ['in process', () => inProcess, 'in-process'],
])('transformer (%s to the predictor)', (_name, server, predictorProtocol) => {
  test('named features in, class names and the model\'s probabilities out (V1)', async () => {
    const res = await request(server().port, 'POST', '/v1/models/iris:predict', { instances: named });
    expect(res.status).toBe(200);
    expect(res.body.predictions.map((p: { class: string }) => p.class)).toEqual(wantClasses);
    expectClose(res.body.predictions.flatMap((p: { probabilities: number[] }) => p.probabilities), probabilities, iris.tolerance);
    if (predictorProtocol !== 'in-process') {
      // The V1 route of the transformer keeps top-level keys the module adds.
      expect(res.body.predictor_protocol).toBe(predictorProtocol);
    }
  });

  test('V2 requests pass through and the response gains a class_name output', async () => {
    const res = await request(server().port, 'POST', '/v2/models/iris/infer', iris.v2_request);
    expect(res.status).toBe(200);
    const byName = Object.fromEntries(res.body.outputs.map((o: { name: string }) => [o.name, o]));
    expect(byName.class_name).toEqual({ name: 'class_name', datatype: 'BYTES', shape: [5], data: wantClasses });
    expectClose(byName.probabilities.data, probabilities, iris.tolerance);
  });

  test('a client that asks for binary outputs gets them; the hop to the predictor stays JSON', async () => {
    const body = JSON.stringify({ ...iris.v2_request, parameters: { binary_data_output: true } });
    const answer = await request(server().port, 'POST', '/v2/models/iris/infer', body, { 'content-type': 'application/json' });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/octet-stream');
    const headerLength = Number(answer.headers['inference-header-content-length']);
    const head = JSON.parse(answer.raw.subarray(0, headerLength).toString('utf8'));
    const probs = head.outputs.find((o: { name: string }) => o.name === 'probabilities');
    expect(probs.data).toBeUndefined();
    // Outputs follow the JSON header in order; probabilities' bytes start where the outputs before it end.
    let offset = headerLength;
    for (const o of head.outputs) {
      if (o.name === 'probabilities') break;
      offset += o.parameters.binary_data_size;
    }
    const bytes = new Uint8Array(answer.raw.subarray(offset, offset + probs.parameters.binary_data_size)).buffer;
    expectClose(Array.from(new Float32Array(bytes)), probabilities, iris.tolerance);
    expect(head.outputs.map((o: { name: string }) => o.name)).toContain('class_name');
  });

  test('a TransformerError from the module is a 400 with its message', async () => {
    const res = await request(server().port, 'POST', '/v1/models/iris:predict', { instances: [{ sepal_length: 'long' }] });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: "instance 0: feature 'sepal_length' must be a number", code: 'MS_ERR_TRANSFORMER_REJECTED' });
  });

  test('predictor errors keep their status and code', async () => {
    const res = await request(server().port, 'POST', '/v2/models/nope/infer', iris.v2_request);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('MS_ERR_MODEL_NOT_FOUND');
  });
});

test('the transformer answers health, readiness and metadata from the predictor', async () => {
  const port = restTransformer.port;
  expect((await request(port, 'GET', '/v2/health/live')).body).toEqual({ live: true });
  expect((await request(port, 'GET', '/v2/health/ready')).body).toEqual({ ready: true });
  expect((await request(port, 'GET', '/v2/models/iris/ready')).body).toEqual({ name: 'iris', ready: true });
  const md = await request(port, 'GET', '/v2/models/iris');
  expect(md.body.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 4] }]);
  expect((await request(port, 'GET', '/v1/models')).body).toEqual({ models: ['iris'] });
});

test('the transformer records module and predictor timings in its metrics', async () => {
  await request(restTransformer.port, 'POST', '/v1/models/iris:predict', { instances: named });
  const text = (await request(restTransformer.port, 'GET', '/metrics')).text;
  expect(metricSamples(text, 'model_server_transformer_step_duration_seconds_count').get('{model="iris",step="preprocess"}')).toBeGreaterThan(0);
  expect(metricSamples(text, 'model_server_predictor_request_duration_seconds_count').get('{model="iris",protocol="v2"}')).toBeGreaterThan(0);
  expect(metricSamples(text, 'model_server_requests_total').get('{model="iris",protocol="v1",code="200"}')).toBeGreaterThan(0);
});

describe('against a stub predictor', () => {
  let stub: http.Server;
  let stubPort: number;
  const seen: http.IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    stub = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(req.headers);
        if (req.url === '/v2/models/iris/ready') {
          res.end(JSON.stringify({ name: 'iris', ready: true }));
        } else if (req.url === '/v2/models/iris') {
          res.end(JSON.stringify({ name: 'iris', platform: 'stub', inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }], outputs: [] }));
        } else if (req.url === '/v2/models/iris/infer') {
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ model_name: 'iris', outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 3], data: [1, 0, 0] }, { name: 'label', datatype: 'INT64', shape: [1], data: [0] }] }));
        } else {
          res.statusCode = 500;
          res.end('upstream exploded');
        }
      });
    });
    await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
    stubPort = (stub.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => stub.close(() => r())));

  test('request ids and trace headers reach the predictor; authorization only when configured', async () => {
    const plain = await start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${stubPort}`, '--transformer-module', moduleFile]);
    const withAuth = await start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${stubPort}`, '--transformer-module', moduleFile, '--propagate-headers', 'x-request-id,traceparent,authorization']);
    const headers = { 'x-request-id': 'req-42', 'traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'authorization': 'Bearer t0ken' };
    seen.length = 0;
    const a = await request(plain.port, 'POST', '/v2/models/iris/infer', iris.v2_request, headers);
    expect(a.status).toBe(200);
    expect(a.headers['x-request-id']).toBe('req-42');
    const first = seen.find((h) => h['x-request-id'] === 'req-42')!;
    expect(first.traceparent).toBe(headers.traceparent);
    expect(first.authorization).toBeUndefined();
    expect(first.connection).toBe('keep-alive');

    seen.length = 0;
    await request(withAuth.port, 'POST', '/v2/models/iris/infer', iris.v2_request, headers);
    expect(seen.find((h) => h['x-request-id'] === 'req-42')!.authorization).toBe('Bearer t0ken');

    // Without a client id the transformer makes one, returns it and forwards it.
    seen.length = 0;
    const b = await request(plain.port, 'POST', '/v1/models/iris:predict', { instances: [named[0]] });
    expect(b.status).toBe(200);
    expect(b.body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.headers['x-request-id']).toBe(b.body.request_id);
    expect(seen.some((h) => h['x-request-id'] === b.body.request_id)).toBe(true);
  });

  test('a predictor answer that is not our JSON error is a 502', async () => {
    const t = await start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${stubPort}`, '--transformer-module', path.join(FIXTURES, 'passthrough.mjs')]);
    const res = await request(t.port, 'POST', '/v2/models/other/infer', iris.v2_request);
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ error: `predictor at 127.0.0.1:${stubPort} answered status 500 with upstream exploded`, code: 'MS_ERR_PREDICTOR_ERROR' });
    // The ES module (postprocess only) ran on the successful path.
    const ok = await request(t.port, 'POST', '/v2/models/iris/infer', iris.v2_request);
    expect(ok.body.parameters).toEqual({ transformed: true });
  });
});

test('a predictor that is down gives a 502 JSON error and readiness off', async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const t = await start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${port}`, '--transformer-module', moduleFile]);
  const res = await request(t.port, 'POST', '/v1/models/iris:predict', { instances: named });
  expect(res.status).toBe(502);
  expect(res.body).toEqual({ error: `predictor at 127.0.0.1:${port} is unreachable (ECONNREFUSED)`, code: 'MS_ERR_PREDICTOR_UNREACHABLE' });
  expect((await request(t.port, 'GET', '/v2/health/ready')).status).toBe(503);
});

test('a module that throws is a 500 with a code and no detail; the log has the detail', async () => {
  const t = await start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${predictor.port}`, '--transformer-module', path.join(FIXTURES, 'throws.js')]);
  const res = await request(t.port, 'POST', '/v1/models/iris:predict', { instances: named });
  expect(res.status).toBe(500);
  expect(res.body).toEqual({ error: 'the transformer module failed in preprocess', code: 'MS_ERR_TRANSFORMER_FAILED' });
  expect(res.text).not.toMatch(/secret|\/srv\/module/);
  await waitForLog(t, (l) => l.event === 'transformer_failed' && JSON.stringify(l).includes('secret internal detail'));
  const rejected = await request(t.port, 'POST', '/v1/models/iris:predict', { instances: [{ reject: true }] });
  expect(rejected.status).toBe(422);
  expect(rejected.body).toEqual({ error: 'this request is rejected on purpose', code: 'MS_ERR_TRANSFORMER_REJECTED' });
});

test('a module that fails to load is a clear startup error', async () => {
  const broken = await failingServe(['--mode', 'transformer', '--predictor-host', '127.0.0.1:1', '--transformer-module', path.join(FIXTURES, 'broken.js')]);
  expect(broken.code).toBe(1);
  expect(broken.stderr).toContain("transformer module '");
  expect(broken.stderr).toContain('failed to load: Error: cannot initialise the module');
  const missing = await failingServe(['--mode', 'transformer', '--predictor-host', '127.0.0.1:1', '--transformer-module', path.join(tmp, 'nope.js')]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/transformer module '.*nope\.js' not found/);
  const inPredictor = await failingServe(['--model-dir', tmp, '--transformer-module', path.join(FIXTURES, 'broken.js')]);
  expect(inPredictor.code).toBe(1);
  expect(inPredictor.stdout).toContain('"event":"startup_failed"');
  const noHost = await failingServe(['--mode', 'transformer', '--transformer-module', moduleFile]);
  expect(noHost.code).toBe(2);
  expect(noHost.stderr).toContain("'--predictor-host' (PREDICTOR_HOST) is required in transformer mode");
});
