/**
 * Metrics of the transformer and explainer (names from `METRICS` in `src/_contract.ts`),
 * registered on the server's registry next to the request metrics.
 */
import * as client from 'prom-client';
import { LATENCY_BUCKETS_SECONDS, METRICS } from '../../contract';
import { ServerMetrics } from '../metrics';

/** Step, predictor-call and explanation metrics. */
export class ComponentMetrics {
  public readonly stepDuration: client.Histogram<'model' | 'step'>;
  public readonly predictorDuration: client.Histogram<'model' | 'protocol'>;
  public readonly explanations: client.Counter<'model' | 'method'>;

  constructor(metrics: ServerMetrics) {
    const registers = [metrics.registry];
    this.stepDuration = new client.Histogram({ name: METRICS.transformerStepDurationSeconds, help: 'Time in the transformer module (preprocess, postprocess).', labelNames: ['model', 'step'], buckets: LATENCY_BUCKETS_SECONDS, registers });
    this.predictorDuration = new client.Histogram({ name: METRICS.predictorRequestDurationSeconds, help: 'Calls to the predictor by a transformer or explainer.', labelNames: ['model', 'protocol'], buckets: LATENCY_BUCKETS_SECONDS, registers });
    this.explanations = new client.Counter({ name: METRICS.explanationsTotal, help: 'Explanations computed.', labelNames: ['model', 'method'], registers });
  }
}
