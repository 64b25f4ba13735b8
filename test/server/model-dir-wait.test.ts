// `serve --model-dir-wait-seconds`: the serverless modelcar race. The sidecar links the model
// directory after the server started; the server waits for it (live, not ready), then loads and
// serves. A directory that never appears leaves the model FAILED with a reason that says why.
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, logEvents, MODELS, request, SERVER_NODE } from './server-harness';

/** A spawned `serve` whose JSON log events can be awaited by name. */
interface Served {
  readonly child: ChildProcess;
  waitFor(event: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

function serve(args: string[]): Served {
  const child = spawn(SERVER_NODE, [CLI, 'serve', '--http-port', '0', '--grpc-port', '0', '--host', '127.0.0.1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const { waitFor } = logEvents(child);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    waitFor,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const IRIS_ROW = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] };

let tmp: string;
beforeEach(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'model-dir-wait-')); });
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('waits, not ready, for a model directory linked after start-up, then serves it', async () => {
  // GIVEN the modelcar's layout: an empty shared dir, the model dir a link the sidecar makes later
  const shared = path.join(tmp, 'mnt');
  fs.mkdirSync(shared);
  const image = path.join(tmp, 'image-root', 'models');
  fs.mkdirSync(image, { recursive: true });
  fs.copyFileSync(path.join(MODELS, 'iris-logreg.onnx'), path.join(image, 'model.onnx'));
  const modelDir = path.join(shared, 'models');
  const server = serve(['--model-dir', modelDir, '--model-name', 'iris', '--model-dir-wait-seconds', '60']);
  try {
    const port = Number((await server.waitFor('listening')).httpPort);
    expect(await server.waitFor('model_dir_waiting')).toMatchObject({ modelDir, waitSeconds: 60 });
    // WHEN the server reports live and not ready (the sidecar has not linked yet)
    expect((await request(port, 'GET', '/v2/health/live')).status).toBe(200);
    const notReady = await request(port, 'GET', '/v2/health/ready');
    expect(notReady.status).toBe(503);
    const early = await request(port, 'POST', '/v2/models/iris/infer', IRIS_ROW);
    expect(early.status).toBe(503);
    expect(early.body.error).toContain('--model-dir-wait-seconds');
    // ... and only then the sidecar links the model directory
    fs.symlinkSync(image, modelDir);
    // THEN the server loads it, turns ready and answers infer
    await server.waitFor('model_dir_appeared');
    const ready = await server.waitFor('ready');
    expect(ready.ready).toBe(true);
    expect((await request(port, 'GET', '/v2/health/ready')).status).toBe(200);
    const res = await request(port, 'POST', '/v2/models/iris/infer', IRIS_ROW);
    expect(res.status).toBe(200);
    expect(res.body.outputs.find((o: { name: string }) => o.name === 'label').data).toEqual([0]);
  } finally {
    await server.stop();
  }
});

test('a model directory that never appears leaves the model FAILED with the reason, and not ready', async () => {
  const modelDir = path.join(tmp, 'mnt', 'models');
  const server = serve(['--model-dir', modelDir, '--model-name', 'iris', '--model-dir-wait-seconds', '1']);
  try {
    const port = Number((await server.waitFor('listening')).httpPort);
    const expired = await server.waitFor('model_dir_wait_expired');
    expect(expired.msg).toContain(`model directory ${modelDir} did not appear within 1 s`);
    const ready = await server.waitFor('ready');
    expect(ready.ready).toBe(false);
    expect(ready.models).toEqual([expect.objectContaining({ name: 'iris', state: 'FAILED', reason: expect.stringContaining('did not appear within 1 s (--model-dir-wait-seconds)') })]);
    expect((await request(port, 'GET', '/v2/health/ready')).status).toBe(503);
    const index = await request(port, 'POST', '/v2/repository/index', {});
    expect(index.body).toEqual([expect.objectContaining({ name: 'iris', state: 'FAILED', reason: expect.stringContaining('oci:// modelcar') })]);
  } finally {
    await server.stop();
  }
});

test('without --model-dir-wait-seconds a missing directory fails at once (no wait logged)', async () => {
  const modelDir = path.join(tmp, 'absent');
  const server = serve(['--model-dir', modelDir, '--model-name', 'iris']);
  try {
    const ready = await server.waitFor('ready');
    expect(ready.models).toEqual([expect.objectContaining({ state: 'FAILED', reason: expect.stringContaining(`cannot read ${modelDir}`) })]);
  } finally {
    await server.stop();
  }
});
