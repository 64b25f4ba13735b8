/**
 * Status from children (src/controller/status.ts), with plain objects: Knative Services and
 * Deployments as their controllers would report them, route acceptance, failures.
 */
import { LABELS } from '../../../src/contract';
import { computeStatus, sameStatus } from '../../../src/controller/status';

const NOW = new Date('2026-12-07T10:00:00.000Z');
const parent = { apiVersion: 'serving.cdk8s-model-serving.io/v1alpha1', kind: 'ModelEndpoint', metadata: { name: 'iris', namespace: 'prod', generation: 4 } };
const ksvc = (name: string, component: string, status?: object) => ({
  apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name, namespace: 'prod', labels: { [LABELS.component]: component } }, ...(status ? { status } : {}),
});
const readyKsvc = (name: string, component: string) => ksvc(name, component, {
  conditions: [{ type: 'Ready', status: 'True' }],
  url: `http://${name}.prod.example.com`,
  latestReadyRevisionName: `${name}-00002`,
  traffic: [{ revisionName: `${name}-00001`, percent: 90, tag: 'stable' }, { revisionName: `${name}-00002`, percent: 10, tag: 'canary' }],
});
const deployment = (available: number, replicas = 2, generation = 1, observed = 1) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'iris', namespace: 'prod', generation, labels: { [LABELS.component]: 'predictor' } },
  spec: { replicas },
  status: { observedGeneration: observed, availableReplicas: available, conditions: [{ type: 'Available', status: available > 0 ? 'True' : 'False', reason: available > 0 ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable' }] },
});
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const cond = (status: { [k: string]: any }, type: string): Record<string, unknown> | undefined =>
  status.conditions.find((c: { type: string }) => c.type === type);

describe('computeStatus', () => {
  test('every component ready: Ready=True, the transformer is the URL, the predictor\'s split is the traffic', () => {
    const s = computeStatus(parent as never, [readyKsvc('iris', 'predictor'), readyKsvc('iris-transformer', 'transformer')] as never, { children: 7 }, NOW, undefined);
    expect(cond(s, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready', observedGeneration: 4, lastTransitionTime: '2026-12-07T10:00:00Z' });
    expect(cond(s, 'Reconciled')).toMatchObject({ status: 'True', reason: 'Applied', message: '7 object(s) applied and up to date' });
    expect(cond(s, 'PredictorReady')).toMatchObject({ status: 'True' });
    expect(cond(s, 'TransformerReady')).toMatchObject({ status: 'True' });
    expect(cond(s, 'ExplainerReady')).toBeUndefined();
    expect(s.observedGeneration).toBe(4);
    expect(s.url).toBe('http://iris-transformer.prod.example.com');
    expect(s.traffic).toEqual([{ tag: 'stable', revisionName: 'iris-00001', percent: 90 }, { tag: 'canary', revisionName: 'iris-00002', percent: 10 }]);
    expect(s.trafficSummary).toBe('stable=90 canary=10');
    expect(s.mode).toBe('Serverless');
    expect(s.serving).toEqual([
      { kind: 'Revision', name: 'iris-00002', component: 'predictor' },
      { kind: 'Revision', name: 'iris-transformer-00002', component: 'transformer' },
    ]);
    expect(s.conditions.map((c: { type: string }) => c.type)).toEqual(['Ready', 'Reconciled', 'PredictorReady', 'TransformerReady']);
  });

  test('a Knative Service that is not ready makes its component and Ready False, with its reason and what to check', () => {
    const failing = ksvc('iris', 'predictor', { conditions: [{ type: 'Ready', status: 'False', reason: 'RevisionFailed', message: 'Revision "iris-00001" failed: image pull' }] });
    const s = computeStatus(parent as never, [failing] as never, { children: 2 }, NOW, undefined);
    expect(cond(s, 'PredictorReady')).toMatchObject({ status: 'False', reason: 'RevisionFailed' });
    expect(cond(s, 'PredictorReady')!.message).toMatch(/image pull; check kubectl describe ksvc iris/);
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'RevisionFailed' });
  });

  test('raw mode: a Deployment\'s availability decides, its name is serving, all traffic goes to it', () => {
    const ok = computeStatus(parent as never, [deployment(2)] as never, { children: 5 }, NOW, undefined);
    expect(cond(ok, 'PredictorReady')).toMatchObject({ status: 'True', reason: 'Available', message: 'Deployment iris: 2/2 replicas available' });
    expect(ok.url).toBe('http://iris.prod.svc.cluster.local');
    expect(ok.mode).toBe('RawDeployment');
    expect(ok.traffic).toEqual([{ deployment: 'iris', percent: 100 }]);
    const down = computeStatus(parent as never, [deployment(0)] as never, { children: 5 }, NOW, undefined);
    expect(cond(down, 'PredictorReady')).toMatchObject({ status: 'False', reason: 'MinimumReplicasUnavailable' });
    const rolling = computeStatus(parent as never, [deployment(0, 2, 2, 1)] as never, { children: 5 }, NOW, undefined);
    expect(cond(rolling, 'PredictorReady')).toMatchObject({ status: 'Unknown', reason: 'Progressing' });
  });

  test('an HTTPRoute its gateway refused makes Ready False even when the workloads are ready', () => {
    const route = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'iris' }, status: { parents: [{ parentRef: { name: 'gw' }, conditions: [{ type: 'Accepted', status: 'False', reason: 'NotAllowedByListeners', message: 'hostname not allowed' }] }] } };
    const s = computeStatus(parent as never, [readyKsvc('iris', 'predictor'), route] as never, { children: 3 }, NOW, undefined);
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'RouteNotAccepted', message: 'HTTPRoute iris was not accepted by gw: hostname not allowed' });
  });

  test('a failure: Reconciled and Ready False with its reason and message, no component conditions', () => {
    const s = computeStatus(parent as never, [] as never, { children: 0, failure: { reason: 'InvalidSpec', message: "spec.minReplicas: 'minReplicas' must be ..." } }, NOW, undefined);
    expect(s.conditions.map((c: { type: string; status: string; reason: string }) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'False', 'InvalidSpec'], ['Reconciled', 'False', 'InvalidSpec'],
    ]);
    expect(s.url).toBeUndefined();
  });

  test('an unchanged world gives the same status (transition times kept), so nothing is written', () => {
    const children = [readyKsvc('iris', 'predictor')];
    const first = computeStatus(parent as never, children as never, { children: 1 }, NOW, undefined);
    const later = computeStatus(parent as never, children as never, { children: 1 }, new Date('2026-12-07T11:00:00Z'), first);
    expect(sameStatus(first, later)).toBe(true);
    const changed = computeStatus(parent as never, [ksvc('iris', 'predictor')] as never, { children: 1 }, new Date('2026-12-07T11:00:00Z'), first);
    expect(cond(changed, 'Ready')!.lastTransitionTime).toBe('2026-12-07T11:00:00Z');
    expect(cond(changed, 'Reconciled')!.lastTransitionTime).toBe('2026-12-07T10:00:00Z');
  });
});
