/**
 * Prometheus metrics of the model server (names from `METRICS` in `src/_contract.ts`).
 *
 * One registry per server instance, so tests can build several apps in one process. The gRPC
 * service records its requests here too, with `protocol="grpc"`.
 */
import * as client from 'prom-client';
import { LATENCY_BUCKETS_SECONDS, METRICS } from '../_contract';
import { RepositoryEvents } from './models/repository';

/** The protocols in the `protocol` label. */
export type MetricProtocol = 'v1' | 'v2' | 'grpc';

/** The server's metrics and registry. */
export class ServerMetrics {
  public readonly registry = new client.Registry();
  public readonly requestsTotal: client.Counter<'model' | 'protocol' | 'code'>;
  public readonly requestDuration: client.Histogram<'model' | 'protocol'>;
  public readonly requestsInFlight: client.Gauge<'protocol'>;
  public readonly modelLoadDuration: client.Histogram<'model'>;
  public readonly modelLoadFailures: client.Counter<'model'>;
  public readonly modelsLoaded: client.Gauge;
  public readonly modelMemory: client.Gauge<'model'>;
  public readonly modelEvictions: client.Counter<'model'>;
  // prom-client hashes the label object on every call; cache the children per label set.
  private readonly inFlightChildren = new Map<MetricProtocol, client.Gauge.Internal<'protocol'>>();
  private readonly requestChildren = new Map<string, { count: client.Counter.Internal; duration: client.Histogram.Internal<'model' | 'protocol'> }>();

  constructor(options: { collectDefault?: boolean } = {}) {
    const registers = [this.registry];
    this.requestsTotal = new client.Counter({ name: METRICS.requestsTotal, help: 'Requests answered, by model, protocol and status code.', labelNames: ['model', 'protocol', 'code'], registers });
    this.requestDuration = new client.Histogram({ name: METRICS.requestDurationSeconds, help: 'Time from request received to response sent.', labelNames: ['model', 'protocol'], buckets: LATENCY_BUCKETS_SECONDS, registers });
    this.requestsInFlight = new client.Gauge({ name: METRICS.requestsInFlight, help: 'Requests being processed.', labelNames: ['protocol'], registers });
    this.modelLoadDuration = new client.Histogram({ name: METRICS.modelLoadDurationSeconds, help: 'Time to load a model.', labelNames: ['model'], buckets: LATENCY_BUCKETS_SECONDS, registers });
    this.modelLoadFailures = new client.Counter({ name: METRICS.modelLoadFailuresTotal, help: 'Failed model loads.', labelNames: ['model'], registers });
    this.modelsLoaded = new client.Gauge({ name: METRICS.modelsLoaded, help: 'Models in state READY.', registers });
    this.modelMemory = new client.Gauge({ name: METRICS.modelMemoryBytes, help: 'Estimated bytes held by each loaded model (file size x memory factor).', labelNames: ['model'], registers });
    this.modelEvictions = new client.Counter({ name: METRICS.modelEvictionsTotal, help: 'Models evicted to stay under the memory budget.', labelNames: ['model'], registers });
    if (options.collectDefault ?? true) {
      client.collectDefaultMetrics({ register: this.registry });
    }
  }

  /** The in-flight gauge of `protocol` (a cached child: prom-client hashes label objects). */
  public inFlight(protocol: MetricProtocol): client.Gauge.Internal<'protocol'> {
    let child = this.inFlightChildren.get(protocol);
    if (!child) {
      child = this.requestsInFlight.labels({ protocol });
      this.inFlightChildren.set(protocol, child);
    }
    return child;
  }

  /** Records one answered request (REST hooks and the gRPC service call this). */
  public recordRequest(model: string, protocol: MetricProtocol, code: number | string, seconds: number): void {
    const key = `${model}\u0000${protocol}\u0000${code}`;
    let c = this.requestChildren.get(key);
    if (!c) {
      c = {
        count: this.requestsTotal.labels({ model, protocol, code: String(code) }),
        duration: this.requestDuration.labels({ model, protocol }),
      };
      this.requestChildren.set(key, c);
    }
    c.count.inc();
    c.duration.observe(seconds);
  }

  /** Repository events wired to the model metrics. */
  public repositoryEvents(onEvent?: (event: string, fields: Record<string, unknown>) => void): RepositoryEvents {
    return {
      loaded: (model, seconds, bytes) => {
        this.modelLoadDuration.observe({ model }, seconds);
        this.modelMemory.set({ model }, bytes);
        this.modelsLoaded.inc();
        onEvent?.('model_loaded', { model, seconds, bytes });
      },
      loadFailed: (model, reason) => {
        this.modelLoadFailures.inc({ model });
        onEvent?.('model_load_failed', { model, reason });
      },
      evicted: (model) => {
        this.modelEvictions.inc({ model });
        onEvent?.('model_evicted', { model });
      },
      released: (model) => {
        this.modelMemory.remove({ model });
        this.modelsLoaded.dec();
        onEvent?.('model_released', { model });
      },
    };
  }
}
