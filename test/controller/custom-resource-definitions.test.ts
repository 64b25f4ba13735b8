/**
 * The generated CRDs against the real API server of the test cluster (test/cluster): they are
 * accepted (structural schema, CEL rules compile), a sample CR of each kind is created for real with
 * its literal defaults applied, status goes through the status subresource, `kubectl get` shows the
 * printer columns, and a CR with a wrong type, a bad enum value or a broken CEL rule is refused by
 * the API server's own schema validation.
 */
import { createHash } from 'crypto';
import * as https from 'https';
import { customResourceDefinitions, STATUS_SCHEMA } from '../../src/render/controller/custom-resource-definitions';
import { clusterClient, ensureNamespace, testNamespace } from '../cluster/server-check';

const API_VERSION = 'serving.cdk8s-model-serving.io/v1alpha1';
const SAMPLES: { [kind: string]: unknown } = {
  ModelEndpoint: {
    modelName: 'iris',
    storageUri: 's3://models/iris',
    minReplicas: 1,
    maxReplicas: 4,
    timeout: '30s',
    resources: { memory: { request: '256Mi', limit: '1Gi' }, cpu: { request: '250m' } },
    env: { MODE: { value: 'fast' } },
    transformer: { module: { code: { code: 'exports.preprocess = (x) => x;' } } },
    explainer: { method: 'lime' },
  },
  CanaryRollout: {
    modelName: 'iris',
    stable: { version: 'v1', storageUri: 's3://models/iris/v1' },
    canary: { version: 'v2', storageUri: 's3://models/iris/v2' },
    trafficPercent: 10,
  },
  ModelMesh: {
    memoryPerServer: '1Gi',
    models: [{ name: 'iris', storageUri: 's3://models/iris', memoryEstimate: '64Mi', copies: 'all' }],
  },
};
const PLURALS: { [kind: string]: string } = { ModelEndpoint: 'modelendpoints', CanaryRollout: 'canaryrollouts', ModelMesh: 'modelmeshes' };

let client: any;
let namespace: string;
const crPath = (kind: string, name = '') => `/apis/${API_VERSION}/namespaces/${namespace}/${PLURALS[kind]}${name ? `/${name}` : ''}`;
const create = (kind: string, name: string, spec: unknown) =>
  client.request('POST', `${crPath(kind)}?fieldValidation=Strict`, { body: { apiVersion: API_VERSION, kind, metadata: { name }, spec } });

