/**
 * The inference fast path (src/server/http/fast-path.ts) must answer exactly as fastify's routes
 * do. Both run in the same real server: a query string sends a request down fastify's path
 * (the fast path hands anything with a query to fastify), so each case is sent both ways and
 * the answers compared: status, body and the error's code and message.
 */
import fc from 'fast-check';
import { expected, expectClose, metricSamples, modelDir, request, RunningServer, startServer } from './server-harness';
import { seeded } from '../seeded';

let server: RunningServer;

beforeAll(async () => {
  const dir = modelDir({ 'iris/model.onnx': 'iris-logreg.onnx', 'diabetes/model.onnx': 'diabetes-linreg.onnx' });
  server = await startServer(['--model-dir', dir, '--mode', 'multi', '--max-batch-size', '8']);
});
afterAll(async () => server?.stop());

const iris = expected('iris-logreg');

/** Sends `body` to `path` on the fast path and on fastify's, and returns both answers. */
async function both(path: string, body: unknown, headers: Record<string, string> = {}) {
  const fast = await request(server.port, 'POST', path, body, headers);
  const slow = await request(server.port, 'POST', `${path}?via=fastify`, body, headers);
  return { fast, slow };
}

const CASES: Array<[string, string, unknown]> = [
  ['a valid V2 request', '/v2/models/iris/infer', iris.v2_request],
  ['a valid V1 request', '/v1/models/iris:predict', iris.v1_request],
  ['requested outputs, an id and parameters', '/v2/models/iris/infer', { ...iris.v2_request, id: 'r-1', parameters: { a: 1 }, outputs: [{ name: 'label' }] }],
  ['nested data', '/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [[5.1, 3.5, 1.4, 0.2]] }] }],
  ['an unknown model', '/v2/models/nope/infer', iris.v2_request],
  ['an unknown version', '/v2/models/iris/versions/7/infer', iris.v2_request],
  ['a shape that does not match the data', '/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }],
  ['a wrong datatype', '/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'INT32', data: [1, 2, 3, 4] }] }],
  ['an unknown datatype', '/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP128', data: [1, 2, 3, 4] }] }],
  ['an unknown input', '/v2/models/iris/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }],
  ['an unknown output', '/v2/models/iris/infer', { ...iris.v2_request, outputs: [{ name: 'nope' }] }],
  ['no inputs', '/v2/models/iris/infer', { inputs: [] }],
  ['inputs that are not an array', '/v2/models/iris/infer', { inputs: 'x' }],
  ['a body that is an array', '/v2/models/iris/infer', [1, 2]],
  ['a body that is a number', '/v2/models/iris/infer', 42],
  ['a batch above --max-batch-size', '/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [9, 4], datatype: 'FP32', data: new Array(36).fill(1) }] }],
  ['a non-numeric element', '/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 'a', 3, 4] }] }],
  ['V1 without instances', '/v1/models/iris:predict', { rows: [] }],
  ['V1 rows of the wrong width', '/v1/models/iris:predict', { instances: [[1, 2, 3]] }],
  ['V1 on an unknown model', '/v1/models/nope:predict', iris.v1_request],
];

test.each(CASES)('%s gets the same answer on both paths', async (_name, path, body) => {
  const { fast, slow } = await both(path, body);
  expect(fast.status).toBe(slow.status);
  expect(fast.body).toEqual(slow.body);
  expect(fast.headers['content-type']).toMatch(/^application\/json/);
});

test('invalid JSON gets the same 400 on both paths', async () => {
  const { fast, slow } = await both('/v2/models/iris/infer', '{"inputs": [', { 'content-type': 'application/json' });
  expect(fast.status).toBe(400);
  expect(fast.body).toEqual(slow.body);
  expect(fast.body.code).toBe('MS_ERR_INVALID_JSON');
});

test('the fast path answers correctly under concurrency, when requests are batched together', async () => {
  // 64 requests in flight with 1 to 5 rows each: the server joins them into batched calls.
  const rows: number[][] = iris.v1_request.instances;
  const probs = iris.outputs.find((o: any) => o.name === 'probabilities').data as number[];
  const jobs = Array.from({ length: 64 }, (_, i) => {
    const picked = Array.from({ length: (i % 5) + 1 }, (_r, j) => (i + j) % rows.length);
    return { picked, body: { inputs: [{ name: 'input', shape: [picked.length, 4], datatype: 'FP32', data: picked.flatMap((r) => rows[r]) }] } };
  });
  const answers = await Promise.all(jobs.map((job) => request(server.port, 'POST', '/v2/models/iris/infer', job.body)));
  answers.forEach((res, i) => {
    expect(res.status).toBe(200);
    const got = res.body.outputs.find((o: any) => o.name === 'probabilities');
    expect(got.shape).toEqual([jobs[i].picked.length, 3]);
    expectClose(got.data, jobs[i].picked.flatMap((r) => probs.slice(r * 3, r * 3 + 3)), iris.tolerance);
  });
});

test('fast-path requests are metered like fastify\'s', async () => {
  const before = metricSamples(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text(), 'model_server_requests_total');
  await request(server.port, 'POST', '/v2/models/iris/infer', iris.v2_request);
  await request(server.port, 'POST', '/v2/models/nope/infer', iris.v2_request);
  const after = metricSamples(await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text(), 'model_server_requests_total');
  const delta = (labels: string) => (after.get(`{${labels}}`) ?? 0) - (before.get(`{${labels}}`) ?? 0);
  expect(delta('model="iris",protocol="v2",code="200"')).toBe(1);
  expect(delta('model="_unknown",protocol="v2",code="404"')).toBe(1);
});

test('generated bodies get the same answer on both paths', async () => {
  const tensor = fc.record({
    name: fc.oneof(fc.constant('input'), fc.string({ maxLength: 5 })),
    shape: fc.oneof(fc.constant([1, 4]), fc.array(fc.integer({ min: -1, max: 5 }), { maxLength: 3 })),
    datatype: fc.constantFrom('FP32', 'FP64', 'INT64', 'BOOL', 'BYTES', 'fp32', 'X'),
    data: fc.oneof(fc.array(fc.double({ noNaN: true }), { maxLength: 8 }), fc.array(fc.anything(), { maxLength: 4 })),
  }, { requiredKeys: [] });
  const body = fc.oneof(
    fc.record({
      inputs: fc.array(tensor, { maxLength: 2 }),
      outputs: fc.option(fc.array(fc.record({ name: fc.string({ maxLength: 12 }) }), { maxLength: 2 }), { nil: undefined }),
    }, { requiredKeys: [] }),
    fc.anything(),
  );
  await fc.assert(fc.asyncProperty(body, async (b) => {
    const { fast, slow } = await both('/v2/models/iris/infer', b === undefined ? null : b);
    expect(fast.status).toBe(slow.status);
    expect(fast.body).toEqual(slow.body);
    expect(fast.status).toBeLessThan(500);
  }), seeded({ numRuns: 300, seed: 20261125 }));
});
