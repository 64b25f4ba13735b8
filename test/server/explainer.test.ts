/* eslint-disable no-bitwise */ // coalitions are bit masks
// Explainer correctness and wiring, on real `serve` processes on loopback ports.
//
// Linear model: for f(x) = w.x + b the exact (interventional) Shapley values are
// w_i (x_i - E[x_i]), E over the background. KernelSHAP must recover them on diabetes-linreg,
// with every coalition (exact) and with sampled coalitions. Tolerance: 1e-3 absolute, for
// attributions of size 0.1-40 computed from float32 model outputs around 150 (float32 spacing
// there is 1.5e-5).
// Classifiers: on iris-logreg and iris-mlp, per class, attributions sum to prediction - base
// value, the base value is the mean prediction over the background, and (iris-mlp) the
// attributions equal the Shapley values computed from the combinatorial formula.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, expectClose, expected, metricSamples, modelDir, request, RunningServer, SERVER_NODE, startServer } from './server-harness';

const TOL = 1e-3;
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'transformer');
const IRIS_BACKGROUND = path.join(FIXTURES, 'iris-background.csv');
const diabetes = expected('diabetes-linreg');
const DIABETES_ROWS: number[][] = diabetes.v1_request.instances;
const FEATURES = ['age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6'];

/** A seeded background for diabetes: 25 rows of independent values in [-0.1, 0.1]. */
const BACKGROUND: number[][] = (() => {
  let s = 12345;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  return Array.from({ length: 25 }, () => Array.from({ length: 10 }, () => Number(((next() - 0.5) * 0.2).toFixed(4))));
})();

const f32 = Math.fround;
const started: RunningServer[] = [];
let tmp: string;
let diabetesPredictor: RunningServer;
let irisPredictor: RunningServer;
let restExplainer: RunningServer;
let grpcExplainer: RunningServer;
let irisExplainer: RunningServer;
let inProcess: RunningServer;
let weights: number[];
let intercept: number;

async function start(args: string[]): Promise<RunningServer> {
  const s = await startServer(args);
  started.push(s);
  return s;
}

