/**
 * The controller process against the real API server of the test cluster (etcd + kube-apiserver +
 * kube-controller-manager with the garbage collector; no kubelet and no Knative controller, so the
 * tests patch the children's status themselves where a test needs it, and say so in its name).
 * One controller per test, watching that test's namespace only.
 */
import { controllerWrites } from './api-writes';
import { API_VERSION, modelEndpoint } from './fixtures';
import { controllerTestCluster, eventually, freshNamespace, Json, sleep, startController } from './harness';
import { APPLYSET, CONTROLLER_FIELD_MANAGER, DESIRED_HASH_ANNOTATION } from '../../src/contract';

const kube = controllerTestCluster();
const { mustApply } = kube;

const mePath = (ns: string, name = '') => `/apis/${API_VERSION}/namespaces/${ns}/modelendpoints${name ? `/${name}` : ''}`;
const ksvcPath = (ns: string, name = '') => `/apis/serving.knative.dev/v1/namespaces/${ns}/services${name ? `/${name}` : ''}`;

async function get(path: string): Promise<Json | undefined> {
  const r = await kube.client.request('GET', path);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}
const condition = (obj: Json | undefined, type: string) => (obj?.status?.conditions ?? []).find((c: Json) => c.type === type);

/** Waits until the CR's status was written for its current generation with Reconciled set. */
async function waitReconciled(ns: string, name: string, status: 'True' | 'False' = 'True'): Promise<Json> {
  let cr: Json | undefined;
  await eventually(`${name} Reconciled=${status} for its generation`, async () => {
    cr = await get(mePath(ns, name));
    const c = condition(cr, 'Reconciled');
    return cr?.status?.observedGeneration === cr?.metadata.generation && c?.status === status;
  }).catch((e) => { throw new Error(`${e.message}; its generation ${cr?.metadata.generation}, status ${JSON.stringify(cr?.status)}`); });
  return cr!;
}

