/**
 * `serve --mode router` end to end: real router and model-server processes on loopback (the
 * bundled server, test/server/server-harness.ts), plus small loopback HTTP upstreams for what a
 * model server cannot do on demand (echo a body, answer slowly, fail, answer too much); each is
 * named for what it does. Graph specs use KServe's InferenceGraph field names (src/contract/graph-spec.ts).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, expected, metricSamples, modelDir, request, Response, RunningServer, SERVER_NODE, startServer } from './server-harness';
import { GRAPH, GRAPH_ROUTER, METRICS, PAYLOAD_LOG_EVENT_TYPES } from '../../src/contract';
import { GraphSpec } from '../../src/contract/graph-spec';

const IRIS = expected('iris-logreg');
const V2 = IRIS.v2_request;
const V1 = IRIS.v1_request;
const MODELS = { 'iris-logreg.onnx': 'iris-logreg.onnx', 'iris-mlp.onnx': 'iris-mlp.onnx' };

/**
 * Loopback upstreams: POST /echo answers the body it got; /slow/<ms> the same after <ms>; /fail a
 * 503 JSON error; /big 64 KiB of JSON. The headers of the last /echo request are kept.
 */
class LoopbackUpstreams {
  public lastEchoHeaders: http.IncomingHttpHeaders = {};
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const answer = (status: number, bytes: Buffer | string) => {
        if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end(bytes);
      };
      const slow = /^\/slow\/(\d+)$/.exec(req.url ?? '');
      if (req.url === '/echo') {
        this.lastEchoHeaders = req.headers;
        answer(200, body);
      } else if (slow) {
        setTimeout(() => answer(200, body), Number(slow[1]));
      } else if (req.url === '/fail') {
        answer(503, '{"error":"upstream down"}');
      } else if (req.url === '/big') {
        answer(200, JSON.stringify({ filler: 'x'.repeat(64 * 1024) }));
      } else {
        answer(404, '{}');
      }
    });
  });
  public base = '';
  public async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  public async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const upstreams = new LoopbackUpstreams();
const started: RunningServer[] = [];
let tmp: string;
let models: string;
let model: RunningServer;
let modelUrl: (path: string) => string;
let specFiles = 0;

/** A router process serving `spec` (with `args`), registered for stopping. */
async function router(spec: GraphSpec, ...args: string[]): Promise<RunningServer> {
  const file = path.join(tmp, `graph-${specFiles++}.json`);
  fs.writeFileSync(file, JSON.stringify(spec));
  const server = await startServer(['--mode', 'router', GRAPH.specFlag, file, '--model-name', 'g', ...args]);
  started.push(server);
  return server;
}

const post = (server: RunningServer, body: unknown, headers: Record<string, string> = {}) => request(server.port, 'POST', GRAPH.path, body, headers);

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'router-'));
  models = modelDir(MODELS);
  await upstreams.start();
  model = await startServer(['--mode', 'multi', '--model-dir', models]);
  started.push(model);
  modelUrl = (p) => `http://127.0.0.1:${model.port}${p}`;
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  await upstreams.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(models, { recursive: true, force: true });
});

const direct = (p: string, body: unknown) => request(model.port, 'POST', p, body);
const LOGREG_V2 = '/v2/models/iris-logreg/infer';
const MLP_V2 = '/v2/models/iris-mlp/infer';
const LOGREG_V1 = '/v1/models/iris-logreg:predict';

