/**
 * `serve --mode agent` (src/server/agent) as a real process in front of a real runtime on loopback:
 * our own server here (V1 and V2), MLServer in test/runtimes/agent-mlserver.test.ts. Batching is
 * made deterministic without timing: the batch latency is a minute and `--max-batch-size` equals
 * the rows sent, so the batch leaves when the last request arrives; the agent's batch metrics say
 * how many upstream requests were made. Fakes say so in their names.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { expected, metricSamples, MODELS, request, RunningServer, startServer } from './server-harness';
import { AGENT, METRICS, PAYLOAD_LOG_EVENT_TYPES } from '../../src/contract';
import { ConfigError, parseConfig } from '../../src/server/config';

const IRIS = expected('iris-logreg');
const ROWS: number[][] = IRIS.v1_request.instances;
const servers: RunningServer[] = [];
const closers: Array<() => Promise<void>> = [];

async function upstreamServer(): Promise<RunningServer> {
  const s = await startServer(['--model-dir', `${MODELS}/iris-logreg.onnx`, '--model-name', 'iris']);
  servers.push(s);
  return s;
}

async function agent(upstreamPort: number, ...flags: string[]): Promise<RunningServer> {
  const s = await startServer(['--mode', 'agent', '--agent-upstream', `http://127.0.0.1:${upstreamPort}`, '--model-name', 'iris', ...flags]);
  servers.push(s);
  return s;
}

/** A loopback HTTP server; returns its port. */
async function listen(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as AddressInfo).port;
}

interface SinkEvent { headers: http.IncomingHttpHeaders; body: any }

/** A real CloudEvents sink on loopback that records every event. */
async function sink(): Promise<{ url: string; events: SinkEvent[] }> {
  const events: SinkEvent[] = [];
  const port = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      events.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(200).end();
    });
  });
  return { url: `http://127.0.0.1:${port}/events`, events };
}

async function agentMetric(port: number, name: string): Promise<Map<string, number>> {
  return metricSamples((await request(port, 'GET', '/metrics')).text, name);
}

function v2Body(rows: number[][], id?: string) {
  return { ...(id ? { id } : {}), inputs: [{ name: 'input', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }] };
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all(closers.map((c) => c()));
});

describe('agent configuration', () => {
  test('--mode agent needs --agent-upstream, an http:// URL, and listens on the agent port by default', () => {
    expect(() => parseConfig(['--mode', 'agent'])).toThrow(ConfigError);
    expect(() => parseConfig(['--mode', 'agent'])).toThrow(/--agent-upstream.*http:\/\/127\.0\.0\.1:8080/);
    expect(() => parseConfig(['--mode', 'agent', '--agent-upstream', 'https://x:1'])).toThrow(/must be an http:\/\/ URL/);
    expect(() => parseConfig(['--mode', 'agent', '--agent-upstream', 'http://x:1', '--max-batch-latency-ms', '-1'])).toThrow(/--max-batch-latency-ms/);
    expect(() => parseConfig(['--agent-upstream', 'http://x:1'])).toThrow(/--mode agent only/);
    const c = parseConfig(['--mode', 'agent'], { AGENT_UPSTREAM: 'http://127.0.0.1:8080', MAX_BATCH_LATENCY_MS: '10' });
    expect(c.agent).toEqual({ upstream: { host: '127.0.0.1', port: 8080, url: 'http://127.0.0.1:8080' }, maxBatchLatencyMs: 10 });
    expect(c.httpPort).toBe(AGENT.port);
  });
});

