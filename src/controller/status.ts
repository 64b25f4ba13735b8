/**
 * The status of a custom resource, computed from its children (pure): `observedGeneration`,
 * conditions in the Kubernetes API conventions' shape (`Ready` summarizes `Reconciled` and the
 * per-component `PredictorReady` / `TransformerReady` / `ExplainerReady`), the URL, the traffic
 * split in force and the revisions or Deployments serving. Conditions keep their
 * `lastTransitionTime` while their status stays the same, so an unchanged world gives an
 * identical status and no write.
 */
import { LABELS } from '../contract';
import type { KubeObject } from './kube';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

/** The outcome of applying the children (or why it could not be done). */
export interface ReconcileOutcome {
  /** Reconciled=False: `reason` (InvalidSpec, ApplyFailed) and a message a person can act on. */
  readonly failure?: { readonly reason: string; readonly message: string };
  /** Children applied or found up to date. */
  readonly children: number;
}

const COMPONENT_CONDITION: Record<string, string> = {
  predictor: 'PredictorReady',
  mesh: 'PredictorReady',
  transformer: 'TransformerReady',
  explainer: 'ExplainerReady',
};
const CONDITION_ORDER = ['Ready', 'Reconciled', 'PredictorReady', 'TransformerReady', 'ExplainerReady'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = { [k: string]: any };

/** The workloads that serve traffic: Knative Services and Deployments. */
function isWorkload(obj: KubeObject): boolean {
  return (obj.kind === 'Service' && obj.apiVersion.startsWith('serving.knative.dev/')) || (obj.kind === 'Deployment' && obj.apiVersion === 'apps/v1');
}

function conditionOf(obj: KubeObject, type: string): Json | undefined {
  return (obj.status?.conditions ?? []).find((c: Json) => c.type === type);
}

/** Is one workload ready? [status, reason, message]. */
function workloadReadiness(obj: KubeObject): [Condition['status'], string, string] {
  const name = `${obj.kind === 'Deployment' ? 'Deployment' : 'Knative Service'} ${obj.metadata.name}`;
  if (obj.kind === 'Deployment') {
    const want = obj.spec?.replicas ?? 1;
    const available = obj.status?.availableReplicas ?? 0;
    const cond = conditionOf(obj, 'Available');
    if (cond?.status === 'True' && available >= Math.min(want, 1)) return ['True', 'Available', `${name}: ${available}/${want} replicas available`];
    if (!obj.status || (obj.status.observedGeneration ?? 0) < (obj.metadata.generation ?? 0)) {
      return ['Unknown', 'Progressing', `${name} has not been rolled out yet; check its pods with kubectl describe deployment ${obj.metadata.name}`];
    }
    return ['False', cond?.reason ?? 'Unavailable', `${name}: ${available}/${want} replicas available${cond?.message ? ` (${cond.message})` : ''}; check kubectl describe deployment ${obj.metadata.name}`];
  }
  const ready = conditionOf(obj, 'Ready');
  if (!ready) return ['Unknown', 'RevisionMissing', `${name} has no Ready condition yet: is Knative Serving installed and running?`];
  if (ready.status === 'True') return ['True', 'Ready', `${name} is ready${obj.status?.url ? ` at ${obj.status.url}` : ''}`];
  return [ready.status === 'False' ? 'False' : 'Unknown', ready.reason ?? 'NotReady', `${name}: ${ready.message ?? 'not ready'}; check kubectl describe ksvc ${obj.metadata.name}`];
}

/** Routes refused by their gateway (HTTPRoute Accepted=False on a parent), as messages. */
function routeProblems(children: readonly KubeObject[]): string[] {
  const problems: string[] = [];
  for (const obj of children) {
    if (obj.kind === 'HTTPRoute') {
      for (const p of obj.status?.parents ?? []) {
        const accepted = (p.conditions ?? []).find((c: Json) => c.type === 'Accepted');
        if (accepted?.status === 'False') problems.push(`HTTPRoute ${obj.metadata.name} was not accepted by ${p.parentRef?.name ?? 'its gateway'}: ${accepted.message ?? accepted.reason}`);
      }
    }
    if (obj.kind === 'VirtualService') {
      const reconciled = (obj.status?.conditions ?? []).find((c: Json) => c.type === 'Reconciled');
      if (reconciled?.status === 'False') problems.push(`VirtualService ${obj.metadata.name}: ${reconciled.message ?? reconciled.reason}`);
      for (const m of obj.status?.validationMessages ?? []) if (m.level === 'ERROR') problems.push(`VirtualService ${obj.metadata.name}: ${m.description ?? m.type?.code}`);
    }
    if (obj.kind === 'HorizontalPodAutoscaler') {
      const active = conditionOf(obj, 'ScalingActive');
      if (active?.status === 'False' && active.reason !== 'ScalingDisabled') problems.push(`HorizontalPodAutoscaler ${obj.metadata.name} cannot scale: ${active.message ?? active.reason}`);
    }
  }
  return problems;
}

/** The entry point: a transformer when there is one, else the predictor (or mesh) workload. */
function entryWorkload(workloads: readonly KubeObject[]): KubeObject | undefined {
  const byComponent = (c: string) => workloads.find((w) => w.metadata.labels?.[LABELS.component] === c);
  return byComponent('transformer') ?? byComponent('predictor') ?? byComponent('mesh') ?? workloads[0];
}

/** The status the custom resource should have now. `previous`: its current status (transition times are kept). */
export function computeStatus(
  parent: KubeObject, children: readonly KubeObject[], outcome: ReconcileOutcome, now: Date, previous: Json | undefined,
): Json {
  const generation = parent.metadata.generation;
  const conditions: Condition[] = [];
  const reconciled: Condition = outcome.failure
    ? { type: 'Reconciled', status: 'False', reason: outcome.failure.reason, message: outcome.failure.message }
    : { type: 'Reconciled', status: 'True', reason: 'Applied', message: `${outcome.children} object(s) applied and up to date` };
  conditions.push(reconciled);

  const workloads = outcome.failure ? [] : children.filter(isWorkload);
  const byType = new Map<string, Array<[Condition['status'], string, string]>>();
  for (const w of workloads) {
    const type = COMPONENT_CONDITION[w.metadata.labels?.[LABELS.component] ?? 'predictor'];
    if (!type) continue;
    byType.set(type, [...(byType.get(type) ?? []), workloadReadiness(w)]);
  }
  for (const type of ['PredictorReady', 'TransformerReady', 'ExplainerReady']) {
    const parts = byType.get(type);
    if (!parts) continue;
    const bad = parts.find(([s]) => s === 'False') ?? parts.find(([s]) => s === 'Unknown');
    conditions.push(bad
      ? { type, status: bad[0], reason: bad[1], message: bad[2] }
      : { type, status: 'True', reason: parts[0][1], message: parts.map((p) => p[2]).join('; ') });
  }
  const problems = outcome.failure ? [] : routeProblems(children);
  const notReady = conditions.find((c) => c.status !== 'True');
  conditions.push(notReady
    ? { type: 'Ready', status: notReady.status === 'Unknown' ? 'Unknown' : 'False', reason: notReady.reason, message: notReady.message }
    : problems.length > 0
      ? { type: 'Ready', status: 'False', reason: 'RouteNotAccepted', message: problems.join('; ') }
      : { type: 'Ready', status: 'True', reason: 'Ready', message: 'every component is ready' });

  const previousConditions: Condition[] = previous?.conditions ?? [];
  const stamped = conditions
    .sort((a, b) => CONDITION_ORDER.indexOf(a.type) - CONDITION_ORDER.indexOf(b.type))
    .map((c) => {
      const before = previousConditions.find((p) => p.type === c.type);
      const lastTransitionTime = before && before.status === c.status && before.lastTransitionTime ? before.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
      return { ...c, observedGeneration: generation, lastTransitionTime };
    });

  const status: Json = { observedGeneration: generation, conditions: stamped };
  const entry = entryWorkload(workloads);
  if (entry?.status?.url) status.url = entry.status.url;
  else if (entry) status.url = `http://${entry.metadata.name}.${entry.metadata.namespace}.svc.cluster.local`;
  const predictor = workloads.find((w) => w.kind === 'Service' && (w.metadata.labels?.[LABELS.component] ?? 'predictor') === 'predictor');
  const traffic = predictor?.status?.traffic;
  const predictorDeployment = workloads.find((w) => w.kind === 'Deployment' && (w.metadata.labels?.[LABELS.component] ?? 'predictor') === 'predictor');
  if (Array.isArray(traffic) && traffic.length > 0) {
    status.traffic = traffic.map((t: Json) => ({
      ...(t.tag ? { tag: t.tag } : {}),
      ...(t.revisionName ? { revisionName: t.revisionName } : {}),
      percent: t.percent ?? 0,
    }));
  } else if (predictorDeployment) {
    status.traffic = [{ deployment: predictorDeployment.metadata.name, percent: 100 }];
  }
  if (status.traffic) status.trafficSummary = status.traffic.map((t: Json) => `${t.tag ?? t.revisionName ?? t.deployment}=${t.percent}`).join(' ');
  if (workloads.length > 0) status.mode = parent.kind === 'ModelMesh' ? 'Mesh' : workloads.some((w) => w.kind === 'Service') ? 'Serverless' : 'RawDeployment';
  const serving = workloads.map((w) => (w.kind === 'Deployment'
    ? { kind: 'Deployment', name: w.metadata.name, component: w.metadata.labels?.[LABELS.component] ?? 'predictor' }
    : { kind: 'Revision', name: w.status?.latestReadyRevisionName ?? w.metadata.name, component: w.metadata.labels?.[LABELS.component] ?? 'predictor' }));
  if (serving.length > 0) status.serving = serving;
  return status;
}

/** Field-by-field equality of two statuses (as JSON). */
export function sameStatus(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Json)[k])]));
  return v;
}
