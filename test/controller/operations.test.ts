/**
 * Operating the controller process against the real API server of the test cluster: leader
 * election through a Lease (two replicas, one writes; take-over), losing the Lease, SIGTERM, and
 * the /metrics, /healthz and /readyz endpoints. Lease timings are shortened by flags.
 */
import { controllerWrites } from './api-writes';
import { API_VERSION, modelEndpoint } from './fixtures';
import { controllerTestCluster, eventually, freshNamespace, Json, sleep, startController } from './harness';
import { CONTROLLER_METRICS } from '../../src/contract';

const kube = controllerTestCluster();
const { mustApply } = kube;

const FAST_LEASE = ['--lease-duration-seconds', '2', '--renew-deadline-seconds', '1.5', '--retry-period-seconds', '0.3'];
const leasePath = (ns: string, name: string) => `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`;

async function reconciled(ns: string, name: string): Promise<boolean> {
  const { status, body } = await kube.client.request('GET', `/apis/${API_VERSION}/namespaces/${ns}/modelendpoints/${name}`);
  return status === 200 && body.status?.observedGeneration === body.metadata.generation
    && (body.status?.conditions ?? []).some((c: Json) => c.type === 'Reconciled' && c.status === 'True');
}

describe('leader election, shutdown and metrics (the real controller process and API server)', () => {
  test('with two controllers only the leader writes, and the other takes over when the leader stops', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-leader');
    const args = ['--watch-namespace', ns, '--lease-name', 'leader', ...FAST_LEASE];
    const a = await startController(kube.state, { namespace: ns, args, env: { POD_NAME: 'replica-a' } });
    await a.waitForLog((l) => l.msg === 'became the leader');
    const b = await startController(kube.state, { namespace: ns, args, env: { POD_NAME: 'replica-b' } });
    // Both are ready (caches warm), one leads.
    expect((await b.get('/readyz')).status).toBe(200);

    await mustApply(modelEndpoint('iris', ns, { transformer: true }));
    await eventually('iris reconciled', () => reconciled(ns, 'iris'));
    await sleep(1000); // several renewals of the Lease later
    expect(b.logs.some((l) => l.msg === 'became the leader')).toBe(false);
    expect(controllerWrites(kube.state, ns, 'replica-a').length).toBeGreaterThan(0);
    expect(controllerWrites(kube.state, ns, 'replica-b')).toEqual([]);
    const lease = (await kube.client.request('GET', leasePath(ns, 'leader'))).body;
    expect(lease.spec.holderIdentity).toMatch(/^replica-a_/);
    expect((await a.get('/metrics')).body).toMatch(new RegExp(`^${CONTROLLER_METRICS.leader} 1$`, 'm'));
    expect((await b.get('/metrics')).body).toMatch(new RegExp(`^${CONTROLLER_METRICS.leader} 0$`, 'm'));

    expect(await a.stop()).toBe(0);
    await b.waitForLog((l) => l.msg === 'became the leader', 15_000);
    await mustApply(modelEndpoint('wine', ns));
    await eventually('wine reconciled by the new leader', () => reconciled(ns, 'wine'));
    expect(controllerWrites(kube.state, ns, 'replica-b').some((w) => w.name === 'wine')).toBe(true);
    const after = (await kube.client.request('GET', leasePath(ns, 'leader'))).body;
    expect(after.spec.holderIdentity).toMatch(/^replica-b_/);
    expect(after.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
  });

  test('SIGTERM finishes, releases the Lease (empty holder) and exits 0', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-term');
    const ctl = await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns, '--lease-name', 'term', ...FAST_LEASE] });
    await ctl.waitForLog((l) => l.msg === 'became the leader');
    expect(await ctl.stop('SIGTERM')).toBe(0);
    expect(ctl.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['shutting down', 'released the leader Lease', 'stopped']));
    const lease = (await kube.client.request('GET', leasePath(ns, 'term'))).body;
    expect(lease.spec.holderIdentity).toBeUndefined();
  });

  test('a leader whose Lease is taken over stops writing at once and exits 1 (the Lease edited by the test as another holder)', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-lost');
    const ctl = await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns, '--lease-name', 'lost', ...FAST_LEASE], env: { POD_NAME: 'loser' } });
    await ctl.waitForLog((l) => l.msg === 'became the leader');
    // Another holder renews the Lease from now on (every 300 ms, as a live leader would).
    let stealing = true;
    const steal = (async () => {
      while (stealing) {
        const lease = (await kube.client.request('GET', leasePath(ns, 'lost'))).body;
        lease.spec = { ...lease.spec, holderIdentity: 'usurper', leaseDurationSeconds: 30, renewTime: new Date().toISOString().replace(/Z$/, '000Z') };
        await kube.client.request('PUT', leasePath(ns, 'lost'), { body: lease });
        await sleep(300);
      }
    })();
    try {
      expect(await ctl.exited).toBe(1);
    } finally {
      stealing = false;
      await steal;
    }
    expect(ctl.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['lost the leader Lease: could not renew it within the renew deadline']));
    // After it lost the Lease it sent nothing: a CR created now stays unreconciled.
    await mustApply(modelEndpoint('late', ns));
    await sleep(1000);
    expect(controllerWrites(kube.state, ns, 'loser').filter((w) => w.name === 'late')).toEqual([]);
  });

  test('/healthz, /readyz and /metrics: reconcile count, duration histogram, errors and queue depth, by kind', async () => {
    const ns = await freshNamespace(kube.client, 'ctl-metrics');
    const ctl = await startController(kube.state, { namespace: ns, args: ['--watch-namespace', ns, '--leader-elect', 'false'] });
    expect(await ctl.get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await ctl.get('/readyz')).toEqual({ status: 200, body: 'ok\n' });
    await mustApply(modelEndpoint('iris', ns));
    const bad = modelEndpoint('broken', ns);
    bad.spec.storageUri = 'ftp://models/broken';
    await mustApply(bad);
    await eventually('iris reconciled', () => reconciled(ns, 'iris'));
    let metrics = '';
    await eventually('both reconciles counted', async () => {
      metrics = (await ctl.get('/metrics')).body;
      return /result="invalid"/.test(metrics) && /result="success"/.test(metrics);
    });
    expect(metrics).toMatch(new RegExp(`^${CONTROLLER_METRICS.reconcileTotal}\\{kind="ModelEndpoint",result="success"\\} [1-9]`, 'm'));
    expect(metrics).toMatch(new RegExp(`^${CONTROLLER_METRICS.reconcileTotal}\\{kind="ModelEndpoint",result="invalid"\\} [1-9]`, 'm'));
    expect(metrics).toMatch(new RegExp(`^${CONTROLLER_METRICS.reconcileErrorsTotal}\\{kind="ModelEndpoint"\\} [1-9]`, 'm'));
    expect(metrics).toMatch(new RegExp(`^${CONTROLLER_METRICS.reconcileDurationSeconds}_count\\{kind="ModelEndpoint"\\} [1-9]`, 'm'));
    expect(metrics).toMatch(new RegExp(`^${CONTROLLER_METRICS.queueDepth}\\{kind="ModelEndpoint"\\} 0$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^${CONTROLLER_METRICS.writesTotal}\\{kind="Service",verb="apply"\\} [1-9]`, 'm'));
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m);
    expect((await ctl.get('/nope')).status).toBe(404);
  });
});
