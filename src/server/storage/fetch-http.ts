/** https:// and http:// models: one file, redirects followed (never from https to http). */
import * as path from 'node:path';
import { offeredChecksums } from './checksum';
import { StorageError } from './errors';
import { place } from './files';
import { parseRetryAfter, retryableStatus, withRetries } from './retry';
import { contentLength, describe, readBody, saveBody, send, Transfer } from './transfer';
import { decodeUriPart } from './uri';

const MAX_REDIRECTS = 5;

/** The next URL of a redirect, or a REDIRECT error for a downgrade, another scheme or too many hops. */
export function redirectTarget(from: URL, location: string, hops: number): URL {
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

/** Downloads `url` into the staging dir and places it (unpacked) under `out`; returns the bytes downloaded. */
export async function fetchHttp(url: URL, stage: string, out: string, t: Transfer): Promise<number> {
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
