/**
 * A CanaryRollout version's agent sidecar as a real process (issue 18 part 3): the args are the
 * ones synthesized for each version's pod (raw mode, a custom container, `logger` and `batcher`),
 * only the ports and URLs mapped to loopback; the runtime behind it is our own server, and the
 * payload sink a real HTTP server on loopback. Each version's events carry `ce-endpoint` = its
 * version, as our server's do in a CanaryRollout.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { Chart, Testing } from 'cdk8s';
import { expected, MODELS, request, RunningServer, startServer } from './server-harness';
import { CanaryRollout, DeploymentMode, LoggerMode } from '../../src';
import { AGENT, PAYLOAD_LOG_EVENT_TYPES, SERVER_FLAGS } from '../../src/contract';

const ROWS: number[][] = expected('iris-logreg').v1_request.instances;
const servers: RunningServer[] = [];
let sinkServer: http.Server;
let sinkUrl: string;
const events: Array<{ headers: http.IncomingHttpHeaders; body: any }> = [];

/** The synthesized agent args of each version's Deployment. */
function synthesizedAgentArgs(): Record<string, string[]> {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  const container = (version: string) => ({ version, container: { image: `example.com/iris:${version}`, port: 8085, readinessPath: '/v2/health/ready' } });
  new CanaryRollout(chart, 'Rollout', {
    name: 'iris',
    modelName: 'iris',
    mode: DeploymentMode.RAW,
    stable: container('v1'),
    canary: container('v2'),
    trafficPercent: 50,
    logger: { url: 'http://sink.logs.svc.cluster.local', mode: LoggerMode.ALL },
    batcher: { maxBatchSize: 1 },
  });
  const args: Record<string, string[]> = {};
  for (const d of Testing.synth(chart).filter((m: any) => m.kind === 'Deployment')) {
    args[d.metadata.labels['serving.cdk8s-model-serving.io/version']] = d.spec.template.spec.containers.find((c: any) => c.name === AGENT.containerName).args;
  }
  return args;
}

/** The synthesized args with the pod's ports and URLs mapped to loopback (startServer adds `serve`). */
function onLoopback(args: string[], upstreamPort: number): string[] {
  const replace: Record<string, string> = {
    [AGENT.upstreamFlag]: `http://127.0.0.1:${upstreamPort}`,
    [SERVER_FLAGS.httpPort]: '0',
    [SERVER_FLAGS.payloadLogUrl]: sinkUrl,
  };
  return args.slice(1).map((a, i, all) => replace[all[i - 1]] ?? a);
}

beforeAll(async () => {
  sinkServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      events.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => sinkServer.listen(0, '127.0.0.1', r));
  sinkUrl = `http://127.0.0.1:${(sinkServer.address() as AddressInfo).port}/events`;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  sinkServer.closeAllConnections();
  await new Promise((r) => sinkServer.close(r));
});

test('each version\'s synthesized agent forwards to the runtime and logs its events with ce-endpoint = the version', async () => {
  const args = synthesizedAgentArgs();
  expect(Object.keys(args).sort()).toEqual(['v1', 'v2']);
  const runtime = await startServer(['--model-dir', `${MODELS}/iris-logreg.onnx`, '--model-name', 'iris']);
  servers.push(runtime);
  const direct = await request(runtime.port, 'POST', '/v1/models/iris:predict', { instances: ROWS.slice(0, 1) });
  for (const version of ['v1', 'v2']) {
    const agent = await startServer(onLoopback(args[version], runtime.port));
    servers.push(agent);
    const via = await request(agent.port, 'POST', '/v1/models/iris:predict', { instances: ROWS.slice(0, 1) });
    expect(via.status).toBe(200);
    expect(via.body).toEqual(direct.body);
  }
  for (let i = 0; i < 100 && events.length < 4; i++) await new Promise((r) => setTimeout(r, 50));
  expect(events).toHaveLength(4);
  for (const version of ['v1', 'v2']) {
    const mine = events.filter((e) => e.headers['ce-endpoint'] === version);
    expect(mine.map((e) => e.headers['ce-type']).sort()).toEqual([PAYLOAD_LOG_EVENT_TYPES.request, PAYLOAD_LOG_EVENT_TYPES.response].sort());
    for (const e of mine) expect(e.headers).toMatchObject({ 'ce-inferenceservicename': 'iris', 'ce-namespace': 'ml' });
  }
}, 60_000);
