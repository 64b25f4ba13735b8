/**
 * Storage initializer: fetches a model from `s3://`, `https://` or `http://` into a directory.
 *
 * Used two ways, with the same code:
 * - `cdk8s-model-server storage-initializer <storageUri> <destDir>` in an init container
 *   (see {@link storageInitializerMain});
 * - in process, `serve --storage-uri` calls {@link fetchModel} before it reports ready.
 *
 * Writes are atomic per model: everything lands in a hidden staging directory inside `destDir`
 * (same filesystem, so `rename` works even when `destDir` is a mount point such as an emptyDir at
 * /mnt/models) and is moved into place only after every file arrived and every archive unpacked.
 * A half download therefore never looks like a model.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { offeredChecksums } from './checksum';
import { isStorageError, StorageError } from './errors';
import { Deadline, formatBytes, WriteBudget } from './limits';
import { retryableStatus, parseRetryAfter, RetryPolicy, withRetries } from './retry';
import type { S3Config, StaticKeys } from './s3';
import { STORAGE_DEFAULTS, StorageSettings } from './settings';
import type { ObjectStore } from './store';
import { contentLength, describe, readBody, saveBody, send, Transfer } from './transfer';
import { archiveKind, unpack } from './unpack';
import { MODEL_DIR, SERVER_COMMANDS, SERVER_ENV, SERVER_FLAGS, STORAGE_CREDENTIALS_DIR } from '../../_contract';
import { ConfigError, parseConfig } from '../config';

export { StorageError, isStorageError } from './errors';
export type { StorageErrorCode } from './errors';
export { STORAGE_DEFAULTS } from './settings';
export type { StorageSettings } from './settings';

/** Environment variables read besides the contract's (standard AWS names). */
const EXTRA_ENV = {
  sessionToken: 'AWS_SESSION_TOKEN',
  defaultRegion: 'AWS_DEFAULT_REGION',
  s3EndpointOverride: 'AWS_ENDPOINT_URL_S3',
};

/** Prefix of the staging directories inside the destination. */
export const STAGING_PREFIX = '.storage-initializer-';

export interface FetchModelOptions {
  /** Environment to read S3 settings from. @default process.env */
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

type ParsedUri =
  | { kind: 's3'; bucket: string; key: string; gcs?: boolean }
  | { kind: 'http'; url: URL }
  | { kind: 'pvc'; claim: string; subPath: string }
  | { kind: 'local'; path: string };

/** Parses a storage URI, or throws a StorageError that says what is accepted. */
export function parseStorageUri(uri: string): ParsedUri {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/.exec(uri.trim());
  if (!m) {
    if (uri.trim() === '') throw new StorageError('INVALID_URI', 'storage URI is empty');
    return { kind: 'local', path: path.resolve(uri.trim()) };
  }
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  switch (scheme) {
    case 's3': {
      const slash = rest.indexOf('/');
      const bucket = slash < 0 ? rest : rest.slice(0, slash);
      const key = slash < 0 ? '' : rest.slice(slash + 1);
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
        throw new StorageError('INVALID_URI', `invalid S3 URI '${uri}': expected s3://<bucket>/<key or prefix> with a valid bucket name, got bucket '${bucket}'`);
      }
      return { kind: 's3', bucket, key };
    }
    case 'http':
    case 'https': {
      let url: URL;
      try {
        url = new URL(uri.trim());
      } catch {
        throw new StorageError('INVALID_URI', `invalid URL '${uri}'`);
      }
      return { kind: 'http', url };
    }
    case 'pvc': {
      const slash = rest.indexOf('/');
      const claim = slash < 0 ? rest : rest.slice(0, slash);
      if (!claim) throw new StorageError('INVALID_URI', `invalid PVC URI '${uri}': expected pvc://<claim>/<path>`);
      return { kind: 'pvc', claim, subPath: slash < 0 ? '' : rest.slice(slash + 1) };
    }
    case 'file':
      return { kind: 'local', path: path.resolve(decodeUriPart(new URL(uri.trim()).pathname, uri)) };
    case 'gs': {
      // Google Cloud Storage through its S3-compatible XML API: public objects need nothing,
      // private ones HMAC keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (as KServe documents).
      const slash = rest.indexOf('/');
      const bucket = slash < 0 ? rest : rest.slice(0, slash);
      if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) {
        throw new StorageError('INVALID_URI', `invalid GCS URI '${uri}': expected gs://<bucket>/<object or prefix> with a valid bucket name, got bucket '${bucket}'`);
      }
      return { kind: 's3', bucket, key: slash < 0 ? '' : rest.slice(slash + 1), gcs: true };
    }
    default:
      throw new StorageError('UNSUPPORTED',
        `'${uri}': scheme ${scheme}:// is not supported by this initializer; supported: s3://, gs://, https://, http://, pvc:// and local paths (file:// or plain)`);
  }
}

