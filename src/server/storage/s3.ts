/**
 * s3:// (and gs:// with HMAC keys) through the AWS SDK v3: `@aws-sdk/client-s3` signs and sends,
 * and credentials come from static keys or the SDK's default chain (`fromNodeProviderChain`: env,
 * the web identity token file of IRSA, EKS Pod Identity, container and instance metadata, shared
 * config). Bundled into a chunk of its own (`storage-s3.js`) that `./index` loads only for these
 * schemes, so a server without them never pays for the SDK.
 */
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { isStorageError, StorageError } from './errors';
import { parseRetryAfter, retryableStatus, withRetries } from './retry';
import { StorageAuthMode } from './settings';
import { ObjectStore, StoreObject } from './store';
import { bounded, saveBody, Transfer } from './transfer';

/** Static keys from env or the credentials dir. */
export interface StaticKeys {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** Where and how to reach S3. */
export interface S3Config {
  /** Endpoint override (`AWS_ENDPOINT_URL`); requests then use path-style addressing. */
  readonly endpoint?: URL;
  readonly region: string;
  /** Static keys, when given. */
  readonly credentials?: StaticKeys;
  /** Where the static keys came from, for error messages. */
  readonly credentialsSource?: string;
  readonly auth: StorageAuthMode;
  /** `s3` or `gs`, for messages. */
  readonly scheme: string;
}

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date };

/** The credentials to sign with, or undefined for unsigned requests, and where they came from. */
async function chooseCredentials(config: S3Config, t: Transfer): Promise<{ provider?: () => Promise<Credentials>; source: string }> {
  if (config.auth === 'anonymous') return { source: 'none (--storage-auth anonymous)' };
  if (config.credentials) {
    const keys = config.credentials;
    return { provider: async () => keys, source: `access key id ${keys.accessKeyId} from ${config.credentialsSource ?? 'the environment'}` };
  }
  if (config.auth === 'secret') {
    throw new StorageError('AUTH', '--storage-auth secret, but no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment or STORAGE_CREDENTIALS_DIR');
  }
  // The default chain, memoized by the SDK and refreshed before its credentials expire.
  const chain = fromNodeProviderChain();
  try {
    const { out: first, timers } = await bounded('the AWS default credential chain', t, () => chain());
    timers.stop();
    return { provider: chain, source: `access key id ${first.accessKeyId} from the AWS default credential chain` };
  } catch (err) {
    if (isStorageError(err) && err.code === 'TIMEOUT') throw err;
    if (config.auth === 'workload-identity') {
      throw new StorageError('AUTH', `--storage-auth workload-identity: the AWS default credential chain found no credentials (${(err as Error).message}); ` +
        'check the ServiceAccount\'s eks.amazonaws.com/role-arn annotation (IRSA) or the EKS Pod Identity association', { cause: err });
    }
    t.log(`no AWS credentials found (${(err as Error).message.split('\n')[0]}); sending anonymous requests`);
    return { source: 'no credentials (anonymous requests; the AWS default credential chain found none)' };
  }
}

