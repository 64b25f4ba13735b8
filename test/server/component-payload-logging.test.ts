/**
 * Payload logging of the transformer and explainer components (`serve --mode transformer|explainer
 * --payload-log-url ...`), and sampling (`--payload-log-sample-rate`): real `serve` processes and
 * a real CloudEvents sink on loopback. A transformer in front of a predictor logs its own calls
 * (the client's request and the transformed answer, `ce-component: transformer`); the predictor
 * behind it logs what it was sent.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { byEventId, metric, settled, sink, SinkEvent, stopSinks, until } from './payload-log-sink';
import { expected, modelDir, request, RunningServer, startServer } from './server-harness';
import { METRICS, PAYLOAD_LOG_EVENT_TYPES } from '../../src/contract';
import { parseConfig } from '../../src/server/config';
import { sampledIn } from '../../src/server/payload-log/sampling';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'transformer');
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const iris = expected('iris-logreg');
const named = (iris.v1_request.instances as number[][]).map((row) => Object.fromEntries(FEATURES.map((f, i) => [f, row[i]])));
const started: RunningServer[] = [];
let tmp: string;
let moduleFile: string;
let dir: string;

async function start(args: string[]): Promise<RunningServer> {
  const s = await startServer(args);
  started.push(s);
  return s;
}

const ofType = (events: SinkEvent[], kind: 'request' | 'response') => events.filter((e) => e.headers['ce-type'] === PAYLOAD_LOG_EVENT_TYPES[kind]);
const ofComponent = (events: SinkEvent[], component: string) => events.filter((e) => e.headers['ce-component'] === component);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'component-logging-'));
  moduleFile = path.join(tmp, 'iris-features.js');
  await esbuild.build({ entryPoints: [path.join(FIXTURES, 'iris-features.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: moduleFile, logLevel: 'warning' });
  dir = modelDir({ 'iris-logreg.onnx': 'iris-logreg.onnx' });
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  await stopSinks();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('a transformer in front of a predictor logs its own request and response events; the predictor logs what the transformer sent it', async () => {
  const { sink: s, url } = await sink();
  const common = ['--payload-log-url', url, '--payload-log-namespace', 'ml', '--payload-log-inference-service', 'iris', '--payload-log-endpoint', 'canary'];
  const predictor = await start(['--model-dir', dir, '--model-name', 'iris', ...common]);
  const transformer = await start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${predictor.port}`, '--transformer-module', moduleFile, ...common]);

  const v1 = await request(transformer.port, 'POST', '/v1/models/iris:predict', { instances: named });
  const v2 = await request(transformer.port, 'POST', '/v2/models/iris/infer', iris.v2_request);
  expect([v1.status, v2.status]).toEqual([200, 200]);
  await until(() => s.events.length >= 8);
  await settled(transformer.port);
  await settled(predictor.port);
  expect(s.events).toHaveLength(8);

  const mine = ofComponent(s.events, 'transformer');
  expect(mine).toHaveLength(4);
  for (const pair of byEventId(mine).values()) {
    expect(pair.map((e) => e.headers['ce-type']).sort()).toEqual([PAYLOAD_LOG_EVENT_TYPES.request, PAYLOAD_LOG_EVENT_TYPES.response]);
    for (const e of pair) {
      expect(e.headers).toMatchObject({ 'ce-inferenceservicename': 'iris', 'ce-namespace': 'ml', 'ce-endpoint': 'canary', 'ce-specversion': '1.0' });
    }
  }
  // The transformer logs the client's request (named features) and the answer the client got.
  expect(ofType(mine, 'request').map((e) => e.body)).toEqual(expect.arrayContaining([{ instances: named }]));
  expect(ofType(mine, 'response').map((e) => e.body)).toEqual(expect.arrayContaining([v1.body, v2.body]));
  // The predictor logs the transformed request (plain V2 tensors), under ids of its own.
  const behind = ofComponent(s.events, 'predictor');
  expect(behind).toHaveLength(4);
  expect(ofType(behind, 'request').every((e) => Array.isArray(e.body.inputs))).toBe(true);
  const ids = new Set(mine.map((e) => e.headers['ce-id']));
  expect(behind.some((e) => ids.has(e.headers['ce-id']))).toBe(false);
  expect(await metric(transformer.port, METRICS.payloadLogEventsSentTotal)).toBe(4);
});

test('a transformer whose module rejects the request logs the request and no response (as KServe)', async () => {
  const { sink: s, url } = await sink();
  const predictor = await start(['--model-dir', dir, '--model-name', 'iris']);
  const transformer = await start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${predictor.port}`, '--transformer-module', moduleFile, '--payload-log-url', url]);
  const res = await request(transformer.port, 'POST', '/v1/models/iris:predict', { instances: [{ sepal_length: 'long' }] });
  expect(res.status).toBe(400);
  await until(() => s.events.length >= 1);
  await settled(transformer.port);
  expect(s.events.map((e) => [e.headers['ce-type'], e.headers['ce-component']])).toEqual([[PAYLOAD_LOG_EVENT_TYPES.request, 'transformer']]);
});

test('an explainer component logs its explain calls with ce-component explainer', async () => {
  const { sink: s, url } = await sink();
  const predictor = await start(['--model-dir', dir, '--model-name', 'iris']);
  const explainer = await start(['--mode', 'explainer', '--model-name', 'iris', '--predictor-host', `127.0.0.1:${predictor.port}`,
    '--explainer-background', path.join(FIXTURES, 'iris-background.csv'), '--payload-log-url', url]);
  const body = { instances: (iris.v1_request.instances as number[][]).slice(0, 1) };
  const res = await request(explainer.port, 'POST', '/v1/models/iris:explain', body);
  expect(res.status).toBe(200);
  await until(() => s.events.length >= 2);
  await settled(explainer.port);
  expect(s.events.map((e) => e.headers['ce-component'])).toEqual(['explainer', 'explainer']);
  expect(ofType(s.events, 'request')[0].body).toEqual(body);
  expect(ofType(s.events, 'response')[0].body).toEqual(res.body);
});

describe('sampling (--payload-log-sample-rate)', () => {
  test('decided by event id: the same id gets the same answer, and the kept share follows the rate', () => {
    // Fixed ids (no randomness): 10,000 of them at 10%.
    const ids = Array.from({ length: 10_000 }, (_, i) => `request-${i}`);
    const kept = ids.filter((id) => sampledIn(id, 0.1)).length;
    expect(kept).toBeGreaterThan(900);
    expect(kept).toBeLessThan(1100);
    expect(ids.filter((id) => sampledIn(id, 0.1)).length).toBe(kept);
    expect(ids.every((id) => sampledIn(id, 1))).toBe(true);
    expect(ids.some((id) => sampledIn(id, 0))).toBe(false);
  });

  test('a sampled-in inference keeps both its request and its response; sampled-out ones send nothing', async () => {
    const { sink: s, url } = await sink();
    const server = await start(['--model-dir', dir, '--model-name', 'iris', '--payload-log-url', url, '--payload-log-sample-rate', '0.5']);
    const calls = 40;
    for (let i = 0; i < calls; i++) expect((await request(server.port, 'POST', '/v2/models/iris/infer', iris.v2_request)).status).toBe(200);
    await settled(server.port);
    const pairs = byEventId(s.events);
    for (const [id, pair] of pairs) {
      expect(sampledIn(id, 0.5)).toBe(true);
      expect(pair.map((e) => e.headers['ce-type']).sort()).toEqual([PAYLOAD_LOG_EVENT_TYPES.request, PAYLOAD_LOG_EVENT_TYPES.response]);
    }
    // Event ids are random UUIDs: at 50% of 40 calls, all or none kept has a chance of 2^-39.
    expect(pairs.size).toBeGreaterThan(0);
    expect(pairs.size).toBeLessThan(calls);
    expect(await metric(server.port, METRICS.payloadLogEventsDroppedTotal)).toBe(0);
  });

  test('the rate must be a number from 0 to 1, named in the error', () => {
    expect(parseConfig(['--payload-log-url', 'http://x', '--payload-log-sample-rate', '0.25'], {}).payloadLog?.sampleRate).toBe(0.25);
    expect(parseConfig([], { PAYLOAD_LOG_URL: 'http://x' }).payloadLog?.sampleRate).toBe(1);
    expect(() => parseConfig(['--payload-log-url', 'http://x', '--payload-log-sample-rate', '1.5'], {}))
      .toThrow("'--payload-log-sample-rate' (PAYLOAD_LOG_SAMPLE_RATE) must be a number from 0 to 1 (the share of inferences logged), got '1.5'");
    expect(() => parseConfig(['--payload-log-url', 'http://x', '--payload-log-sample-rate', 'half'], {})).toThrow("'--payload-log-sample-rate'");
  });
});
