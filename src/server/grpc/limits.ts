/**
 * The HTTP/2 limits of the gRPC port: what one client may hold of the server. A module of its
 * own, with no imports, so the server's config can read the defaults without loading gRPC.
 * Each is a flag of `serve` (README, "gRPC limits").
 */
export interface GrpcTransportLimits {
  /** Streams (calls) one connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /** Largest request header section, decoded (SETTINGS_MAX_HEADER_LIST_SIZE); larger: stream reset. */
  readonly maxHeaderListBytes: number;
  /**
   * nghttp2 memory one connection may use (header tables, streams, frames queued to send); past
   * it, new streams are refused (ENHANCE_YOUR_CALM). Counted in whole MiB (node:http2's unit).
   */
  readonly maxSessionMemoryBytes: number;
  /** A connection with no call open and no traffic for this long is closed (GOAWAY). 0: never. */
  readonly idleTimeoutMs: number;
  /** A connection whose client has not sent the HTTP/2 preface and SETTINGS by then is closed. */
  readonly prefaceTimeoutMs: number;
  /** Open connections; more are closed as soon as they are accepted. */
  readonly maxConnections: number;
}

/** Defaults of `GrpcTransportLimits` (the flags' defaults). */
export const DEFAULT_GRPC_LIMITS: GrpcTransportLimits = {
  maxConcurrentStreams: 100,
  maxHeaderListBytes: 16 * 1024,
  maxSessionMemoryBytes: 32 * 1024 * 1024,
  idleTimeoutMs: 300_000,
  prefaceTimeoutMs: 10_000,
  maxConnections: 1000,
};
