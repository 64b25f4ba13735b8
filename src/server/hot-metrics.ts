/**
 * A counter, a gauge and a histogram for the per-request metrics, registered in a prom-client
 * registry.
 *
 * prom-client hashes the label set on every `inc`/`observe`, even through a child made with
 * `labels()`: about half a microsecond per request for the two request metrics, as much as a
 * small model's whole inference. Here a label set is resolved once into a series object the
 * caller keeps, and recording is a few additions; the registry formats the series when
 * Prometheus scrapes (the `get()` shape prom-client's own metrics return).
 */
import * as client from 'prom-client';

type Labels = Readonly<Record<string, string>>;

/** One value per label set, as prom-client's registry reads it. */
interface MetricValue {
  readonly labels: Record<string, string | number>;
  readonly value: number;
  readonly metricName?: string;
}

/** What `Registry.registerMetric` and the registry's serializer use of a metric. */
abstract class RegisteredMetric<S> {
  public abstract readonly type: 'counter' | 'gauge' | 'histogram';
  public readonly aggregator = 'sum' as const;
  protected readonly series = new Map<string, S>();

  constructor(public readonly name: string, public readonly help: string, registry: client.Registry) {
    registry.registerMetric(this as unknown as client.Metric);
  }

  /** prom-client's serializer entry point. */
  public async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values() };
  }

  /** Zeroes every series (prom-client's `Registry.resetMetrics`); callers keep their series. */
  public reset(): void {
    for (const s of this.series.values()) this.zero(s);
  }

  protected abstract values(): MetricValue[];
  protected abstract zero(series: S): void;
}

/** One label set of a `HotCounter` or `HotGauge`. */
export interface CounterSeries {
  readonly labels: Labels;
  value: number;
}

/** A value per label set; `HotCounter` and `HotGauge` differ only in the type Prometheus sees. */
abstract class ValueMetric extends RegisteredMetric<CounterSeries> {
  /** The series of `labels` (created at 0); keep it and add to `value`. */
  public child(labels: Labels): CounterSeries {
    const key = seriesKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, value: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  protected values(): MetricValue[] {
    return [...this.series.values()].map((s) => ({ labels: { ...s.labels }, value: s.value }));
  }

  protected zero(series: CounterSeries): void {
    series.value = 0;
  }
}

/** Only ever incremented. */
export class HotCounter extends ValueMetric {
  public readonly type = 'counter' as const;
}

/** Goes up and down (requests in flight). */
export class HotGauge extends ValueMetric {
  public readonly type = 'gauge' as const;
}

/** One label set of a `HotHistogram`: counts per bucket (not cumulative), sum and count. */
export class HistogramSeries {
  public sum = 0;
  public count = 0;
  public readonly counts: Float64Array;

  constructor(public readonly labels: Labels, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  public observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

export class HotHistogram extends RegisteredMetric<HistogramSeries> {
  public readonly type = 'histogram' as const;
  private readonly bounds: readonly number[];

  constructor(name: string, help: string, buckets: readonly number[], registry: client.Registry) {
    super(name, help, registry);
    this.bounds = [...buckets].sort((a, b) => a - b);
  }

  /** The series of `labels` (created empty); keep it and call `observe`. */
  public child(labels: Labels): HistogramSeries {
    const key = seriesKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = new HistogramSeries(labels, this.bounds);
      this.series.set(key, s);
    }
    return s;
  }

  protected zero(series: HistogramSeries): void {
    series.counts.fill(0);
    series.sum = 0;
    series.count = 0;
  }

  protected values(): MetricValue[] {
    const out: MetricValue[] = [];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i];
        out.push({ labels: { le, ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      out.push({ labels: { le: '+Inf', ...s.labels }, value: s.count, metricName: `${this.name}_bucket` });
      out.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      out.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return out;
  }
}

function seriesKey(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}\u0000${labels[k]}`).join('\u0001');
}