describe('router kinds', () => {
  test('Sequence: $response feeds the previous answer, headers are propagated, the answer is the last step\'s', async () => {
    const r = await router({
      nodes: {
        root: {
          routerType: 'Sequence',
          steps: [
            { name: 'logreg', serviceUrl: modelUrl(LOGREG_V2) },
            { name: 'echo', serviceUrl: `${upstreams.base}/echo`, data: '$response' },
          ],
        },
      },
    });
    const got = await post(r, V2, { 'traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x-request-id': 'req-1', 'x-private': 'no' });
    const want = await direct(LOGREG_V2, V2);
    expect(got.status).toBe(200);
    expect(got.raw.equals(want.raw)).toBe(true);
    expect(got.headers['x-request-id']).toBe('req-1');
    expect(upstreams.lastEchoHeaders['x-request-id']).toBe('req-1');
    expect(upstreams.lastEchoHeaders.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(upstreams.lastEchoHeaders['x-private']).toBeUndefined();
  });

  test('Sequence: a step without data gets the graph\'s request, as in KServe', async () => {
    const r = await router({
      nodes: {
        root: {
          routerType: 'Sequence',
          steps: [
            { name: 'logreg', serviceUrl: modelUrl(LOGREG_V2) },
            { name: 'echo', serviceUrl: `${upstreams.base}/echo` },
          ],
        },
      },
    });
    expect((await post(r, V2)).body).toEqual(V2);
  });

  test('Switch: the first step whose condition finds a value in the request; none is KServe\'s 404', async () => {
    const r = await router({
      nodes: {
        root: {
          routerType: 'Switch',
          steps: [
            { name: 'v1', serviceUrl: modelUrl(LOGREG_V1), condition: 'instances' },
            { name: 'v2', serviceUrl: modelUrl(MLP_V2), condition: 'inputs.#(name=="input")' },
          ],
        },
      },
    });
    const v1 = await post(r, V1);
    expect(v1.raw.equals((await direct(LOGREG_V1, V1)).raw)).toBe(true);
    const v2 = await post(r, V2);
    expect(v2.raw.equals((await direct(MLP_V2, V2)).raw)).toBe(true);
    const none = await post(r, { other: 1 });
    expect(none.status).toBe(404);
    expect(none.body).toEqual({ error: 'Failed to process request', cause: 'None of the routes matched with the switch condition', node: 'root' });
  });

  test('Ensemble: every step on the request, the answers merged under the step names', async () => {
    const r = await router({
      nodes: {
        root: {
          routerType: 'Ensemble',
          steps: [
            { name: 'logreg', serviceUrl: modelUrl(LOGREG_V2) },
            { name: 'mlp', serviceUrl: modelUrl(MLP_V2) },
          ],
        },
      },
    });
    const got = await post(r, V2);
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ logreg: (await direct(LOGREG_V2, V2)).body, mlp: (await direct(MLP_V2, V2)).body });
  });

  test('Splitter: a step with weight 100 gets every request, one with 0 none (the draw itself: router-executor.test.ts)', async () => {
    const r = await router({
      nodes: {
        root: {
          routerType: 'Splitter',
          steps: [
            { name: 'never', serviceUrl: `${upstreams.base}/fail`, weight: 0 },
            { name: 'always', serviceUrl: modelUrl(MLP_V2), weight: 100 },
          ],
        },
      },
    });
    const want = await direct(MLP_V2, V2);
    for (let i = 0; i < 5; i++) {
      expect((await post(r, V2)).raw.equals(want.raw)).toBe(true);
    }
  });

  test('nested nodes: a Sequence step runs another node', async () => {
    const r = await router({
      nodes: {
        root: { routerType: 'Sequence', steps: [{ name: 'echo', serviceUrl: `${upstreams.base}/echo` }, { name: 'both', nodeName: 'both', data: '$response' }] },
        both: { routerType: 'Ensemble', steps: [{ name: 'logreg', serviceUrl: modelUrl(LOGREG_V2) }] },
      },
    });
    expect((await post(r, V2)).body).toEqual({ logreg: (await direct(LOGREG_V2, V2)).body });
  });
});

describe('timeouts', () => {
  test('a step slower than its timeoutMs: 504 JSON naming the step', async () => {
    const r = await router({ nodes: { root: { routerType: 'Sequence', steps: [{ name: 'slow', serviceUrl: `${upstreams.base}/slow/5000`, timeoutMs: 200 }] } } });
    const got = await post(r, { q: 1 });
    expect(got.status).toBe(504);
    expect(got.body).toMatchObject({ node: 'root', step: 'slow' });
    expect(got.body.error).toContain('did not answer within 200 ms');
  });

  test('the graph slower than its timeoutMs: 504 naming the step still running', async () => {
    const r = await router({
      timeoutMs: 400,
      nodes: {
        root: {
          routerType: 'Sequence',
          steps: [
            { name: 'first', serviceUrl: `${upstreams.base}/slow/250` },
            { name: 'second', serviceUrl: `${upstreams.base}/slow/5000` },
          ],
        },
      },
    });
    const got = await post(r, { q: 1 });
    expect(got.status).toBe(504);
    expect(got.body.error).toBe('the graph did not answer within 400 ms');
    expect(got.body.step).toBe('second');
    expect(got.body.cause).toBe('steps still running: second');
  });

  test('a slow soft step past its timeout is left out; the graph answers', async () => {
    const r = await router({
      nodes: {
        root: {
          routerType: 'Ensemble',
          steps: [
            { name: 'logreg', serviceUrl: modelUrl(LOGREG_V2) },
            { name: 'slow', serviceUrl: `${upstreams.base}/slow/5000`, timeoutMs: 200, dependency: 'Soft' },
          ],
        },
      },
    });
    const got = await post(r, V2);
    expect(got.status).toBe(200);
    expect(got.headers[GRAPH.failedStepsHeader]).toBe('slow');
    expect(got.body.logreg).toEqual((await direct(LOGREG_V2, V2)).body);
    expect(got.body[GRAPH_ROUTER.failedStepsField]).toEqual([{ node: 'root', step: 'slow', status: 504, reason: expect.stringContaining('did not answer within 200 ms') }]);
  });
});