/** The object store for one fetch: chooses credentials once, then lists and downloads. */
export async function createS3Store(config: S3Config, t: Transfer): Promise<ObjectStore> {
  const creds = await chooseCredentials(config, t);
  const client = new S3Client({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint.href, forcePathStyle: true } : {}),
    // Our retry policy (attempts, backoff, Retry-After, deadline) applies to every scheme alike.
    maxAttempts: 1,
    // Ask for the store's checksums on GET and verify them (the SDK does, for full-object values).
    responseChecksumValidation: 'WHEN_SUPPORTED',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    ...(creds.provider
      ? { credentials: creds.provider }
      // Unsigned requests: a signer that leaves the request as it is.
      : { credentials: { accessKeyId: '', secretAccessKey: '' }, signer: { sign: async (request: unknown) => request } as never }),
  });
  const endpoint = config.endpoint?.origin ?? `https://s3.${config.region}.amazonaws.com`;

  /** Maps an SDK error to a StorageError that names the object, the status and the credentials. */
  const mapError = (err: unknown, bucket: string, key: string): StorageError => {
    if (isStorageError(err)) return err;
    type SdkError = Error & { $metadata?: { httpStatusCode?: number }; $response?: { headers?: Record<string, string> }; code?: string };
    const e = err as SdkError;
    const target = `${config.scheme}://${bucket}/${key}`;
    const status = e.$metadata?.httpStatusCode;
    if (/checksum mismatch/i.test(e.message)) {
      return new StorageError('CHECKSUM', `${target}: ${e.message}; the download is corrupt`, { retryable: true, cause: err });
    }
    if (e.name === 'CredentialsProviderError') {
      return new StorageError('AUTH', `${target}: cannot get AWS credentials: ${e.message}`, { cause: err });
    }
    if (status === undefined) {
      return new StorageError('NETWORK', `${target} (${endpoint}): ${e.code ?? e.name}: ${e.message}`, { retryable: true, cause: err });
    }
    const detail = `HTTP ${status} ${e.name}${e.message && e.message !== 'UnknownError' ? `: ${e.message}` : ''} (${endpoint})`;
    if (status === 401 || status === 403) {
      return new StorageError('AUTH', `${target}: access denied, ${detail}; used ${creds.source}`, { status, cause: err });
    }
    if (status === 404) {
      const what = e.name === 'NoSuchBucket' ? `bucket '${bucket}' does not exist` : `object '${key}' not found in bucket '${bucket}'`;
      return new StorageError('NOT_FOUND', `${target}: ${what}, ${detail}`, { status, cause: err });
    }
    if (status === 301 || e.name === 'PermanentRedirect' || e.name === 'AuthorizationHeaderMalformed') {
      return new StorageError('HTTP', `${target}: wrong region or endpoint (${config.region}), ${detail}; set AWS_REGION`, { status, cause: err });
    }
    return new StorageError('HTTP', `${target}: ${detail}`, {
      status, retryable: retryableStatus(status), retryAfterMs: parseRetryAfter(e.$response?.headers?.['retry-after']), cause: err,
    });
  };

  /** One SDK call under the attempt's timers (credential refreshes included); they stay armed for a body the caller reads. */
  const call = <T>(what: string, run: (signal: AbortSignal) => Promise<T>) =>
    bounded(what, t, run, (late) => ((late as { Body?: Readable }).Body)?.destroy());

  return {
    endpoint,
    close: () => client.destroy(),
    async list(bucket: string, prefix: string, pageSize: number): Promise<StoreObject[]> {
      const all: StoreObject[] = [];
      let token: string | undefined;
      do {
        const page = await withRetries(`list ${config.scheme}://${bucket}/${prefix}`, t.retry, async () => {
          try {
            const { out, timers } = await call(`list ${config.scheme}://${bucket}/${prefix}`, (abortSignal) =>
              client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: pageSize, ContinuationToken: token }),
                { abortSignal }));
            timers.stop();
            return out;
          } catch (err) {
            throw mapError(err, bucket, prefix);
          }
        });
        for (const o of page.Contents ?? []) if (o.Key !== undefined) all.push({ key: o.Key, size: o.Size ?? 0 });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
        if (page.IsTruncated && !token) throw new StorageError('HTTP', `${config.scheme}://${bucket}/${prefix}: listing is truncated but has no NextContinuationToken`);
      } while (token);
      return all;
    },
    async download(bucket: string, key: string, file: string): Promise<number> {
      const what = `${config.scheme}://${bucket}/${key}`;
      return withRetries(`get ${what}`, t.retry, async () => {
        try {
          const { out, timers } = await call(what, (abortSignal) =>
            // GCS's XML API has no x-amz checksums (and may refuse the header): gs:// asks only S3.
            client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(config.scheme === 's3' ? { ChecksumMode: 'ENABLED' } : {}) }),
              { abortSignal }));
          const body = out.Body as Readable;
          // The checksum is verified by the SDK as the body streams (a mismatch fails the pipeline).
          return await saveBody(body, file, what, t, timers, { length: out.ContentLength, checksums: [] });
        } catch (err) {
          throw mapError(err, bucket, key);
        }
      });
    },
  };
}
