/**
 * ModelMesh runtime: three real `serve --mode mesh` processes on loopback share 50 models under
 * memory budgets that cannot hold them all.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { expectClose, expected, metricSamples, MODELS, request, Response, RunningServer, startServer } from './server-harness';
import { METRICS, MESH_FORWARDED_HEADER, MESH_STATUS_PATH } from '../../src/contract';
import { holders as placement } from '../../src/server/mesh/hrw';

const FIXTURES = ['iris-logreg', 'iris-mlp', 'diabetes-linreg'];
const MODEL_COUNT = 50;
/** Per member. The 50 models charge about 70 kB (file size x 2); the three members hold 27 kB. */
const BUDGET = 9000;
const SERVED_BY = 'x-model-mesh-served-by';

interface MeshModel { name: string; fixture: string }

const models: MeshModel[] = Array.from({ length: MODEL_COUNT }, (_, i) => ({
  name: `model-${String(i).padStart(2, '0')}`,
  fixture: FIXTURES[i % FIXTURES.length],
}));
const fixtures = new Map(FIXTURES.map((f) => [f, expected(f)]));

let dir: string;
let members: RunningServer[] = [];
let ports: number[] = [];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function checkOutputs(model: MeshModel, res: Response): void {
  const fixture = fixtures.get(model.fixture);
  expect(res.body.model_name).toBe(model.name);
  for (const want of fixture.outputs) {
    const got = res.body.outputs.find((o: { name: string }) => o.name === want.name);
    expect(got).toBeDefined();
    expectClose(got.data, want.data, fixture.tolerance);
  }
}

function infer(port: number, model: MeshModel, headers: Record<string, string> = {}): Promise<Response> {
  return request(port, 'POST', `/v2/models/${model.name}/infer`, fixtures.get(model.fixture).v2_request, headers);
}

/** Runs `fn` over `items` with at most `limit` at once. */
async function pool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  }));
}

async function metricsOf(port: number): Promise<string> {
  const res = await request(port, 'GET', '/metrics');
  expect(res.status).toBe(200);
  return res.text;
}

function sum(text: string, name: string, filter = ''): number {
  let total = 0;
  for (const [labels, value] of metricSamples(text, name)) {
    if (labels.includes(filter)) total += value;
  }
  return total;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mesh-'));
  const modelDir = path.join(dir, 'models');
  for (const m of models) {
    fs.mkdirSync(path.join(modelDir, m.name), { recursive: true });
    fs.copyFileSync(path.join(MODELS, `${m.fixture}.onnx`), path.join(modelDir, m.name, 'model.onnx'));
  }
  // The registry a ModelMesh mounts: one copy each, two for the first five.
  const registry = path.join(dir, 'models.json');
  fs.writeFileSync(registry, JSON.stringify({ models: models.map((m, i) => ({ name: m.name, format: 'onnx', memoryEstimateBytes: 4096, copies: i < 5 ? 2 : 1 })) }));
  ports = [await freePort(), await freePort(), await freePort()];
  const peers = ports.map((p) => `127.0.0.1:${p}`).join(',');
  members = await Promise.all(ports.map((port) => startServer([
    '--mode', 'mesh', '--model-dir', modelDir, '--memory-budget-bytes', String(BUDGET),
    '--peers', peers, '--self', `127.0.0.1:${port}`, '--http-port', String(port), '--model-registry', registry,
  ])));
}, 30_000);

