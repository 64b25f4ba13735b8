/**
 * gs:// with Google Application Default Credentials (`google-auth-library`: the key file in
 * GOOGLE_APPLICATION_CREDENTIALS, gcloud's user credentials, or the GKE/GCE metadata server,
 * which is how GKE Workload Identity hands out tokens), through GCS's JSON API with a bearer
 * token. gs:// with HMAC keys goes through `./s3` instead. Bundled into its own chunk
 * (`storage-gcs.js`), loaded only for gs://.
 */
import { GoogleAuth } from 'google-auth-library';
import { offeredChecksums } from './checksum';
import { isStorageError, StorageError } from './errors';
import { parseRetryAfter, retryableStatus, withRetries } from './retry';
import { StorageAuthMode } from './settings';
import { ObjectStore, StoreObject } from './store';
import { bounded, contentLength, describe, readBody, saveBody, send, Transfer } from './transfer';

/** GCS's public endpoint; `STORAGE_EMULATOR_HOST` (the variable Google's own clients read) overrides it. */
export const GCS_JSON_API = 'https://storage.googleapis.com';
const READ_ONLY_SCOPE = 'https://www.googleapis.com/auth/devstorage.read_only';

/** The JSON API base URL from `STORAGE_EMULATOR_HOST`, else GCS itself. */
export function gcsEndpoint(env: NodeJS.ProcessEnv): URL {
  const host = env.STORAGE_EMULATOR_HOST?.trim();
  if (!host) return new URL(GCS_JSON_API);
  try {
    return new URL(/^[a-z]+:\/\//i.test(host) ? host : `http://${host}`);
  } catch {
    throw new StorageError('INVALID_URI', `invalid STORAGE_EMULATOR_HOST '${host}': expected a URL such as http://127.0.0.1:4443`);
  }
}

/** The `Authorization` header value, or undefined for anonymous requests. */
type TokenSource = () => Promise<string | undefined>;

async function chooseToken(auth: StorageAuthMode, env: NodeJS.ProcessEnv, t: Transfer): Promise<{ token: TokenSource; source: string }> {
  if (auth === 'anonymous') return { token: async () => undefined, source: 'no credentials (--storage-auth anonymous)' };
  if (auth === 'secret') {
    throw new StorageError('AUTH', '--storage-auth secret for gs://, but no HMAC keys (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) in the environment or STORAGE_CREDENTIALS_DIR');
  }
  // Reading objects needs no project; naming one skips the library's project discovery (for an
  // external_account, a call to Cloud Resource Manager that egress rules may well block).
  const google = new GoogleAuth({ scopes: [READ_ONLY_SCOPE], projectId: env.GOOGLE_CLOUD_PROJECT ?? env.GCLOUD_PROJECT ?? 'unused' });
  // The client caches its token and refreshes it before it expires; ask it before every request.
  const headerOf = async (): Promise<string | undefined> => {
    const client = await google.getClient();
    const headers = await client.getRequestHeaders() as unknown as { get?: (n: string) => string | null } & Record<string, string>;
    return (typeof headers.get === 'function' ? headers.get('authorization') : headers.Authorization ?? headers.authorization) ?? undefined;
  };
  // Token endpoints (the metadata server, STS) are waited for under the same timers as a request.
  const boundedHeader = async () => {
    const { out, timers } = await bounded('Google Application Default Credentials', t, () => headerOf());
    timers.stop();
    return out;
  };
  try {
    await boundedHeader();
    return { token: boundedHeader, source: 'Google Application Default Credentials' };
  } catch (err) {
    if (isStorageError(err) && err.code === 'TIMEOUT') throw err;
    if (auth === 'workload-identity') {
      throw new StorageError('AUTH', `--storage-auth workload-identity: Google Application Default Credentials found no credentials (${(err as Error).message}); ` +
        'check the ServiceAccount\'s iam.gke.io/gcp-service-account annotation and the IAM binding of GKE Workload Identity', { cause: err });
    }
    t.log(`no Google credentials found (${(err as Error).message.split('\n')[0]}); sending anonymous requests`);
    return { token: async () => undefined, source: 'no credentials (anonymous requests; Application Default Credentials found none)' };
  }
}

/** The object store for one gs:// fetch through the JSON API. */
export async function createGcsStore(auth: StorageAuthMode, env: NodeJS.ProcessEnv, t: Transfer): Promise<ObjectStore> {
  const base = gcsEndpoint(env);
  const { token, source } = await chooseToken(auth, env, t);
  const url = (path: string, query: Record<string, string>) => {
    const u = new URL(base.href);
    u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u;
  };
  const get = async (u: URL, target: string) => {
    const headers: Record<string, string> = { 'user-agent': 'cdk8s-model-server-storage-initializer' };
    const authorization = await token();
    if (authorization) headers.authorization = authorization;
    const sent = await send('GET', u, headers, t);
    const status = sent.res.statusCode ?? 0;
    if (status >= 200 && status < 300) return sent;
    const body = (await readBody(sent.res, sent.timers, 1024 * 1024).catch(() => Buffer.alloc(0))).toString('utf8');
    let message = '';
    try {
      message = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? '';
    } catch {
      message = body.slice(0, 200);
    }
    const detail = `HTTP ${status}${message ? `: ${message}` : ''} (${describe('GET', u)})`;
    if (status === 401 || status === 403) throw new StorageError('AUTH', `${target}: access denied, ${detail}; used ${source}`, { status });
    if (status === 404) throw new StorageError('NOT_FOUND', `${target}: not found, ${detail}`, { status });
    throw new StorageError('HTTP', `${target}: ${detail}`, { status, retryable: retryableStatus(status), retryAfterMs: parseRetryAfter(sent.res.headers['retry-after']) });
  };
  return {
    endpoint: base.origin,
    // One connection per request (agent: false in ./transfer): nothing is kept open.
    close: () => undefined,
    async list(bucket: string, prefix: string, pageSize: number): Promise<StoreObject[]> {
      const all: StoreObject[] = [];
      let pageToken: string | undefined;
      do {
        const target = `gs://${bucket}/${prefix}`;
        const page = await withRetries(`list ${target}`, t.retry, async () => {
          const query: Record<string, string> = { prefix, maxResults: String(pageSize), fields: 'items(name,size),nextPageToken' };
          if (pageToken) query.pageToken = pageToken;
          const { res, timers } = await get(url(`/storage/v1/b/${encodeURIComponent(bucket)}/o`, query), target);
          return JSON.parse((await readBody(res, timers)).toString('utf8')) as { items?: Array<{ name: string; size: string }>; nextPageToken?: string };
        });
        for (const o of page.items ?? []) all.push({ key: o.name, size: Number(o.size) });
        pageToken = page.nextPageToken;
      } while (pageToken);
      return all;
    },
    async download(bucket: string, key: string, file: string): Promise<number> {
      const target = `gs://${bucket}/${key}`;
      return withRetries(`get ${target}`, t.retry, async () => {
        const { res, timers } = await get(url(`/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(key)}`, { alt: 'media' }), target);
        return saveBody(res, file, target, t, timers, { length: contentLength(res.headers['content-length']), checksums: offeredChecksums(res.headers) });
      });
    },
  };
}
