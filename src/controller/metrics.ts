/**
 * The controller's Prometheus metrics (names in CONTROLLER_METRICS, `src/contract.ts`), on a
 * registry of its own with Node's default process metrics (RSS, heap, event loop lag).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { CONTROLLER_METRICS } from '../contract';

export interface ControllerMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'kind' | 'result'>;
  readonly reconcileDuration: Histogram<'kind'>;
  readonly reconcileErrors: Counter<'kind'>;
  readonly queueDepth: Gauge<'kind'>;
  readonly writes: Counter<'kind' | 'verb'>;
  readonly leader: Gauge;
  /** Where the queue-depth gauge reads its values at scrape time (set by the controller). */
  queueDepthByKind: () => Record<string, number>;
}

export function createMetrics(): ControllerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const metrics: ControllerMetrics = {
    queueDepthByKind: () => ({}),
    registry,
    reconcileTotal: new Counter({ name: CONTROLLER_METRICS.reconcileTotal, help: 'Reconciles finished, by custom resource kind and result (success, error, invalid).', labelNames: ['kind', 'result'], registers }),
    reconcileDuration: new Histogram({
      name: CONTROLLER_METRICS.reconcileDurationSeconds,
      help: 'Time one reconcile takes, by custom resource kind.',
      labelNames: ['kind'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    reconcileErrors: new Counter({ name: CONTROLLER_METRICS.reconcileErrorsTotal, help: 'Reconciles that failed (API errors and invalid specs), by kind.', labelNames: ['kind'], registers }),
    // Counted when scraped, not on every queue operation.
    queueDepth: new Gauge({
      name: CONTROLLER_METRICS.queueDepth,
      help: 'Keys waiting in the work queue, retries included, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        for (const [kind, depth] of Object.entries(metrics.queueDepthByKind())) this.set({ kind }, depth);
      },
    }),
    writes: new Counter({ name: CONTROLLER_METRICS.writesTotal, help: 'Writes sent to the API server, by kind of the object and verb (apply, delete, status, event).', labelNames: ['kind', 'verb'], registers }),
    leader: new Gauge({ name: CONTROLLER_METRICS.leader, help: '1 while this replica holds the leader Lease.', registers }),
  };
  return metrics;
}