afterAll(async () => {
  await Promise.all(members.map((m) => m.stop()));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('every member serves every model with correct outputs, models stay on their holders, and no budget is exceeded', async () => {
  // GIVEN three members, 50 models, budgets that hold about a third of them in all
  // WHEN every model is requested from every member (150 requests, 6 at once)
  const servedBy = new Map<string, Set<string>>();
  const jobs = models.flatMap((m) => ports.map((port) => ({ m, port })));
  const failures: string[] = [];
  await pool(jobs, 6, async ({ m, port }) => {
    const res = await infer(port, m);
    if (res.status !== 200) {
      failures.push(`${m.name} via ${port}: ${res.status} ${res.text}`);
      return;
    }
    checkOutputs(m, res);
    const set = servedBy.get(m.name) ?? new Set<string>();
    set.add(String(res.headers[SERVED_BY]));
    servedBy.set(m.name, set);
  });

  // THEN every request succeeded with the expected outputs
  expect(failures).toEqual([]);
  expect(servedBy.size).toBe(MODEL_COUNT);
  // a one-copy model ran on exactly one member, whichever member was asked: the member that
  // rendezvous hashing places it on. Placement is a pure function of the member ids (which hold
  // the ports the OS gave), so this is exact, not a count that happens to clear a threshold.
  const ids = ports.map((p) => ({ id: `127.0.0.1:${p}`, weight: BUDGET }));
  for (const m of models.slice(5)) {
    expect({ model: m.name, servedBy: [...servedBy.get(m.name)!] }).toEqual({ model: m.name, servedBy: [placement(m.name, ids, 1)[0].id] });
  }

  const texts = await Promise.all(ports.map(metricsOf));
  const evictions = texts.map((t) => sum(t, METRICS.modelEvictionsTotal));
  const peaks = texts.map((t) => sum(t, METRICS.meshMemoryPeakBytes));
  const forwards = texts.map((t) => sum(t, METRICS.meshForwardsTotal, 'outcome="ok"'));
  const loads = texts.map((t) => sum(t, METRICS.meshLoadsTotal));
  const misses = texts.map((t) => sum(t, METRICS.meshCacheMissesTotal));
  // eviction happened: together the members loaded more models than they can hold
  expect(evictions.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  // the memory charged never exceeded the budget on any member, and was used
  for (const peak of peaks) {
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(BUDGET);
  }
  // requests to non-holders were forwarded (one hop), loads and misses were counted
  expect(forwards.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(MODEL_COUNT);
  expect(loads.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(MODEL_COUNT);
  expect(misses.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  // per-model request counts: each model was received three times in all
  const received = (name: string) => texts.reduce((a, t) => a + sum(t, METRICS.meshRequestsTotal, `model="${name}",via="`) - sum(t, METRICS.meshRequestsTotal, `model="${name}",via="from_peer"`), 0);
  expect(received('model-07')).toBe(3);
  process.stdout.write(`mesh: ${jobs.length} requests; evictions per member ${evictions.join('/')}; peak bytes ${peaks.join('/')} of ${BUDGET}; forwards ${forwards.join('/')}; loads ${loads.join('/')}\n`);
}, 30_000);

test('a forwarded request is served by the member that received it (one hop at most)', async () => {
  const m = models[20];
  const status = await request(ports[0], 'GET', `${MESH_STATUS_PATH}?model=${m.name}`);
  const holder = status.body.holders[0];
  const nonHolder = ports.find((p) => `127.0.0.1:${p}` !== holder)!;
  const res = await infer(nonHolder, m, { [MESH_FORWARDED_HEADER]: 'test' });
  expect(res.status).toBe(200);
  checkOutputs(m, res);
  expect(res.headers[SERVED_BY]).toBe(`127.0.0.1:${nonHolder}`);
});

test('a binary tensor data request is forwarded with its header length, and the binary answer comes back intact', async () => {
  // GIVEN an iris model, asked at a member that does not hold it, with binary input and outputs
  const m = models.find((x) => x.fixture === 'iris-logreg' && x.name !== models[20].name)!;
  const status = await request(ports[0], 'GET', `${MESH_STATUS_PATH}?model=${m.name}`);
  const nonHolder = ports.find((p) => !status.body.holders.includes(`127.0.0.1:${p}`))!;
  const fixture = fixtures.get(m.fixture);
  const input = fixture.v2_request.inputs[0];
  const json = Buffer.from(JSON.stringify({
    inputs: [{ name: input.name, shape: input.shape, datatype: 'FP32', parameters: { binary_data_size: input.data.length * 4 } }],
    parameters: { binary_data_output: true },
  }));
  const body = Buffer.concat([json, Buffer.from(new Float32Array(input.data).buffer)]);

  // WHEN it is sent
  const answer = await request(nonHolder, 'POST', `/v2/models/${m.name}/infer`, body, {
    'content-type': 'application/octet-stream', 'inference-header-content-length': String(json.length),
  });

  // THEN a holder served it, and the answer is the binary extension's, with the right values
  expect(answer.status).toBe(200);
  expect(status.body.holders).toContain(answer.headers[SERVED_BY]);
  const headerLength = Number(answer.headers['inference-header-content-length']);
  expect(headerLength).toBeGreaterThan(0);
  const head = JSON.parse(answer.raw.subarray(0, headerLength).toString('utf8'));
  let offset = headerLength;
  for (const out of head.outputs) {
    const bytes = answer.raw.subarray(offset, offset + out.parameters.binary_data_size);
    offset += bytes.length;
    const copy = new Uint8Array(bytes).buffer;
    const values = out.datatype === 'INT64' ? Array.from(new BigInt64Array(copy), Number) : Array.from(new Float32Array(copy));
    expectClose(values, fixture.outputs.find((o: { name: string }) => o.name === out.name).data, fixture.tolerance);
  }
  expect(offset).toBe(answer.raw.length);
});

test('model metadata and readiness asked at any member come from a holder, which loads the model for them', async () => {
  // GIVEN a model placed on one holder, asked at a member that does not hold it
  const m = models[33];
  const status = await request(ports[0], 'GET', `${MESH_STATUS_PATH}?model=${m.name}`);
  const holder = status.body.holders[0];
  const nonHolder = ports.find((p) => !status.body.holders.includes(`127.0.0.1:${p}`))!;
  const fixture = fixtures.get(m.fixture);

  // WHEN metadata and readiness are asked there
  const metadata = await request(nonHolder, 'GET', `/v2/models/${m.name}`);
  const ready = await request(nonHolder, 'GET', `/v2/models/${m.name}/ready`);
  const v1Status = await request(nonHolder, 'GET', `/v1/models/${m.name}`);

  // THEN the holder answered each, with the model's real signature, and it is loaded there only
  expect(metadata.status).toBe(200);
  expect(metadata.headers[SERVED_BY]).toBe(holder);
  expect(metadata.body.name).toBe(m.name);
  expect(metadata.body.inputs.map((i: { name: string }) => i.name)).toEqual(fixture.v2_request.inputs.map((i: { name: string }) => i.name));
  expect(metadata.body.outputs.map((o: { name: string }) => o.name).sort()).toEqual(fixture.outputs.map((o: { name: string }) => o.name).sort());
  expect([ready.status, ready.body, ready.headers[SERVED_BY]]).toEqual([200, { name: m.name, ready: true }, holder]);
  expect([v1Status.status, v1Status.body.ready]).toEqual([200, true]);
  const atNonHolder = await request(nonHolder, 'GET', MESH_STATUS_PATH);
  expect(atNonHolder.body.loaded).not.toContain(m.name);
  // AND an unknown model is still a 404 wherever it is asked
  expect((await request(nonHolder, 'GET', '/v2/models/no-such-model')).status).toBe(404);
});

test('killing a member mid-run loses no request after bounded retries', async () => {
  // GIVEN a run of 300 requests over all models, sent to the members in turn
  const victim = members[2];
  const victimId = `127.0.0.1:${ports[2]}`;
  const jobs = Array.from({ length: 300 }, (_, i) => ({ m: models[(i * 7) % MODEL_COUNT], first: i % 3 }));
  const MAX_CLIENT_RETRIES = 3;
  let retries = 0;
  let done = 0;
  const lost: string[] = [];
  const servedAfterKill = new Map<string, string>();
  let killed = false;

  // WHEN the third member is SIGKILLed after 60 requests
  await pool(jobs, 6, async ({ m, first }) => {
    let res: Response | undefined;
    for (let attempt = 0; attempt <= MAX_CLIENT_RETRIES; attempt++) {
      const port = ports[(first + attempt) % 3];
      try {
        res = await infer(port, m);
        if (res.status === 200) break;
      } catch {
        // connection refused or reset: the client tries the next member
        res = undefined;
      }
      retries++;
    }
    if (!res || res.status !== 200) {
      lost.push(`${m.name}: ${res ? `${res.status} ${res.text}` : 'no answer'}`);
    } else {
      checkOutputs(m, res);
      if (killed) servedAfterKill.set(m.name, String(res.headers[SERVED_BY]));
    }
    if (++done === 60) {
      victim.proc.kill('SIGKILL');
      await victim.exited;
      killed = true;
    }
  });

  // THEN nothing was lost, retries were bounded, and the dead member's models moved
  expect(lost).toEqual([]);
  expect(retries).toBeLessThanOrEqual(jobs.length);
  expect(servedAfterKill.size).toBe(MODEL_COUNT);
  expect([...servedAfterKill.values()]).not.toContain(victimId);
  const texts = await Promise.all(ports.slice(0, 2).map(metricsOf));
  for (const t of texts) {
    expect(sum(t, METRICS.meshMemoryPeakBytes)).toBeLessThanOrEqual(BUDGET);
  }
  const status = await request(ports[0], 'GET', MESH_STATUS_PATH);
  expect(status.body.members.find((x: { id: string }) => x.id === victimId).live).toBe(false);
  process.stdout.write(`mesh kill: ${jobs.length} requests, 0 lost, ${retries} client retries, forward errors ${texts.map((t) => sum(t, METRICS.meshForwardsTotal, 'outcome="error"')).join('/')}\n`);
}, 40_000);
