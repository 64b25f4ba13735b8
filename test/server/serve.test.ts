// The model server as a real process: outputs against the fixtures over V1 and V2 REST, metadata,
// every error path, and a corrupt model that fails alone while the others serve.
import * as fs from 'fs';
import { expectClose, expected, metricSamples, modelDir, request, RunningServer, startServer } from './server-harness';

const WORKING = ['iris-logreg', 'iris-mlp', 'diabetes-linreg', 'mlp-wide'];
let server: RunningServer;
let dir: string;
let port: number;

beforeAll(async () => {
  dir = modelDir({
    'iris-logreg/model.onnx': 'iris-logreg.onnx',
    'iris-mlp/model.onnx': 'iris-mlp.onnx',
    'diabetes-linreg/1/model.onnx': 'diabetes-linreg.onnx',
    'mlp-wide/model.onnx': 'mlp-wide.onnx',
    'corrupt/model.onnx': 'corrupt.onnx',
  });
  server = await startServer(['--model-dir', dir, '--max-body-bytes', '200000', '--max-batch-size', '64']);
  port = server.port;
});

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.each(WORKING)('%s', (name) => {
  const fixture = expected(name);

  test('V2 infer returns the expected outputs within tolerance', async () => {
    const url = name === 'diabetes-linreg' ? `/v2/models/${name}/versions/1/infer` : `/v2/models/${name}/infer`;
    const res = await request(port, 'POST', url, { id: 'req-1', ...fixture.v2_request });
    expect(res.status).toBe(200);
    expect(res.body.model_name).toBe(name);
    expect(res.body.id).toBe('req-1');
    expect(res.body.outputs.map((o: any) => o.name)).toEqual(fixture.outputs.map((o: any) => o.name));
    for (const want of fixture.outputs) {
      const got = res.body.outputs.find((o: any) => o.name === want.name);
      expect(got.datatype).toBe(want.datatype);
      expect(got.shape).toEqual(want.shape);
      expectClose(got.data, want.data, fixture.tolerance);
    }
  });

  test('V1 predict returns the expected predictions within tolerance', async () => {
    const res = await request(port, 'POST', `/v1/models/${name}:predict`, fixture.v1_request);
    expect(res.status).toBe(200);
    const predictions = res.body.predictions as any[];
    expect(predictions).toHaveLength(fixture.v1_request.instances.length);
    if (fixture.outputs.length === 1) {
      // one output: predictions are its rows
      expectClose(predictions.flat(), fixture.outputs[0].data, fixture.tolerance);
    } else {
      // several outputs: each prediction is {outputName: row}
      for (const want of fixture.outputs) {
        expectClose(predictions.map((p) => p[want.name]).flat(), want.data, fixture.tolerance);
      }
    }
  });

  test('nested V2 data gives the same answer as flat data', async () => {
    const input = fixture.v2_request.inputs[0];
    const nested = fixture.v1_request.instances;
    const res = await request(port, 'POST', `/v2/models/${name}/infer`, { inputs: [{ ...input, data: nested }] });
    expect(res.status).toBe(200);
    expectClose(res.body.outputs[0].data, fixture.outputs[0].data, fixture.tolerance);
  });
});

test('model metadata comes from the session, with -1 for dynamic dimensions', async () => {
  const res = await request(port, 'GET', '/v2/models/iris-logreg');
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    name: 'iris-logreg',
    platform: 'onnx_onnxv1',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }, { name: 'label', datatype: 'INT64', shape: [-1] }],
  });
  const versioned = await request(port, 'GET', '/v2/models/diabetes-linreg/versions/1');
  expect(versioned.body.versions).toEqual(['1']);
});

test('requested outputs, parameters and the request id are honoured', async () => {
  const fixture = expected('iris-logreg');
  const res = await request(port, 'POST', '/v2/models/iris-logreg/infer', {
    ...fixture.v2_request, id: '42', parameters: { trace: true }, outputs: [{ name: 'label' }],
  });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ model_name: 'iris-logreg', id: '42', parameters: { trace: true }, outputs: [{ name: 'label', datatype: 'INT64', shape: [5], data: [0, 1, 2, 2, 2] }] });
});

