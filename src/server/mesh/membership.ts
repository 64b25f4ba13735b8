/**
 * Who the members of the mesh are and which of them are alive.
 *
 * Members come from a static list (`--peers`) or from the addresses of a headless Service
 * (`--peer-dns`, re-resolved every `resolveIntervalMs`). Every `probeIntervalMs` each other
 * member is asked for its status (`MESH_STATUS_PATH`): an answer marks it live and tells its
 * memory budget (its placement weight); a refused or timed-out probe, or a failed forward,
 * marks it dead until a later probe succeeds. Members never heard from count as live, so a
 * mesh that starts all at once places models at once.
 */
import { promises as dns } from 'dns';
import { requestPeer } from './forward';
import { Member } from './hrw';
import { MESH_STATUS_PATH } from '../../contract';

/** Weight of a member with no memory budget (unlimited) or not heard from yet. */
export const DEFAULT_WEIGHT = 2 ** 30;

export interface MembershipOptions {
  readonly self: string;
  readonly selfWeight: number;
  readonly peers: readonly string[];
  readonly peerDns?: string;
  /** Port of members found through DNS. */
  readonly port: number;
  readonly probeIntervalMs?: number;
  readonly probeTimeoutMs?: number;
  readonly resolveIntervalMs?: number;
  readonly onChange?: () => void;
  readonly onError?: (message: string) => void;
}

interface PeerState {
  live: boolean;
  weight: number;
}

export class Membership {
  private readonly peers = new Map<string, PeerState>();
  private liveCache?: Member[];
  private timers: NodeJS.Timeout[] = [];
  private probing = false;
  /** Bumped on every change of the live set or weights (placement caches key on it). */
  public version = 0;

  constructor(private readonly options: MembershipOptions) {
    for (const p of options.peers) {
      this.addPeer(p);
    }
  }

  public get self(): string {
    return this.options.self;
  }

  /** Live members, this one included, sorted by id. */
  public live(): Member[] {
    if (!this.liveCache) {
      const out: Member[] = [{ id: this.options.self, weight: this.options.selfWeight }];
      for (const [id, s] of this.peers) {
        if (s.live) {
          out.push({ id, weight: s.weight });
        }
      }
      this.liveCache = out.sort((a, b) => (a.id < b.id ? -1 : 1));
    }
    return this.liveCache;
  }

  /** Every known member with its state, for the status route and metrics. */
  public all(): Array<{ id: string; live: boolean; weight: number; self: boolean }> {
    return [
      { id: this.options.self, live: true, weight: this.options.selfWeight, self: true },
      ...[...this.peers].map(([id, s]) => ({ id, live: s.live, weight: s.weight, self: false })),
    ].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  public markDead(id: string): void {
    const s = this.peers.get(id);
    if (s && s.live) {
      s.live = false;
      this.changed();
    }
  }

  public markLive(id: string, weight?: number): void {
    const s = this.peers.get(id);
    if (s && (!s.live || (weight !== undefined && weight !== s.weight))) {
      s.live = true;
      if (weight !== undefined) {
        s.weight = weight;
      }
      this.changed();
    }
  }

  public start(): void {
    const probeMs = this.options.probeIntervalMs ?? 1000;
    this.timers.push(setInterval(() => void this.probeAll(), probeMs));
    if (this.options.peerDns) {
      void this.resolve();
      this.timers.push(setInterval(() => void this.resolve(), this.options.resolveIntervalMs ?? 5000));
    }
    for (const t of this.timers) {
      t.unref();
    }
  }

  public stop(): void {
    for (const t of this.timers) {
      clearInterval(t);
    }
    this.timers = [];
  }

  /** Probes every peer once (also called by tests). */
  public async probeAll(): Promise<void> {
    if (this.probing) {
      return;
    }
    this.probing = true;
    try {
      await Promise.all([...this.peers.keys()].map(async (id) => {
        try {
          const res = await requestPeer(id, 'GET', MESH_STATUS_PATH, {}, undefined, this.options.probeTimeoutMs ?? 1000);
          if (res.status !== 200) {
            // draining or not started: no new placements on it
            this.markDead(id);
            return;
          }
          const status = JSON.parse(res.body.toString()) as { budgetBytes?: number };
          this.markLive(id, status.budgetBytes && status.budgetBytes > 0 ? status.budgetBytes : DEFAULT_WEIGHT);
        } catch {
          this.markDead(id);
        }
      }));
    } finally {
      this.probing = false;
    }
  }

  private async resolve(): Promise<void> {
    let addresses: string[];
    try {
      addresses = await dns.resolve4(this.options.peerDns!);
    } catch (err) {
      this.options.onError?.(`cannot resolve ${this.options.peerDns}: ${(err as Error).message}`);
      return;
    }
    const ids = new Set(addresses.map((a) => `${a}:${this.options.port}`));
    ids.delete(this.options.self);
    let changed = false;
    for (const id of ids) {
      if (!this.peers.has(id)) {
        this.addPeer(id);
        changed = true;
      }
    }
    for (const id of [...this.peers.keys()]) {
      if (!ids.has(id) && !this.options.peers.includes(id)) {
        this.peers.delete(id);
        changed = true;
      }
    }
    if (changed) {
      this.changed();
    }
  }

  private addPeer(id: string): void {
    if (id !== this.options.self && !this.peers.has(id)) {
      this.peers.set(id, { live: true, weight: this.options.selfWeight });
    }
  }

  private changed(): void {
    this.liveCache = undefined;
    this.version++;
    this.options.onChange?.();
  }
}
