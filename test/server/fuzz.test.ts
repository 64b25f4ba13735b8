/**
 * @jest-environment ./test/jest-host-typed-arrays-environment.js
 */
// Property test: thousands of malformed bodies, shapes and datatypes, in process via inject().
// Every answer must be 200 or a 4xx JSON error, and the server must keep serving.
import * as fc from 'fast-check';
import { FastifyInstance } from 'fastify';
import { expected, MODELS } from './server-harness';
import { buildApp } from '../../src/server/app';
import { parseConfig } from '../../src/server/config';
import { seeded } from '../seeded';

let app: FastifyInstance;

beforeAll(async () => {
  app = buildApp({ config: parseConfig(['--model-dir', `${MODELS}/iris-logreg.onnx`, '--model-name', 'iris', '--max-batch-size', '8']), logger: false });
  await app.core.start();
});

afterAll(async () => {
  await app.close();
  await app.core.repository.close();
});

const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES', 'BF16', 'fp32', ''];
const scalar = fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.string({ maxLength: 4 }), fc.constant(null), fc.constant(1e308), fc.constant(-0));
const data = fc.oneof(
  fc.array(scalar, { maxLength: 40 }),
  fc.array(fc.array(scalar, { maxLength: 6 }), { maxLength: 8 }),
  fc.array(fc.float({ noNaN: true }), { minLength: 4, maxLength: 4 }),
  fc.anything(),
);
const shape = fc.oneof(
  fc.array(fc.integer({ min: -2, max: 12 }), { maxLength: 4 }),
  fc.constant([1, 4]),
  fc.tuple(fc.integer({ min: 0, max: 10 }), fc.constant(4)),
  fc.array(fc.oneof(fc.double(), fc.string(), fc.constant(null)), { maxLength: 3 }),
  fc.anything(),
);
const input = fc.record({
  name: fc.oneof(fc.constant('input'), fc.string({ maxLength: 6 }), fc.integer()),
  datatype: fc.oneof(fc.constantFrom(...DATATYPES), fc.anything()),
  shape,
  data,
  parameters: fc.option(fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string(), fc.integer(), fc.boolean())), { nil: undefined }),
}, { requiredKeys: [] });
const inferBody = fc.record({
  id: fc.oneof(fc.string({ maxLength: 6 }), fc.integer()),
  inputs: fc.oneof(fc.array(input, { maxLength: 3 }), fc.anything()),
  outputs: fc.oneof(fc.array(fc.record({ name: fc.oneof(fc.constantFrom('label', 'probabilities', 'x'), fc.anything()) }), { maxLength: 3 }), fc.anything()),
  parameters: fc.anything(),
}, { requiredKeys: [] });

async function check(url: string, payload: string, contentType = 'application/json') {
  const res = await app.inject({ method: 'POST', url, payload, headers: { 'content-type': contentType } });
  if (res.statusCode !== 200) {
    if (res.statusCode < 400 || res.statusCode >= 500) {
      throw new Error(`${res.statusCode} for ${payload.slice(0, 300)}: ${res.body}`);
    }
    const body = JSON.parse(res.body);
    if (typeof body.error !== 'string' || typeof body.code !== 'string' || /\.js:\d+/.test(res.body)) {
      throw new Error(`bad error body ${res.body}`);
    }
  }
}

test('malformed V2 infer bodies get 4xx JSON errors', async () => {
  await fc.assert(fc.asyncProperty(inferBody, async (b) => check('/v2/models/iris/infer', JSON.stringify(b))), seeded({ numRuns: 2500, seed: 41 }));
});

test('arbitrary JSON values and V1 bodies get 4xx JSON errors', async () => {
  const instances = fc.array(fc.oneof(fc.array(scalar, { maxLength: 6 }), scalar), { maxLength: 10 });
  const v1 = fc.oneof(fc.anything(), fc.record({ instances: fc.oneof(instances, fc.anything()) }));
  await fc.assert(fc.asyncProperty(fc.anything(), v1, async (a, b) => {
    await check('/v2/models/iris/infer', JSON.stringify(a) ?? 'null');
    await check('/v1/models/iris:predict', JSON.stringify(b) ?? 'null');
  }), seeded({ numRuns: 1000, seed: 42 }));
});

test('broken JSON text and odd content types get 4xx JSON errors', async () => {
  const types = fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', 'application/x-www-form-urlencoded');
  await fc.assert(fc.asyncProperty(fc.string({ maxLength: 60 }), types, async (text, type) => {
    await check('/v2/models/iris/infer', text, type);
  }), seeded({ numRuns: 800, seed: 43 }));
});

test('the server still answers correctly afterwards', async () => {
  const res = await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: expected('iris-logreg').v2_request });
  expect(res.statusCode).toBe(200);
  expect(JSON.parse(res.body).outputs[1].data).toEqual([0, 1, 2, 2, 2]);
  expect((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode).toBe(200);
});

test('well-formed requests with any float values and batch sizes run or are refused for size', async () => {
  const floats = (n: number) => fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), { minLength: n * 4, maxLength: n * 4 });
  const batch = fc.integer({ min: 0, max: 10 }).chain((n) => fc.tuple(fc.constant(n), floats(n)));
  await fc.assert(fc.asyncProperty(batch, async ([n, values]) => {
    const res = await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload: { inputs: [{ name: 'input', datatype: 'FP32', shape: [n, 4], data: values }] } });
    expect([n, res.statusCode]).toEqual([n, n > 8 ? 400 : 200]);
    if (n <= 8) {
      expect(JSON.parse(res.body).outputs[1].shape).toEqual([n]);
    }
  }), seeded({ numRuns: 300, seed: 44 }));
});
