/** Why a fetch failed; stable values, so callers (and tests) can branch on them. */
export type StorageErrorCode =
  | 'INVALID_URI'
  | 'UNSUPPORTED'
  | 'NOT_FOUND'
  | 'AUTH'
  | 'HTTP'
  | 'TIMEOUT'
  | 'NETWORK'
  | 'UNPACK'
  | 'IO';

/** A failed model download, with a message that names the URI and what went wrong. */
export class StorageError extends Error {
  public readonly code: StorageErrorCode;
  /** HTTP status of the last response, when there was one. */
  public readonly status?: number;
  /** Whether trying again may help (5xx, 429, network errors, timeouts). */
  public readonly retryable: boolean;

  constructor(code: StorageErrorCode, message: string, opts: { status?: number; retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StorageError';
    this.code = code;
    this.status = opts.status;
    this.retryable = opts.retryable ?? false;
  }
}
