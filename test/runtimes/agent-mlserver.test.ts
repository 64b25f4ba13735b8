// The agent sidecar in front of a real MLServer (issue 18 part 3): the pod is synthesized with
// `runtime: ServingRuntime.MLSERVER`, `batcher` and `logger`; MLServer runs from the runtimes venv as
// the runtime harness starts it (the model fetched by the synthesized storage initializer), and the
// agent runs as a real process with the synthesized sidecar's own args (ports mapped to loopback).
// The sklearn model is trained in the test with a fixed seed (random_state=0): the pickle in
// ../shared/models is tied to scikit-learn 1.2.1, not the venv's. Batching is asserted from the
// agent's batch metrics, never from timing.
import { mkdtempSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Chart, Duration, Testing } from 'cdk8s';
import { podSpecOf, python, runtimesVenv, startRuntime, StartedRuntime } from './runtime-harness';
import { DeploymentMode, ModelEndpoint, ModelFormat, ServingRuntime, StorageUri } from '../../src';
import { AGENT, PAYLOAD_LOG_EVENT_TYPES } from '../../src/contract';
import { expectClose, metricSamples, request, RunningServer, startServer } from '../server/server-harness';

const FIXTURE = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'models', 'iris-logreg.expected.json'), 'utf8'));
const ROWS: number[][] = FIXTURE.v1_request.instances;
const venv = runtimesVenv();
const maybe = venv ? describe : describe.skip;

const TRAIN = `
import sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
joblib.dump(LogisticRegression(max_iter=1000, random_state=0).fit(X, y), sys.argv[1])
`;

interface SinkEvent { headers: http.IncomingHttpHeaders; body: any }

function v2(rows: number[][], id: string) {
  return { id, inputs: [{ name: 'input-0', shape: [rows.length, 4], datatype: 'FP64', data: rows.flat() }], outputs: [{ name: 'predict' }, { name: 'predict_proba' }] };
}

