/**
 * A synthesized InferenceGraph runs: its rendered ConfigMap JSON and router container args start a
 * real router (the bundled server in `--mode router`) on loopback, in front of real model servers,
 * with only the in-cluster addresses rewritten (Service URLs to loopback ports, the mounted paths to
 * temporary files). In-process and networked graphs give the same answers.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import {
  DeploymentMode, GraphDependency, GraphNode, GraphStep, GraphStepData, InferenceGraph, InferenceGraphProps, ModelEndpoint, StorageUri,
} from '../../src';
import { expected, modelDir, request, RunningServer, startServer } from '../server/server-harness';
import { findByKind, findOne } from '../util';

const IN_CLUSTER_MODEL_DIR = '/mnt/models';

let servers: RunningServer[] = [];
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'graph-loopback-'));
});
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  servers = [];
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Two raw endpoints (`logreg`, `mlp`: iris classifiers) and a graph over them, synthesized. */
function synthGraph(graph: (logreg: ModelEndpoint, mlp: ModelEndpoint) => InferenceGraphProps): { spec: any; args: string[] } {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  const raw = { mode: DeploymentMode.RAW };
  const logreg = new ModelEndpoint(chart, 'Logreg', { name: 'logreg', modelName: 'logreg', storageUri: StorageUri.s3('models', 'iris-logreg.onnx'), ...raw });
  const mlp = new ModelEndpoint(chart, 'Mlp', { name: 'mlp', modelName: 'mlp', storageUri: StorageUri.s3('models', 'iris-mlp.onnx'), ...raw });
  new InferenceGraph(chart, 'Graph', { name: 'graph', mode: DeploymentMode.RAW, ...graph(logreg, mlp) });
  const manifests = Testing.synth(chart);
  const cm = findByKind(manifests, 'ConfigMap').find((m) => m.metadata.labels?.['app.kubernetes.io/component'] === 'router');
  const args: string[] = findOne(manifests, 'Deployment', { name: 'graph' }).spec.template.spec.containers[0].args;
  return { spec: JSON.parse(cm.data['graph.json']), args };
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

test('the same Sequence in process (models fetched to <model dir>/<name>) answers as networked', async () => {
  const graph = (logreg: ModelEndpoint, mlp: ModelEndpoint): InferenceGraphProps => ({
    root: GraphNode.sequence([GraphStep.endpoint(logreg), GraphStep.endpoint(mlp, { data: GraphStepData.REQUEST })]),
  });
  const networked = synthGraph(graph);
  const inProcess = synthGraph((logreg, mlp) => ({ ...graph(logreg, mlp), inProcess: true }));
  expect(inProcess.args).toContain('--model-dir');

  const loopback = await startModelServers({ logreg: 'iris-logreg.onnx', mlp: 'iris-mlp.onnx' });
  const networkedRouter = await startRouter(networked.spec, networked.args, loopback);
  // What the storage initializers leave in the router's model directory: one folder per model.
  const fetched = modelDir({ 'logreg/model.onnx': 'iris-logreg.onnx', 'mlp/model.onnx': 'iris-mlp.onnx' });
  const inProcessRouter = await startRouter(inProcess.spec, inProcess.args, {}, fetched);

  const a = await request(networkedRouter.port, 'POST', '/', V2_REQUEST);
  const b = await request(inProcessRouter.port, 'POST', '/', V2_REQUEST);
  expect(a.status).toBe(200);
  expect(b.status).toBe(200);
  expect(b.body.outputs).toEqual(a.body.outputs);
  expect(b.body.model_name).toBe(a.body.model_name);
});
