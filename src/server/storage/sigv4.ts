/**
 * AWS Signature Version 4 for S3 requests (header-based), with node:crypto only.
 *
 * @see https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 */
import { createHash, createHmac } from 'node:crypto';

/** Static credentials for signing. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** What to sign. `headers` is mutated: the signing headers are added to it. */
export interface SignRequest {
  readonly method: string;
  readonly url: URL;
  /** Lower-case header names. `host` is added from the URL when missing. */
  readonly headers: Record<string, string>;
  readonly region: string;
  readonly credentials: AwsCredentials;
  /** @default 's3' */
  readonly service?: string;
  /** Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`. @default - SHA-256 of the empty string */
  readonly payloadHash?: string;
  /** @default - now */
  readonly date?: Date;
}

export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** RFC 3986 encoding as SigV4 wants it: everything but `A-Za-z0-9-._~` is percent-encoded. */
export function uriEncode(value: string, keepSlash = false): string {
  let out = encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (keepSlash) out = out.replace(/%2F/g, '/');
  return out;
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}

/** `20130524T000000Z` */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** The canonical query string: keys and values encoded, sorted by key then value. */
function canonicalQuery(url: URL): string {
  const pairs: Array<[string, string]> = [];
  url.searchParams.forEach((v, k) => pairs.push([uriEncode(k), uriEncode(v)]));
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/**
 * Signs a request: sets `host`, `x-amz-date`, `x-amz-content-sha256`, optionally
 * `x-amz-security-token`, and `authorization` in `req.headers`. Returns the headers.
 *
 * The path of `req.url` must already be encoded the way it goes on the wire (S3 encodes
 * each key segment once; see {@link uriEncode} with `keepSlash`).
 */
export function signRequest(req: SignRequest): Record<string, string> {
  const service = req.service ?? 's3';
  const date = req.date ?? new Date();
  const stamp = amzDate(date);
  const day = stamp.slice(0, 8);
  const payloadHash = req.payloadHash ?? EMPTY_SHA256;
  const headers = req.headers;
  if (!headers.host) headers.host = req.url.host;
  headers['x-amz-date'] = stamp;
  headers['x-amz-content-sha256'] = payloadHash;
  if (req.credentials.sessionToken) headers['x-amz-security-token'] = req.credentials.sessionToken;

  const names = Object.keys(headers).map((h) => h.toLowerCase()).sort();
  const lookup: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lookup[k.toLowerCase()] = String(v).trim().replace(/\s+/g, ' ');
  const canonicalHeaders = names.map((n) => `${n}:${lookup[n]}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = [
    req.method.toUpperCase(),
    req.url.pathname || '/',
    canonicalQuery(req.url),
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${day}/${req.region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256Hex(canonicalRequest)].join('\n');
  const kDate = hmac(`AWS4${req.credentials.secretAccessKey}`, day);
  const kRegion = hmac(kDate, req.region);
  const kService = hmac(kRegion, service);
  const kSigning = hmac(kService, 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${req.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
