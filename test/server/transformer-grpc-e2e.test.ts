// A transformer process calling its predictor over gRPC (`--predictor-protocol grpc-v2`): what
// the node:http2 client changes end to end: reconnects, deadlines, metadata, a predictor down.
// (The happy paths of every predictor protocol are in transformer.test.ts.)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { startStubPredictor, StubPredictor } from './grpc-predictor-stub';
import { expected, modelDir, request, RunningServer, startServer } from './server-harness';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'transformer');
const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const CLASSES = ['setosa', 'versicolor', 'virginica'];
const iris = expected('iris-logreg');
const named = (iris.v1_request.instances as number[][]).map((row) => Object.fromEntries(FEATURES.map((f, i) => [f, row[i]])));
const wantClasses = (iris.outputs as Array<{ name: string; data: number[] }>).find((o) => o.name === 'label')!.data.map((l) => CLASSES[l]);

let tmp: string;
let moduleFile: string;
const started: RunningServer[] = [];

async function start(args: string[]): Promise<RunningServer> {
  const s = await startServer(args);
  started.push(s);
  return s;
}

/** A gRPC transformer; `--transformer-module` defaults to the iris features module. */
function transformer(predictorHost: string, ...args: string[]): Promise<RunningServer> {
  const module = args.includes('--transformer-module') ? [] : ['--transformer-module', moduleFile];
  return start(['--mode', 'transformer', '--model-name', 'iris', '--predictor-host', predictorHost, '--predictor-protocol', 'grpc-v2', ...module, ...args]);
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'transformer-grpc-'));
  moduleFile = path.join(tmp, 'iris-features.js');
  await esbuild.build({ entryPoints: [path.join(FIXTURES, 'iris-features.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: moduleFile, logLevel: 'warning' });
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('the predictor restarted on the same port: the transformer connects again', async () => {
  const dir = modelDir({ 'iris-logreg.onnx': 'iris-logreg.onnx' });
  const first = await start(['--model-dir', dir, '--model-name', 'iris']);
  const grpcPort = first.logs.find((l) => l.event === 'grpc_listening')!.grpcPort as number;
  const t = await transformer(`127.0.0.1:${grpcPort}`);
  expect((await request(t.port, 'POST', '/v1/models/iris:predict', { instances: named })).status).toBe(200);

  await first.stop();
  const down = await request(t.port, 'POST', '/v1/models/iris:predict', { instances: named });
  expect(down.status).toBe(502);
  expect(down.body).toEqual({ error: `predictor at 127.0.0.1:${grpcPort} is unreachable (ECONNREFUSED)`, code: 'MS_ERR_PREDICTOR_UNREACHABLE' });
  expect((await request(t.port, 'GET', '/v2/health/ready')).status).toBe(503);

  await start(['--model-dir', dir, '--model-name', 'iris', '--grpc-port', String(grpcPort)]);
  const res = await request(t.port, 'POST', '/v1/models/iris:predict', { instances: named });
  expect(res.status).toBe(200);
  expect(res.body.predictions.map((p: { class: string }) => p.class)).toEqual(wantClasses);
});

describe('against a stub gRPC predictor', () => {
  // The stub answers only probabilities: the module that just tags responses fits it.
  const passthrough = ['--transformer-module', path.join(FIXTURES, 'passthrough.mjs')];
  let stub: StubPredictor;
  beforeAll(async () => {
    stub = await startStubPredictor();
  });
  afterAll(() => stub.close());

  test('request ids and trace headers reach it as metadata; authorization only when configured', async () => {
    const plain = await transformer(`127.0.0.1:${stub.port}`, ...passthrough, '--request-timeout-ms', '2500');
    const withAuth = await transformer(`127.0.0.1:${stub.port}`, ...passthrough, '--propagate-headers', 'x-request-id,authorization');
    const headers = { 'x-request-id': 'req-7', 'traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'authorization': 'Bearer t0ken' };
    stub.calls.length = 0;
    const ok = await request(plain.port, 'POST', '/v2/models/iris/infer', iris.v2_request, headers);
    expect(ok.status).toBe(200);
    expect(ok.body.parameters).toEqual({ transformed: true });
    expect(ok.headers['x-request-id']).toBe('req-7');
    const infer = stub.calls.find((c) => c.method === 'ModelInfer')!;
    expect(infer.headers).toMatchObject({ 'x-request-id': 'req-7', 'traceparent': headers.traceparent, 'grpc-timeout': '2500m' });
    expect(infer.headers.authorization).toBeUndefined();

    stub.calls.length = 0;
    await request(withAuth.port, 'POST', '/v2/models/iris/infer', iris.v2_request, headers);
    expect(stub.calls.find((c) => c.method === 'ModelInfer')!.headers.authorization).toBe('Bearer t0ken');
  });

  test('a predictor that does not answer within the request timeout is a 504', async () => {
    const t = await transformer(`127.0.0.1:${stub.port}`, ...passthrough, '--request-timeout-ms', '500');
    stub.handler = () => {};
    const sentAt = Date.now();
    const res = await request(t.port, 'POST', '/v2/models/iris/infer', iris.v2_request);
    expect(res.status).toBe(504);
    expect(res.body).toEqual({ error: `predictor at 127.0.0.1:${stub.port} did not answer within 500 ms`, code: 'MS_ERR_PREDICTOR_TIMEOUT' });
    expect(Date.now() - sentAt).toBeLessThan(5000);
  });
});
