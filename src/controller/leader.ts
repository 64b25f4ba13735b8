/**
 * Leader election through a coordination.k8s.io/v1 Lease, the way client-go's leaderelection
 * package does it: a candidate takes the Lease when it is free or its holder has not renewed it for
 * `leaseDuration` (measured on this replica's clock from when it last saw the record change, so
 * clock skew between replicas does not matter); the resourceVersion of the read makes the take-over
 * an optimistic lock, so two candidates cannot both win. The leader renews every `retryPeriod` and
 * counts itself leader only until `renewDeadline` after its last successful renewal: it stops
 * writing at once when renewals fail, before a follower may take over (renewDeadline < leaseDuration).
 * On shutdown the leader releases the Lease (empty holder), so a follower takes over without waiting.
 */
import { Kube, KubeError, KubeObject } from './kube';
import type { Logger } from './log';

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** client-go's jitter: a wait of `ms` to 1.2 * `ms`, so candidates do not poll in lockstep. */
const jittered = (ms: number) => ms * (1 + 0.2 * Math.random());

export class LeaderElector {
  private lastRenewMs = 0;
  private observedRecord = '';
  private observedAtMs = 0;
  private stopped = false;
  private leading = false;
  private readonly listeners: Array<(leader: boolean) => void> = [];

  constructor(private readonly kube: Kube, private readonly options: LeaderElectionOptions, private readonly log: Logger) {}

  /** True while this replica holds the Lease and renewed it within the renew deadline. */
  isLeader(): boolean {
    return this.leading && Date.now() - this.lastRenewMs < this.options.renewDeadlineMs;
  }

  onChange(listener: (leader: boolean) => void): void {
    this.listeners.push(listener);
  }

  /** Campaigns until leader, then renews until leadership is lost or `stop()`; resolves then. */
  async run(): Promise<void> {
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew()) {
        if (!this.leading) {
          this.leading = true;
          this.log.info('became the leader', { lease: this.options.name, identity: this.options.identity });
          this.emit(true);
        }
      } else if (this.leading && !this.isLeader()) {
        this.leading = false;
        this.log.warn('lost the leader Lease: could not renew it within the renew deadline', { lease: this.options.name });
        this.emit(false);
        return;
      }
      await sleep(this.leading ? this.options.retryPeriodMs : jittered(this.options.retryPeriodMs));
    }
  }

  /** Stops campaigning; a leader releases the Lease so a follower can take over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    this.emit(false);
    try {
      const lease = await this.kube.get('coordination.k8s.io/v1', 'Lease', this.options.namespace, this.options.name);
      if (lease?.spec?.holderIdentity !== this.options.identity) return;
      // client-go's release: no holder, and a one-second duration for readers that check the time.
      lease.spec = { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microTime(new Date()) };
      await this.kube.replaceUnguarded(lease);
      this.log.info('released the leader Lease', { lease: this.options.name });
    } catch (e) {
      this.log.warn('could not release the leader Lease; a follower takes over once it expires', { error: e });
    }
  }

  private emit(leader: boolean): void {
    for (const l of this.listeners) l(leader);
  }

  /** One round: take or renew the Lease. True when this replica holds it now. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const spec: LeaseSpec = {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.options.leaseDurationMs / 1000)),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    try {
      const lease = await this.kube.get('coordination.k8s.io/v1', 'Lease', this.options.namespace, this.options.name);
      if (!lease) {
        await this.kube.createUnguarded({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.options.name, namespace: this.options.namespace }, spec });
        this.lastRenewMs = now.getTime();
        return true;
      }
      const old: LeaseSpec = lease.spec ?? {};
      const record = JSON.stringify([old.holderIdentity, old.renewTime, old.leaseTransitions]);
      if (record !== this.observedRecord) {
        this.observedRecord = record;
        this.observedAtMs = now.getTime();
      }
      const heldByOther = Boolean(old.holderIdentity) && old.holderIdentity !== this.options.identity;
      const durationMs = (old.leaseDurationSeconds ?? 0) * 1000;
      if (heldByOther && this.observedAtMs + Math.max(durationMs, this.options.leaseDurationMs) > now.getTime()) return false;
      if (old.holderIdentity === this.options.identity) {
        spec.acquireTime = old.acquireTime ?? spec.acquireTime;
        spec.leaseTransitions = old.leaseTransitions ?? 0;
      } else {
        spec.leaseTransitions = (old.leaseTransitions ?? 0) + 1;
      }
      const updated: KubeObject = { ...lease, spec };
      await this.kube.replaceUnguarded(updated);
      this.lastRenewMs = now.getTime();
      return true;
    } catch (e) {
      // 409: another candidate changed the Lease first (create or replace): it won this round.
      if (!(e instanceof KubeError && e.status === 409)) this.log.warn('leader election request failed', { error: e });
      return false;
    }
  }
}

/** A MicroTime (RFC 3339 with microseconds), as the Lease fields require. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