/** Google Cloud Storage's S3-compatible XML API. */
export const GCS_XML_API = 'https://storage.googleapis.com';

/**
 * The S3 settings for a gs:// URI: GCS's XML API unless an endpoint is set explicitly (an
 * emulator, a proxy), and the region `auto` unless one is set.
 */
export function gcsConfig(config: S3Location, env: NodeJS.ProcessEnv): S3Location {
  return { ...config, endpoint: config.endpoint ?? new URL(GCS_XML_API), region: env[SERVER_ENV.s3Region] ? config.region : 'auto' };
}

/** Where an S3 store is and the static keys for it, when given (before the auth mode is applied). */
export type S3Location = Omit<S3Config, 'auth' | 'scheme'>;

/** Reads a setting from the environment, else from a file of the same name in the credentials dir. */
function setting(env: NodeJS.ProcessEnv, dir: string | undefined, name: string): { value?: string; source?: string } {
  const v = env[name];
  if (v !== undefined && v.trim() !== '') return { value: v.trim(), source: `env ${name}` };
  if (dir) {
    const file = path.join(dir, name);
    if (existsSync(file)) {
      const content = readFileSync(file, 'utf8').trim();
      if (content !== '') return { value: content, source: file };
    }
  }
  return {};
}

/** The S3 endpoint, region and credentials from env and the credentials dir. */
export function resolveS3Config(env: NodeJS.ProcessEnv, credentialsDir?: string): S3Location {
  const dir = credentialsDir ?? env[SERVER_ENV.storageCredentialsDir]
    ?? (existsSync(STORAGE_CREDENTIALS_DIR) ? STORAGE_CREDENTIALS_DIR : undefined);
  const get = (name: string) => setting(env, dir, name);

  // Key id and secret come as a pair from one source: env first, then files.
  let credentials: StaticKeys | undefined;
  let credentialsSource: string | undefined;
  const envId = env[SERVER_ENV.s3AccessKeyId]?.trim();
  const envSecret = env[SERVER_ENV.s3SecretAccessKey]?.trim();
  if (envId && envSecret) {
    credentials = { accessKeyId: envId, secretAccessKey: envSecret, sessionToken: env[EXTRA_ENV.sessionToken]?.trim() || undefined };
    credentialsSource = `env ${SERVER_ENV.s3AccessKeyId}/${SERVER_ENV.s3SecretAccessKey}`;
  } else if (dir) {
    const read = (n: string) => (existsSync(path.join(dir, n)) ? readFileSync(path.join(dir, n), 'utf8').trim() : '');
    const id = read(SERVER_ENV.s3AccessKeyId);
    const secret = read(SERVER_ENV.s3SecretAccessKey);
    if (id && secret) {
      credentials = { accessKeyId: id, secretAccessKey: secret, sessionToken: read(EXTRA_ENV.sessionToken) || undefined };
      credentialsSource = `files in ${dir}`;
    } else if (id || secret) {
      throw new StorageError('AUTH', `incomplete S3 credentials in ${dir}: need both ${SERVER_ENV.s3AccessKeyId} and ${SERVER_ENV.s3SecretAccessKey} files`);
    }
  }
  if (!credentials && (envId || envSecret)) {
    throw new StorageError('AUTH', `incomplete S3 credentials in the environment: set both ${SERVER_ENV.s3AccessKeyId} and ${SERVER_ENV.s3SecretAccessKey}`);
  }

  const endpointRaw = get(EXTRA_ENV.s3EndpointOverride).value ?? get(SERVER_ENV.s3Endpoint).value;
  let endpoint: URL | undefined;
  if (endpointRaw) {
    try {
      endpoint = new URL(/^[a-z]+:\/\//i.test(endpointRaw) ? endpointRaw : `https://${endpointRaw}`);
    } catch {
      throw new StorageError('INVALID_URI', `invalid ${SERVER_ENV.s3Endpoint} '${endpointRaw}': expected a URL such as http://minio:9000`);
    }
  }
  const region = get(SERVER_ENV.s3Region).value ?? get(EXTRA_ENV.defaultRegion).value ?? 'us-east-1';
  return { endpoint, region, credentials, credentialsSource };
}

/** A relative path from an object key, refusing anything that would leave the directory. */
function safeRelative(rel: string, source: string): string {
  const parts = rel.split('/').filter((p) => p !== '');
  if (parts.length === 0 || parts.some((p) => p === '.' || p === '..')) {
    throw new StorageError('INVALID_URI', `refusing to write '${source}': its path '${rel}' is empty or leaves the model directory`);
  }
  return parts.join(path.sep);
}

async function listFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...await listFiles(root, r));
    else out.push(r);
  }
  return out.sort();
}

