/** Why a fetch failed; stable values, so callers (and tests) can branch on them. */
export type StorageErrorCode =
  | 'INVALID_URI'
  | 'UNSUPPORTED'
  | 'NOT_FOUND'
  | 'AUTH'
  | 'HTTP'
  | 'TIMEOUT'
  | 'NETWORK'
  /** The body ended before its Content-Length: never kept as a (truncated) model. */
  | 'TRUNCATED'
  /** The bytes do not match a checksum the store sent (`x-amz-checksum-*`, `x-goog-hash`). */
  | 'CHECKSUM'
  /** More bytes than `--storage-max-bytes` would be written (downloads plus unpacked archives). */
  | 'TOO_LARGE'
  /** A redirect the initializer refuses (https to http, another scheme, too many hops). */
  | 'REDIRECT'
  | 'UNPACK'
  | 'IO';

/** A failed model download, with a message that names the URI and what went wrong. */
export class StorageError extends Error {
  public readonly code: StorageErrorCode;
  /** HTTP status of the last response, when there was one. */
  public readonly status?: number;
  /** Whether trying again may help (5xx, 429, network errors, idle timeouts, short bodies). */
  public readonly retryable: boolean;
  /** How long the server asked us to wait (`Retry-After`), when it did. */
  public readonly retryAfterMs?: number;

  constructor(code: StorageErrorCode, message: string,
    opts: { status?: number; retryable?: boolean; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StorageError';
    this.code = code;
    this.status = opts.status;
    this.retryable = opts.retryable ?? false;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/**
 * Whether `err` is a StorageError. By name, not `instanceof`: the cloud clients are bundled into
 * chunks of their own (loaded only for s3:// and gs://), each with its copy of this class.
 */
export function isStorageError(err: unknown): err is StorageError {
  return err instanceof Error && err.name === 'StorageError' && typeof (err as StorageError).code === 'string';
}