describe('agent in front of our server (real processes)', () => {
  let up: RunningServer;
  beforeAll(async () => {
    up = await upstreamServer();
  });

  test('passes every path through: health, metadata, V1 and V2 answers equal the runtime\'s, its 404 too', async () => {
    const a = await agent(up.port);
    for (const [method, path, body] of [
      ['GET', '/v2/health/ready', undefined], ['GET', '/v2/models/iris', undefined], ['GET', '/v2/models/iris/ready', undefined],
      ['POST', '/v1/models/iris:predict', { instances: ROWS }], ['POST', '/v2/models/iris/infer', v2Body(ROWS, 'req-1')],
      ['GET', '/v2/models/nope', undefined], ['POST', '/v2/models/iris/infer', { inputs: [{ name: 'wrong', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }],
    ] as Array<[string, string, unknown]>) {
      const direct = await request(up.port, method, path, body);
      const via = await request(a.port, method, path, body);
      expect({ path, status: via.status, body: via.body }).toEqual({ path, status: direct.status, body: direct.body });
    }
    // The request metrics count what went through, by model, protocol and status.
    const total = await agentMetric(a.port, METRICS.requestsTotal);
    expect(total.get('{model="iris",protocol="v1",code="200"}')).toBe(1);
    expect(total.get('{model="iris",protocol="v2",code="200"}')).toBe(3);
    expect(total.get('{model="_other",protocol="v2",code="404"}')).toBe(1);
    expect(total.get('{model="iris",protocol="v2",code="400"}')).toBe(1);
  }, 60_000);

  test('V1: concurrent :predict requests become one upstream request; each gets its own predictions in order', async () => {
    const a = await agent(up.port, '--max-batch-latency-ms', '60000', '--max-batch-size', '8');
    const parts = [ROWS.slice(0, 2), ROWS.slice(2, 3), ROWS.slice(0, 1), ROWS.slice(1, 5)];
    const direct = await Promise.all(parts.map((p) => request(up.port, 'POST', '/v1/models/iris:predict', { instances: p })));
    const via = await Promise.all(parts.map((p, i) => request(a.port, 'POST', '/v1/models/iris:predict', { instances: p }, { 'x-request-id': `client-${i}` })));
    expect(via.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(via.map((r) => r.headers['x-request-id'])).toEqual(['client-0', 'client-1', 'client-2', 'client-3']);
    expect(via.map((r) => r.body)).toEqual(direct.map((r) => r.body));
    const batches = await agentMetric(a.port, AGENT.batchesMetric);
    expect(batches.get('{model="iris",protocol="v1"}')).toBe(1);
    expect((await agentMetric(a.port, `${AGENT.batchSizeMetric}_sum`)).get('{model="iris",protocol="v1"}')).toBe(8);
  }, 60_000);

  test('V2: inputs are joined along dim 0 and outputs split back, each answer with its own id', async () => {
    const a = await agent(up.port, '--max-batch-latency-ms', '60000', '--max-batch-size', '6');
    const parts = [ROWS.slice(0, 1), ROWS.slice(1, 3), ROWS.slice(2, 5)];
    const direct = await Promise.all(parts.map((p, i) => request(up.port, 'POST', '/v2/models/iris/infer', v2Body(p, `id-${i}`))));
    const via = await Promise.all(parts.map((p, i) => request(a.port, 'POST', '/v2/models/iris/infer', v2Body(p, `id-${i}`))));
    expect(via.map((r) => r.body)).toEqual(direct.map((r) => r.body));
    expect(via.map((r) => r.body.id)).toEqual(['id-0', 'id-1', 'id-2']);
    expect((await agentMetric(a.port, AGENT.batchesMetric)).get('{model="iris",protocol="v2"}')).toBe(1);
  }, 60_000);

  test('V2: requests whose inputs do not match (datatype, trailing shape) are sent alone', async () => {
    const a = await agent(up.port, '--max-batch-latency-ms', '20', '--max-batch-size', '64');
    const fp32 = v2Body(ROWS.slice(0, 2));
    const fp64 = { inputs: [{ ...fp32.inputs[0], datatype: 'FP64' }] };
    const [x, y] = await Promise.all([request(a.port, 'POST', '/v2/models/iris/infer', fp32), request(a.port, 'POST', '/v2/models/iris/infer', fp64)]);
    expect(x.body).toEqual((await request(up.port, 'POST', '/v2/models/iris/infer', fp32)).body);
    const yDirect = await request(up.port, 'POST', '/v2/models/iris/infer', fp64);
    expect({ status: y.status, body: y.body }).toEqual({ status: yDirect.status, body: yDirect.body });
    expect((await agentMetric(a.port, AGENT.batchesMetric)).get('{model="iris",protocol="v2"}')).toBe(2);
  }, 60_000);

  test('a runtime error fails every request of the batch with the runtime\'s status and body', async () => {
    const a = await agent(up.port, '--max-batch-latency-ms', '60000', '--max-batch-size', '2');
    const bad = { inputs: [{ name: 'wrong', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] };
    const direct = await request(up.port, 'POST', '/v2/models/iris/infer', bad);
    const via = await Promise.all([request(a.port, 'POST', '/v2/models/iris/infer', bad), request(a.port, 'POST', '/v2/models/iris/infer', bad)]);
    expect(direct.status).toBe(400);
    for (const r of via) expect({ status: r.status, code: r.body.code }).toEqual({ status: 400, code: direct.body.code });
    expect((await agentMetric(a.port, AGENT.batchesMetric)).get('{model="iris",protocol="v2"}')).toBe(1);
  }, 60_000);

  test('payload logging: a request and a response event per client request (not per batch), ids matching', async () => {
    const s = await sink();
    const a = await agent(up.port, '--max-batch-latency-ms', '60000', '--max-batch-size', '3', '--payload-log-url', s.url);
    const parts = [ROWS.slice(0, 1), ROWS.slice(1, 3)];
    const via = await Promise.all(parts.map((p) => request(a.port, 'POST', '/v1/models/iris:predict', { instances: p })));
    for (let i = 0; i < 100 && s.events.length < 4; i++) await new Promise((r) => setTimeout(r, 50));
    expect(s.events).toHaveLength(4);
    const requests = s.events.filter((e) => e.headers['ce-type'] === PAYLOAD_LOG_EVENT_TYPES.request);
    const responses = s.events.filter((e) => e.headers['ce-type'] === PAYLOAD_LOG_EVENT_TYPES.response);
    expect(requests.map((e) => e.body.instances.length).sort()).toEqual([1, 2]);
    for (const req of requests) {
      const res = responses.find((e) => e.headers['ce-id'] === req.headers['ce-id'])!;
      expect(res).toBeDefined();
      const answer = via[parts.findIndex((p) => p.length === req.body.instances.length)].body;
      expect(res.body).toEqual(answer);
      expect(req.headers['ce-inferenceservicename']).toBe('iris');
    }
    expect(new Set(s.events.map((e) => e.headers['ce-id'])).size).toBe(2);
  }, 60_000);

  test('a body over --max-body-bytes is a 413 JSON error and never reaches the runtime', async () => {
    const a = await agent(up.port, '--max-body-bytes', '1024');
    const upstreamRequests = async () => [...metricSamples((await request(up.port, 'GET', '/metrics')).text, METRICS.requestsTotal).values()].reduce((x, y) => x + y, 0);
    const before = await upstreamRequests();
    const big = { instances: Array.from({ length: 200 }, () => ROWS[0]) };
    const r = await request(a.port, 'POST', '/v1/models/iris:predict', big);
    expect(r.status).toBe(413);
    expect(r.body.code).toBe('MS_ERR_BODY_TOO_LARGE');
    expect(await upstreamRequests()).toBe(before);
  }, 60_000);
});

describe('agent with a runtime that is down or misbehaves', () => {
  test('runtime down: 502 JSON naming the runtime, readiness not 2xx', async () => {
    const port = await listen(() => undefined);
    await closers.pop()!();
    const a = await agent(port);
    const r = await request(a.port, 'POST', '/v2/models/iris/infer', v2Body(ROWS));
    expect(r.status).toBe(502);
    expect(r.body).toEqual({ code: 'MS_ERR_UPSTREAM_UNREACHABLE', error: expect.stringContaining(`http://127.0.0.1:${port}`) });
    expect((await request(a.port, 'GET', '/v2/health/ready')).status).toBe(502);
  }, 60_000);

  test('FAKE runtime answering too few predictions: 502 naming the problem for every request of the batch', async () => {
    const port = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString());
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ predictions: body.instances.slice(1) }));
      });
    });
    const a = await agent(port, '--max-batch-latency-ms', '60000', '--max-batch-size', '3');
    const via = await Promise.all([request(a.port, 'POST', '/v1/models/iris:predict', { instances: [[1]] }), request(a.port, 'POST', '/v1/models/iris:predict', { instances: [[2], [3]] })]);
    for (const r of via) {
      expect(r.status).toBe(502);
      expect(r.body.code).toBe('MS_ERR_UPSTREAM_BATCH_MISMATCH');
      expect(r.body.error).toContain('2 predictions for 3 instances');
    }
  }, 60_000);

  test('FAKE runtime answering more than --max-body-bytes: 502, the answer is not buffered whole', async () => {
    const port = await listen((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ blob: 'x'.repeat(64 * 1024) }));
    });
    const a = await agent(port, '--max-body-bytes', '4096');
    const r = await request(a.port, 'GET', '/v2/models/iris');
    expect(r.status).toBe(502);
    expect(r.body.code).toBe('MS_ERR_UPSTREAM_ANSWER_TOO_LARGE');
  }, 60_000);

  test('FAKE runtime that never answers: 504 JSON after --request-timeout-ms', async () => {
    const port = await listen((req) => req.resume());
    const a = await agent(port, '--request-timeout-ms', '300');
    const r = await request(a.port, 'POST', '/v1/models/iris:predict', { instances: ROWS });
    expect(r.status).toBe(504);
    expect(r.body).toEqual({ code: 'MS_ERR_UPSTREAM_TIMEOUT', error: expect.stringContaining('did not answer within 300 ms') });
  }, 60_000);
});

describe('agent shutdown', () => {
  test('on SIGTERM its readiness answers 503 at once, while it still forwards until the listener closes', async () => {
    const up = await upstreamServer();
    const a = await agent(up.port, '--shutdown-delay-ms', '10000');
    expect((await request(a.port, 'GET', '/v2/health/ready')).status).toBe(200);
    a.proc.kill('SIGTERM');
    const deadline = Date.now() + 5000;
    while (!a.logs.some((l) => l.event === 'draining') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const ready = await request(a.port, 'GET', '/v2/health/ready');
    expect({ status: ready.status, code: ready.body.code }).toEqual({ status: 503, code: 'MS_ERR_MODEL_NOT_READY' });
    expect((await request(a.port, 'POST', '/v1/models/iris:predict', { instances: ROWS })).status).toBe(200);
    a.proc.kill('SIGKILL');
  }, 60_000);
});
