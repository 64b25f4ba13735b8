/**
 * The reconcile loop: informers feed a work queue of custom resource keys; workers (while this
 * replica leads) take one key at a time and bring the cluster to what the CR renders:
 *
 *   CR → render (./desired.ts) → children with inventory and owner (./reconcile.ts) → parent's
 *   applyset metadata (union of kinds) → server-side apply of each child that differs → prune
 *   children no longer rendered → parent metadata (current kinds) → status from the children
 *   (./status.ts), written through the status subresource only when it changed.
 *
 * Level-triggered: every pass compares with the live objects in the informer caches, so an
 * unchanged CR costs no write. A spec the constructs refuse sets Ready=False (reason InvalidSpec)
 * and records one Event per new message; it is not retried (its next change queues it again).
 * API errors are retried with exponential backoff and jitter, per key.
 */
import type { ClientNode, KubeConfig } from './client-node';
import { APPLYSET, CONTROLLER_FIELD_MANAGER, CRD_GROUP, CRD_KINDS, CRD_VERSION, DESIRED_HASH_ANNOTATION } from '../contract';
import type { ControllerConfig } from './config';
import { DesiredState, SpecError } from './desired';
import { gvkKey, InformerSet } from './informers';
import { Kube, KubeError, KubeObject, NotLeaderError } from './kube';
import type { Logger } from './log';
import type { ControllerMetrics } from './metrics';
import { WorkQueue } from './queue';
import {
  AppliedRecord, childKey, containsGroupKinds, needsApply, objectKey, parentMetadataPatch, planPrune,
  prepareChildren, recordedGroupKinds,
} from './reconcile';
import { RolloutDriver } from './rollout/driver';
import { Decision, RolloutStatus, trafficOf } from './rollout/state-machine';
import { rolloutAnalysisOf, RolloutTraffic } from './spec';
import { computeStatus, ReconcileOutcome, sameStatus } from './status';

const CR_API_VERSION = `${CRD_GROUP}/${CRD_VERSION}`;
const INFORMER_SYNC_TIMEOUT_MS = 30_000;