maybe('the agent sidecar in front of a real MLServer (venv runtimes)', () => {
  let files: http.Server;
  let sink: http.Server;
  let sinkUrl: string;
  const events: SinkEvent[] = [];
  let mlserver: StartedRuntime;
  let agentArgs: string[];
  const agents: RunningServer[] = [];

  /** The synthesized agent, started against MLServer's loopback port; `override` replaces flag values. */
  async function agent(override: Record<string, string> = {}): Promise<RunningServer> {
    const args = agentArgs.slice(1).map((a, i, all) => override[all[i - 1]] ?? a);
    const s = await startServer(args.map((a) => (a === String(AGENT.port) ? '0' : a)));
    agents.push(s);
    return s;
  }

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'agent-mlserver-'));
    await python(venv!, TRAIN, [path.join(dir, 'model.joblib')]);
    files = http.createServer((req, res) => {
      const body = readFileSync(path.join(dir, path.basename(req.url ?? '')));
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    sink = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        events.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
    sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/events`;

    const chart = new Chart(Testing.app(), 'test');
    new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      format: ModelFormat.SKLEARN,
      runtime: ServingRuntime.MLSERVER,
      storageUri: StorageUri.fromUri(`http://127.0.0.1:${(files.address() as AddressInfo).port}/model.joblib`),
      batcher: { maxBatchSize: 32, maxLatency: Duration.millis(5) },
      logger: { url: sinkUrl },
    });
    const manifests = Testing.synth(chart);
    const spec = podSpecOf(manifests);
    mlserver = await startRuntime(manifests, { venv: venv! });
    const sidecar = spec.containers.find((c: any) => c.name === AGENT.containerName);
    const runtimePort = spec.containers.find((c: any) => c.name === 'model-server').ports.find((p: any) => p.name === 'http').containerPort;
    // The synthesized args, with MLServer's loopback port for its container port.
    agentArgs = sidecar.args.map((a: string) => a.replace(`http://127.0.0.1:${runtimePort}`, `http://127.0.0.1:${mlserver.httpPort}`));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await mlserver?.stop();
    for (const s of [files, sink]) {
      s?.closeAllConnections();
      await new Promise((r) => s?.close(r));
    }
  });

  test('V2 answers through the agent equal MLServer\'s own; readiness and metadata pass through', async () => {
    const a = await agent();
    for (const p of ['/v2/health/ready', '/v2/models/iris/ready', '/v2/models/iris']) {
      const [direct, via] = await Promise.all([request(mlserver.httpPort, 'GET', p), request(a.port, 'GET', p)]);
      expect({ p, status: via.status, body: via.body }).toEqual({ p, status: direct.status, body: direct.body });
    }
    const direct = await request(mlserver.httpPort, 'POST', '/v2/models/iris/infer', v2(ROWS, 'one'));
    const via = await request(a.port, 'POST', '/v2/models/iris/infer', v2(ROWS, 'one'));
    expect(direct.status).toBe(200);
    expect(via.status).toBe(200);
    expect(via.body).toEqual(direct.body);
    expect(via.body.outputs.find((o: any) => o.name === 'predict').data).toEqual(FIXTURE.outputs.find((o: any) => o.name === 'label').data);
  }, 60_000);

  test('concurrent requests are one MLServer call; each answer equals MLServer\'s for that request alone', async () => {
    const a = await agent({ '--max-batch-latency-ms': '60000', '--max-batch-size': String(ROWS.length) });
    const parts = [ROWS.slice(0, 1), ROWS.slice(1, 3), ROWS.slice(3)];
    const direct = await Promise.all(parts.map((p, i) => request(mlserver.httpPort, 'POST', '/v2/models/iris/infer', v2(p, `r${i}`))));
    const via = await Promise.all(parts.map((p, i) => request(a.port, 'POST', '/v2/models/iris/infer', v2(p, `r${i}`))));
    for (let i = 0; i < parts.length; i++) {
      expect(via[i].status).toBe(200);
      expect(via[i].body.id).toBe(`r${i}`);
      expect(via[i].body.outputs.map((o: any) => [o.name, o.shape])).toEqual(direct[i].body.outputs.map((o: any) => [o.name, o.shape]));
      const out = (r: any, name: string) => r.body.outputs.find((o: any) => o.name === name).data.flat();
      expect(out(via[i], 'predict')).toEqual(out(direct[i], 'predict'));
      // sklearn computes a batch in one matrix product: the last bit of a probability may differ.
      expectClose(out(via[i], 'predict_proba'), out(direct[i], 'predict_proba'), { atol: 1e-12, rtol: 0 });
    }
    const metrics = (await request(a.port, 'GET', '/metrics')).text;
    expect(metricSamples(metrics, AGENT.batchesMetric).get('{model="iris",protocol="v2"}')).toBe(1);
    expect(metricSamples(metrics, `${AGENT.batchSizeMetric}_sum`).get('{model="iris",protocol="v2"}')).toBe(ROWS.length);
  }, 60_000);

  test('payload events per request reach the sink with matching ids', async () => {
    const a = await agent();
    const before = events.length;
    const res = await request(a.port, 'POST', '/v2/models/iris/infer', v2(ROWS.slice(0, 2), 'logged'));
    for (let i = 0; i < 100 && events.length < before + 2; i++) await new Promise((r) => setTimeout(r, 50));
    const mine = events.slice(before);
    expect(mine.map((e) => e.headers['ce-type']).sort()).toEqual([PAYLOAD_LOG_EVENT_TYPES.request, PAYLOAD_LOG_EVENT_TYPES.response].sort());
    expect(mine[0].headers['ce-id']).toBe(mine[1].headers['ce-id']);
    expect(mine.find((e) => e.headers['ce-type'] === PAYLOAD_LOG_EVENT_TYPES.request)!.body.id).toBe('logged');
    expect(mine.find((e) => e.headers['ce-type'] === PAYLOAD_LOG_EVENT_TYPES.response)!.body).toEqual(res.body);
  }, 60_000);

  test('MLServer\'s errors pass through with its status and body', async () => {
    const a = await agent();
    for (const [method, p, body] of [
      ['POST', '/v2/models/nope/infer', v2(ROWS, 'x')],
      ['POST', '/v2/models/iris/infer', { inputs: [{ name: 'input-0', shape: [1, 3], datatype: 'FP64', data: [1, 2, 3] }] }],
    ] as Array<[string, string, unknown]>) {
      const [direct, via] = await Promise.all([request(mlserver.httpPort, method, p, body), request(a.port, method, p, body)]);
      expect(direct.status).toBeGreaterThanOrEqual(400);
      expect({ status: via.status, body: via.body }).toEqual({ status: direct.status, body: direct.body });
    }
  }, 60_000);
});
