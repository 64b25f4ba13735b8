/**
 * Prometheus metrics of the model server (names from `METRICS` in `src/_contract.ts`).
 *
 * One registry per server instance, so tests can build several apps in one process. The gRPC
 * service records its requests here too, with `protocol="grpc"`.
 */
import * as client from 'prom-client';
import { LATENCY_BUCKETS_SECONDS, METRICS } from '../contract';
import { CounterSeries, HistogramSeries, HotCounter, HotGauge, HotHistogram } from './hot-metrics';
import { RepositoryEvents } from './models/repository';

/** The protocols in the `protocol` label. */
export type MetricProtocol = 'v1' | 'v2' | 'grpc' | 'graph';

/** The server's metrics and registry. */
export class ServerMetrics {
  public readonly registry = new client.Registry();
  /** Labels `model`, `protocol`, `code` (recorded by `recordRequest`). */
  public readonly requestsTotal: HotCounter;
  /** Labels `model`, `protocol` (recorded by `recordRequest`). */
  public readonly requestDuration: HotHistogram;
  /** Label `protocol`; on the hot paths through `inFlight(protocol)`. */
  public readonly requestsInFlight: HotGauge;
  public readonly modelLoadDuration: client.Histogram<'model'>;
  public readonly modelLoadFailures: client.Counter<'model'>;
  public readonly modelsLoaded: client.Gauge;
  public readonly modelMemory: client.Gauge<'model'>;
  public readonly modelEvictions: client.Counter<'model'>;
  private readonly inFlightSeries = new Map<MetricProtocol, CounterSeries>();
  /** Series of the request metrics by protocol, code and model: resolved once per label set. */
  private readonly requestSeries = new Map<MetricProtocol, Map<number | string, Map<string, { count: CounterSeries; duration: HistogramSeries }>>>();

  constructor(options: { collectDefault?: boolean } = {}) {
    const registers = [this.registry];
    this.requestsTotal = new HotCounter(METRICS.requestsTotal, 'Requests answered, by model, protocol and status code.', this.registry);
    this.requestDuration = new HotHistogram(METRICS.requestDurationSeconds, 'Time from request received to response sent.', LATENCY_BUCKETS_SECONDS, this.registry);
    this.requestsInFlight = new HotGauge(METRICS.requestsInFlight, 'Requests being processed.', this.registry);
    this.modelLoadDuration = new client.Histogram({ name: METRICS.modelLoadDurationSeconds, help: 'Time to load a model.', labelNames: ['model'], buckets: LATENCY_BUCKETS_SECONDS, registers });
    this.modelLoadFailures = new client.Counter({ name: METRICS.modelLoadFailuresTotal, help: 'Failed model loads.', labelNames: ['model'], registers });
    this.modelsLoaded = new client.Gauge({ name: METRICS.modelsLoaded, help: 'Models in state READY.', registers });
    this.modelMemory = new client.Gauge({ name: METRICS.modelMemoryBytes, help: 'Estimated bytes held by each loaded model (file size x memory factor).', labelNames: ['model'], registers });
    this.modelEvictions = new client.Counter({ name: METRICS.modelEvictionsTotal, help: 'Models evicted to stay under the memory budget.', labelNames: ['model'], registers });
    if (options.collectDefault ?? true) {
      client.collectDefaultMetrics({ register: this.registry });
    }
  }

  /** The in-flight series of `protocol`: add 1 when a request starts, subtract 1 when it ends. */
  public inFlight(protocol: MetricProtocol): CounterSeries {
    let series = this.inFlightSeries.get(protocol);
    if (!series) {
      series = this.requestsInFlight.child({ protocol });
      this.inFlightSeries.set(protocol, series);
    }
    return series;
  }

  /** Records one answered request (REST hooks and the gRPC service call this). */
  public recordRequest(model: string, protocol: MetricProtocol, code: number | string, seconds: number): void {
    let byCode = this.requestSeries.get(protocol);
    if (!byCode) this.requestSeries.set(protocol, byCode = new Map());
    let byModel = byCode.get(code);
    if (!byModel) byCode.set(code, byModel = new Map());
    let series = byModel.get(model);
    if (!series) {
      series = {
        count: this.requestsTotal.child({ model, protocol, code: String(code) }),
        duration: this.requestDuration.child({ model, protocol }),
      };
      byModel.set(model, series);
    }
    series.count.value++;
    series.duration.observe(seconds);
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
