/**
 * Settings of payload logging (`--payload-log-*`, see `SERVER_FLAGS` in `src/contract.ts`).
 * Parsed by `../config.ts`; this file only holds the shape and the defaults.
 */

/** `all`, `request` or `response` (`PAYLOAD_LOG_MODES`). */
export type PayloadLogMode = 'all' | 'request' | 'response';

export interface PayloadLogConfig {
  /** Where events are POSTed. */
  readonly url: string;
  readonly mode: PayloadLogMode;
  /** Most events waiting to be sent; past it new events are dropped. */
  readonly queueSize: number;
  /** Longest time one send may take before the event is dropped. */
  readonly timeoutMs: number;
  /** CloudEvent extension attributes, as KServe's logger sets them. */
  readonly inferenceService?: string;
  readonly namespace: string;
  readonly endpoint: string;
  /** `predictor`, `transformer` or `explainer` (KServe's component names). */
  readonly component: string;
  /**
   * Share of inferences logged, 0 to 1: decided from the event id, so a request and its
   * response are kept or dropped together.
   */
  readonly sampleRate: number;
}

export const PAYLOAD_LOG_DEFAULTS = {
  mode: 'all' as PayloadLogMode,
  // KServe's agent queues 100 (LoggerWorkerQueueSize, pkg/logger/worker.go); a bit more absorbs bursts.
  queueSize: 256,
  timeoutMs: 5_000,
  namespace: '',
  endpoint: '',
  sampleRate: 1,
};
