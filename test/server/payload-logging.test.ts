/**
 * Payload logging (`--payload-log-*`, src/server/payload-log): a real HTTP sink on loopback
 * receives KServe-style CloudEvents for V1 and V2 REST inference; a sink that is down or hangs
 * never fails inference, and every event that cannot be sent is counted as dropped.
 */
import * as path from 'path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { metric, settled, sink, SinkEvent, stopSinks, until } from './payload-log-sink';
import { expected, MODELS, request, ROOT, RunningServer, startServer } from './server-harness';
import { METRICS, PAYLOAD_LOG_EVENT_TYPES } from '../../src/contract';
import { serveHelp } from '../../src/server/cli-help';
import { parseConfig } from '../../src/server/config';
import { PAYLOAD_LOG_SENDERS } from '../../src/server/payload-log/payload-logger';

const IRIS = expected('iris-logreg');
const servers: RunningServer[] = [];

/** The bundled server (a real process) logging to `url`. */
async function serve(url: string, ...flags: string[]): Promise<{ port: number; grpcPort: number }> {
  const server = await startServer(['--model-dir', `${MODELS}/iris-logreg.onnx`, '--model-name', 'iris', '--payload-log-url', url, ...flags]);
  servers.push(server);
  return { port: server.port, grpcPort: Number(server.logs.find((l) => l.event === 'grpc_listening')!.grpcPort) };
}

/** One gRPC ModelInfer call (V2 GRPCInferenceService) with fp32 contents. */
async function grpcInfer(port: number, id: string): Promise<any> {
  const def = protoLoader.loadSync(path.join(ROOT, 'src', 'server', 'protocol', 'grpc_predict_v2.proto'), { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, oneofs: true });
  const Service = (grpc.loadPackageDefinition(def).inference as any).GRPCInferenceService;
  const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    return await new Promise((resolve, reject) => client.ModelInfer({
      model_name: 'iris',
      id,
      inputs: IRIS.v2_request.inputs.map((i: any) => ({ name: i.name, datatype: i.datatype, shape: i.shape, contents: { fp32_contents: i.data } })),
    }, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))));
  } finally {
    client.close();
  }
}

const v1 = (port: number) => request(port, 'POST', '/v1/models/iris:predict', IRIS.v1_request);
const v2 = (port: number, id?: string) => request(port, 'POST', '/v2/models/iris/infer', { ...IRIS.v2_request, ...(id ? { id } : {}) });

afterAll(async () => {
  for (const server of servers) await server.stop();
  await stopSinks();
});

