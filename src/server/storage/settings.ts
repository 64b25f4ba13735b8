/**
 * The storage initializer's limits and authentication mode, from flags and environment variables
 * (names in `SERVER_FLAGS` / `SERVER_ENV`; parsed by `parseConfig` in `../config`, which also
 * serves the `storage-initializer` subcommand).
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--storage-max-bytes` | `STORAGE_MAX_BYTES` | `16Gi`; the constructs set it to the model volume's size limit when there is one |
 * | `--storage-idle-timeout-ms` | `STORAGE_IDLE_TIMEOUT_MS` | `30000` (no byte for this long: the attempt times out, and is retried) |
 * | `--storage-deadline-ms` | `STORAGE_DEADLINE_MS` | `3600000` (the whole fetch, retries included; not retried) |
 * | `--storage-max-attempts` | `STORAGE_MAX_ATTEMPTS` | `5` (per request; `1` = no retries) |
 * | `--storage-auth` | `STORAGE_AUTH` | `auto` (`secret`, `workload-identity`, `anonymous`) |
 */
import { STORAGE_AUTH_MODES } from '../../contract';

/** One of the values of `STORAGE_AUTH_MODES`. */
export type StorageAuthMode = 'auto' | 'secret' | 'workload-identity' | 'anonymous';

/** Validated storage settings. */
export interface StorageSettings {
  /** Most bytes one fetch may write (downloads plus unpacked archives). */
  readonly maxBytes: number;
  /** Longest wait for the next byte of a request. */
  readonly idleTimeoutMs: number;
  /** Longest time for the whole fetch, retries included. */
  readonly deadlineMs: number;
  /** Attempts per request, the first included. */
  readonly maxAttempts: number;
  /** How requests are authenticated. */
  readonly auth: StorageAuthMode;
}

/** The defaults, documented in the table above and in the README. */
export const STORAGE_DEFAULTS: StorageSettings = {
  maxBytes: 16 * 2 ** 30,
  idleTimeoutMs: 30_000,
  deadlineMs: 3_600_000,
  maxAttempts: 5,
  auth: 'auto',
};

type StorageKey = 'storageMaxBytes' | 'storageIdleTimeoutMs' | 'storageDeadlineMs' | 'storageMaxAttempts' | 'storageAuth';

/** The config parser's readers; each names the flag and variable in its errors. */
export interface SettingReaders {
  int(key: StorageKey, min: number, max: number): number | undefined;
  bytes(key: StorageKey): number | undefined;
  oneOf(key: StorageKey, allowed: readonly string[]): string | undefined;
  /** A variable read before the flags existed (kept working for older deployments). */
  legacyEnv(name: string): string | undefined;
  fail(message: string): never;
}

/** Parses the storage settings with the config parser's readers. */
export function parseStorageSettings(r: SettingReaders): StorageSettings {
  const maxBytes = r.bytes('storageMaxBytes') ?? STORAGE_DEFAULTS.maxBytes;
  if (maxBytes < 1) r.fail(`'--storage-max-bytes' (STORAGE_MAX_BYTES) must be at least 1 byte, got ${maxBytes}`);
  // STORAGE_TIMEOUT_MS and STORAGE_RETRIES were the names before the flags.
  const legacyTimeout = whole(r.legacyEnv('STORAGE_TIMEOUT_MS'));
  const legacyRetries = whole(r.legacyEnv('STORAGE_RETRIES'));
  return {
    maxBytes,
    idleTimeoutMs: r.int('storageIdleTimeoutMs', 1, 3_600_000) ?? legacyTimeout ?? STORAGE_DEFAULTS.idleTimeoutMs,
    deadlineMs: r.int('storageDeadlineMs', 1, 7 * 24 * 3_600_000) ?? STORAGE_DEFAULTS.deadlineMs,
    maxAttempts: r.int('storageMaxAttempts', 1, 100) ?? (legacyRetries !== undefined ? legacyRetries + 1 : STORAGE_DEFAULTS.maxAttempts),
    auth: (r.oneOf('storageAuth', Object.values(STORAGE_AUTH_MODES)) ?? STORAGE_DEFAULTS.auth) as StorageAuthMode,
  };
}

function whole(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}
