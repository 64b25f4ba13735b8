/**
 * fetchModel: one fetch, from parsing the URI to the model in place, under its bounds.
 *
 * Writes are atomic per model: everything lands in a hidden staging directory inside `destDir`
 * (same filesystem, so `rename` works even when `destDir` is a mount point such as an emptyDir at
 * /mnt/models) and is moved into place only after every file arrived and every archive unpacked.
 * A half download therefore never looks like a model, and a failed one leaves nothing behind.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from './errors';
import { fetchHttp } from './fetch-http';
import { fetchObjects } from './fetch-objects';
import { listFiles } from './files';
import { fetchHf } from './hf';
import { Deadline, formatBytes, WriteBudget } from './limits';
import { fetchOci } from './oci';
import { RetryPolicy } from './retry';
import { STORAGE_DEFAULTS, StorageSettings } from './settings';
import { Transfer } from './transfer';
import { parseStorageUri } from './uri';

/** Prefix of the staging directories inside the destination. */
export const STAGING_PREFIX = '.storage-initializer-';

export interface FetchModelOptions {
  /**
   * Environment to read the endpoint, region, static keys and STORAGE_EMULATOR_HOST from (the AWS
   * SDK's and Google's credential chains always read `process.env`). @default process.env
   */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Directory with files named like the env vars (`AWS_ACCESS_KEY_ID`, ...), e.g. a mounted Secret.
   * @default - `$STORAGE_CREDENTIALS_DIR`, else /var/run/secrets/model-storage when it exists
   */
  readonly credentialsDir?: string;
  /** Limits and authentication (`--storage-*` flags, parsed by `parseConfig`). @default STORAGE_DEFAULTS */
  readonly settings?: Partial<StorageSettings>;
  /** First backoff delay, doubled per retry. @default 250 */
  readonly retryBaseMs?: number;
  /** Longest backoff between two attempts. @default 10000 */
  readonly retryMaxMs?: number;
  /** Jitter source in [0, 1); tests pass a seeded one. @default Math.random */
  readonly random?: () => number;
  /** ListObjectsV2 page size. @default 1000 */
  readonly listPageSize?: number;
  /** Parallel object downloads for a prefix. @default 4 */
  readonly concurrency?: number;
  /** Progress messages. @default - none */
  readonly log?: (msg: string) => void;
}

export interface FetchModelResult {
  /** Where the model is now: `destDir`, or the local path itself for `file://` and plain paths. */
  readonly dir: string;
  /** False when nothing was downloaded (pvc:// or a local path: already mounted). */
  readonly fetched: boolean;
  /** Files written, relative to `dir`, sorted. */
  readonly files: string[];
  /** Bytes downloaded (archives as they came). */
  readonly bytes: number;
  /** Bytes written in all: downloads plus what archives unpacked to (what `--storage-max-bytes` caps). */
  readonly bytesWritten: number;
  /** Why nothing was fetched, for logs. */
  readonly note?: string;
}

/** The shared state of one fetch: settings, deadline, write budget and retry policy. */
function newTransfer(options: FetchModelOptions): Transfer {
  const settings: StorageSettings = { ...STORAGE_DEFAULTS, ...options.settings };
  const log = options.log ?? (() => undefined);
  const deadline = new Deadline(settings.deadlineMs);
  const retry: RetryPolicy = {
    maxAttempts: settings.maxAttempts,
    baseMs: options.retryBaseMs ?? 250,
    maxMs: options.retryMaxMs ?? 10_000,
    random: options.random ?? Math.random,
    deadline,
    log,
  };
  return { settings, deadline, budget: new WriteBudget(settings.maxBytes), retry, log };
}

/**
 * Fetches the model at `uri` into `destDir`.
 *
 * - `s3://bucket/key` downloads one object; `s3://bucket/prefix` every object under `prefix/`
 *   (the same for `gs://`).
 * - `https://` and `http://` download one file (redirects followed, never from https to http).
 * - `.tar`, `.tar.gz`/`.tgz` and `.gz` single files are unpacked.
 * - `pvc://` and local paths are not fetched: the platform mounts them.
 *
 * Bounded by `settings`: at most `maxBytes` written, `idleTimeoutMs` without a byte per attempt,
 * `deadlineMs` for everything, `maxAttempts` per request. Existing entries of `destDir` with the
 * same names are replaced; others are kept. On failure nothing of this fetch is left behind.
 * @throws StorageError with a message that names the URI, the HTTP status and the cause
 */
export async function fetchModel(uri: string, destDir: string, options: FetchModelOptions = {}): Promise<FetchModelResult> {
  const parsed = parseStorageUri(uri);
  const env = options.env ?? process.env;
  if (parsed.kind === 'pvc') {
    return {
      dir: destDir,
      fetched: false,
      files: [],
      bytes: 0,
      bytesWritten: 0,
      note: `${uri}: PVC storage is mounted into the pod by the platform (claim '${parsed.claim}' at ${destDir}); nothing to fetch`,
    };
  }
  if (parsed.kind === 'local') {
    return {
      dir: parsed.path,
      fetched: false,
      files: [],
      bytes: 0,
      bytesWritten: 0,
      note: `${uri}: local path, read in place (mount it as a volume); nothing to fetch`,
    };
  }
  const t = newTransfer(options);

  const dest = path.resolve(destDir);
  try {
    await fs.mkdir(dest, { recursive: true });
    // Leftovers of an earlier run that died mid-download.
    for (const e of await fs.readdir(dest)) {
      if (e.startsWith(STAGING_PREFIX)) await fs.rm(path.join(dest, e), { recursive: true, force: true });
    }
  } catch (err) {
    throw new StorageError('IO', `cannot prepare destination ${dest}: ${(err as Error).message}`, { cause: err });
  }
  const stage = path.join(dest, `${STAGING_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  const out = path.join(stage, 'model');
  await fs.mkdir(out, { recursive: true });
  try {
    t.log(`fetching ${uri} into ${dest} (cap ${formatBytes(t.settings.maxBytes)}, deadline ${t.settings.deadlineMs} ms)`);
    const bytes = parsed.kind === 's3' ? await fetchObjects(parsed, stage, out, t, env, options)
      : parsed.kind === 'hf' ? await fetchHf(parsed, stage, out, t, env, options)
        : parsed.kind === 'oci' ? await fetchOci(parsed, stage, out, t, env, options)
          : await fetchHttp(parsed.url, stage, out, t);
    const files = await listFiles(out);
    if (files.length === 0) throw new StorageError('UNPACK', `${uri}: the download holds no files`);
    for (const e of await fs.readdir(out)) {
      const target = path.join(dest, e);
      await fs.rm(target, { recursive: true, force: true });
      await fs.rename(path.join(out, e), target);
    }
    t.log(`fetched ${uri}: ${files.length} files, ${formatBytes(bytes)} downloaded, ${formatBytes(t.budget.written)} written`);
    return { dir: dest, fetched: true, files, bytes, bytesWritten: t.budget.written };
  } finally {
    // The staging directory holds everything this fetch wrote: a failure leaves nothing behind.
    await fs.rm(stage, { recursive: true, force: true }).catch(() => undefined);
  }
}