test('mode all: every V1 and V2 call sends a request and a response event, KServe-style, sharing one ce-id', async () => {
  const { sink: s, url } = await sink();
  const { port } = await serve(url, '--payload-log-namespace', 'ml', '--payload-log-endpoint', 'default', '--payload-log-inference-service', 'iris-isvc');
  const answers = [await v1(port), await v2(port, 'call-1'), await v1(port), await v2(port)];
  for (const a of answers) expect(a.status).toBe(200);
  await until(() => s.events.length >= 8);
  await settled(port);
  expect(s.events).toHaveLength(8);

  const byId = new Map<string, SinkEvent[]>();
  for (const e of s.events) byId.set(e.headers['ce-id'] as string, [...(byId.get(e.headers['ce-id'] as string) ?? []), e]);
  expect(byId.size).toBe(4);
  for (const pair of byId.values()) {
    expect(pair.map((e) => e.headers['ce-type']).sort()).toEqual([PAYLOAD_LOG_EVENT_TYPES.request, PAYLOAD_LOG_EVENT_TYPES.response]);
    for (const e of pair) {
      expect(e.headers).toMatchObject({
        'content-type': 'application/json',
        'ce-specversion': '1.0',
        'ce-inferenceservicename': 'iris-isvc',
        'ce-namespace': 'ml',
        'ce-component': 'predictor',
        'ce-endpoint': 'default',
      });
      expect(e.headers['ce-source']).toMatch(/^http:\/\//);
      expect(Number.isNaN(Date.parse(e.headers['ce-time'] as string))).toBe(false);
    }
  }
  // Bodies: the request as sent, the response as answered.
  const requests = s.events.filter((e) => e.headers['ce-type'] === PAYLOAD_LOG_EVENT_TYPES.request).map((e) => e.body);
  expect(requests.filter((b) => 'instances' in b)).toEqual([IRIS.v1_request, IRIS.v1_request]);
  expect(requests.filter((b) => 'inputs' in b).map((b) => b.inputs)).toEqual([IRIS.v2_request.inputs, IRIS.v2_request.inputs]);
  const responses = s.events.filter((e) => e.headers['ce-type'] === PAYLOAD_LOG_EVENT_TYPES.response).map((e) => e.body);
  expect(responses).toEqual(expect.arrayContaining(answers.map((a) => a.body)));
  // The V2 call with id 'call-1': its request and response events carry the same ce-id.
  const withId = s.events.filter((e) => e.body.id === 'call-1');
  expect(withId).toHaveLength(2);
  expect(withId[0].headers['ce-id']).toBe(withId[1].headers['ce-id']);
  expect(await metric(port, METRICS.payloadLogEventsSentTotal)).toBe(8);
  expect(await metric(port, METRICS.payloadLogEventsDroppedTotal)).toBe(0);
});

test('gRPC ModelInfer is logged too, its payloads in their V2 JSON form', async () => {
  const { sink: s, url } = await sink();
  const { port, grpcPort } = await serve(url);
  const res = await grpcInfer(grpcPort, 'grpc-1');
  expect(res.id).toBe('grpc-1');
  await until(() => s.events.length >= 2);
  await settled(port);
  expect(s.events).toHaveLength(2);
  expect(s.events[0].headers['ce-id']).toBe(s.events[1].headers['ce-id']);
  const logged = s.events.find((e) => e.headers['ce-type'] === PAYLOAD_LOG_EVENT_TYPES.request)!.body;
  const response = s.events.find((e) => e.headers['ce-type'] === PAYLOAD_LOG_EVENT_TYPES.response)!.body;
  expect(logged.id).toBe('grpc-1');
  expect(logged.inputs[0]).toMatchObject({ name: 'input', datatype: 'FP32', shape: [5, 4] });
  expect(response).toMatchObject({ model_name: 'iris', id: 'grpc-1' });
  expect(response.outputs.map((o: any) => o.name).sort()).toEqual(res.outputs.map((o: any) => o.name).sort());
});

test.each([
  ['request', PAYLOAD_LOG_EVENT_TYPES.request],
  ['response', PAYLOAD_LOG_EVENT_TYPES.response],
])('mode %s: only %s events are sent', async (mode, type) => {
  const { sink: s, url } = await sink();
  const { port } = await serve(url, '--payload-log-mode', mode);
  expect((await v1(port)).status).toBe(200);
  expect((await v2(port)).status).toBe(200);
  await until(() => s.events.length >= 2);
  await settled(port);
  // Settled: every event the two calls made has been sent, and there were exactly two.
  expect(s.events.map((e) => e.headers['ce-type'])).toEqual([type, type]);
  expect(await metric(port, METRICS.payloadLogEventsSentTotal)).toBe(2);
});

test('a failed inference logs its request but no response (as KServe)', async () => {
  const { sink: s, url } = await sink();
  const { port } = await serve(url);
  const bad = await request(port, 'POST', '/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });
  expect(bad.status).toBe(400);
  await until(() => s.events.length >= 1);
  await settled(port);
  expect(s.events.map((e) => e.headers['ce-type'])).toEqual([PAYLOAD_LOG_EVENT_TYPES.request]);
});

test('a sink that is down: inference still answers 200, every event is dropped as send_failed', async () => {
  const { sink: s, url } = await sink();
  await s.stop(); // nothing listens on its port any more
  const { port } = await serve(url);
  for (let i = 0; i < 3; i++) expect((await v2(port)).status).toBe(200);
  await settled(port);
  expect(await metric(port, METRICS.payloadLogEventsDroppedTotal, 'send_failed')).toBe(6);
  expect(await metric(port, METRICS.payloadLogEventsSentTotal)).toBe(0);
});

test('a sink that hangs: inference unaffected, the queue stays at its bound and the rest is dropped as queue_full', async () => {
  const { sink: s, url } = await sink(true);
  const queueSize = 3;
  const { port } = await serve(url, '--payload-log-queue-size', String(queueSize), '--payload-log-timeout-ms', '600000');
  const calls = 5; // 10 events: PAYLOAD_LOG_SENDERS being sent (forever), queueSize waiting, the rest dropped
  for (let i = 0; i < calls; i++) expect((await v2(port)).status).toBe(200);
  expect(await metric(port, METRICS.payloadLogEventsPending)).toBe(PAYLOAD_LOG_SENDERS + queueSize);
  expect(await metric(port, METRICS.payloadLogEventsDroppedTotal, 'queue_full')).toBe(2 * calls - PAYLOAD_LOG_SENDERS - queueSize);
  await until(() => s.received === PAYLOAD_LOG_SENDERS);
  // Still answering while the sink hangs; each new event is dropped, the queue does not grow.
  expect((await v1(port)).status).toBe(200);
  expect(await metric(port, METRICS.payloadLogEventsPending)).toBe(PAYLOAD_LOG_SENDERS + queueSize);
  expect(await metric(port, METRICS.payloadLogEventsDroppedTotal, 'queue_full')).toBe(2 * calls + 2 - PAYLOAD_LOG_SENDERS - queueSize);
  expect(await metric(port, METRICS.payloadLogEventsSentTotal)).toBe(0);
});

test('a sink that times out: the event is dropped as timeout, no retry', async () => {
  const { sink: s, url } = await sink(true);
  const { port } = await serve(url, '--payload-log-mode', 'request', '--payload-log-timeout-ms', '50');
  expect((await v2(port)).status).toBe(200);
  await settled(port);
  expect(await metric(port, METRICS.payloadLogEventsDroppedTotal, 'timeout')).toBe(1);
  expect(await metric(port, METRICS.payloadLogEventsSentTotal)).toBe(0);
  // No retry: the sink saw the event at most once (the timeout may fire before the request reaches it).
  expect(s.received).toBeLessThanOrEqual(1);
});

describe('configuration', () => {
  test('off without --payload-log-url; defaults when set', () => {
    expect(parseConfig([], {}).payloadLog).toBeUndefined();
    expect(parseConfig([], { PAYLOAD_LOG_URL: 'http://sink/' }).payloadLog).toEqual({
      url: 'http://sink/', mode: 'all', queueSize: 256, timeoutMs: 5000, namespace: '', endpoint: '', component: 'predictor', sampleRate: 1,
    });
  });
  test('bad values are refused, naming the flag', () => {
    expect(() => parseConfig(['--payload-log-url', 'ftp://x'], {})).toThrow("'--payload-log-url' (PAYLOAD_LOG_URL) must be an http:// or https:// URL, got 'ftp://x'");
    expect(() => parseConfig(['--payload-log-url', 'http://x', '--payload-log-mode', 'both'], {})).toThrow("'--payload-log-mode' (PAYLOAD_LOG_MODE)");
    expect(() => parseConfig(['--payload-log-url', 'http://x', '--payload-log-queue-size', '0'], {})).toThrow("'--payload-log-queue-size' (PAYLOAD_LOG_QUEUE_SIZE)");
  });
  test('--help lists the payload-log flags', () => {
    for (const flag of ['--payload-log-url', '--payload-log-mode', '--payload-log-queue-size', '--payload-log-timeout-ms']) {
      expect(serveHelp()).toContain(flag);
    }
  });
});