test('server metadata, health and the V1 model list answer', async () => {
  // The bundle carries package.json's version (src/package-version.ts, stamped by scripts/bundle-server.js).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { version } = require('../../package.json');
  expect((await request(port, 'GET', '/v2')).body).toEqual({ name: 'cdk8s-model-server', version, extensions: ['model_repository', 'binary_tensor_data'] });
  expect((await request(port, 'GET', '/v2/health/live')).status).toBe(200);
  expect((await request(port, 'GET', '/v2/health/ready')).status).toBe(200);
  expect((await request(port, 'GET', '/v2/models/iris-mlp/ready')).status).toBe(200);
  expect((await request(port, 'GET', '/v1/models')).body.models).toEqual(['corrupt', 'diabetes-linreg', 'iris-logreg', 'iris-mlp', 'mlp-wide']);
  expect((await request(port, 'GET', '/v1/models/iris-mlp')).body).toEqual({ name: 'iris-mlp', ready: true });
});

test('a corrupt model is FAILED with a reason while the others serve', async () => {
  const index = await request(port, 'POST', '/v2/repository/index');
  expect(index.status).toBe(200);
  const corrupt = index.body.find((m: any) => m.name === 'corrupt');
  expect(corrupt.state).toBe('FAILED');
  expect(corrupt.reason).toMatch(/Protobuf parsing failed/);
  expect(index.body.filter((m: any) => m.state === 'READY').map((m: any) => m.name).sort()).toEqual([...WORKING].sort());
  const ready = await request(port, 'GET', '/v2/models/corrupt/ready');
  expect(ready.status).toBe(503);
  const infer = await request(port, 'POST', '/v2/models/corrupt/infer', expected('iris-logreg').v2_request);
  expect(infer.status).toBe(503);
  expect(infer.body.code).toBe('MS_ERR_MODEL_NOT_READY');
  const load = await request(port, 'POST', '/v2/repository/models/corrupt/load');
  expect(load.status).toBe(400);
  expect(load.body.code).toBe('MS_ERR_MODEL_LOAD_FAILED');
  const metrics = (await request(port, 'GET', '/metrics')).text;
  expect(metricSamples(metrics, 'model_server_model_load_failures_total').get('{model="corrupt"}')).toBe(2);
  // the server as a whole stays ready in multi-model mode
  expect((await request(port, 'GET', '/v2/health/ready')).status).toBe(200);
});