async function infer(port: number, model: string, rows: number[][]): Promise<number[][]> {
  const d = rows[0].length;
  const res = await request(port, 'POST', `/v2/models/${model}/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, d], data: rows.flat() }] });
  expect(res.status).toBe(200);
  const out = res.body.outputs[0];
  const k = out.shape.length > 1 ? out.shape[1] : 1;
  return rows.map((_, r) => out.data.slice(r * k, (r + 1) * k));
}

function explain(port: number, model: string, instances: number[][], parameters?: object) {
  return request(port, 'POST', `/v1/models/${model}:explain`, { instances, ...(parameters ? { parameters } : {}) });
}

/** w_i (x_i - E[x_i]) with inputs and background rounded to float32, as the model sees them. */
function exactLinear(x: number[]): number[] {
  return weights.map((w, i) => w * (f32(x[i]) - BACKGROUND.reduce((a, b) => a + f32(b[i]), 0) / BACKGROUND.length));
}

function maxError(got: number[], want: number[]): number {
  return Math.max(...got.map((g, i) => Math.abs(g - want[i])));
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'explainer-'));
  fs.writeFileSync(path.join(tmp, 'background.json'), JSON.stringify({ instances: BACKGROUND, feature_names: FEATURES }));
  const diabetesDir = modelDir({ 'diabetes-linreg.onnx': 'diabetes-linreg.onnx' });
  const irisDir = modelDir({ 'iris-logreg.onnx': 'iris-logreg.onnx', 'iris-mlp.onnx': 'iris-mlp.onnx' });
  const big = ['--max-batch-size', '100000'];
  [diabetesPredictor, irisPredictor, inProcess] = await Promise.all([
    start(['--model-dir', diabetesDir, '--model-name', 'diabetes', ...big]),
    start(['--model-dir', irisDir, '--mode', 'multi', ...big]),
    start(['--model-dir', diabetesDir, '--model-name', 'diabetes', ...big, '--explainer-method', 'kernel_shap', '--explainer-background', JSON.stringify(BACKGROUND)]),
  ]);
  const grpcPort = diabetesPredictor.logs.find((l) => l.event === 'grpc_listening')!.grpcPort as number;
  const explainerArgs = ['--mode', 'explainer', '--explainer-batch-size', '100000'];
  [restExplainer, grpcExplainer, irisExplainer] = await Promise.all([
    start([...explainerArgs, '--model-name', 'diabetes', '--predictor-host', `127.0.0.1:${diabetesPredictor.port}`, '--explainer-background', JSON.stringify(BACKGROUND)]),
    start([...explainerArgs, '--model-name', 'diabetes', '--predictor-host', `127.0.0.1:${grpcPort}`, '--predictor-protocol', 'grpc-v2', '--model-dir', tmp]),
    start([...explainerArgs, '--model-name', 'iris-mlp', '--predictor-host', `127.0.0.1:${irisPredictor.port}`, '--explainer-background', IRIS_BACKGROUND]),
  ]);
  // The model's weights, from its answers at 0 and at the unit vectors.
  const unit = [new Array(10).fill(0), ...Array.from({ length: 10 }, (_, i) => Array.from({ length: 10 }, (__, j) => (i === j ? 1 : 0)))];
  const f = (await infer(diabetesPredictor.port, 'diabetes', unit)).map((r) => r[0]);
  intercept = f[0];
  weights = f.slice(1).map((v) => v - f[0]);
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.stop()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('KernelSHAP on a linear model (diabetes-linreg)', () => {
  test('with every coalition it recovers w_i (x_i - E[x_i])', async () => {
    const res = await explain(restExplainer.port, 'diabetes', DIABETES_ROWS);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model_name: 'diabetes', method: 'kernel_shap', output: 'predictions', output_names: ['predictions'], feature_names: FEATURES.map((_, i) => `x${i}`) });
    const direct = (await infer(diabetesPredictor.port, 'diabetes', DIABETES_ROWS)).map((r) => r[0]);
    res.body.explanations.forEach((e: any, r: number) => {
      expect(e.exact).toBe(true);
      expect(e.coalitions).toBe(1022);
      expect(maxError(e.attributions[0], exactLinear(DIABETES_ROWS[r]))).toBeLessThan(TOL);
      expect(Math.abs(e.prediction[0] - direct[r])).toBeLessThan(1e-9);
      const meanX = FEATURES.map((_, i) => BACKGROUND.reduce((a, b) => a + f32(b[i]), 0) / BACKGROUND.length);
      expect(Math.abs(e.base_value[0] - (intercept + weights.reduce((a, w, i) => a + w * meanX[i], 0)))).toBeLessThan(TOL);
    });
  });

  test('with sampled coalitions it still recovers them, reproducibly for a seed', async () => {
    const a = await explain(restExplainer.port, 'diabetes', DIABETES_ROWS.slice(0, 2), { samples: 200, seed: 7 });
    const b = await explain(restExplainer.port, 'diabetes', DIABETES_ROWS.slice(0, 2), { samples: 200, seed: 7 });
    expect(a.status).toBe(200);
    expect(b.body).toEqual(a.body);
    a.body.explanations.forEach((e: any, r: number) => {
      expect(e.exact).toBe(false);
      expect(e.coalitions).toBeLessThanOrEqual(200);
      expect(maxError(e.attributions[0], exactLinear(DIABETES_ROWS[r]))).toBeLessThan(TOL);
    });
  });

  test('all the coalitions of an explanation go to the predictor in one request', async () => {
    const count = async () => metricSamples((await request(diabetesPredictor.port, 'GET', '/metrics')).text, 'model_server_requests_total').get('{model="diabetes",protocol="v2",code="200"}') ?? 0;
    await explain(restExplainer.port, 'diabetes', [DIABETES_ROWS[0]]);
    const before = await count();
    await explain(restExplainer.port, 'diabetes', [DIABETES_ROWS[1]]);
    expect(await count()).toBe(before + 1);
  });

  test('over gRPC, with the background file of the model directory, the result is the same', async () => {
    const rest = await explain(restExplainer.port, 'diabetes', DIABETES_ROWS);
    const grpc = await explain(grpcExplainer.port, 'diabetes', DIABETES_ROWS);
    expect(grpc.status).toBe(200);
    expect(grpc.body.feature_names).toEqual(FEATURES);
    grpc.body.explanations.forEach((e: any, r: number) =>
      expectClose(e.attributions[0], rest.body.explanations[r].attributions[0], { atol: 1e-9, rtol: 0 }));
  });

  test('in process (explainer inside the predictor) the result is the same', async () => {
    const rest = await explain(restExplainer.port, 'diabetes', DIABETES_ROWS);
    const local = await explain(inProcess.port, 'diabetes', DIABETES_ROWS);
    expect(local.status).toBe(200);
    local.body.explanations.forEach((e: any, r: number) =>
      expectClose(e.attributions[0], rest.body.explanations[r].attributions[0], { atol: 1e-9, rtol: 0 }));
    // The predictor still predicts.
    expect((await request(inProcess.port, 'POST', '/v1/models/diabetes:predict', diabetes.v1_request)).status).toBe(200);
  });

  test('LIME fits the local linear model: coefficients w_i * std_i on standardised features', async () => {
    const res = await request(restExplainer.port, 'POST', '/v2/models/diabetes/explain', { instances: [DIABETES_ROWS[0]], parameters: { method: 'lime', samples: 2000, seed: 3 } });
    expect(res.status).toBe(200);
    const e = res.body.explanations[0];
    expect(res.body.method).toBe('lime');
    expect(e.score[0]).toBeGreaterThan(0.999);
    const std = FEATURES.map((_, i) => {
      const m = BACKGROUND.reduce((a, b) => a + b[i], 0) / BACKGROUND.length;
      return Math.sqrt(BACKGROUND.reduce((a, b) => a + (b[i] - m) ** 2, 0) / BACKGROUND.length);
    });
    const want = weights.map((w, i) => w * std[i]);
    e.coefficients[0].forEach((c: number, i: number) => expect(Math.abs(c - want[i])).toBeLessThan(0.02 * Math.max(...want.map(Math.abs))));
    expect(Math.abs(e.local_prediction[0] - e.prediction[0])).toBeLessThan(0.5);
  });
});

describe.each(['iris-logreg', 'iris-mlp'])('KernelSHAP on a classifier (%s)', (model) => {
  const fixture = expected(model);
  const rows: number[][] = fixture.v1_request.instances;
  const background = fs.readFileSync(IRIS_BACKGROUND, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));

  test('per class, attributions sum to prediction - base value; base = mean prediction over the background', async () => {
    const res = await explain(irisExplainer.port, model, rows);
    expect(res.status).toBe(200);
    expect(res.body.output).toBe('probabilities');
    expect(res.body.output_names).toEqual(['probabilities[0]', 'probabilities[1]', 'probabilities[2]']);
    expect(res.body.feature_names).toEqual(['sepal_length', 'sepal_width', 'petal_length', 'petal_width']);
    const bg = await infer(irisPredictor.port, model, background);
    const base = [0, 1, 2].map((c) => bg.reduce((a, p) => a + p[c], 0) / bg.length);
    const probabilities = fixture.outputs.find((o: { name: string }) => o.name === 'probabilities').data;
    res.body.explanations.forEach((e: any, r: number) => {
      expect(e.exact).toBe(true);
      expectClose(e.prediction, probabilities.slice(r * 3, r * 3 + 3), fixture.tolerance);
      expectClose(e.base_value, base, { atol: 1e-9, rtol: 0 });
      for (let c = 0; c < 3; c++) {
        const sum = e.attributions[c].reduce((a: number, v: number) => a + v, 0);
        expect(Math.abs(sum - (e.prediction[c] - e.base_value[c]))).toBeLessThan(1e-9);
      }
    });
  });

  test('attributions equal the Shapley values of the combinatorial formula', async () => {
    const x = rows[4];
    const res = await explain(irisExplainer.port, model, [x]);
    // v(S) for all 16 coalitions, from the predictor directly.
    const coalitionRows = Array.from({ length: 16 }, (_, S) => background.map((b) => b.map((v, i) => (S & (1 << i) ? x[i] : v)))).flat();
    const out = await infer(irisPredictor.port, model, coalitionRows);
    const nb = background.length;
    const v = Array.from({ length: 16 }, (_, S) => [0, 1, 2].map((c) => out.slice(S * nb, (S + 1) * nb).reduce((a, p) => a + p[c], 0) / nb));
    const fact = [1, 1, 2, 6, 24];
    const size = (S: number) => [0, 1, 2, 3].filter((i) => S & (1 << i)).length;
    for (let c = 0; c < 3; c++) {
      const shapley = [0, 1, 2, 3].map((i) => {
        let phi = 0;
        for (let S = 0; S < 16; S++) {
          if (S & (1 << i)) continue;
          phi += (fact[size(S)] * fact[4 - size(S) - 1] / fact[4]) * (v[S | (1 << i)][c] - v[S][c]);
        }
        return phi;
      });
      expectClose(res.body.explanations[0].attributions[c], shapley, { atol: 1e-9, rtol: 0 });
    }
  });
});

describe('explainer errors', () => {
  test('an instance with the wrong number of features is a 400', async () => {
    const res = await explain(restExplainer.port, 'diabetes', [[1, 2, 3]]);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid explain request: instance 0 has 3 values, but the background data set has 10 features', code: 'MS_ERR_INVALID_EXPLAIN_REQUEST' });
  });

  test('an unknown model keeps the predictor\'s 404', async () => {
    const res = await explain(restExplainer.port, 'nope', [DIABETES_ROWS[0]]);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('MS_ERR_MODEL_NOT_FOUND');
  });

  test('a predictor that is down gives a 502', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const e = await start(['--mode', 'explainer', '--model-name', 'diabetes', '--predictor-host', `127.0.0.1:${port}`, '--explainer-background', JSON.stringify(BACKGROUND)]);
    const res = await explain(e.port, 'diabetes', [DIABETES_ROWS[0]]);
    expect(res.status).toBe(502);
    expect(res.body.code).toBe('MS_ERR_PREDICTOR_UNREACHABLE');
  });

  test('fails to start without a background data set', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const proc = spawn(SERVER_NODE, [CLI, 'serve', '--mode', 'explainer', '--predictor-host', '127.0.0.1:1', '--model-dir', path.join(tmp, 'empty'), '--http-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      proc.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no background data set');
  });
});
