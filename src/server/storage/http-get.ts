/**
 * A GET that follows redirects under the storage policy (never https to http, only http(s), at most
 * 5 hops) and sends credentials only to the origin they are for: the Hub and registries redirect
 * downloads to CDN or object-store hosts, which must never see the token.
 */
import { StorageError } from './errors';
import { redirectTarget } from './fetch-http';
import { parseRetryAfter, retryableStatus } from './retry';
import { describe, readBody, send, Sent, Transfer } from './transfer';

export interface GetOptions {
  /** Extra headers for every hop (Accept, ...). */
  readonly headers?: Record<string, string>;
  /** The `Authorization` value, sent only while the request stays on `authOrigin`. */
  readonly authorization?: string;
  readonly authOrigin?: string;
  /** What the request is for, in messages (`hf://org/repo`). */
  readonly target: string;
  /** A hint appended to 401/403/404 messages (which credentials to check). */
  readonly hint?: (status: number) => string;
  /** Statuses handed back like a 2xx instead of thrown (a registry's 401 carries its auth challenge). */
  readonly pass?: readonly number[];
}

/** The 2xx response of a GET (its timers still armed) and the URL it came from, or a StorageError. */
export async function getFollowing(url: URL, t: Transfer, o: GetOptions): Promise<Sent & { url: URL }> {
  let current = url;
  for (let hops = 0; ; hops++) {
    const headers: Record<string, string> = { 'user-agent': 'cdk8s-model-server-storage-initializer', ...o.headers };
    if (o.authorization && current.origin === o.authOrigin) headers.authorization = o.authorization;
    const sent = await send('GET', current, headers, t);
    const status = sent.res.statusCode ?? 0;
    if ([301, 302, 303, 307, 308].includes(status) && sent.res.headers.location) {
      sent.timers.stop();
      sent.res.resume();
      current = redirectTarget(current, sent.res.headers.location, hops);
      continue;
    }
    if ((status >= 200 && status < 300) || o.pass?.includes(status)) return { ...sent, url: current };
    const body = (await readBody(sent.res, sent.timers, 4096).catch(() => Buffer.alloc(0))).toString('utf8').trim().slice(0, 200);
    const what = `${o.target}: HTTP ${status} (${describe('GET', current)})${body ? `: ${body}` : ''}`;
    const hint = o.hint?.(status) ?? '';
    if (status === 404 || status === 410) throw new StorageError('NOT_FOUND', `${what}: not found${hint}`, { status });
    if (status === 401 || status === 403) throw new StorageError('AUTH', `${what}: access denied${hint}`, { status });
    throw new StorageError('HTTP', what, { status, retryable: retryableStatus(status), retryAfterMs: parseRetryAfter(sent.res.headers['retry-after']) });
  }
}
