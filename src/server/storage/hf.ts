/**
 * hf:// models: every file of a Hugging Face Hub repo at one commit, through the Hub's HTTP API.
 * The revision is resolved to its commit first (`/api/models/<repo>/revision/<rev>?blobs=true`, which
 * also lists each file's size and, for LFS files, its sha256), and every file is then downloaded from
 * `/<repo>/resolve/<commit>/<path>`: a branch that moves during the fetch cannot mix two commits.
 * Sizes are checked against the write cap before the first byte; each file against its listed size
 * and sha256; the token goes to the Hub only, never to the hosts its downloads redirect to.
 */
import { StorageError } from './errors';
import { fetchFrom, ObjectFetchOptions } from './fetch-objects';
import type { HfUri } from './hf-uri';
import { getFollowing } from './http-get';
import { withRetries } from './retry';
import { credentialsDirOf, setting } from './s3-config';
import type { ObjectStore, StoreObject } from './store';
import { readBody, saveBody, Transfer } from './transfer';
import { SERVER_ENV } from '../../contract';

/** The public Hub; `HF_ENDPOINT` (the variable Hugging Face's clients read) points elsewhere. */
export const HF_HUB = 'https://huggingface.co';
/** Largest repo listing read into memory. */
const MAX_LISTING_BYTES = 16 * 1024 * 1024;

interface HubFile { size: number; sha256?: string }

/** The Hub's base URL, always ending in `/`. */
function hubBase(env: NodeJS.ProcessEnv, dir: string | undefined): URL {
  const raw = setting(env, dir, SERVER_ENV.hfEndpoint).value ?? HF_HUB;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StorageError('INVALID_URI', `invalid ${SERVER_ENV.hfEndpoint} '${raw}': expected a URL such as ${HF_HUB}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new StorageError('INVALID_URI', `invalid ${SERVER_ENV.hfEndpoint} '${raw}': expected http(s)`);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

/** The token to send, by `--storage-auth`; a missing one is an error only in `secret` mode. */
function hubToken(t: Transfer, env: NodeJS.ProcessEnv, dir: string | undefined): { token?: string; source: string } {
  const auth = t.settings.auth;
  if (auth === 'anonymous') return { source: 'no token (--storage-auth anonymous)' };
  if (auth === 'workload-identity') {
    throw new StorageError('AUTH', `--storage-auth workload-identity cannot authenticate to the Hugging Face Hub; give a token in ${SERVER_ENV.hfToken} (StorageAuth.huggingFaceToken()) or use --storage-auth auto`);
  }
  const { value, source } = setting(env, dir, SERVER_ENV.hfToken);
  if (value && !/^[\x21-\x7e]+$/.test(value)) throw new StorageError('AUTH', `the Hugging Face token in ${source} has characters a token cannot have`);
  if (!value && auth === 'secret') {
    throw new StorageError('AUTH', `--storage-auth secret for hf://, but no ${SERVER_ENV.hfToken} in the environment or STORAGE_CREDENTIALS_DIR`);
  }
  return value ? { token: value, source: source! } : { source: 'no token' };
}

/** The Hub as an object store: the repo at one commit is the bucket, each file an object. */
export function createHfStore(parsed: HfUri, env: NodeJS.ProcessEnv, t: Transfer, credentialsDir?: string): ObjectStore {
  const dir = credentialsDirOf(env, credentialsDir);
  const base = hubBase(env, dir);
  const { token, source } = hubToken(t, env, dir);
  const target = `hf://${parsed.repo}@${parsed.revision}`;
  const files = new Map<string, HubFile>();
  let commit: string | undefined;
  const common = {
    authorization: token ? `Bearer ${token}` : undefined,
    authOrigin: base.origin,
    hint: (status: number) => status === 404 || status === 401 || status === 403
      ? `; check the repo id and revision, and for a private or gated repo a token with access (${SERVER_ENV.hfToken}, StorageAuth.huggingFaceToken()); used ${source}`
      : '',
  };
  return {
    endpoint: base.origin,
    close: () => undefined,
    async list(): Promise<StoreObject[]> {
      const url = new URL(`api/models/${parsed.repo}/revision/${encodeURIComponent(parsed.revision)}`, base);
      url.searchParams.set('blobs', 'true');
      const info = await withRetries(`list ${target}`, t.retry, async () => {
        const { res, timers } = await getFollowing(url, t, { ...common, target, headers: { accept: 'application/json' } });
        const body = await readBody(res, timers, MAX_LISTING_BYTES);
        try {
          return JSON.parse(body.toString('utf8')) as { sha?: unknown; siblings?: unknown };
        } catch {
          throw new StorageError('HTTP', `${target}: the Hub's repo listing is not JSON`);
        }
      });
      if (typeof info.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha) || !Array.isArray(info.siblings)) {
        throw new StorageError('HTTP', `${target}: the Hub's repo listing has no commit id or file list`);
      }
      commit = info.sha;
      t.log(`${target} is commit ${commit}`);
      const out: StoreObject[] = [];
      for (const s of info.siblings as Array<Record<string, any>>) {
        const name = s?.rfilename;
        const size = s?.lfs?.size ?? s?.size;
        if (typeof name !== 'string' || !Number.isSafeInteger(size) || size < 0) {
          throw new StorageError('HTTP', `${target}: the Hub's repo listing has an entry without a file name and size (${JSON.stringify(s).slice(0, 200)})`);
        }
        const sha256 = typeof s.lfs?.sha256 === 'string' && /^[0-9a-f]{64}$/.test(s.lfs.sha256) ? s.lfs.sha256 as string : undefined;
        files.set(name, { size, sha256 });
        out.push({ key: name, size });
      }
      return out;
    },
    async download(_bucket: string, key: string, file: string): Promise<number> {
      const meta = files.get(key);
      if (!commit || !meta) throw new StorageError('IO', `${target}: '${key}' was not in the listing`);
      const url = new URL(`${parsed.repo}/resolve/${commit}/${key.split('/').map(encodeURIComponent).join('/')}`, base);
      const what = `${target}/${key}`;
      return withRetries(`get ${what}`, t.retry, async () => {
        const { res, timers } = await getFollowing(url, t, { ...common, target: what });
        return saveBody(res, file, what, t, timers, {
          length: meta.size,
          checksums: meta.sha256 ? [{ algorithm: 'sha256', expected: Buffer.from(meta.sha256, 'hex').toString('base64'), header: 'lfs.sha256 of the Hub listing' }] : [],
        });
      });
    },
  };
}

/** Downloads every file of the repo into `out`; returns the bytes downloaded. */
export async function fetchHf(parsed: HfUri, stage: string, out: string, t: Transfer, env: NodeJS.ProcessEnv,
  options: ObjectFetchOptions): Promise<number> {
  const store = createHfStore(parsed, env, t, options.credentialsDir);
  return fetchFrom(store, { bucket: `${parsed.repo}@${parsed.revision}`, key: '', scheme: 'hf' }, stage, out, t, options);
}
