/**
 * Which payloads an endpoint sends to a logging sink. The same values as KServe's
 * `LoggerType` (kserve/kserve pkg/apis/serving/v1beta1), so an InferenceService's
 * `logger.mode` maps one to one.
 */
export enum LoggerMode {
  /** Requests and responses. */
  ALL = 'all',
  /** Requests only. */
  REQUEST = 'request',
  /** Responses only. */
  RESPONSE = 'response',
}

/**
 * Payload logging, as KServe's `logger`: the model server POSTs each inference request and
 * response to `url` as a CloudEvent (binary mode, KServe's event types and `ce-*` attributes,
 * so sinks written for KServe keep working). Sending is asynchronous through a bounded queue:
 * a full queue or a failing sink drops events (counted in
 * `model_server_payload_log_events_dropped_total`), never slows or fails inference.
 */
export interface PayloadLogging {
  /**
   * The sink: an http:// or https:// URL, e.g. `http://message-dumper.default.svc.cluster.local`.
   */
  readonly url: string;

  /**
   * Which payloads are sent.
   *
   * @default LoggerMode.ALL
   */
  readonly mode?: LoggerMode;

  /**
   * Share of inferences logged, from 0 to 1 (0.1 logs one in ten). Decided per inference from
   * its event id, so a request and its response are logged together or not at all. Beyond
   * KServe, whose logger sends every inference: refused with `target: ServingTarget.KSERVE`.
   *
   * @default 1 (every inference)
   */
  readonly sampleRate?: number;
}
