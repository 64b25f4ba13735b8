/**
 * A synthesized InferenceGraph runs: its rendered ConfigMap JSON and router container args start a
 * real router (the bundled server in `--mode router`) on loopback, in front of real model servers,
 * with only the in-cluster addresses rewritten (Service URLs to loopback ports, the mounted paths to
 * temporary files). In-process and networked graphs give the same answers.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import {
  DeploymentMode, GraphDependency, GraphNode, GraphStep, GraphStepData, InferenceGraph, InferenceGraphProps, ModelEndpoint, StorageUri,
} from '../../src';
import { CLI, expected, MODELS, modelDir, request, RunningServer, SERVER_NODE, startServer } from '../server/server-harness';
import { findByKind, findOne } from '../util';

const IN_CLUSTER_MODEL_DIR = '/mnt/models';

let servers: RunningServer[] = [];
let tmp: string;
/** Serves the fixture models over http on loopback: the storage URIs the synthesized graphs fetch. */
let files: http.Server;
let filesBase: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graph-loopback-'));
  files = http.createServer((req, res) => {
    const name = path.basename(req.url ?? '');
    if (!/^[a-z0-9-]+\.onnx$/.test(name) || !fs.existsSync(path.join(MODELS, name))) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    fs.createReadStream(path.join(MODELS, name)).pipe(res);
  });
  await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
  filesBase = `http://127.0.0.1:${(files.address() as { port: number }).port}`;
});
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});
afterAll(async () => {
  await new Promise((resolve) => files.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Two raw endpoints (`logreg`, `mlp`: iris classifiers) and a graph over them, synthesized. */
function synthGraph(graph: (logreg: ModelEndpoint, mlp: ModelEndpoint) => InferenceGraphProps): { spec: any; args: string[]; initContainers: any[] } {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  const raw = { mode: DeploymentMode.RAW };
  const uri = (file: string) => StorageUri.fromUri(`${filesBase}/${file}`);
  const logreg = new ModelEndpoint(chart, 'Logreg', { name: 'logreg', modelName: 'logreg', storageUri: uri('iris-logreg.onnx'), ...raw });
  const mlp = new ModelEndpoint(chart, 'Mlp', { name: 'mlp', modelName: 'mlp', storageUri: uri('iris-mlp.onnx'), ...raw });
  new InferenceGraph(chart, 'Graph', { name: 'graph', mode: DeploymentMode.RAW, ...graph(logreg, mlp) });
  const manifests = Testing.synth(chart);
  const cm = findByKind(manifests, 'ConfigMap').find((m) => m.metadata.labels?.['app.kubernetes.io/component'] === 'router');
  const pod = findOne(manifests, 'Deployment', { name: 'graph' }).spec.template.spec;
  return { spec: JSON.parse(cm.data['graph.json']), args: pod.containers[0].args, initContainers: pod.initContainers ?? [] };
}

/** Starts one model server per name, serving the fixture model; returns the loopback base URL of each. */
async function startModelServers(models: Record<string, string>): Promise<Record<string, string>> {
  const urls: Record<string, string> = {};
  for (const [name, fixture] of Object.entries(models)) {
    const server = await startServer(['--model-dir', modelDir({ 'model.onnx': fixture }), '--model-name', name]);
    servers.push(server);
    urls[name] = `http://127.0.0.1:${server.port}`;
  }
  return urls;
}

/**
 * Starts the router with the synthesized args: the rendered JSON (Service hosts rewritten to
 * `loopback`) at a temporary path instead of the ConfigMap mount, `modelDirPath` instead of
 * /mnt/models, and the harness's free port instead of 8080.
 */
async function startRouter(spec: any, args: string[], loopback: Record<string, string>, modelDirPath?: string): Promise<RunningServer> {
  let json = JSON.stringify(spec);
  for (const [name, url] of Object.entries(loopback)) json = json.split(`http://${name}.ml.svc.cluster.local:80`).join(url);
  expect(json).not.toContain('svc.cluster.local');
  const specFile = path.join(fs.mkdtempSync(path.join(tmp, 'spec-')), 'graph.json');
  fs.writeFileSync(specFile, json);
  expect(args.slice(0, 1)).toEqual(['serve']);
  const rest: string[] = [];
  for (let i = 1; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (flag === '--http-port') continue; // startServer picks a free port
    if (flag === '--graph-spec') rest.push(flag, specFile);
    else if (flag === '--model-dir' && value === IN_CLUSTER_MODEL_DIR) rest.push(flag, modelDirPath!);
    else rest.push(flag, value);
  }
  const router = await startServer(rest);
  servers.push(router);
  return router;
}

/** Runs the server binary with `args` (asynchronously: the file server answers in this process). */
function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(SERVER_NODE, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

const V2_REQUEST = expected('iris-logreg').v2_request;

test('a synthesized Ensemble (one soft step) runs: each step\'s answer under its name, as the model servers answer directly', async () => {
  const { spec, args } = synthGraph((logreg, mlp) => ({
    root: GraphNode.ensemble([GraphStep.endpoint(logreg), GraphStep.endpoint(mlp, { dependency: GraphDependency.SOFT })]),
  }));
  const loopback = await startModelServers({ logreg: 'iris-logreg.onnx', mlp: 'iris-mlp.onnx' });
  const router = await startRouter(spec, args, { logreg: loopback.logreg, mlp: loopback.mlp });

  const answer = await request(router.port, 'POST', '/', V2_REQUEST);
  expect(answer.status).toBe(200);
  const direct = {
    logreg: (await request(Number(new URL(loopback.logreg).port), 'POST', '/v2/models/logreg/infer', V2_REQUEST)).body,
    mlp: (await request(Number(new URL(loopback.mlp).port), 'POST', '/v2/models/mlp/infer', V2_REQUEST)).body,
  };
  expect(Object.keys(answer.body).sort()).toEqual(['logreg', 'mlp']);
  expect(answer.body.logreg.outputs).toEqual(direct.logreg.outputs);
  expect(answer.body.mlp.outputs).toEqual(direct.mlp.outputs);
});

test('a synthesized Splitter into a second node runs (100% to the node)', async () => {
  const { spec, args } = synthGraph((logreg, mlp) => ({
    root: GraphNode.splitter([GraphStep.node('pair', { weight: 100 }), GraphStep.endpoint(mlp, { weight: 0 })]),
    nodes: { pair: GraphNode.sequence([GraphStep.endpoint(logreg), GraphStep.endpoint(mlp, { data: GraphStepData.REQUEST })]) },
  }));
  const loopback = await startModelServers({ logreg: 'iris-logreg.onnx', mlp: 'iris-mlp.onnx' });
  const router = await startRouter(spec, args, loopback);
  const answer = await request(router.port, 'POST', '/', V2_REQUEST);
  expect(answer.status).toBe(200);
  const direct = await request(Number(new URL(loopback.mlp).port), 'POST', '/v2/models/mlp/infer', V2_REQUEST);
  expect(answer.body.outputs).toEqual(direct.body.outputs);
});

test('the same Sequence in process: its storage initializers (args as synthesized) fetch each model to <model dir>/<name>, and it answers as networked', async () => {
  const graph = (logreg: ModelEndpoint, mlp: ModelEndpoint): InferenceGraphProps => ({
    root: GraphNode.sequence([GraphStep.endpoint(logreg), GraphStep.endpoint(mlp, { data: GraphStepData.REQUEST })]),
  });
  const networked = synthGraph(graph);
  const inProcess = synthGraph((logreg, mlp) => ({ ...graph(logreg, mlp), inProcess: true }));
  expect(inProcess.initContainers).toHaveLength(2);

  // The init containers, run as processes: only the mounted model directory is a temporary one.
  const fetched = fs.mkdtempSync(path.join(tmp, 'models-'));
  for (const init of inProcess.initContainers) {
    const args = (init.args as string[]).map((a) => a.replace(IN_CLUSTER_MODEL_DIR, fetched));
    const run = await runCli(args);
    expect({ name: init.name, ...run }).toEqual({ name: init.name, code: 0, stderr: expect.stringContaining(`into ${fetched}/`) });
  }
  expect(fs.readdirSync(fetched).sort()).toEqual(['logreg', 'mlp']);

  const loopback = await startModelServers({ logreg: 'iris-logreg.onnx', mlp: 'iris-mlp.onnx' });
  const networkedRouter = await startRouter(networked.spec, networked.args, loopback);
  const inProcessRouter = await startRouter(inProcess.spec, inProcess.args, {}, fetched);

  const a = await request(networkedRouter.port, 'POST', '/', V2_REQUEST);
  const b = await request(inProcessRouter.port, 'POST', '/', V2_REQUEST);
  expect(a.status).toBe(200);
  expect(b.status).toBe(200);
  expect(b.body.outputs).toEqual(a.body.outputs);
  expect(b.body.model_name).toBe(a.body.model_name);
});
