// TorchServe as a real process (issue 15), started exactly as `runtime: ServingRuntime.TORCHSERVE`
// synthesizes it: command, args and env read back from the Deployment, the model dir (`model-store/` and
// `config/config.properties`, the layout the runtime declares) a temp folder.
//
// What is real: TorchServe 0.12.0's Java frontend and Python worker from the venv, an sklearn model (trained
// here with a fixed seed) packed into a .mar by torch-model-archiver, served through a handler that does not
// use torch (test/runtimes/torchserve/iris_handler.py), TorchServe's KServe V2 envelope, its metrics port.
// What is not: torch itself. Its worker imports torch only to encode tensor answers; a FAKE torch module
// (test/runtimes/torchserve/fake-torch) satisfies that import (PyPI's torch pulls ~5.4 GB of CUDA wheels).
//
// Which port answers: our runtime declares KServe's ports (8080 REST, 8081 gRPC), which belong to KServe's
// Python wrapper in the pytorch/torchserve-kfs image, started by the image's entrypoint next to TorchServe
// (pytorch/serve docker/dockerd-entrypoint_kf.sh) and not installable here. So the test calls TorchServe's
// own inference API on the `inference_address` of config.properties (8085 in KServe's examples), and its
// metrics on the metrics port the runtime declares (8082, KServe's kserve-torchserve.yaml).
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { Chart, Testing } from 'cdk8s';
import { freePort, postJson, podSpecOf, python, runtimesVenv } from './runtime-harness';
import { DeploymentMode, InferenceProtocol, ModelEndpoint, ModelFormat, ServingRuntime, StorageUri } from '../../src';

const FIXTURE = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'models', 'iris-logreg.expected.json'), 'utf8'));
const ROWS: number[][] = FIXTURE.v1_request.instances;
const HERE = path.join(__dirname, 'torchserve');
const venv = runtimesVenv();
const maybe = venv ? describe : describe.skip;

const TRAIN = `
import json, sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
clf = LogisticRegression(max_iter=1000, random_state=0).fit(X, y)
joblib.dump(clf, sys.argv[1])
print(json.dumps({"predict": clf.predict(json.loads(sys.argv[2])).tolist()}))
`;