/** Places one downloaded file (unpacking archives) under `out`. */
async function place(file: string, name: string, out: string, t: Transfer): Promise<void> {
  if (archiveKind(name)) {
    await unpack(file, name, out, t.budget);
  } else {
    await fs.rename(file, path.join(out, path.basename(name)));
  }
}

/** `decodeURIComponent`, with a malformed escape reported as an invalid storage URI. */
function decodeUriPart(part: string, uri: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new StorageError('INVALID_URI', `invalid URI '${uri}': malformed percent-escape in '${part}'`);
  }
}

const MAX_REDIRECTS = 5;

/** The next URL of a redirect, or a REDIRECT error for a downgrade, another scheme or too many hops. */
function redirectTarget(from: URL, location: string, hops: number): URL {
  let next: URL;
  try {
    next = new URL(location, from);
  } catch {
    throw new StorageError('REDIRECT', `${describe('GET', from)}: redirect to an invalid Location '${location.slice(0, 200)}'`);
  }
  if (from.protocol === 'https:' && next.protocol === 'http:') {
    throw new StorageError('REDIRECT', `${describe('GET', from)}: refusing the redirect to ${describe('GET', next)}: it downgrades https to http`);
  }
  if (next.protocol !== 'https:' && next.protocol !== 'http:') {
    throw new StorageError('REDIRECT', `${describe('GET', from)}: refusing the redirect to a ${next.protocol} URL`);
  }
  if (hops >= MAX_REDIRECTS) {
    throw new StorageError('REDIRECT', `${describe('GET', from)}: more than ${MAX_REDIRECTS} redirects`);
  }
  return next;
}

async function fetchHttp(url: URL, stage: string, out: string, t: Transfer): Promise<number> {
  const name = decodeUriPart(url.pathname.split('/').filter(Boolean).pop() ?? '', url.href) || 'model';
  const tmp = path.join(stage, 'download');
  const bytes = await withRetries(describe('GET', url), t.retry, async () => {
    let current = url;
    for (let hops = 0; ; hops++) {
      const { res, timers } = await send('GET', current, { 'user-agent': 'cdk8s-model-server-storage-initializer' }, t);
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location) {
        timers.stop();
        res.resume();
        current = redirectTarget(current, res.headers.location, hops);
        continue;
      }
      if (status < 200 || status >= 300) {
        const body = (await readBody(res, timers, 4096).catch(() => Buffer.alloc(0))).toString('utf8').trim().slice(0, 200);
        const what = `${describe('GET', current)}: HTTP ${status} ${res.statusMessage ?? ''}`.trim() + (body ? ` (${body})` : '');
        if (status === 404 || status === 410) throw new StorageError('NOT_FOUND', `${what}: model not found`, { status });
        if (status === 401 || status === 403) throw new StorageError('AUTH', `${what}: access denied`, { status });
        throw new StorageError('HTTP', what, { status, retryable: retryableStatus(status), retryAfterMs: parseRetryAfter(res.headers['retry-after']) });
      }
      return saveBody(res, tmp, describe('GET', current), t, timers,
        { length: contentLength(res.headers['content-length']), checksums: offeredChecksums(res.headers) });
    }
  });
  await place(tmp, name, out, t);
  return bytes;
}