describe('errors are JSON {error, code} with the right status', () => {
  const iris = () => JSON.parse(JSON.stringify(expected('iris-logreg').v2_request));
  const cases: Array<[string, () => unknown, number, string]> = [
    ['wrong shape', () => { const b = iris(); b.inputs[0].shape = [5, 3]; return b; }, 400, 'MS_ERR_INVALID_SHAPE'],
    ['data length not matching shape', () => { const b = iris(); b.inputs[0].data.pop(); return b; }, 400, 'MS_ERR_INVALID_SHAPE'],
    ['wrong rank', () => { const b = iris(); b.inputs[0].shape = [20]; return b; }, 400, 'MS_ERR_INVALID_SHAPE'],
    ['wrong datatype', () => { const b = iris(); b.inputs[0].datatype = 'INT32'; return b; }, 400, 'MS_ERR_INVALID_DATATYPE'],
    ['unknown datatype', () => { const b = iris(); b.inputs[0].datatype = 'FP8'; return b; }, 400, 'MS_ERR_UNSUPPORTED_DATATYPE'],
    ['a string element', () => { const b = iris(); b.inputs[0].data[3] = 'x'; return b; }, 400, 'MS_ERR_INVALID_DATA'],
    ['missing inputs', () => ({ id: 'x' }), 400, 'MS_ERR_INVALID_REQUEST'],
    ['missing data', () => { const b = iris(); delete b.inputs[0].data; return b; }, 400, 'MS_ERR_INVALID_REQUEST'],
    ['unknown input', () => { const b = iris(); b.inputs[0].name = 'nope'; return b; }, 400, 'MS_ERR_UNKNOWN_INPUT'],
    ['unknown output', () => ({ ...iris(), outputs: [{ name: 'nope' }] }), 400, 'MS_ERR_UNKNOWN_OUTPUT'],
    ['batch too large', () => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [65, 4], data: new Array(260).fill(1) }] }), 400, 'MS_ERR_BATCH_TOO_LARGE'],
    ['bad JSON', () => '{"inputs": [', 400, 'MS_ERR_INVALID_JSON'],
    ['an array body', () => [1, 2], 400, 'MS_ERR_INVALID_REQUEST'],
    ['empty body', () => '', 400, 'MS_ERR_INVALID_REQUEST'],
    ['too large body', () => ({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: new Array(100000).fill(1.5) }] }), 413, 'MS_ERR_BODY_TOO_LARGE'],
  ];
  test.each(cases)('%s', async (_what, body, status, code) => {
    const b = body();
    const res = await request(port, 'POST', '/v2/models/iris-logreg/infer', b, typeof b === 'string' ? { 'content-type': 'application/json' } : {});
    expect(res.status).toBe(status);
    expect(res.body.code).toBe(code);
    expect(typeof res.body.error).toBe('string');
    expect(res.text).not.toMatch(/ at .*\.js:\d+/); // no stack trace
  });

  test('unknown model is 404 on every route', async () => {
    for (const [method, url] of [['GET', '/v2/models/nope'], ['GET', '/v2/models/nope/ready'], ['POST', '/v2/models/nope/infer'], ['POST', '/v1/models/nope:predict'], ['GET', '/v1/models/nope'], ['GET', '/v2/models/iris-logreg/versions/7']]) {
      const body = url.startsWith('/v1') ? expected('iris-logreg').v1_request : iris();
      const res = await request(port, method, url, method === 'POST' ? body : undefined);
      expect([url, res.status]).toEqual([url, 404]);
      expect(res.body.error).toBeDefined();
    }
  });

  test('missing or wrong content-type is 4xx, never 500', async () => {
    const body = JSON.stringify(iris());
    const wrong = await request(port, 'POST', '/v2/models/iris-logreg/infer', body, { 'content-type': 'text/plain' });
    expect(wrong.status).toBe(415);
    expect(wrong.body.code).toBe('MS_ERR_UNSUPPORTED_MEDIA_TYPE');
    const missing = await request(port, 'POST', '/v2/models/iris-logreg/infer', body);
    expect([400, 415]).toContain(missing.status);
    expect(missing.body.error).toBeDefined();
  });

  test('V1 errors: bad instances are 400', async () => {
    for (const body of [{}, { instances: [] }, { instances: [[1, 2, 3, 4], [1, 2]] }, { instances: [['a', 'b', 'c', 'd']] }, { instances: 'x' }]) {
      const res = await request(port, 'POST', '/v1/models/iris-logreg:predict', body);
      expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), 400]);
      expect(typeof res.body.error).toBe('string');
    }
  });

  test('unknown routes are 404 JSON', async () => {
    const res = await request(port, 'GET', '/v3/nothing');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('MS_ERR_ROUTE_NOT_FOUND');
  });
});

test('metrics count requests by model, protocol and code', async () => {
  const text = (await request(port, 'GET', '/metrics')).text;
  const requests = metricSamples(text, 'model_server_requests_total');
  expect(requests.get('{model="iris-logreg",protocol="v2",code="200"}')).toBeGreaterThan(0);
  expect(requests.get('{model="iris-logreg",protocol="v1",code="200"}')).toBeGreaterThan(0);
  expect(requests.get('{model="_unknown",protocol="v2",code="404"}')).toBeGreaterThan(0);
  expect(metricSamples(text, 'model_server_models_loaded').get('')).toBe(4);
  expect(text).toMatch(/model_server_request_duration_seconds_bucket\{le="0.0005",model="iris-logreg",protocol="v2"\}/);
  expect(text).toMatch(/process_resident_memory_bytes/);
  expect(metricSamples(text, 'model_server_model_memory_bytes').get('{model="mlp-wide"}')).toBe(2 * fs.statSync(`${dir}/mlp-wide/model.onnx`).size);
});
