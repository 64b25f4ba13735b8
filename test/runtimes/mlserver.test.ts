// MLServer as a real process (issue 15), started exactly as `runtime: ServingRuntime.MLSERVER` synthesizes
// it: command, args and env read back from the Deployment, the model fetched into the model dir by the
// synthesized storage-initializer init container (our server's CLI, from a loopback HTTP server), the
// model dir and ports mapped to a temp folder and free loopback ports, readiness on the synthesized probe.
// One model per MLServer runtime (sklearn, XGBoost, LightGBM), each trained in the test with a fixed seed;
// the V2 answers must equal what the library itself predicts, and the sklearn labels the fixture's.
import { mkdtempSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Chart, Testing } from 'cdk8s';
import { postJson, podSpecOf, python, runtimesVenv, startRuntime, StartedRuntime } from './runtime-harness';
import { DeploymentMode, ModelEndpoint, ModelFormat, ModelImageMount, ServingRuntime, StorageUri } from '../../src';
import { startFakeOciRegistry } from '../server/storage/fake-oci-registry';

const FIXTURE = JSON.parse(readFileSync(path.join(__dirname, '..', 'fixtures', 'models', 'iris-logreg.expected.json'), 'utf8'));
const ROWS: number[][] = FIXTURE.v1_request.instances;
const venv = runtimesVenv();
const maybe = venv ? describe : describe.skip;

/** Trains on iris with a fixed seed in the venv; writes `file`; prints what the library predicts for ROWS. */
const TRAIN: Record<string, string> = {
  sklearn: `
import json, sys, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
clf = LogisticRegression(max_iter=1000, random_state=0).fit(X, y)
joblib.dump(clf, sys.argv[1])
rows = json.loads(sys.argv[2])
print(json.dumps({"predict": clf.predict(rows).tolist(), "predict_proba": clf.predict_proba(rows).tolist()}))
`,
  xgboost: `
import json, sys
from sklearn.datasets import load_iris
from xgboost import XGBClassifier
X, y = load_iris(return_X_y=True)
clf = XGBClassifier(n_estimators=10, max_depth=2, random_state=0, n_jobs=1).fit(X, y)
clf.save_model(sys.argv[1])
rows = json.loads(sys.argv[2])
print(json.dumps({"predict": clf.predict(rows).tolist(), "predict_proba": clf.predict_proba(rows).tolist()}))
`,
  lightgbm: `
import json, sys
import numpy as np
from sklearn.datasets import load_iris
import lightgbm as lgb
X, y = load_iris(return_X_y=True)
booster = lgb.train({"objective": "multiclass", "num_class": 3, "num_leaves": 4, "seed": 0, "deterministic": True,
                     "num_threads": 1, "verbose": -1}, lgb.Dataset(X, y), num_boost_round=10)
booster.save_model(sys.argv[1])
print(json.dumps({"predict": booster.predict(np.array(json.loads(sys.argv[2]))).tolist()}))
`,
};

const CASES: Array<{ format: ModelFormat; key: string; file: string; outputs: string[] }> = [
  { format: ModelFormat.SKLEARN, key: 'sklearn', file: 'model.joblib', outputs: ['predict', 'predict_proba'] },
  { format: ModelFormat.XGBOOST, key: 'xgboost', file: 'model.json', outputs: ['predict', 'predict_proba'] },
  { format: ModelFormat.LIGHTGBM, key: 'lightgbm', file: 'model.bst', outputs: ['predict'] },
];

function closeTo(got: number[], want: number[], atol: number): boolean {
  return got.length === want.length && got.every((g, i) => Math.abs(g - want[i]) <= atol + 1e-6 * Math.abs(want[i]));
}

