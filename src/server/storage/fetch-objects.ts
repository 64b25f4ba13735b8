/**
 * s3:// and gs:// models: one object, or every object under a prefix, through the cloud clients
 * (`./s3`, `./gcs`), which are loaded only here, on first use.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isStorageError, StorageError } from './errors';
import { place, safeRelative } from './files';
import { formatBytes } from './limits';
import { gcsConfig, resolveS3Config } from './s3-config';
import type { ObjectStore } from './store';
import type { Transfer } from './transfer';

/** What object fetches read from `FetchModelOptions`. */
export interface ObjectFetchOptions {
  readonly credentialsDir?: string;
  readonly listPageSize?: number;
  readonly concurrency?: number;
}

/**
 * Set (to true) by scripts/bundle-server.js in server.js, where the cloud clients are chunks of their
 * own beside it (storage-s3.js, storage-gcs.js); the other branch is then dropped from the bundle.
 */
declare const STORAGE_CHUNKS: boolean | undefined;

/** The cloud clients, loaded on first use only: `serve` for other schemes never reads the SDKs. */
function loadS3(): typeof import('./s3') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return typeof STORAGE_CHUNKS !== 'undefined' && STORAGE_CHUNKS ? require(path.join(__dirname, 'storage-s3.js')) : require('./s3');
}
function loadGcs(): typeof import('./gcs') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return typeof STORAGE_CHUNKS !== 'undefined' && STORAGE_CHUNKS ? require(path.join(__dirname, 'storage-gcs.js')) : require('./gcs');
}

/** The store for an s3:// or gs:// URI, with credentials chosen by `--storage-auth`. */
async function openStore(parsed: { bucket: string; gcs?: boolean }, env: NodeJS.ProcessEnv, options: ObjectFetchOptions,
  t: Transfer): Promise<ObjectStore> {
  const location = resolveS3Config(env, options.credentialsDir);
  if (parsed.gcs) {
    // HMAC keys: GCS's S3-compatible XML API. Otherwise a bearer token from ADC on the JSON API.
    if (location.credentials && t.settings.auth !== 'anonymous') {
      return loadS3().createS3Store({ ...gcsConfig(location, env), auth: t.settings.auth, scheme: 'gs' }, t);
    }
    return loadGcs().createGcsStore(t.settings.auth, env, t);
  }
  return loadS3().createS3Store({ ...location, auth: t.settings.auth, scheme: 's3' }, t);
}

/** A bucket and key (or prefix); `scheme` names it in messages (default `s3`, or `gs`). */
export type ObjectUri = { bucket: string; key: string; gcs?: boolean; scheme?: string };

/** Downloads the object or prefix into `out` (single archives via the staging dir); returns the bytes downloaded. */
export async function fetchObjects(parsed: ObjectUri, stage: string, out: string, t: Transfer,
  env: NodeJS.ProcessEnv, options: ObjectFetchOptions): Promise<number> {
  const store = await openStore(parsed, env, options, t);
  try {
    return await fetchFrom(store, parsed, stage, out, t, options);
  } finally {
    store.close();
  }
}

/**
 * Downloads one object, or every object under a prefix, of any store (also the Hugging Face Hub's
 * and a registry's, in `./hf` and `./oci`): the listing is checked against the write cap before
 * the first byte, every key against path traversal, and up to `concurrency` downloads run at once.
 */
export async function fetchFrom(store: ObjectStore, parsed: ObjectUri, stage: string, out: string, t: Transfer,
  options: ObjectFetchOptions): Promise<number> {
  const { bucket, key } = parsed;
  const scheme = parsed.scheme ?? (parsed.gcs ? 'gs' : 's3');
  const single = async (): Promise<number> => {
    const tmp = path.join(stage, 'download');
    const bytes = await store.download(bucket, key, tmp);
    await place(tmp, key, out, t);
    return bytes;
  };

  let objects;
  try {
    objects = await store.list(bucket, key, options.listPageSize ?? 1000);
  } catch (err) {
    // Credentials limited to s3:GetObject cannot list: try the key as one object.
    if (isStorageError(err) && err.code === 'AUTH' && key !== '' && !key.endsWith('/')) {
      try {
        return await single();
      } catch {
        throw err;
      }
    }
    throw err;
  }
  if (key !== '' && !key.endsWith('/') && objects.some((o) => o.key === key)) {
    t.log(`${scheme}://${bucket}/${key} is one object`);
    return single();
  }
  const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
  const wanted = objects.filter((o) => o.key.startsWith(prefix) && !o.key.endsWith('/'));
  if (wanted.length === 0) {
    throw new StorageError('NOT_FOUND', `${scheme}://${bucket}/${key}: no objects found under this prefix in bucket '${bucket}' (${store.endpoint})`);
  }
  // A listing that already passes the cap fails before the first byte is fetched.
  const listed = wanted.reduce((n, o) => n + o.size, 0);
  if (listed > t.budget.maxBytes) t.budget.take(listed, `${scheme}://${bucket}/${key} (${wanted.length} objects, ${formatBytes(listed)} listed)`);
  t.log(`${scheme}://${bucket}/${key}: ${wanted.length} objects`);
  const targets = wanted.map((o) => ({ key: o.key, rel: safeRelative(o.key.slice(prefix.length), `${scheme}://${bucket}/${o.key}`) }));
  let bytes = 0;
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < targets.length && !failed) {
      const o = targets[next++];
      const file = path.join(out, o.rel);
      try {
        await fs.mkdir(path.dirname(file), { recursive: true });
        bytes += await store.download(bucket, o.key, file);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  // Wait for every worker before the caller removes the staging directory.
  const settled = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, targets.length)) }, worker));
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return bytes;
}
