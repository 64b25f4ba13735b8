import { Duration } from 'cdk8s';

/**
 * Request batching, as KServe's `batcher`: concurrent inference requests to the model are
 * joined into one call of up to `maxBatchSize` rows (V1 `instances`, V2 dim 0), waiting at most
 * `maxLatency` for a batch to fill.
 *
 * On our model server this sets its built-in adaptive batching (`--max-batch-size`; it never
 * waits, so `maxLatency` does not apply). In front of a third-party runtime or a custom
 * `container`, our server runs as an agent sidecar that batches V1 `:predict` and V2 `infer`
 * requests before they reach the runtime.
 */
export interface Batcher {
  /**
   * The most rows (V1 instances, V2 dim 0) in one batch.
   *
   * @default 32 (KServe's default)
   */
  readonly maxBatchSize?: number;

  /**
   * The longest a request waits for its batch to fill (whole milliseconds, at most 10 minutes).
   *
   * @default Duration.millis(5000) (KServe's default)
   */
  readonly maxLatency?: Duration;
}