maybe('MLServer as a real process, from the synthesized pod (venv runtimes)', () => {
  let files: http.Server;
  let filesUrl: string;
  let dir: string;
  let running: StartedRuntime | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mlserver-models-'));
    files = http.createServer((req, res) => {
      try {
        const body = readFileSync(path.join(dir, path.basename(req.url ?? '')));
        res.writeHead(200, { 'content-length': body.length });
        res.end(body);
      } catch {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });
  afterEach(async () => { await running?.stop(); running = undefined; });
  afterAll(async () => {
    files.closeAllConnections();
    await new Promise((r) => files.close(r));
  });

  test.each(CASES)('serves a $key model over V2 with the answers the library gives', async ({ format, key, file, outputs }) => {
    const expected = JSON.parse(await python(venv!, TRAIN[key], [path.join(dir, file), JSON.stringify(ROWS)]));
    const chart = new Chart(Testing.app(), 'test');
    new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      format,
      runtime: ServingRuntime.MLSERVER,
      storageUri: StorageUri.fromUri(`${filesUrl}/${file}`),
    });
    const manifests = Testing.synth(chart);
    const spec = podSpecOf(manifests);
    // What the harness runs is what the pod would: the runtime's command and the format's model class.
    const server = spec.containers.find((c: any) => c.name === 'model-server');
    expect(server.command).toEqual(['mlserver', 'start', '/mnt/models']);
    expect(server.env).toContainEqual({ name: 'MLSERVER_MODEL_IMPLEMENTATION', value: `mlserver_${key}.${{ sklearn: 'SKLearnModel', xgboost: 'XGBoostModel', lightgbm: 'LightGBMModel' }[key]}` });
    expect(spec.initContainers.map((c: any) => c.name)).toEqual(['storage-initializer']);

    running = await startRuntime(manifests, { venv: venv! });
    const res = await postJson(running.httpPort, '/v2/models/iris/infer', {
      inputs: [{ name: 'input-0', shape: [ROWS.length, 4], datatype: 'FP64', data: ROWS.flat() }],
      outputs: outputs.map((name) => ({ name })),
    });
    expect(res.status).toBe(200);
    expect(res.body.model_name).toBe('iris');
    for (const name of outputs) {
      const out = res.body.outputs.find((o: any) => o.name === name);
      expect(out).toBeDefined();
      const want = (expected[name] as Array<number | number[]>).flat();
      expect(closeTo(out.data.map(Number), want, 1e-9)).toBe(true);
    }
    if (key === 'sklearn') {
      // The same sklearn model as the repo's ONNX fixture: the labels agree with the fixture's.
      const fixtureLabels = FIXTURE.outputs.find((o: any) => o.name === 'label').data;
      expect(res.body.outputs.find((o: any) => o.name === 'predict').data).toEqual(fixtureLabels);
    }
  }, 240_000);

  test('serves an sklearn model that the synthesized storage initializer pulled from an OCI image (fake OCI registry on loopback)', async () => {
    const expected = JSON.parse(await python(venv!, TRAIN.sklearn, [path.join(dir, 'oci-model.joblib'), JSON.stringify(ROWS)]));
    const registry = await startFakeOciRegistry({ images: { 'models/iris-sklearn:v1': { layers: [{ 'models/model.joblib': readFileSync(path.join(dir, 'oci-model.joblib')) }] } } });
    try {
      const chart = new Chart(Testing.app(), 'test');
      new ModelEndpoint(chart, 'Endpoint', {
        modelName: 'iris',
        mode: DeploymentMode.RAW,
        format: ModelFormat.SKLEARN,
        runtime: ServingRuntime.MLSERVER,
        storageUri: StorageUri.oci(`${registry.host}/models/iris-sklearn:v1`, { mount: ModelImageMount.FETCH }),
      });
      const manifests = Testing.synth(chart);
      expect(podSpecOf(manifests).initContainers[0].args).toEqual(['storage-initializer', `oci://${registry.host}/models/iris-sklearn:v1`, '/mnt/models']);
      running = await startRuntime(manifests, { venv: venv! });
      const res = await postJson(running.httpPort, '/v2/models/iris/infer', {
        inputs: [{ name: 'input-0', shape: [ROWS.length, 4], datatype: 'FP64', data: ROWS.flat() }],
        outputs: [{ name: 'predict_proba' }],
      });
      expect(res.status).toBe(200);
      expect(closeTo(res.body.outputs[0].data.map(Number), expected.predict_proba.flat(), 1e-9)).toBe(true);
      expect(registry.requests.filter((r) => r.startsWith('store GET /blob/'))).toHaveLength(1);
    } finally {
      await registry.close();
    }
  }, 240_000);
});