beforeAll(async () => {
  client = await clusterClient();
  namespace = testNamespace();
  await ensureNamespace(client, namespace);
  for (const crd of customResourceDefinitions()) {
    const r = await client.apply(crd, { force: true });
    if (r.status >= 300) throw new Error(`CRD ${(crd.metadata as any).name} refused: ${JSON.stringify(r.body)}`);
  }
  for (const crd of customResourceDefinitions()) {
    const name = (crd.metadata as any).name;
    for (let i = 0; ; i++) {
      const { body } = await client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
      if ((body.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True')) break;
      if (i > 200) throw new Error(`CRD ${name} not established: ${JSON.stringify(body.status)}`);
      await new Promise(r => setTimeout(r, 100));
    }
  }
}, 360_000);

afterAll(() => client?.close());

test('the API server accepts the three CRDs as structural, namespaced, with the status subresource', async () => {
  for (const crd of customResourceDefinitions()) {
    const { status, body } = await client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${(crd.metadata as any).name}`);
    expect(status).toBe(200);
    expect(body.spec.scope).toBe('Namespaced');
    expect(body.spec.versions[0].subresources).toEqual({ status: {} });
    expect((body.status.conditions as any[]).find(c => c.type === 'NonStructuralSchema')).toBeUndefined();
    expect(body.status.acceptedNames.kind).toBe((crd.spec as any).names.kind);
  }
});

test.each(Object.keys(SAMPLES))('a sample %s is created for real, with the literal defaults of the props applied', async (kind) => {
  const name = `sample-${kind.toLowerCase()}`;
  const { status, body } = await create(kind, name, SAMPLES[kind]);
  expect({ status, message: body.message }).toEqual({ status: 201, message: undefined });
  if (kind === 'ModelEndpoint') {
    expect(body.spec).toMatchObject({ mode: 'Serverless', protocol: 'v2', readOnlyRootFilesystem: true, runAsUser: 1000, startupTimeout: '10m', networkPolicy: true });
    expect(body.spec.explainer).toMatchObject({ method: 'lime', background: { modelDir: { fileName: 'background.json' } }, batchSize: 1024 });
    expect(body.spec.transformer).toMatchObject({ inProcess: false, minReplicas: 1, module: { code: { code: 'exports.preprocess = (x) => x;' } } });
  }
  if (kind === 'CanaryRollout') expect(body.spec).toMatchObject({ ingress: { istio: {} }, versionHeader: 'x-model-version', stable: { format: 'onnx', minReplicas: 1 } });
  if (kind === 'ModelMesh') expect(body.spec).toMatchObject({ replicas: 3, cpuRequest: '500m', cpuLimit: '1', loadTimeout: '2m', serverOverhead: '256Mi', ingress: { none: {} } });
});

test('status is written through the status subresource, and kubectl get shows READY, URL, MODE, TRAFFIC, AGE', async () => {
  const name = 'with-status';
  expect((await create('CanaryRollout', name, SAMPLES.CanaryRollout)).status).toBe(201);
  const status = {
    observedGeneration: 1,
    url: 'http://with-status.example.com',
    trafficSummary: 'stable=90 canary=10',
    traffic: [{ tag: 'stable', version: 'v1', percent: 90 }, { tag: 'canary', version: 'v2', percent: 10 }],
    conditions: [{ type: 'Ready', status: 'True', reason: 'Reconciled', message: 'every component is ready', lastTransitionTime: '2026-12-07T04:00:00Z', observedGeneration: 1 }],
    components: { predictor: { knativeService: 'with-status', latestReadyRevision: 'with-status-v2' } },
  };
  const patched = await client.request('PATCH', `${crPath('CanaryRollout', name)}/status`, { body: { status }, contentType: 'application/merge-patch+json' });
  expect({ status: patched.status, message: patched.body.message }).toEqual({ status: 200, message: undefined });
  expect(patched.body.status.components.predictor.latestReadyRevision).toBe('with-status-v2');
  // A status in the main resource is ignored (status subresource).
  const main = await client.request('PATCH', crPath('CanaryRollout', name), { body: { status: { url: 'http://elsewhere' } }, contentType: 'application/merge-patch+json' });
  expect(main.body.status.url).toBe('http://with-status.example.com');

  const asTable = await new Promise<any>((resolve, reject) => {
    const url = new URL(client.server.href);
    const req = https.request({ host: url.hostname, port: url.port, path: crPath('CanaryRollout', name), agent: client.agent, headers: { authorization: `Bearer ${client.token}`, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' } }, (res: any) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c; });
      res.on('end', () => resolve(JSON.parse(text)));
    });
    req.on('error', reject);
    req.end();
  });
  expect(asTable.columnDefinitions.map((c: any) => c.name)).toEqual(['Name', 'Ready', 'URL', 'Mode', 'Traffic', 'Age']);
  expect(asTable.rows[0].cells.slice(0, 5)).toEqual([name, 'True', 'http://with-status.example.com', 'Serverless', 'stable=90 canary=10']);
});

test('a status condition outside the metav1.Condition shape is refused', async () => {
  expect(STATUS_SCHEMA.properties).toHaveProperty('conditions');
  const name = 'bad-status';
  expect((await create('ModelMesh', name, SAMPLES.ModelMesh)).status).toBe(201);
  const r = await client.request('PATCH', `${crPath('ModelMesh', name)}/status`, {
    body: { status: { conditions: [{ type: 'Ready', status: 'Maybe', reason: 'x', message: '', lastTransitionTime: '2026-12-07T04:00:00Z' }] } },
    contentType: 'application/merge-patch+json',
  });
  expect(r.status).toBe(422);
  expect(r.body.message).toMatch(/status.conditions\[0\].status: Unsupported value: "Maybe"/);
});

describe('the API server refuses a bad CR by the generated schema', () => {
  const refused = async (kind: string, spec: unknown) => {
    const r = await create(kind, `bad-${createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 10)}`, spec);
    expect(r.status).toBe(422);
    return r.body.message as string;
  };

  test('fails on a wrong type (minReplicas as a string)', async () => {
    expect(await refused('ModelEndpoint', { ...(SAMPLES.ModelEndpoint as object), minReplicas: 'two' })).toMatch(/spec.minReplicas: Invalid value: "string": spec.minReplicas in body must be of type integer/);
  });

  test('fails on a bad enum value (mode)', async () => {
    expect(await refused('ModelEndpoint', { ...(SAMPLES.ModelEndpoint as object), mode: 'Knative' })).toMatch(/spec.mode: Unsupported value: "Knative": supported values: "Serverless", "RawDeployment"/);
  });

  test('fails on the CEL rule minReplicas <= maxReplicas, with the rule\'s message', async () => {
    expect(await refused('ModelEndpoint', { ...(SAMPLES.ModelEndpoint as object), minReplicas: 5, maxReplicas: 2 })).toMatch(/spec.maxReplicas: Invalid value: 'maxReplicas' must not be below 'minReplicas'/);
  });

  test('fails on the CEL rule of a union (two ingresses)', async () => {
    expect(await refused('ModelEndpoint', { ...(SAMPLES.ModelEndpoint as object), ingress: { istio: {}, none: {} } })).toMatch(/spec.ingress: Invalid value: set exactly one of gatewayApi, istio, kubernetes, none/);
  });

  test('fails on a canary rule (trafficPercent without a canary) and on a missing required field', async () => {
    expect(await refused('CanaryRollout', { modelName: 'iris', stable: { version: 'v1', storageUri: 's3://m/v1' }, trafficPercent: 5 })).toMatch(/spec.trafficPercent: Invalid value: 'trafficPercent' is set, but there is no 'canary'/);
    expect(await refused('ModelMesh', { models: [] })).toMatch(/spec.memoryPerServer: Required value/);
  });

  test('fails on a quantity and a duration that do not parse', async () => {
    expect(await refused('ModelMesh', { ...(SAMPLES.ModelMesh as object), memoryPerServer: '1GB' })).toMatch(/spec.memoryPerServer in body should match/);
    expect(await refused('ModelEndpoint', { ...(SAMPLES.ModelEndpoint as object), timeout: '30 seconds' })).toMatch(/spec.timeout in body should match/);
  });
});
