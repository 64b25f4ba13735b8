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
import type { IncomingMessage } from 'node:http';
import * as path from 'node:path';
import { StorageError } from './errors';
import { S3Client, S3Config, S3Object } from './s3';
import { TransferOptions, describe, readBody, retryableStatus, saveBody, send, withRetries } from './transfer';
import { archiveKind, unpack } from './unpack';
import { MODEL_DIR, SERVER_COMMANDS, SERVER_ENV, STORAGE_CREDENTIALS_DIR } from '../../contract';

export { StorageError } from './errors';
export type { StorageErrorCode } from './errors';
export { signRequest } from './sigv4';

/** Environment variables read besides the contract's (standard AWS names). */
const EXTRA_ENV = {
  sessionToken: 'AWS_SESSION_TOKEN',
  defaultRegion: 'AWS_DEFAULT_REGION',
  s3EndpointOverride: 'AWS_ENDPOINT_URL_S3',
  timeoutMs: 'STORAGE_TIMEOUT_MS',
  retries: 'STORAGE_RETRIES',
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
  /** Idle timeout per request (connect, headers, between chunks). @default 30000, or `$STORAGE_TIMEOUT_MS` */
  readonly timeoutMs?: number;
  /** Retries for 5xx, 429, network errors and timeouts. @default 4, or `$STORAGE_RETRIES` */
  readonly retries?: number;
  /** First backoff delay, doubled per retry. @default 250 */
  readonly retryBaseMs?: number;
  /** ListObjectsV2 page size. @default 1000 */
  readonly listPageSize?: number;
  /** Parallel object downloads for an S3 prefix. @default 4 */
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
  /** Bytes downloaded (before unpacking). */
  readonly bytes: number;
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
export function gcsConfig(config: S3Config, env: NodeJS.ProcessEnv): S3Config {
  return { ...config, endpoint: config.endpoint ?? new URL(GCS_XML_API), region: env[SERVER_ENV.s3Region] ? config.region : 'auto' };
}

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
export function resolveS3Config(env: NodeJS.ProcessEnv, credentialsDir?: string): S3Config {
  const dir = credentialsDir ?? env[SERVER_ENV.storageCredentialsDir]
    ?? (existsSync(STORAGE_CREDENTIALS_DIR) ? STORAGE_CREDENTIALS_DIR : undefined);
  const get = (name: string) => setting(env, dir, name);

  // Key id and secret come as a pair from one source: env first, then files.
  let credentials: S3Config['credentials'];
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

function transferOptions(options: FetchModelOptions, env: NodeJS.ProcessEnv): TransferOptions {
  const num = (v: string | undefined) => (v !== undefined && v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
  return {
    timeoutMs: options.timeoutMs ?? num(env[EXTRA_ENV.timeoutMs]) ?? 30_000,
    retries: options.retries ?? num(env[EXTRA_ENV.retries]) ?? 4,
    retryBaseMs: options.retryBaseMs ?? 250,
    log: options.log ?? (() => undefined),
  };
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
async function place(file: string, name: string, out: string): Promise<void> {
  if (archiveKind(name)) {
    await unpack(file, name, out);
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

async function fetchHttp(url: URL, stage: string, out: string, t: TransferOptions): Promise<number> {
  const name = decodeUriPart(url.pathname.split('/').filter(Boolean).pop() ?? '', url.href) || 'model';
  const tmp = path.join(stage, 'download');
  const bytes = await withRetries(describe('GET', url), t, async () => {
    let current = url;
    let res: IncomingMessage;
    for (let hops = 0; ; hops++) {
      res = await send('GET', current, { 'user-agent': 'cdk8s-model-server-storage-initializer' }, t.timeoutMs);
      const status = res.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status) && res.headers.location && hops < 5) {
        res.resume();
        current = new URL(res.headers.location, current);
        continue;
      }
      break;
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const body = (await readBody(res, 4096).catch(() => Buffer.alloc(0))).toString('utf8').trim().slice(0, 200);
      const what = `${describe('GET', current)}: HTTP ${status} ${res.statusMessage ?? ''}`.trim() + (body ? ` (${body})` : '');
      if (status === 404 || status === 410) throw new StorageError('NOT_FOUND', `${what}: model not found`, { status });
      if (status === 401 || status === 403) throw new StorageError('AUTH', `${what}: access denied`, { status });
      throw new StorageError('HTTP', what, { status, retryable: retryableStatus(status) });
    }
    return saveBody(res, tmp, describe('GET', current), t.timeoutMs);
  });
  await place(tmp, name, out);
  return bytes;
}

async function fetchS3(bucket: string, key: string, stage: string, out: string, t: TransferOptions,
  config: S3Config, options: FetchModelOptions): Promise<number> {
  const client = new S3Client(config, t);
  const single = async (): Promise<number> => {
    const tmp = path.join(stage, 'download');
    const bytes = await client.download(bucket, key, tmp);
    await place(tmp, key, out);
    return bytes;
  };

  let objects: S3Object[];
  try {
    objects = await client.list(bucket, key, options.listPageSize ?? 1000);
  } catch (err) {
    // Credentials limited to s3:GetObject cannot list: try the key as one object.
    if (err instanceof StorageError && err.code === 'AUTH' && key !== '' && !key.endsWith('/')) {
      try {
        return await single();
      } catch {
        throw err;
      }
    }
    throw err;
  }
  if (key !== '' && !key.endsWith('/') && objects.some((o) => o.key === key)) {
    t.log(`s3://${bucket}/${key} is one object`);
    return single();
  }
  const prefix = key === '' || key.endsWith('/') ? key : `${key}/`;
  const wanted = objects.filter((o) => o.key.startsWith(prefix) && !o.key.endsWith('/'));
  if (wanted.length === 0) {
    throw new StorageError('NOT_FOUND', `s3://${bucket}/${key}: no objects found under this prefix in bucket '${bucket}' (${describe('GET', client.url(bucket, ''))})`);
  }
  t.log(`s3://${bucket}/${key}: ${wanted.length} objects`);
  const targets = wanted.map((o) => ({ key: o.key, rel: safeRelative(o.key.slice(prefix.length), `s3://${bucket}/${o.key}`) }));
  let bytes = 0;
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < targets.length && !failed) {
      const o = targets[next++];
      const file = path.join(out, o.rel);
      try {
        await fs.mkdir(path.dirname(file), { recursive: true });
        const n = await client.download(bucket, o.key, file);
        bytes += n;
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

/**
 * Fetches the model at `uri` into `destDir`.
 *
 * - `s3://bucket/key` downloads one object; `s3://bucket/prefix` every object under `prefix/`.
 * - `https://` and `http://` download one file (redirects followed).
 * - `.tar`, `.tar.gz`/`.tgz` and `.gz` single files are unpacked.
 * - `pvc://` and local paths are not fetched: the platform mounts them.
 *
 * Existing entries of `destDir` with the same names are replaced; others are kept.
 * @throws StorageError with a message that names the URI, the HTTP status and the cause
 */
export async function fetchModel(uri: string, destDir: string, options: FetchModelOptions = {}): Promise<FetchModelResult> {
  const parsed = parseStorageUri(uri);
  const env = options.env ?? process.env;
  const t = transferOptions(options, env);
  if (parsed.kind === 'pvc') {
    return {
      dir: destDir,
      fetched: false,
      files: [],
      bytes: 0,
      note: `${uri}: PVC storage is mounted into the pod by the platform (claim '${parsed.claim}' at ${destDir}); nothing to fetch`,
    };
  }
  if (parsed.kind === 'local') {
    return {
      dir: parsed.path,
      fetched: false,
      files: [],
      bytes: 0,
      note: `${uri}: local path, read in place (mount it as a volume); nothing to fetch`,
    };
  }
  let config = parsed.kind === 's3' ? resolveS3Config(env, options.credentialsDir) : undefined;
  if (config && parsed.kind === 's3' && parsed.gcs) config = gcsConfig(config, env);

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
    t.log(`fetching ${uri} into ${dest}`);
    const bytes = parsed.kind === 's3'
      ? await fetchS3(parsed.bucket, parsed.key, stage, out, t, config!, options)
      : await fetchHttp(parsed.url, stage, out, t);
    const files = await listFiles(out);
    if (files.length === 0) throw new StorageError('UNPACK', `${uri}: the download holds no files`);
    for (const e of await fs.readdir(out)) {
      const target = path.join(dest, e);
      await fs.rm(target, { recursive: true, force: true });
      await fs.rename(path.join(out, e), target);
    }
    t.log(`fetched ${uri}: ${files.length} files, ${bytes} bytes`);
    return { dir: dest, fetched: true, files, bytes };
  } finally {
    await fs.rm(stage, { recursive: true, force: true }).catch(() => undefined);
  }
}

const USAGE = `usage: cdk8s-model-server ${SERVER_COMMANDS.storageInitializer} <storageUri> [destDir]

Fetches a model into destDir (default ${MODEL_DIR}).
  storageUri  s3://bucket/key-or-prefix, gs://bucket/object-or-prefix, https://..., http://...;
              pvc:// and local paths are mounted, not fetched. .tar, .tar.gz/.tgz and .gz files
              are unpacked.
Environment: ${SERVER_ENV.s3Endpoint} (S3-compatible endpoint, path-style), ${SERVER_ENV.s3Region},
  ${SERVER_ENV.s3AccessKeyId}, ${SERVER_ENV.s3SecretAccessKey}, ${EXTRA_ENV.sessionToken},
  ${SERVER_ENV.storageCredentialsDir} (dir of files named like those variables; default
  ${STORAGE_CREDENTIALS_DIR} when present), ${EXTRA_ENV.timeoutMs}, ${EXTRA_ENV.retries}.
`;

/** `storage-initializer <storageUri> [destDir]`: exit code 0 on success, 1 on failure, 2 on usage errors. */
export async function storageInitializerMain(args: string[]): Promise<number> {
  const positional = args.filter((a) => !a.startsWith('-'));
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positional.length < 1 || positional.length > 2 || positional.length !== args.length) {
    process.stderr.write(USAGE);
    return 2;
  }
  const [uri, dest = MODEL_DIR] = positional;
  const log = (msg: string) => process.stderr.write(`storage-initializer: ${msg}\n`);
  try {
    const result = await fetchModel(uri, dest, { log });
    if (result.note) log(result.note);
    else process.stdout.write(`${JSON.stringify({ uri, dir: result.dir, files: result.files, bytes: result.bytes })}\n`);
    return 0;
  } catch (err) {
    const code = err instanceof StorageError ? ` [${err.code}]` : '';
    log(`error${code}: ${(err as Error).message}`);
    return 1;
  }
}