/**
 * Set (to true) by scripts/bundle-server.js in cli.js, where the cloud clients are chunks of their
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
async function openStore(parsed: { bucket: string; gcs?: boolean }, env: NodeJS.ProcessEnv, options: FetchModelOptions,
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

async function fetchObjects(parsed: { bucket: string; key: string; gcs?: boolean }, stage: string, out: string, t: Transfer,
  env: NodeJS.ProcessEnv, options: FetchModelOptions): Promise<number> {
  const { bucket, key } = parsed;
  const scheme = parsed.gcs ? 'gs' : 's3';
  const store = await openStore(parsed, env, options, t);
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
    const bytes = parsed.kind === 's3'
      ? await fetchObjects(parsed, stage, out, t, env, options)
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

const F = SERVER_FLAGS;
const USAGE = `usage: cdk8s-model-server ${SERVER_COMMANDS.storageInitializer} <storageUri> [destDir] [flags]

Fetches a model into destDir (default ${MODEL_DIR}).
  storageUri  s3://bucket/key-or-prefix, gs://bucket/object-or-prefix, https://..., http://...;
              pvc:// and local paths are mounted, not fetched. .tar, .tar.gz/.tgz and .gz files
              are unpacked.
Flags (each also read from its environment variable):
  ${F.storageMaxBytes} (${SERVER_ENV.storageMaxBytes})  most bytes written, downloads plus unpacked archives (default 16Gi)
  ${F.storageIdleTimeoutMs} (${SERVER_ENV.storageIdleTimeoutMs})  no byte for this long times an attempt out (default ${STORAGE_DEFAULTS.idleTimeoutMs})
  ${F.storageDeadlineMs} (${SERVER_ENV.storageDeadlineMs})  the whole fetch, retries included (default ${STORAGE_DEFAULTS.deadlineMs})
  ${F.storageMaxAttempts} (${SERVER_ENV.storageMaxAttempts})  attempts per request for network errors, timeouts, 429, 5xx (default ${STORAGE_DEFAULTS.maxAttempts})
  ${F.storageAuth} (${SERVER_ENV.storageAuth})  auto, secret, workload-identity or anonymous (default ${STORAGE_DEFAULTS.auth})
Environment: ${SERVER_ENV.s3Endpoint} (S3-compatible endpoint, path-style), ${SERVER_ENV.s3Region},
  ${SERVER_ENV.s3AccessKeyId}, ${SERVER_ENV.s3SecretAccessKey}, ${EXTRA_ENV.sessionToken},
  ${SERVER_ENV.storageCredentialsDir} (dir of files named like those variables; default
  ${STORAGE_CREDENTIALS_DIR} when present); the AWS default credential chain (AWS_ROLE_ARN and
  AWS_WEB_IDENTITY_TOKEN_FILE, EKS Pod Identity, ...) for s3://; Google Application Default
  Credentials (GOOGLE_APPLICATION_CREDENTIALS, the metadata server) and STORAGE_EMULATOR_HOST for gs://.
`;

/** `storage-initializer <storageUri> [destDir] [flags]`: exit code 0 on success, 1 on failure, 2 on usage errors. */
export async function storageInitializerMain(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const positional: string[] = [];
  const flags: string[] = [];
  const known = new Set<string>([F.storageMaxBytes, F.storageIdleTimeoutMs, F.storageDeadlineMs, F.storageMaxAttempts, F.storageAuth]);
  let settings: StorageSettings;
  try {
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      if (!arg.startsWith('-')) {
        positional.push(arg);
        continue;
      }
      const name = arg.split('=')[0];
      if (!known.has(name)) throw new ConfigError(`unknown argument '${arg}' (flags: ${[...known].join(', ')})`);
      flags.push(arg);
      if (!arg.includes('=')) flags.push(args[++i] ?? '');
    }
    // The same parser and messages as `serve`.
    settings = parseConfig(flags).storage;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`cdk8s-model-server ${SERVER_COMMANDS.storageInitializer}: ${err.message}\n`);
    return 2;
  }
  if (positional.length < 1 || positional.length > 2) {
    process.stderr.write(USAGE);
    return 2;
  }
  const [uri, dest = MODEL_DIR] = positional;
  const log = (msg: string) => process.stderr.write(`storage-initializer: ${msg}\n`);
  try {
    const result = await fetchModel(uri, dest, { log, settings });
    if (result.note) log(result.note);
    else process.stdout.write(`${JSON.stringify({ uri, dir: result.dir, files: result.files, bytes: result.bytes, bytesWritten: result.bytesWritten })}\n`);
    return 0;
  } catch (err) {
    const code = isStorageError(err) ? ` [${err.code}]` : '';
    log(`error${code}: ${(err as Error).message}`);
    return 1;
  }
}
