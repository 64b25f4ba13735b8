// A setting the chosen --mode ignores is named in a warning at start (real server processes): the
// Dockerfile's old example, `--mode multi --model-name iris`, served `iris-logreg` and left `iris` 404.
import * as fs from 'fs';
import { modelDir, request, RunningServer, startServer } from './server-harness';
import { ineffectiveFlags } from '../../src/server/ineffective-flags';

const ignored = (server: RunningServer) => server.logs.filter((l) => l.event === 'flag_ignored');

describe('a flag with no effect in the chosen mode', () => {
  let dir: string;
  let server: RunningServer | undefined;
  beforeEach(() => {
    dir = modelDir({ 'iris-logreg/model.onnx': 'iris-logreg.onnx' });
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('--model-name in multi mode: a warning at start that names the flag and says models are named after folders; the folder name serves', async () => {
    server = await startServer(['--mode', 'multi', '--model-name', 'iris', '--model-dir', dir]);
    const [warning] = ignored(server);
    expect(warning).toMatchObject({ level: 40, flag: '--model-name', env: 'MODEL_NAME', mode: 'multi' });
    expect(warning.msg).toMatch(/--model-name \(MODEL_NAME\) has no effect in --mode multi: each model is named after its folder/);
    // Logged before the server listens: the first thing an operator sees.
    expect(server.logs.indexOf(warning)).toBeLessThan(server.logs.findIndex((l) => l.event === 'listening'));
    expect((await request(server.port, 'GET', '/v2/models/iris-logreg/ready')).status).toBe(200);
    expect((await request(server.port, 'GET', '/v2/models/iris/ready')).status).toBe(404);
  });

  test('MODEL_NAME from the environment counts too, and so do mesh settings outside --mode mesh', async () => {
    server = await startServer(['--mode', 'multi', '--model-dir', dir, '--peers', 'a:8080'], { MODEL_NAME: 'iris' });
    expect(ignored(server).map((l) => l.flag)).toEqual(['--model-name', '--peers']);
  });

  test('no warning when every flag applies: single mode with --model-name', async () => {
    fs.copyFileSync(`${dir}/iris-logreg/model.onnx`, `${dir}/model.onnx`);
    fs.rmSync(`${dir}/iris-logreg`, { recursive: true });
    server = await startServer(['--mode', 'single', '--model-name', 'iris', '--model-dir', dir]);
    expect(ignored(server)).toEqual([]);
    expect((await request(server.port, 'GET', '/v2/models/iris/ready')).status).toBe(200);
  });
});

test('ineffectiveFlags: the mode may come from SERVER_MODE; auto and single keep --model-name', () => {
  expect(ineffectiveFlags(['--model-name', 'x'], { SERVER_MODE: 'multi' }).map((f) => f.flag)).toEqual(['--model-name']);
  expect(ineffectiveFlags(['--model-name', 'x'], {})).toEqual([]);
  expect(ineffectiveFlags(['--mode=single', '--model-name=x'], {})).toEqual([]);
  expect(ineffectiveFlags(['--mode', 'mesh', '--peers', 'a:1', '--model-name', 'x'], {}).map((f) => f.flag)).toEqual(['--model-name']);
});
