// Model repository in a real process: load/unload at run time, LRU eviction under a memory
// budget that is never exceeded, and one load for many concurrent requests (single flight).
import * as fs from 'fs';
import { expected, metricSamples, modelDir, request, RunningServer, startServer } from './server-harness';

const IRIS_BYTES = fs.statSync(`${__dirname}/../fixtures/models/iris-logreg.onnx`).size;
// Each model is charged 2 x its file size: the budget holds two of the three copies.
const BUDGET = 2 * (2 * IRIS_BYTES) + 100;
let server: RunningServer;
let dir: string;
let port: number;
const body = expected('iris-logreg').v2_request;

beforeAll(async () => {
  dir = modelDir({ 'a.onnx': 'iris-logreg.onnx', 'b.onnx': 'iris-logreg.onnx', 'c.onnx': 'iris-logreg.onnx', 'big.onnx': 'mlp-wide.onnx' });
  server = await startServer(['--model-dir', dir, '--mode', 'multi', '--memory-budget-bytes', String(BUDGET)]);
  port = server.port;
});

afterAll(async () => {
  await server?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function states(): Promise<Record<string, string>> {
  const res = await request(port, 'POST', '/v2/repository/index', {});
  return Object.fromEntries(res.body.map((m: any) => [m.name, m.state]));
}

async function metrics() {
  return (await request(port, 'GET', '/metrics')).text;
}

/** The sum of the model memory gauge never exceeds the budget. */
async function expectWithinBudget() {
  const memory = metricSamples(await metrics(), 'model_server_model_memory_bytes');
  const used = [...memory.values()].reduce((a, b) => a + b, 0);
  expect(used).toBeLessThanOrEqual(BUDGET);
}

async function infer(name: string) {
  return request(port, 'POST', `/v2/models/${name}/infer`, body);
}

test('startup loads what fits and leaves the rest UNAVAILABLE', async () => {
  const s = await states();
  expect(Object.values(s).filter((x) => x === 'READY')).toHaveLength(2);
  expect(s.big).toBe('UNAVAILABLE');
  await expectWithinBudget();
});

test('least recently used idle models are evicted, and evicted models load on demand', async () => {
  // make a, b the loaded pair in a known order: a used before b
  expect((await infer('a')).status).toBe(200);
  expect((await infer('b')).status).toBe(200);
  expect(await states()).toMatchObject({ a: 'READY', b: 'READY', c: 'UNAVAILABLE' });
  await expectWithinBudget();

  expect((await infer('c')).status).toBe(200); // evicts a (LRU)
  expect(await states()).toMatchObject({ a: 'UNAVAILABLE', b: 'READY', c: 'READY' });
  await expectWithinBudget();

  expect((await infer('a')).status).toBe(200); // evicts b
  expect(await states()).toMatchObject({ a: 'READY', b: 'UNAVAILABLE', c: 'READY' });
  await expectWithinBudget();
  const evictions = metricSamples(await metrics(), 'model_server_model_evictions_total');
  expect(evictions.get('{model="a"}')).toBe(1);
  expect(evictions.get('{model="b"}')).toBe(1);
});

test('concurrent requests for an unloaded model share one load', async () => {
  const before = metricSamples(await metrics(), 'model_server_model_load_duration_seconds_count').get('{model="b"}') ?? 0;
  const answers = await Promise.all(Array.from({ length: 24 }, () => infer('b')));
  expect(answers.map((r) => r.status)).toEqual(new Array(24).fill(200));
  const after = metricSamples(await metrics(), 'model_server_model_load_duration_seconds_count').get('{model="b"}');
  expect(after).toBe(before + 1);
  await expectWithinBudget();
});

test('a model larger than the whole budget is refused with 503, the others keep serving', async () => {
  const res = await infer('big');
  expect(res.status).toBe(503);
  expect(res.body.code).toBe('MS_ERR_MEMORY_BUDGET_EXCEEDED');
  expect((await infer('c')).status).toBe(200);
  await expectWithinBudget();
});

test('unload and load through the repository API', async () => {
  expect((await request(port, 'POST', '/v2/repository/models/c/unload')).body).toEqual({ name: 'c', unload: true });
  expect((await states()).c).toBe('UNAVAILABLE');
  const refused = await infer('c');
  expect(refused.status).toBe(503); // unloaded models do not load on demand
  expect(refused.body.error).toMatch(/unloaded/);
  expect((await request(port, 'GET', '/v2/models/c/ready')).status).toBe(503);

  expect((await request(port, 'POST', '/v2/repository/models/c/load', {})).body).toEqual({ name: 'c', load: true });
  expect((await states()).c).toBe('READY');
  expect((await infer('c')).status).toBe(200);
  await expectWithinBudget();
  expect((await request(port, 'POST', '/v2/repository/models/nope/load')).status).toBe(404);
});

test('a model folder added at run time is found by load', async () => {
  fs.mkdirSync(`${dir}/late`);
  fs.copyFileSync(`${__dirname}/../fixtures/models/iris-mlp.onnx`, `${dir}/late/model.onnx`);
  expect((await request(port, 'POST', '/v2/repository/models/late/load')).status).toBe(200);
  expect((await infer('late')).status).toBe(200);
  await expectWithinBudget();
});