describe('soft and hard failures', () => {
  const steps = (dependency: 'Hard' | 'Soft') => ({
    nodes: {
      root: {
        routerType: 'Sequence' as const,
        steps: [
          { name: 'logreg', serviceUrl: modelUrl(LOGREG_V2) },
          { name: 'down', serviceUrl: `${upstreams.base}/fail`, data: '$request' as const, dependency },
        ],
      },
    },
  });

  test('Soft: the graph answers without the step; header and body field say which and why', async () => {
    const r = await router(steps('Soft'));
    const got = await post(r, V2);
    expect(got.status).toBe(200);
    expect(got.headers[GRAPH.failedStepsHeader]).toBe('down');
    const { [GRAPH_ROUTER.failedStepsField]: failed, ...answer } = got.body;
    expect(answer).toEqual((await direct(LOGREG_V2, V2)).body);
    expect(failed).toEqual([{ node: 'root', step: 'down', status: 503, reason: "step 'down' of node 'root' answered 503" }]);
  });

  test('Hard: a JSON error naming the step, with the upstream status and answer', async () => {
    const r = await router(steps('Hard'));
    const got = await post(r, V2);
    expect(got.status).toBe(503);
    expect(got.headers[GRAPH.failedStepsHeader]).toBeUndefined();
    expect(got.body).toEqual({ error: "step 'down' of node 'root' answered 503", cause: '{"error":"upstream down"}', node: 'root', step: 'down', status: 503 });
  });

  test('an unreachable hard step: 502 naming the step', async () => {
    const r = await router({ nodes: { root: { routerType: 'Sequence', steps: [{ name: 'gone', serviceUrl: 'http://127.0.0.1:1/v2/models/x/infer' }] } } });
    const got = await post(r, V2);
    expect(got.status).toBe(502);
    expect(got.body).toMatchObject({ node: 'root', step: 'gone' });
    expect(got.body.error).toContain('could not be reached');
  });
});

describe('in process', () => {
  // The same graph twice: steps calling the model server over HTTP, and steps naming models the
  // router loaded itself. Every answer (status, type, bytes) must be the same.
  const graph = (step: (name: string, model: string, p: string) => object): GraphSpec => ({
    nodes: {
      root: {
        routerType: 'Sequence',
        steps: [
          step('a', 'iris-logreg', LOGREG_V2),
          { ...step('b', 'iris-mlp', MLP_V2), data: '$request' },
          { ...step('c', 'iris-logreg', LOGREG_V2), data: '$request' },
        ] as GraphSpec['nodes'][string]['steps'],
      },
    },
  });
  let networked: RunningServer;
  let inProcess: RunningServer;
  let networkedV1: RunningServer;
  let inProcessV1: RunningServer;

  beforeAll(async () => {
    [networked, inProcess, networkedV1, inProcessV1] = await Promise.all([
      router(graph((name, _m, p) => ({ name, serviceUrl: modelUrl(p) }))),
      router(graph((name, m) => ({ name, model: m })), '--model-dir', models),
      router({ nodes: { root: { routerType: 'Ensemble', steps: [{ name: 'v1', serviceUrl: modelUrl(LOGREG_V1) }] } } }),
      router({ nodes: { root: { routerType: 'Ensemble', steps: [{ name: 'v1', model: 'iris-logreg' }] } } }, '--model-dir', models),
    ]);
  });

  const same = (a: Response, b: Response) => {
    expect(a.status).toBe(b.status);
    expect(a.headers['content-type']).toBe(b.headers['content-type']);
    expect(a.text).toBe(b.text);
  };

  test('a 3-step Sequence answers the same bytes in process and over the network', async () => {
    const a = await post(networked, V2);
    const b = await post(inProcess, V2);
    expect(a.status).toBe(200);
    same(a, b);
    expect(a.raw.equals((await direct(LOGREG_V2, V2)).raw)).toBe(true);
  });

  test('V1 bodies and bad requests answer the same in process and over the network', async () => {
    same(await post(networkedV1, V1), await post(inProcessV1, V1));
    const bad = { inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] };
    const a = await post(networked, bad);
    expect(a.status).toBe(400);
    same(a, await post(inProcess, bad));
  });

  test('a step naming a model the router does not hold is refused at start', async () => {
    const file = path.join(tmp, 'missing-model.json');
    fs.writeFileSync(file, JSON.stringify({ nodes: { root: { routerType: 'Sequence', steps: [{ name: 'a', model: 'nope' }] } } }));
    const out = await runToExit(['--mode', 'router', GRAPH.specFlag, file, '--model-dir', models, '--http-port', '0']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain("node 'root' step 'a' names model 'nope'");
    expect(out.stderr).toContain('iris-logreg');
  });
});

