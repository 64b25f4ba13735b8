// A fake Google Cloud Storage JSON API on loopback (what STORAGE_EMULATOR_HOST points Google's
// clients at): objects.list with prefix and pages, objects.get with alt=media and x-goog-hash.
// Private buckets need a bearer token the given check accepts; public ones take anonymous reads.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Crc32c } from '@aws-crypto/crc32c';

export interface FakeGcs {
  readonly url: string;
  /** The Authorization header of every request, in order. */
  readonly authorizations: Array<string | undefined>;
  close(): Promise<void>;
}

export interface FakeGcsOptions {
  /** bucket -> key -> bytes. */
  readonly buckets: Record<string, Record<string, Buffer>>;
  /** Buckets readable without a token. */
  readonly publicBuckets?: string[];
  /** Whether a bearer token is (still) valid. */
  readonly tokenValid: (token: string) => boolean;
}

function googHash(body: Buffer): string {
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(new Crc32c().update(body).digest());
  return `crc32c=${crc.toString('base64')},md5=${createHash('md5').update(body).digest('base64')}`;
}

export async function startFakeGcs(o: FakeGcsOptions): Promise<FakeGcs> {
  const authorizations: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    const url = new URL(req.url ?? '/', 'http://gcs');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const m = /^\/storage\/v1\/b\/([^/]+)\/o(?:\/(.+))?$/.exec(url.pathname);
    if (!m) return json(404, { error: { code: 404, message: 'Not Found' } });
    const bucket = decodeURIComponent(m[1]);
    const objects = o.buckets[bucket];
    if (!objects) return json(404, { error: { code: 404, message: 'The specified bucket does not exist.' } });
    if (!o.publicBuckets?.includes(bucket)) {
      const auth = req.headers.authorization ?? '';
      if (!auth.startsWith('Bearer ')) return json(401, { error: { code: 401, message: 'Anonymous caller does not have storage.objects.list access' } });
      if (!o.tokenValid(auth.slice('Bearer '.length))) return json(401, { error: { code: 401, message: 'Invalid Credentials (expired or unknown token)' } });
    }
    if (m[2] === undefined) {
      const prefix = url.searchParams.get('prefix') ?? '';
      const max = Number(url.searchParams.get('maxResults') ?? 1000);
      const start = Number(url.searchParams.get('pageToken') ?? 0);
      const keys = Object.keys(objects).filter((k) => k.startsWith(prefix)).sort();
      const page = keys.slice(start, start + max);
      return json(200, {
        kind: 'storage#objects',
        items: page.map((name) => ({ name, size: String(objects[name].length) })),
        ...(start + max < keys.length ? { nextPageToken: String(start + max) } : {}),
      });
    }
    const key = decodeURIComponent(m[2]);
    const body = objects[key];
    if (!body) return json(404, { error: { code: 404, message: `No such object: ${bucket}/${key}` } });
    if (url.searchParams.get('alt') !== 'media') return json(200, { name: key, size: String(body.length) });
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-goog-hash': googHash(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    authorizations,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
