/**
 * A minimal S3 client: ListObjectsV2 (paginated) and GetObject, signed with SigV4, against AWS
 * or any S3-compatible endpoint (MinIO, Ceph RGW, GCS interoperability, s3rver).
 */
import type { IncomingMessage } from 'node:http';
import { StorageError } from './errors';
import { AwsCredentials, signRequest, uriEncode } from './sigv4';
import { TransferOptions, describe, readBody, retryableStatus, saveBody, send, withRetries } from './transfer';

/** Where and how to reach S3. */
export interface S3Config {
  /** Endpoint override (`AWS_ENDPOINT_URL`); requests then use path-style addressing. */
  readonly endpoint?: URL;
  readonly region: string;
  /** Anonymous (unsigned) requests when absent. */
  readonly credentials?: AwsCredentials;
  /** Where the credentials came from, for error messages. */
  readonly credentialsSource?: string;
}

/** One object of a listing. */
export interface S3Object {
  readonly key: string;
  readonly size: number;
}

function xmlDecode(s: string): string {
  return s
    .replace(/&#x([0-9a-fA-F]+);/g, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

function xmlTag(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? xmlDecode(m[1]) : undefined;
}

/** Parses one ListObjectsV2 page. */
export function parseListPage(xml: string): { objects: S3Object[]; next?: string } {
  const objects: S3Object[] = [];
  const re = /<Contents>([\s\S]*?)<\/Contents>/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    const key = xmlTag(m[1], 'Key');
    if (key !== undefined) objects.push({ key, size: Number(xmlTag(m[1], 'Size') ?? 0) });
  }
  const truncated = xmlTag(xml, 'IsTruncated') === 'true';
  const next = truncated ? xmlTag(xml, 'NextContinuationToken') : undefined;
  if (truncated && !next) {
    throw new StorageError('HTTP', 'S3 listing is truncated but has no NextContinuationToken');
  }
  return { objects, next };
}

export class S3Client {
  constructor(private readonly config: S3Config, private readonly transfer: TransferOptions) {}

  /** The URL of a bucket (key `''`) or of an object, path-encoded as S3 signs it. */
  url(bucket: string, key: string, query: Record<string, string> = {}): URL {
    const path = uriEncode(key, true);
    let u: URL;
    if (this.config.endpoint) {
      u = new URL(this.config.endpoint.href);
      u.pathname = `${u.pathname.replace(/\/+$/, '')}/${uriEncode(bucket)}${key ? `/${path}` : ''}`;
    } else if (bucket.includes('.')) {
      // Virtual-hosted names with dots break the TLS wildcard certificate.
      u = new URL(`https://s3.${this.config.region}.amazonaws.com/${uriEncode(bucket)}${key ? `/${path}` : ''}`);
    } else {
      u = new URL(`https://${bucket}.s3.${this.config.region}.amazonaws.com/${path}`);
    }
    // URLSearchParams encodes spaces as '+', which S3 does not decode as the signer encodes them.
    const q = Object.entries(query).map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
    u.search = q;
    return u;
  }

  private async get(bucket: string, key: string, url: URL): Promise<IncomingMessage> {
    const headers: Record<string, string> = {};
    if (this.config.credentials) {
      signRequest({ method: 'GET', url, headers, region: this.config.region, credentials: this.config.credentials });
    }
    const res = await send('GET', url, headers, this.transfer.timeoutMs);
    if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) return res;
    throw await this.error(res, bucket, key, url);
  }

  private async error(res: IncomingMessage, bucket: string, key: string, url: URL): Promise<StorageError> {
    const status = res.statusCode ?? 0;
    let code = '';
    let message = '';
    try {
      const body = (await readBody(res, 1024 * 1024)).toString('utf8');
      code = xmlTag(body, 'Code') ?? '';
      message = xmlTag(body, 'Message') ?? '';
    } catch {
      // keep the status alone
    }
    const target = `s3://${bucket}/${key}`;
    const detail = `HTTP ${status}${code ? ` ${code}` : ''}${message ? `: ${message}` : ''} (${describe('GET', url)})`;
    if (status === 403 || status === 401) {
      const creds = this.config.credentials
        ? `access key id ${this.config.credentials.accessKeyId} from ${this.config.credentialsSource ?? 'the environment'}`
        : 'no credentials (anonymous request; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or mount them in STORAGE_CREDENTIALS_DIR)';
      return new StorageError('AUTH', `${target}: access denied, ${detail}; used ${creds}`, { status });
    }
    if (status === 404) {
      const what = code === 'NoSuchBucket' ? `bucket '${bucket}' does not exist` : `object '${key}' not found in bucket '${bucket}'`;
      return new StorageError('NOT_FOUND', `${target}: ${what}, ${detail}`, { status });
    }
    if (status === 301 || code === 'AuthorizationHeaderMalformed' || code === 'PermanentRedirect') {
      const region = res.headers['x-amz-bucket-region'];
      return new StorageError('HTTP', `${target}: wrong region or endpoint (${this.config.region})${region ? `, the bucket is in ${region}: set AWS_REGION` : ''}, ${detail}`, { status });
    }
    return new StorageError('HTTP', `${target}: ${detail}`, { status, retryable: retryableStatus(status) });
  }

  /** Every object whose key starts with `prefix`, following continuation tokens. */
  async list(bucket: string, prefix: string, pageSize = 1000): Promise<S3Object[]> {
    const all: S3Object[] = [];
    let token: string | undefined;
    for (let page = 0; page < 100_000; page++) {
      const query: Record<string, string> = { 'list-type': '2', 'prefix': prefix, 'max-keys': String(pageSize) };
      if (token) query['continuation-token'] = token;
      const url = this.url(bucket, '', query);
      const xml = await withRetries(`list s3://${bucket}/${prefix}`, this.transfer, async () => {
        const res = await this.get(bucket, prefix, url);
        return (await readBody(res)).toString('utf8');
      });
      const { objects, next } = parseListPage(xml);
      all.push(...objects);
      if (!next) return all;
      token = next;
    }
    throw new StorageError('HTTP', `s3://${bucket}/${prefix}: listing did not end after 100000 pages`);
  }

  /** Downloads one object into `file`; returns its size. */
  async download(bucket: string, key: string, file: string): Promise<number> {
    const url = this.url(bucket, key);
    return withRetries(`get s3://${bucket}/${key}`, this.transfer, async () => {
      const res = await this.get(bucket, key, url);
      return saveBody(res, file, `s3://${bucket}/${key}`, this.transfer.timeoutMs);
    });
  }
}