describe('bad input', () => {
  test('a bad spec is refused at start, every problem named', async () => {
    const file = path.join(tmp, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({
      nodes: {
        root: { routerType: 'Splitter', steps: [{ name: 'a', serviceUrl: 'http://x/', weight: 60 }, { name: 'b', nodeName: 'loop', weight: 30 }] },
        loop: { routerType: 'Switch', steps: [{ name: 'back', nodeName: 'root', condition: 'a.#(b==' }] },
      },
    }));
    const out = await runToExit(['--mode', 'router', GRAPH.specFlag, file, '--http-port', '0']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('is not valid');
    expect(out.stderr).toContain('Splitter weights sum to 90');
    expect(out.stderr).toContain('cycle: root -> loop -> root');
    expect(out.stderr).toContain('does not parse at position 7');
  });

  test('a spec that is not there or not JSON is refused at start', async () => {
    const missing = await runToExit(['--mode', 'router', GRAPH.specFlag, path.join(tmp, 'none.json'), '--http-port', '0']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read the graph spec');
    const file = path.join(tmp, 'not-json.json');
    fs.writeFileSync(file, '{nodes');
    const notJson = await runToExit(['--mode', 'router', GRAPH.specFlag, file, '--http-port', '0']);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain('is not JSON');
  });

  test('a body over --max-body-bytes is a 413; a step answering more than that is a 502 naming it', async () => {
    const r = await router({ nodes: { root: { routerType: 'Sequence', steps: [{ name: 'big', serviceUrl: `${upstreams.base}/big` }] } } }, '--max-body-bytes', '4096');
    const tooBig = await post(r, { filler: 'x'.repeat(8192) });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error).toBeDefined();
    const answer = await post(r, { q: 1 });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ step: 'big', node: 'root' });
    expect(answer.body.error).toContain('more than 4096 bytes');
  });
});

test('health, readiness and metrics: the graph and each step under the graph protocol', async () => {
  const r = await router({ nodes: { root: { routerType: 'Sequence', steps: [{ name: 'logreg', serviceUrl: modelUrl(LOGREG_V2) }] } } });
  expect((await request(r.port, 'GET', '/v2/health/live')).status).toBe(200);
  expect((await request(r.port, 'GET', '/v2/health/ready')).body).toEqual({ ready: true });
  await post(r, V2);
  const text = (await request(r.port, 'GET', '/metrics')).text;
  const total = metricSamples(text, METRICS.requestsTotal);
  expect(total.get('{model="g",protocol="graph",code="200"}')).toBe(1);
  expect(total.get('{model="g/logreg",protocol="graph",code="200"}')).toBe(1);
});

test('payload logging: the graph\'s request and answer reach a loopback sink as CloudEvents under one id', async () => {
  const events: Array<{ headers: http.IncomingHttpHeaders; body: unknown }> = [];
  const sink = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      events.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/events`;
    const r = await router({ nodes: { root: { routerType: 'Sequence', steps: [{ name: 'logreg', serviceUrl: modelUrl(LOGREG_V2) }] } } }, '--payload-log-url', url);
    const answer = await post(r, V2);
    for (let i = 0; i < 500 && events.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const byType = (t: string) => events.find((e) => e.headers['ce-type'] === t)!;
    const req = byType(PAYLOAD_LOG_EVENT_TYPES.request);
    const res = byType(PAYLOAD_LOG_EVENT_TYPES.response);
    expect(req.body).toEqual(V2);
    expect(res.body).toEqual(answer.body);
    expect(req.headers['ce-id']).toBe(res.headers['ce-id']);
    expect(req.headers['ce-inferenceservicename']).toBe('g');
  } finally {
    sink.closeAllConnections();
    await new Promise((resolve) => sink.close(resolve));
  }
});

/** Runs `serve` with `args` until it exits (a start-up that fails). */
function runToExit(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(SERVER_NODE, [CLI, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    proc.on('exit', (code) => resolve({ code, stderr }));
  });
}