function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${out.slice(-3000)}`))));
  });
}

function get(port: number, p: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 2000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', () => resolve({ status: 0, text: '' }));
    req.on('timeout', () => { req.destroy(); resolve({ status: 0, text: '' }); });
  });
}

maybe('TorchServe as a real process, from the synthesized pod (venv runtimes, fake torch module)', () => {
  let work: string;
  let env: NodeJS.ProcessEnv;
  let inferencePort: number;
  let metricsPort: number;
  let expected: { predict: number[] };
  let container: any;
  let started = false;

  beforeAll(async () => {
    // GIVEN the endpoint as a user writes it, and its synthesized predictor container
    const chart = new Chart(Testing.app(), 'test');
    new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      format: ModelFormat.PYTORCH,
      protocol: InferenceProtocol.V2,
      runtime: ServingRuntime.TORCHSERVE,
      storageUri: StorageUri.s3('models', 'iris-torchserve'),
    });
    container = podSpecOf(Testing.synth(chart)).containers.find((c: any) => c.name === 'model-server');

    // The model dir, laid out as the runtime declares: model-store/<name>.mar and config/config.properties.
    work = mkdtempSync(path.join(os.tmpdir(), 'torchserve-'));
    const modelDir = path.join(work, 'models');
    mkdirSync(path.join(modelDir, 'model-store'), { recursive: true });
    mkdirSync(path.join(modelDir, 'config'));
    const build = path.join(work, 'build');
    mkdirSync(build);
    expected = JSON.parse(await python(venv!, TRAIN, [path.join(build, 'model.joblib'), JSON.stringify(ROWS)]));
    copyFileSync(path.join(HERE, 'iris_handler.py'), path.join(build, 'iris_handler.py'));
    await run(path.join(venv!, 'bin', 'torch-model-archiver'), [
      '--model-name', 'iris', '--version', '1.0', '--handler', 'iris_handler.py', '--extra-files', 'model.joblib',
      '--export-path', path.join(modelDir, 'model-store'),
    ], { PATH: process.env.PATH }, build);

    // The synthesized ports: TorchServe's own inference port stands for 8085, the declared metrics port for 8082.
    const declaredMetrics = container.ports.find((p: any) => p.name === 'metrics').containerPort;
    expect(declaredMetrics).toBe(8082);
    inferencePort = await freePort();
    metricsPort = await freePort();
    const [grpcInference, grpcManagement, management] = [await freePort(), await freePort(), await freePort()];
    // The config.properties a user ships with the model (KServe's TorchServe examples), on loopback ports.
    writeFileSync(path.join(modelDir, 'config', 'config.properties'), [
      `inference_address=http://127.0.0.1:${inferencePort}`,
      `management_address=http://127.0.0.1:${management}`,
      `metrics_address=http://127.0.0.1:${metricsPort}`,
      `grpc_inference_port=${grpcInference}`,
      `grpc_management_port=${grpcManagement}`,
      'enable_metrics_api=true',
      'metrics_mode=prometheus',
      // TS_* variables (the runtime's TS_SERVICE_ENVELOPE) override properties only with this.
      'enable_envvars_config=true',
      'install_py_dep_per_model=false',
      // Token authorization came with TorchServe 0.11; KServe's 0.9.0 image predates it.
      'disable_token_authorization=true',
      `model_store=${path.join(modelDir, 'model-store')}`,
      'load_models=all',
      'default_workers_per_model=1',
      '',
    ].join('\n'));

    // WHEN TorchServe starts with exactly the synthesized command, args and env (the model dir mapped)
    const map = (s: string) => s.split('/mnt/models').join(modelDir);
    env = {
      PATH: `${path.join(venv!, 'bin')}:${process.env.PATH}`,
      HOME: work,
      // Its pid file goes to the temp dir: a private one keeps `torchserve --stop` to this server.
      TMPDIR: work,
      PYTHONPATH: path.join(HERE, 'fake-torch'),
    };
    for (const e of container.env ?? []) env[e.name] = map(String(e.value));
    const command: string[] = [...container.command ?? [], ...container.args].map(map);
    // `torchserve --start` starts the frontend in the background and returns (the kfs image's entrypoint then waits).
    await run(path.join(venv!, 'bin', command[0]), command.slice(1), env, work);
    started = true;
    const deadline = Date.now() + 150_000;
    while ((await get(inferencePort, '/ping')).text.indexOf('Healthy') < 0) {
      if (Date.now() > deadline) throw new Error(`TorchServe was not healthy within 150 s:\n${readLog(work)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }, 240_000);

  afterAll(async () => {
    if (started) await run(path.join(venv!, 'bin', 'torchserve'), ['--stop'], env, work).catch(() => undefined);
    // `torchserve --stop` returns before its workers have exited and stopped writing logs: retry ENOTEMPTY/EBUSY.
    if (work) rmSync(work, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  }, 60_000);

  test('the synthesized container is what was started: torchserve --start on the model dir, the V2 envelope', () => {
    expect(container.args).toEqual(['torchserve', '--start', '--model-store=/mnt/models/model-store', '--ts-config=/mnt/models/config/config.properties']);
    expect(container.env).toContainEqual({ name: 'TS_SERVICE_ENVELOPE', value: 'kservev2' });
  });

  test('answers V2 infer on its own inference API with what sklearn predicts (the labels of the ONNX fixture too)', async () => {
    const body = { inputs: [{ name: 'input-0', shape: [ROWS.length, 4], datatype: 'FP64', data: ROWS.flat() }] };
    for (const p of ['/predictions/iris', '/v2/models/iris/infer']) {
      const res = await postJson(inferencePort, p, body);
      expect(res.status).toBe(200);
      expect(res.body.model_name).toBe('iris');
      expect(res.body.outputs).toHaveLength(1);
      expect(res.body.outputs[0]).toMatchObject({ name: 'input-0', datatype: 'INT64', shape: [ROWS.length] });
      expect(res.body.outputs[0].data).toEqual(expected.predict);
      expect(res.body.outputs[0].data).toEqual(FIXTURE.outputs.find((o: any) => o.name === 'label').data);
    }
  }, 60_000);

  test('publishes the request counter the runtime declares on its metrics port', async () => {
    await postJson(inferencePort, '/predictions/iris', { inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP64', data: ROWS[0] }] });
    const metrics = await get(metricsPort, '/metrics');
    expect(metrics.status).toBe(200);
    const declared = ServingRuntime.TORCHSERVE.metrics!.requestCounter!;
    const line = metrics.text.split('\n').find((l) => l.startsWith(`${declared}{`) && l.includes('model_name="iris"'));
    expect(line).toBeDefined();
    expect(Number(line!.split(' ').pop())).toBeGreaterThanOrEqual(1);
  }, 60_000);
});

function readLog(work: string): string {
  try {
    return readFileSync(path.join(work, 'logs', 'model_log.log'), 'utf8').slice(-3000);
  } catch {
    return '(no model log)';
  }
}
