// A fake of the Hugging Face Hub on loopback, speaking the subset the storage initializer uses:
// `GET /api/models/<org>/<name>/revision/<rev>?blobs=true` (commit id and file list with sizes and LFS
// sha256) and `GET /<org>/<name>/resolve/<commit>/<path>` (small files inline, LFS files by a 302 to
// a second loopback server standing in for the Hub's CDN). Private repos need `Bearer <token>`.
// Knobs make it misbehave the ways the attack tests need.
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeHubRepo {
  /** commit id (40 hex) -> path -> bytes. */
  readonly commits: Record<string, Record<string, Buffer>>;
  /** branch or tag -> commit id. */
  readonly revisions: Record<string, string>;
  /** Paths served as LFS files (listed with sha256, downloaded from the CDN). */
  readonly lfs?: readonly string[];
  readonly private?: boolean;
}

export interface FakeHubOptions {
  /** `<org>/<name>` -> repo. */
  readonly repos: Record<string, FakeHubRepo>;
  /** The token private repos accept. */
  readonly token?: string;
  /** Files whose CDN bytes are corrupted (one byte flipped, same length). */
  readonly corrupt?: readonly string[];
  /** Files the CDN serves chunked with 1 MiB more than listed. */
  readonly oversize?: readonly string[];
  /** Files whose download sends its headers and 10 bytes, then nothing. */
  readonly stall?: readonly string[];
  /** Extra listing entries with no file behind them (names that try to leave the model dir). */
  readonly extraSiblings?: ReadonlyArray<{ rfilename: string; size: number }>;
  /** Sizes the listing claims instead of the real ones. */
  readonly listedSizes?: Record<string, number>;
}

export interface FakeHub {
  /** HF_ENDPOINT for the initializer. */
  readonly url: string;
  /** Every request as `<host kind> <method> <path> auth=<Authorization or ->`, in order. */
  readonly requests: string[];
  close(): Promise<void>;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const gitBlob = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startFakeHfHub(o: FakeHubOptions): Promise<FakeHub> {
  const requests: string[] = [];
  const blobs = new Map<string, { name: string; body: Buffer }>();
  const stalled: http.ServerResponse[] = [];
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const cdn = http.createServer((req, res) => {
    requests.push(`cdn ${req.method} ${req.url} auth=${req.headers.authorization ?? '-'}`);
    const blob = blobs.get(new URL(req.url ?? '/', 'http://cdn').pathname.replace(/^\/blobs\//, ''));
    if (!blob) return json(res, 404, { error: 'no such blob' });
    let body = blob.body;
    if (o.corrupt?.includes(blob.name)) body = Buffer.concat([body.subarray(0, -1), Buffer.from([255 - body[body.length - 1]])]);
    if (o.stall?.includes(blob.name)) {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 10));
      stalled.push(res);
      return;
    }
    if (o.oversize?.includes(blob.name)) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked: no length to enforce
      res.write(body);
      res.end(Buffer.alloc(1024 * 1024, 7));
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  const cdnUrl = await listen(cdn);

  const hub = http.createServer((req, res) => {
    requests.push(`hub ${req.method} ${req.url} auth=${req.headers.authorization ?? '-'}`);
    const url = new URL(req.url ?? '/', 'http://hub');
    const api = /^\/api\/models\/([^/]+)\/([^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const m = api ?? resolve;
    if (!m) return json(res, 404, { error: 'Not Found' });
    const repo = o.repos[`${m[1]}/${m[2]}`];
    // The Hub answers 401 both for a missing repo and for a private one without access.
    if (!repo) return json(res, 401, { error: 'Repository Not Found' });
    if (repo.private && req.headers.authorization !== `Bearer ${o.token}`) return json(res, 401, { error: 'Invalid credentials in Authorization header' });
    const rev = decodeURIComponent(m[3]);
    const commit = repo.revisions[rev] ?? (repo.commits[rev] ? rev : undefined);
    if (!commit) return json(res, 404, { error: `Invalid rev id: ${rev}` });
    const files = repo.commits[commit];
    if (api) {
      const siblings: unknown[] = Object.entries(files).map(([name, body]) => {
        const size = o.listedSizes?.[name] ?? body.length;
        return repo.lfs?.includes(name)
          ? { rfilename: name, size, blobId: gitBlob(body), lfs: { sha256: sha256(body), size, pointerSize: 130 } }
          : { rfilename: name, size, blobId: gitBlob(body) };
      });
      siblings.push(...o.extraSiblings ?? []);
      return json(res, 200, { id: `${m[1]}/${m[2]}`, sha: commit, siblings });
    }
    const name = m[4].split('/').map(decodeURIComponent).join('/');
    const body = files[name];
    if (!body) return json(res, 404, { error: 'Entry not found' });
    if (repo.lfs?.includes(name)) {
      const key = sha256(body);
      blobs.set(key, { name, body });
      res.writeHead(302, { 'location': `${cdnUrl}/blobs/${key}?signature=fake`, 'x-repo-commit': commit, 'x-linked-etag': `"${key}"` });
      res.end();
      return;
    }
    if (o.stall?.includes(name)) {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 10));
      stalled.push(res);
      return;
    }
    res.writeHead(200, { 'content-length': body.length, 'x-repo-commit': commit });
    res.end(body);
  });
  const hubUrl = await listen(hub);

  return {
    url: hubUrl,
    requests,
    close: async () => {
      for (const r of stalled) r.destroy();
      for (const s of [hub, cdn]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    },
  };
}
