/**
 * A collocated transformer as real processes: our server as the custom predictor container and
 * our server in transformer mode, each started with exactly the args the construct synthesizes
 * for the pod (the ports mapped to free loopback ports, the module and model dirs to temp
 * folders), the transformer calling the predictor on localhost as in the pod.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import { DeploymentMode, InferenceProtocol, ModelEndpoint, ModelFormat, TransformerModule } from '../../src';
import * as contract from '../../src/contract';
import { expectClose, expected, modelDir, request, RunningServer, startServer } from '../server/server-harness';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

const PREDICTOR_PORT = 8085;
const MODEL_DIR_IN_IMAGE = '/models/iris';
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'transformer', 'passthrough.mjs');
const iris = expected('iris-logreg');

/** `args` without `serve` and the port flags, which the harness sets to free ports itself. */
function withoutServeAndPorts(args: string[]): string[] {
  const out: string[] = [];
  for (let i = args[0] === contract.SERVER_COMMANDS.serve ? 1 : 0; i < args.length; i++) {
    if (args[i] === contract.SERVER_FLAGS.httpPort || args[i] === contract.SERVER_FLAGS.grpcPort) i++;
    else out.push(args[i]);
  }
  return out;
}

let predictor: RunningServer | undefined;
let transformer: RunningServer | undefined;
let tmp: string;

afterAll(async () => {
  await transformer?.stop();
  await predictor?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the synthesized transformer container calls the synthesized predictor container on localhost and answers V2 infer', async () => {
  // GIVEN a raw endpoint whose custom predictor is our server with the model in its image, and a collocated transformer
  const chart = new Chart(Testing.app(), 'test');
  const endpoint = new ModelEndpoint(chart, 'Endpoint', {
    modelName: 'iris',
    name: 'iris',
    mode: DeploymentMode.RAW,
    protocol: InferenceProtocol.V2,
    format: ModelFormat.ONNX,
    container: {
      image: contract.DEFAULT_SERVER_IMAGE,
      args: ['serve', '--model-name', 'iris', '--model-dir', MODEL_DIR_IN_IMAGE, '--http-port', String(PREDICTOR_PORT), '--grpc-port', '0'],
      port: PREDICTOR_PORT,
      readinessPath: '/v2/models/iris/ready',
    },
  });
  endpoint.addTransformer({ module: TransformerModule.fromFile(FIXTURE), collocated: true });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests);
  const pod = findOne(manifests, 'Deployment', { name: 'iris' }).spec.template.spec;
  const containerArgs = (name: string): string[] => pod.containers.find((c: any) => c.name === name).args;

  // WHEN both containers' args run as processes, with the pod's paths and ports mapped
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'collocated-'));
  const models = modelDir({ 'iris.onnx': 'iris-logreg.onnx' });
  const predictorArgs = withoutServeAndPorts(containerArgs('model-server')).map((a) => (a === MODEL_DIR_IN_IMAGE ? models : a));
  predictor = await startServer(predictorArgs);

  const moduleVolume = pod.volumes.find((v: any) => v.configMap);
  const configMap = findOne(manifests, 'ConfigMap', { name: moduleVolume.configMap.name });
  const moduleDir = path.join(tmp, 'module');
  fs.mkdirSync(moduleDir);
  for (const [file, code] of Object.entries(configMap.data as Record<string, string>)) fs.writeFileSync(path.join(moduleDir, file), code);
  const synthesizedHost = `localhost:${PREDICTOR_PORT}`;
  const transformerArgs = withoutServeAndPorts(containerArgs('transformer')).map((a) => (a === synthesizedHost
    ? `localhost:${predictor!.port}`
    : a.replace('/etc/model-server/transformer', moduleDir)));
  expect(transformerArgs).toContain(`localhost:${predictor.port}`);
  transformer = await startServer(transformerArgs);

  // THEN the transformer answers with the predictor's outputs, post-processed by the module
  const res = await request(transformer.port, 'POST', '/v2/models/iris/infer', iris.v2_request);
  expect(res.status).toBe(200);
  expect(res.body.parameters).toEqual({ transformed: true });
  const want = (iris.outputs as Array<{ name: string; data: number[] }>).find((o) => o.name === 'probabilities')!;
  const got = (res.body.outputs as Array<{ name: string; data: number[] }>).find((o) => o.name === 'probabilities')!;
  expectClose(got.data, want.data, iris.tolerance);
});
