/**
 * Mesh metrics, registered on the server's registry (names from `METRICS` in `_contract.ts`).
 */
import * as client from 'prom-client';
import { METRICS } from '../../contract';

export class MeshMetrics {
  public readonly cacheHits: client.Counter<'model'>;
  public readonly cacheMisses: client.Counter<'model'>;
  public readonly loads: client.Counter<'model'>;
  public readonly forwards: client.Counter<'outcome'>;
  public readonly requests: client.Counter<'model' | 'via'>;
  public readonly members: client.Gauge<'state'>;
  public readonly memoryUsed: client.Gauge;
  public readonly memoryPeak: client.Gauge;
  public readonly memoryBudget: client.Gauge;

  constructor(registry: client.Registry, sample: () => { used: number; peak: number; live: number; dead: number }) {
    const registers = [registry];
    this.cacheHits = new client.Counter({ name: METRICS.meshCacheHitsTotal, help: 'Mesh requests served here with the model already loaded.', labelNames: ['model'], registers });
    this.cacheMisses = new client.Counter({ name: METRICS.meshCacheMissesTotal, help: 'Mesh requests served here that had to load the model first.', labelNames: ['model'], registers });
    this.loads = new client.Counter({ name: METRICS.meshLoadsTotal, help: 'Model loads on this member.', labelNames: ['model'], registers });
    this.forwards = new client.Counter({ name: METRICS.meshForwardsTotal, help: 'Requests forwarded to another member, by outcome (ok, error, fallback).', labelNames: ['outcome'], registers });
    this.requests = new client.Counter({ name: METRICS.meshRequestsTotal, help: 'Mesh model requests received, by how they were served (local, forwarded, from_peer, fallback).', labelNames: ['model', 'via'], registers });
    this.members = new client.Gauge({
      name: METRICS.meshMembers,
      help: 'Members known to this member.',
      labelNames: ['state'],
      registers,
      collect() {
        const s = sample();
        this.set({ state: 'live' }, s.live);
        this.set({ state: 'dead' }, s.dead);
      },
    });
    this.memoryUsed = new client.Gauge({ name: METRICS.meshMemoryUsedBytes, help: 'Bytes charged to loaded and loading models.', registers, collect() { this.set(sample().used); } });
    this.memoryPeak = new client.Gauge({ name: METRICS.meshMemoryPeakBytes, help: 'Highest bytes charged to models since start.', registers, collect() { this.set(sample().peak); } });
    this.memoryBudget = new client.Gauge({ name: METRICS.meshMemoryBudgetBytes, help: 'The memory budget (0 = none).', registers });
  }
}