/** `promise`, or an Error with `message` after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
const KINDS = Object.values(CRD_KINDS).map((k) => k.kind);

export class Controller {
  private readonly informers: InformerSet;
  private readonly queue: WorkQueue;
  private readonly desired = new DesiredState();
  /** Our last apply of each child (childKey → hash and resourceVersion), so a lagging cache costs no second write. */
  private readonly applied = new Map<string, AppliedRecord>();
  /** The last InvalidSpec/ApplyFailed message an Event was recorded for, per CR key. */
  private readonly lastEventMessage = new Map<string, string>();
  /** The status last written per CR key. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly writtenStatus = new Map<string, { [k: string]: any }>();
  /** Kinds of children (`Kind.apiVersion`) being watched. */
  private readonly childKinds = new Set<string>();
  /** Seconds after which a reconcile asked to run again (a rollout's next analysis). */
  private readonly requeueAfter = new Map<string, number>();
  private workers: Promise<void>[] = [];
  private inFlight = 0;
  private running = false;
  private resyncTimer?: NodeJS.Timeout;
  private crsSynced = false;
  /** Runs CanaryRollout analyses (Prometheus queries, webhooks). */
  private readonly rollouts: RolloutDriver;
  /** Fingerprint of what a reconcile reads from each CR, as last seen in an event. */
  private readonly lastSeen = new Map<string, string>();

  /** A child's event queues its controlling CR (ours only). */
  private readonly childHandlers = {
    add: (obj: KubeObject) => this.enqueueOwner(obj),
    update: (obj: KubeObject) => this.enqueueOwner(obj),
    delete: (obj: KubeObject) => {
      this.applied.delete(childKey(obj));
      this.enqueueOwner(obj);
    },
  };

  constructor(client: ClientNode, kubeConfig: KubeConfig, private readonly kube: Kube, private readonly config: ControllerConfig,
    private readonly log: Logger, private readonly metrics: ControllerMetrics) {
    this.informers = new InformerSet(client, kubeConfig, kube, log.child({ component: 'informers' }), config.watchNamespace);
    this.queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 300_000 });
    this.rollouts = new RolloutDriver(config.prometheusUrl);
    metrics.queueDepthByKind = () => {
      const depth: Record<string, number> = Object.fromEntries(KINDS.map((k) => [k, 0]));
      for (const key of this.queue.waitingKeys()) {
        const kind = key.slice(0, key.indexOf('/'));
        depth[kind] = (depth[kind] ?? 0) + 1;
      }
      return depth;
    };
  }

  /** Reasons this replica is not ready (caches of our kinds not filled yet). */
  notReady(): string[] {
    return this.crsSynced ? [] : ['custom resource informers have not synced'];
  }

  /** Starts the informers of our custom resources; resolves when their caches are filled. */
  async startInformers(): Promise<void> {
    const enqueue = (obj: KubeObject) => this.queue.add(objectKey(obj));
    await Promise.all(KINDS.map((kind) => this.informers.ensure(CR_API_VERSION, kind, {
      add: (obj) => { this.crChanged(obj); enqueue(obj); },
      // A status-only change (our own status write) needs no reconcile: generation, labels and
      // annotations are what the reconcile reads from the CR.
      update: (obj) => { if (this.crChanged(obj)) enqueue(obj); },
      delete: (obj) => {
        this.desired.forget(objectKey(obj));
        this.lastEventMessage.delete(objectKey(obj));
        this.writtenStatus.delete(objectKey(obj));
        this.lastSeen.delete(objectKey(obj));
      },
    })));
    this.crsSynced = true;
  }

  /** True when what a reconcile reads from the CR changed since the last event about it. */
  private crChanged(obj: KubeObject): boolean {
    const key = objectKey(obj);
    const m = obj.metadata;
    const fingerprint = JSON.stringify([m.generation, m.labels, m.annotations, m.deletionTimestamp, m.uid]);
    if (this.lastSeen.get(key) === fingerprint) return false;
    this.lastSeen.set(key, fingerprint);
    return true;
  }

  /** While leader: queue every CR, start the workers and the periodic resync. */
  startWorkers(): void {
    if (this.running) return;
    this.running = true;
    this.resyncAll();
    for (let i = 0; i < this.config.workers; i++) this.workers.push(this.work());
    if (this.config.resyncSeconds > 0) {
      this.resyncTimer = setInterval(() => {
        const keys = this.resyncAll();
        this.log.info('resync', { keys });
      }, this.config.resyncSeconds * 1000);
      this.resyncTimer.unref();
    }
  }

  /** Stops taking keys; waits up to `graceMs` for in-flight reconciles; stops the informers. */
  async stop(graceMs: number): Promise<void> {
    this.running = false;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.queue.shutDown();
    const drained = Promise.all(this.workers);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => { timer = setTimeout(() => r(true), graceMs); });
    const late = await Promise.race([drained.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) this.log.warn('shutdown grace period over with reconciles still running', { inFlight: this.inFlight });
    await this.informers.stop();
  }

  /** Queues every custom resource in the caches; returns how many. */
  private resyncAll(): number {
    let n = 0;
    for (const kind of KINDS) {
      for (const cr of this.informers.cache(CR_API_VERSION, kind)?.list() ?? []) {
        this.queue.add(objectKey(cr));
        n++;
      }
    }
    return n;
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      this.inFlight++;
      const kind = key.split('/')[0];
      const end = this.metrics.reconcileDuration.startTimer({ kind });
      try {
        const result = await this.reconcile(key);
        this.log.debug('reconciled', { key, result });
        this.metrics.reconcileTotal.inc({ kind, result });
        if (result === 'invalid') this.metrics.reconcileErrors.inc({ kind });
        if (result === 'retry') {
          const delay = this.queue.addRateLimited(key);
          this.log.info('reconcile will be retried', { key, retryInMs: delay, retries: this.queue.retries(key) });
        } else {
          this.queue.forget(key);
          const after = this.requeueAfter.get(key);
          this.requeueAfter.delete(key);
          if (after !== undefined) this.queue.addAfter(key, after * 1000);
        }
      } catch (e) {
        if (e instanceof NotLeaderError) {
          this.log.info('not the leader any more; reconcile stopped', { key });
        } else {
          this.metrics.reconcileTotal.inc({ kind, result: 'error' });
          this.metrics.reconcileErrors.inc({ kind });
          const delay = this.queue.addRateLimited(key);
          this.log.error('reconcile failed', { key, error: e, retryInMs: delay, retries: this.queue.retries(key) });
        }
      } finally {
        end();
        this.inFlight--;
        this.queue.done(key);
      }
    }
  }

  /** One reconcile of the CR at `key`. */
  private async reconcile(key: string): Promise<'success' | 'invalid' | 'retry'> {
    const [kind, namespace, name] = key.split('/');
    const cached = this.informers.cache(CR_API_VERSION, kind)?.get(name, namespace || undefined);
    // Gone: its children go with it (owner references, garbage collector). Being deleted: the same.
    if (!cached || cached.metadata.deletionTimestamp) return 'success';
    // A copy: the informer's cache is shared and must not change under it.
    const cr: KubeObject = structuredClone(cached);

    let rendered: KubeObject[];
    let rollout: Decision | undefined;
    try {
      rollout = await this.analyse(key, cr);
      const traffic: RolloutTraffic | undefined = rollout ? trafficOf(rollout.status) : undefined;
      rendered = this.desired.render(cr, traffic);
    } catch (e) {
      if (!(e instanceof SpecError)) throw e;
      await this.fail(cr, { reason: SpecError.REASON, message: `${e.message}; fix the custom resource's spec (kubectl edit ${cr.kind.toLowerCase()} ${cr.metadata.name} -n ${cr.metadata.namespace})` });
      return 'invalid';
    }
    const children = prepareChildren(cr, rendered);

    // A kind the cluster does not serve (its CRD is not installed: Istio, Prometheus operator, ...)
    // cannot be applied: say which, and try again later (it may be installed meanwhile).
    const missing = await this.unservedKinds(children);
    if (missing.length > 0) {
      await this.fail(cr, { reason: 'KindNotServed', message: `the cluster does not serve ${missing.join(', ')}: install its CRD, or change the spec so it is not rendered` });
      return 'retry';
    }

    // Watch every kind this CR renders or rendered before, so the caches answer for them.
    const recorded = recordedGroupKinds(cr);
    await this.watchChildKinds(children, recorded);

    // ApplySet order: the parent records the union of kinds before any child of a new kind exists.
    const current = containsGroupKinds(children);
    const union = [...new Set([...recorded, ...(current ? current.split(',') : [])])].sort().join(',');
    await this.applyParentMetadata(cr, union);

    const live: KubeObject[] = [];
    try {
      for (const child of children) {
        const observed = this.informers.cache(child.apiVersion, child.kind)?.get(child.metadata.name, child.metadata.namespace);
        const ck = childKey(child);
        if (!needsApply(child, observed, this.applied.get(ck))) {
          live.push(observed ?? child);
          continue;
        }
        const result = await this.kube.apply(child, { force: true });
        this.applied.set(ck, { hash: child.metadata.annotations![DESIRED_HASH_ANNOTATION], resourceVersion: result.metadata.resourceVersion });
        this.log.debug('applied', { key, child: ck });
        live.push(result);
      }
    } catch (e) {
      if (e instanceof KubeError && e.status >= 400 && e.status < 500 && e.status !== 409 && e.status !== 429) {
        await this.fail(cr, { reason: 'ApplyFailed', message: `the API server refused a child: ${e.message}` });
        return 'retry';
      }
      throw e;
    }

    // Prune: children of this parent (by label) in the kinds it may have, no longer rendered.
    const candidates = union.split(',').filter(Boolean).flatMap((gk) => this.cachedChildren(gk, cr.metadata.namespace));
    for (const stale of planPrune(cr, children, candidates)) {
      await this.kube.delete(stale);
      this.applied.delete(childKey(stale));
      this.log.info('pruned', { key, child: childKey(stale) });
    }
    if (union !== current) await this.applyParentMetadata(cr, current);

    await this.writeStatus(cr, live, { children: children.length }, rollout?.status);
    // Events after the status: a restart in between repeats no step (the status says where it is).
    for (const event of rollout?.events ?? []) await this.recordEvent(cr, event.reason, event.message, event.type, 'Rollout');
    if (rollout?.requeueAfterSeconds !== undefined) this.requeueAfter.set(key, rollout.requeueAfterSeconds);
    this.lastEventMessage.delete(key);
    return 'success';
  }

  /**
   * A CanaryRollout with an analysis: the machine's decision from the status last written (ours,
   * or the CR's after a restart). Undefined for every other custom resource. Throws SpecError for
   * an analysis the constructs refuse.
   */
  private async analyse(key: string, cr: KubeObject): Promise<Decision | undefined> {
    const plan = rolloutAnalysisOf(cr);
    if (!plan) return undefined;
    const previous: RolloutStatus | undefined = this.writtenStatus.get(key)?.rollout ?? cr.status?.rollout;
    const decision = await this.rollouts.step(cr, plan, previous);
    if (decision.status !== previous) {
      this.log.info('rollout', { key, phase: decision.status.phase, weight: decision.status.weight, step: decision.status.step, message: decision.status.message });
    }
    return decision;
  }

  /** The `Kind (apiVersion)` of children whose kind the API server does not serve. */
  private async unservedKinds(children: readonly KubeObject[]): Promise<string[]> {
    const kinds = new Map(children.map((c) => [gvkKey(c.apiVersion, c.kind), c]));
    const missing: string[] = [];
    for (const c of kinds.values()) {
      try {
        await this.kube.resourceFor(c.apiVersion, c.kind);
      } catch (e) {
        if (!(e instanceof KubeError && e.status === 404)) throw e;
        missing.push(`${c.kind} (${c.apiVersion})`);
      }
    }
    return missing;
  }

  /** Children in the cache of group-kind `gk` in `namespace`. */
  private cachedChildren(gk: string, namespace: string | undefined): KubeObject[] {
    const [kind, ...group] = gk.split('.');
    const g = group.join('.');
    const out: KubeObject[] = [];
    for (const k of this.childKinds) {
      const [kk, ...rest] = k.split('.');
      const apiVersion = rest.join('.');
      const kg = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
      if (kk === kind && kg === g) out.push(...(this.informers.cache(apiVersion, kind)?.list(namespace) ?? []));
    }
    return out;
  }

  /** Starts (and waits for) informers on the kinds of `children` and the recorded group-kinds. */
  private async watchChildKinds(children: readonly KubeObject[], recorded: readonly string[]): Promise<void> {
    const kinds = new Map<string, [string, string]>();
    for (const c of children) kinds.set(gvkKey(c.apiVersion, c.kind), [c.apiVersion, c.kind]);
    for (const gk of recorded) {
      const [kind, ...group] = gk.split('.');
      const known = [...this.childKinds].some((k) => k.startsWith(`${kind}.`) && (group.length === 0 ? !k.slice(kind.length + 1).includes('/') : k.slice(kind.length + 1).startsWith(`${group.join('.')}/`)));
      if (known || [...kinds.values()].some(([av, k]) => k === kind && (av.includes('/') ? av.split('/')[0] : '') === group.join('.'))) continue;
      const apiVersion = await this.preferredVersion(group.join('.'));
      if (apiVersion) kinds.set(gvkKey(apiVersion, kind), [apiVersion, kind]);
    }
    await Promise.all([...kinds].map(([k, [apiVersion, kind]]) => {
      this.childKinds.add(k);
      // An informer that cannot list (RBAC, an outage) must not hold the worker forever: fail, retry later.
      return withTimeout(this.informers.ensure(apiVersion, kind, this.childHandlers, `${APPLYSET.partOfLabel}`), INFORMER_SYNC_TIMEOUT_MS,
        `the informer for ${kind} (${apiVersion}) has not synced within ${INFORMER_SYNC_TIMEOUT_MS / 1000} s`);
    }));
  }

  /** `group/version` the API server prefers for `group` ('' = core: v1); undefined when it serves no such group. */
  private async preferredVersion(group: string): Promise<string | undefined> {
    if (group === '') return 'v1';
    try {
      const body = await this.kube.request('GET', `/apis/${group}`);
      return body.preferredVersion?.groupVersion;
    } catch {
      return undefined;
    }
  }


  private enqueueOwner(obj: KubeObject): void {
    const owner = (obj.metadata.ownerReferences ?? [])
      .find((r: { controller?: boolean; apiVersion: string }) => r.controller && r.apiVersion === CR_API_VERSION);
    if (owner) this.queue.add(`${owner.kind}/${obj.metadata.namespace ?? ''}/${owner.name}`);
  }

  private async applyParentMetadata(cr: KubeObject, kinds: string): Promise<void> {
    const patch = parentMetadataPatch(cr, kinds);
    if (!patch) return;
    const result = await this.kube.apply(patch, { force: true });
    // Later steps read the parent's metadata: keep what the server now holds.
    cr.metadata.labels = result.metadata.labels;
    cr.metadata.annotations = result.metadata.annotations;
    cr.metadata.resourceVersion = result.metadata.resourceVersion;
  }

  /** Reconciled=False and Ready=False with the reason; one Event per new message. */
  private async fail(cr: KubeObject, failure: NonNullable<ReconcileOutcome['failure']>): Promise<void> {
    const key = objectKey(cr);
    this.log.warn('custom resource not reconciled', { key, reason: failure.reason, message: failure.message });
    await this.writeStatus(cr, [], { failure, children: 0 });
    // One Event per new message; after a restart, the status already written says it was recorded.
    const shown = (cr.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Reconciled');
    const alreadyRecorded = shown?.status === 'False' && shown.message === failure.message && shown.observedGeneration === cr.metadata.generation;
    if (!alreadyRecorded && this.lastEventMessage.get(key) !== failure.message) {
      await this.recordEvent(cr, failure.reason, failure.message);
      this.lastEventMessage.set(key, failure.message);
    }
  }

  private async writeStatus(cr: KubeObject, children: readonly KubeObject[], outcome: ReconcileOutcome, rollout?: RolloutStatus): Promise<void> {
    // The cache may not hold our last status write yet: what we wrote counts as the current status then.
    const key = objectKey(cr);
    const written = this.writtenStatus.get(key);
    const status = computeStatus(cr, children, outcome, new Date(), written ?? cr.status);
    // A rollout's progress survives a failed pass (the status is applied whole, so keep it).
    const keptRollout = rollout ?? (written ?? cr.status)?.rollout;
    if (keptRollout) status.rollout = keptRollout;
    if (sameStatus(status, cr.status) || (written && sameStatus(status, written))) return;
    await this.kube.apply({ apiVersion: cr.apiVersion, kind: cr.kind, metadata: { name: cr.metadata.name, namespace: cr.metadata.namespace }, status }, { force: true, subresource: 'status' });
    this.writtenStatus.set(key, status);
  }

  /** An events.k8s.io/v1 Event (Warning unless said otherwise) about `cr`. */
  private async recordEvent(cr: KubeObject, reason: string, note: string, type: 'Normal' | 'Warning' = 'Warning', action = 'Reconcile'): Promise<void> {
    const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
    try {
      await this.kube.create({
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        // client-go's naming: the object's name, a dot, a hex timestamp (unique enough, a valid subdomain).
        metadata: { name: `${cr.metadata.name}.${(Date.now() * 1000 + Math.floor(Math.random() * 1000)).toString(16)}`, namespace: cr.metadata.namespace },
        eventTime: now,
        reportingController: CONTROLLER_FIELD_MANAGER,
        reportingInstance: this.config.podName,
        action,
        reason,
        type,
        note: note.slice(0, 1024),
        regarding: {
          apiVersion: cr.apiVersion,
          kind: cr.kind,
          name: cr.metadata.name,
          namespace: cr.metadata.namespace,
          uid: cr.metadata.uid,
          resourceVersion: cr.metadata.resourceVersion,
        },
      });
    } catch (e) {
      if (e instanceof NotLeaderError) throw e;
      this.log.warn('could not record an Event', { key: objectKey(cr), error: e });
    }
  }
}