/** The objects in `ns` that carry the part-of label of an applyset, by kind. */
async function childrenIn(ns: string): Promise<Json[]> {
  const kinds = [
    ['serving.knative.dev/v1', 'services'], ['networking.istio.io/v1', 'virtualservices'], ['networking.k8s.io/v1', 'networkpolicies'],
    ['monitoring.coreos.com/v1', 'podmonitors'], ['monitoring.coreos.com/v1', 'prometheusrules'], ['v1', 'configmaps'],
    ['apps/v1', 'deployments'], ['v1', 'services'],
  ];
  const out: Json[] = [];
  for (const [gv, plural] of kinds) {
    const base = gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`;
    const body = await get(`${base}/namespaces/${ns}/${plural}?labelSelector=${encodeURIComponent(APPLYSET.partOfLabel)}`);
    out.push(...(body?.items ?? []).map((i: Json) => ({ ...i, kind: i.kind ?? plural })));
  }
  return out;
}

/** No write by the controller in `ns` for `quietMs` after the last one seen (the audit log). */
async function writesSettle(ns: string, quietMs = 1500): Promise<number> {
  let count = controllerWrites(kube.state, ns).length;
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    await sleep(250);
    const now = controllerWrites(kube.state, ns).length;
    if (now !== count) {
      count = now;
      since = Date.now();
    }
  }
  return count;
}

describe('the controller against the real API server', () => {
  test('a ModelEndpoint becomes its children, each with a controller owner reference and the applyset label, and gets a status', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-create');
    await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns] });
    await mustApply(modelEndpoint('iris', ns));
    const cr = await waitReconciled(ns, 'iris');

    const children = await childrenIn(ns);
    expect(children.map((c) => `${c.kind}/${c.metadata.name}`).sort()).toEqual(expect.arrayContaining(['Service/iris', 'VirtualService/iris']));
    for (const child of children) {
      expect(child.metadata.ownerReferences).toEqual([expect.objectContaining({
        apiVersion: API_VERSION, kind: 'ModelEndpoint', name: 'iris', uid: cr.metadata.uid, controller: true, blockOwnerDeletion: true,
      })]);
      expect(child.metadata.labels[APPLYSET.partOfLabel]).toBe(cr.metadata.labels[APPLYSET.idLabel]);
      expect(child.metadata.annotations[DESIRED_HASH_ANNOTATION]).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(child.metadata.managedFields.map((m: Json) => m.manager)).toContain(CONTROLLER_FIELD_MANAGER);
    }
    expect(cr.metadata.labels[APPLYSET.idLabel]).toMatch(/^applyset-[A-Za-z0-9_-]{43}-v1$/);
    expect(cr.metadata.annotations[APPLYSET.containsGroupKindsAnnotation].split(',')).toEqual(expect.arrayContaining(['Service.serving.knative.dev', 'VirtualService.networking.istio.io']));
    // No Knative controller runs here: the predictor has no Ready condition, and the status says what to check.
    expect(condition(cr, 'Reconciled')).toMatchObject({ status: 'True', reason: 'Applied', observedGeneration: 1 });
    expect(condition(cr, 'PredictorReady')).toMatchObject({ status: 'Unknown', reason: 'RevisionMissing' });
    expect(condition(cr, 'PredictorReady').message).toMatch(/Knative Service iris has no Ready condition yet/);
    expect(condition(cr, 'Ready')).toMatchObject({ status: 'Unknown' });
  });

  test('Ready=True with url, traffic and revisions once the Knative Service reports ready (its status patched by the test: no Knative controller runs)', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-ready');
    await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns] });
    await mustApply(modelEndpoint('iris', ns));
    await waitReconciled(ns, 'iris');
    const ksvc = await get(ksvcPath(ns, 'iris'));
    const r = await kube.client.request('PATCH', `${ksvcPath(ns, 'iris')}/status`, {
      contentType: 'application/merge-patch+json',
      body: {
        status: {
          observedGeneration: ksvc!.metadata.generation,
          conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }],
          url: `http://iris.${ns}.example.com`,
          latestReadyRevisionName: 'iris-00001',
          traffic: [{ revisionName: 'iris-00001', percent: 100, latestRevision: true }],
        },
      },
    });
    expect(r.status).toBe(200);
    await eventually('Ready=True', async () => condition(await get(mePath(ns, 'iris')), 'Ready')?.status === 'True');
    const cr = (await get(mePath(ns, 'iris')))!;
    expect(condition(cr, 'PredictorReady')).toMatchObject({ status: 'True', reason: 'Ready' });
    expect(cr.status.url).toBe(`http://iris.${ns}.example.com`);
    expect(cr.status.traffic).toEqual([{ revisionName: 'iris-00001', percent: 100 }]);
    expect(cr.status.trafficSummary).toBe('iris-00001=100');
    expect(cr.status.mode).toBe('Serverless');
    expect(cr.status.serving).toEqual([{ kind: 'Revision', name: 'iris-00001', component: 'predictor' }]);
  });

  test('a spec change updates the children', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-update');
    await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns] });
    await mustApply(modelEndpoint('iris', ns, { transformer: true }));
    await waitReconciled(ns, 'iris');
    const before = (await get(ksvcPath(ns, 'iris')))!;
    expect(JSON.stringify(before.spec)).toContain('s3://models/iris');
    expect(JSON.stringify(before.spec)).not.toContain('s3://models/iris-v2');

    await mustApply(modelEndpoint('iris', ns, { transformer: true, storageUri: 's3://models/iris-v2' }));
    const cr = await waitReconciled(ns, 'iris');
    expect(cr.status.observedGeneration).toBe(2);
    await eventually('the predictor to carry the new storage URI', async () => JSON.stringify((await get(ksvcPath(ns, 'iris')))!.spec).includes('s3://models/iris-v2'));
    expect(await get(ksvcPath(ns, 'iris-transformer'))).toBeDefined();
  });

  test('removing the transformer prunes its objects, and only them', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-prune');
    await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns] });
    await mustApply(modelEndpoint('iris', ns, { transformer: true }));
    await waitReconciled(ns, 'iris');
    expect(await get(ksvcPath(ns, 'iris-transformer'))).toBeDefined();
    const before = (await childrenIn(ns)).map((c) => `${c.kind}/${c.metadata.name}`).sort();

    await mustApply(modelEndpoint('iris', ns, { transformer: false }));
    await waitReconciled(ns, 'iris');
    await eventually('the transformer to be pruned', async () => (await get(ksvcPath(ns, 'iris-transformer'))) === undefined);
    const after = (await childrenIn(ns)).map((c) => `${c.kind}/${c.metadata.name}`).sort();
    expect(before.filter((k) => !after.includes(k))).toEqual(['Service/iris-transformer']);
    const cr = (await get(mePath(ns, 'iris')))!;
    expect(condition(cr, 'TransformerReady')).toBeUndefined();
  });

  test('deleting the ModelEndpoint removes every child (the test cluster\'s garbage collector follows the owner references)', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-delete');
    await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns] });
    await mustApply(modelEndpoint('iris', ns, { transformer: true }));
    await waitReconciled(ns, 'iris');
    expect((await childrenIn(ns)).length).toBeGreaterThan(2);
    expect((await kube.client.request('DELETE', mePath(ns, 'iris'))).status).toBe(200);
    await eventually('every child to be gone', async () => (await childrenIn(ns)).length === 0, 60_000);
  });

  test('a child edited by hand is put back on the next reconcile', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-drift');
    await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns] });
    await mustApply(modelEndpoint('iris', ns));
    await waitReconciled(ns, 'iris');
    const vsPath = `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices/iris`;
    const original = (await get(vsPath))!;
    const hosts: string[] = original.spec.hosts;
    const r = await kube.client.request('PATCH', vsPath, { contentType: 'application/merge-patch+json', body: { spec: { hosts: ['hand-edited.example.com'] } } });
    expect(r.status).toBe(200);
    await eventually('the hosts to be put back', async () => JSON.stringify((await get(vsPath))!.spec.hosts) === JSON.stringify(hosts));
  });

  test('a bad spec gives Ready=False with reason InvalidSpec and a Warning Event, without a crash or a retry storm, and recovers when fixed', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-bad');
    const ctl = await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns] });
    const bad = modelEndpoint('iris', ns);
    // Valid for the CRD's schema, refused by the construct (an unknown URI scheme).
    bad.spec.storageUri = 'ftp://models/iris';
    await mustApply(bad);
    const cr = await waitReconciled(ns, 'iris', 'False');
    expect(condition(cr, 'Reconciled')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(condition(cr, 'Reconciled').message).toMatch(/spec\.storageUri: 'storageUri' has an unknown scheme 'ftp:\/\/'/);
    expect(condition(cr, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    let events: Json[] = [];
    await eventually('a Warning Event about the CR', async () => {
      events = (await get(`/apis/events.k8s.io/v1/namespaces/${ns}/events`))!.items;
      return events.some((e) => e.regarding?.name === 'iris' && e.reason === 'InvalidSpec' && e.type === 'Warning');
    });
    expect(events.find((e) => e.reason === 'InvalidSpec')!.note).toMatch(/spec\.storageUri/);
    // No retry storm: one status write and one Event, then silence.
    await writesSettle(ns, 2000);
    expect(controllerWrites(kube.state, ns).map((w) => `${w.verb} ${w.resource}${w.subresource ? `/${w.subresource}` : ''}`).sort())
      .toEqual(['create events', 'patch modelendpoints/status']);
    expect(ctl.child.exitCode).toBeNull();

    await mustApply(modelEndpoint('iris', ns));
    const fixed = await waitReconciled(ns, 'iris', 'True');
    expect(condition(fixed, 'Reconciled')).toMatchObject({ status: 'True', reason: 'Applied', observedGeneration: fixed.metadata.generation });
  });

  test('a CanaryRollout and a ModelMesh are reconciled too: children with owner references and a status', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-kinds');
    await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns] });
    await mustApply({
      apiVersion: API_VERSION,
      kind: 'CanaryRollout',
      metadata: { name: 'iris-rollout', namespace: ns },
      spec: { modelName: 'iris', stable: { version: 'v1', storageUri: 's3://models/iris/v1' }, canary: { version: 'v2', storageUri: 's3://models/iris/v2' }, trafficPercent: 10 },
    });
    await mustApply({
      apiVersion: API_VERSION,
      kind: 'ModelMesh',
      metadata: { name: 'mesh', namespace: ns },
      spec: { memoryPerServer: '1Gi', models: [{ name: 'iris', storageUri: 's3://models/iris', memoryEstimate: '64Mi' }] },
    });
    for (const [plural, name, kind] of [['canaryrollouts', 'iris-rollout', 'CanaryRollout'], ['modelmeshes', 'mesh', 'ModelMesh']]) {
      let cr: Json | undefined;
      await eventually(`${kind} ${name} reconciled`, async () => {
        cr = await get(`/apis/${API_VERSION}/namespaces/${ns}/${plural}/${name}`);
        return cr?.status?.observedGeneration === cr?.metadata.generation && condition(cr, 'Reconciled')?.status === 'True';
      });
      expect(condition(cr, 'PredictorReady')).toBeDefined();
      const owned = (await childrenIn(ns)).filter((c) => c.metadata.ownerReferences?.[0]?.kind === kind);
      expect(owned.length).toBeGreaterThan(0);
      for (const child of owned) expect(child.metadata.ownerReferences[0]).toMatchObject({ name, uid: cr!.metadata.uid, controller: true });
    }
  });

  test('a restarted controller makes no write for unchanged custom resources (counted in the API server\'s audit log)', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-restart');
    const first = await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns] });
    await mustApply(modelEndpoint('iris', ns, { transformer: true }));
    await mustApply(modelEndpoint('wine', ns));
    await waitReconciled(ns, 'iris');
    await waitReconciled(ns, 'wine');
    const settled = await writesSettle(ns);
    expect(settled).toBeGreaterThan(0);
    expect(await first.stop()).toBe(0);

    const second = await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns], env: { POD_NAME: 'restarted' } });
    await second.waitForLog((l) => l.msg === 'became the leader');
    // Give it time to reconcile both (a reconcile log line per CR), then count.
    await eventually('both CRs reconciled by the restarted controller', () => second.logs.filter((l) => l.msg === 'reconciled').length >= 2);
    await sleep(1000);
    expect(controllerWrites(kube.state, ns, 'restarted')).toEqual([]);
  });
});
