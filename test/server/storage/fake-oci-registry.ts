// A fake OCI registry on loopback, speaking the subset of the distribution API a pull needs:
// `GET /v2/<name>/manifests/<tag or digest>` (image manifests and image indexes), `GET /v2/<name>/blobs/<digest>`
// (answered with a 307 to a second loopback server standing in for the registry's object store, as
// real registries do), and Bearer token auth through `GET /token` (Basic credentials when a login is
// configured). Images are built from plain file maps with the tar package. Knobs make it misbehave.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';

/** One layer: path in the image -> contents (an empty Buffer for a whiteout `.wh.<name>`). */
export type LayerFiles = Record<string, Buffer>;

export interface FakeImage {
  /** File maps, built into tars here, or raw tar bytes (see `rawTar`). */
  readonly layers: ReadonlyArray<LayerFiles | Buffer>;
  /** gzip the layers. @default true */
  readonly gzip?: boolean;
  /** Media type of the layers. @default the OCI tar(+gzip) type */
  readonly layerMediaType?: string;
}

export interface FakeRegistryOptions {
  /** `<name>:<tag>` -> image. */
  readonly images: Record<string, FakeImage>;
  /** Tags served as an image index (linux/amd64 and linux/arm64 both point at the image). */
  readonly indexTags?: readonly string[];
  /** Require a Bearer token; with `login`, the token endpoint requires these Basic credentials. */
  readonly auth?: boolean;
  readonly login?: { username: string; password: string };
  /** Override the token realm (to test where credentials go). */
  readonly realm?: string;
  /** Blob digests the object store corrupts (one byte flipped). */
  readonly corruptBlobs?: 'all' | readonly string[];
  /** The object store serves every blob chunked with 1 MiB more than its size. */
  readonly oversizeBlobs?: boolean;
  /** The object store sends headers and 10 bytes of each blob, then nothing. */
  readonly stallBlobs?: boolean;
  /** Manifests padded past 4 MiB. */
  readonly hugeManifests?: boolean;
  /** Asked for a manifest by a digest it does not have, the registry serves the tag's manifest instead (a lying mirror). */
  readonly lieOnDigest?: string;
}

export interface FakeRegistry {
  /** `127.0.0.1:<port>`, the registry part of an oci:// URI. */
  readonly host: string;
  readonly url: string;
  /** Every request as `<registry|store> <method> <path> auth=<Authorization or ->`. */
  readonly requests: string[];
  /** Digest of the manifest served for `<name>:<tag>`. */
  manifestDigest(ref: string): string;
  close(): Promise<void>;
}

/**
 * A tar written by hand, for entries the tar package will not create from a directory (names with
 * `..`, links to absolute paths): ustar headers, each entry's data padded to 512 bytes.
 */
export function rawTar(entries: ReadonlyArray<{ name: string; body?: Buffer; type?: '0' | '2' | '5'; link?: string }>): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = e.body ?? Buffer.alloc(0);
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(e.type ?? '0', 156);
    if (e.link) h.write(e.link, 157, 100, 'utf8');
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(h, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function tarLayer(files: LayerFiles, gzip: boolean): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fake-oci-layer-'));
  try {
    for (const [p, body] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, 'root', p)), { recursive: true });
      writeFileSync(path.join(dir, 'root', p), body);
    }
    const file = path.join(dir, 'layer.tar');
    // Sorted for a stable tar; `portable` drops uid/gid/mtime noise.
    tar.create({ cwd: path.join(dir, 'root'), file, sync: true, gzip, portable: true, noMtime: true }, Object.keys(files).map((p) => p.split('/')[0]).filter((v, i, a) => a.indexOf(v) === i).sort());
    return readFileSync(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startFakeOciRegistry(o: FakeRegistryOptions): Promise<FakeRegistry> {
  const requests: string[] = [];
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { body: Buffer; mediaType: string }>(); // by `<name>:<tag>` and `<name>@<digest>`
  const stalled: http.ServerResponse[] = [];
  const addManifest = (name: string, tag: string | undefined, json: Record<string, unknown>, mediaType: string) => {
    let body = Buffer.from(JSON.stringify(json));
    if (o.hugeManifests) body = Buffer.from(JSON.stringify({ ...json, annotations: { padding: 'x'.repeat(5 * 1024 * 1024) } }));
    const digest = digestOf(body);
    manifests.set(`${name}@${digest}`, { body, mediaType });
    if (tag) manifests.set(`${name}:${tag}`, { body, mediaType });
    return { digest, size: body.length };
  };
  for (const [ref, image] of Object.entries(o.images)) {
    const [name, tag] = ref.split(':');
    const gzip = image.gzip ?? true;
    const layers = image.layers.map((files) => {
      const body = Buffer.isBuffer(files) ? files : tarLayer(files, gzip);
      blobs.set(digestOf(body), body);
      return { mediaType: image.layerMediaType ?? `application/vnd.oci.image.layer.v1.tar${gzip ? '+gzip' : ''}`, digest: digestOf(body), size: body.length };
    });
    const config = Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}');
    blobs.set(digestOf(config), config);
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers,
    };
    const indexed = o.indexTags?.includes(tag);
    const m = addManifest(name, indexed ? undefined : tag, manifest, manifest.mediaType);
    if (indexed) {
      const platform = (architecture: string) => ({ mediaType: manifest.mediaType, ...m, platform: { os: 'linux', architecture } });
      addManifest(name, tag, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [platform('arm64'), platform('amd64')] },
        'application/vnd.oci.image.index.v1+json');
    }
  }

  const store = http.createServer((req, res) => {
    requests.push(`store ${req.method} ${req.url} auth=${req.headers.authorization ?? '-'}`);
    const digest = new URL(req.url ?? '/', 'http://store').pathname.replace(/^\/blob\//, '');
    let body = blobs.get(digest);
    if (!body) {
      res.writeHead(404);
      res.end();
      return;
    }
    if (o.corruptBlobs === 'all' || o.corruptBlobs?.includes(digest)) body = Buffer.concat([body.subarray(0, -1), Buffer.from([255 - body[body.length - 1]])]);
    if (o.stallBlobs) {
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, 10));
      stalled.push(res);
      return;
    }
    if (o.oversizeBlobs) {
      res.writeHead(200);
      res.write(body);
      res.end(Buffer.alloc(1024 * 1024));
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => store.listen(0, '127.0.0.1', r));
  const storeUrl = `http://127.0.0.1:${(store.address() as AddressInfo).port}`;

  let url = '';
  const TOKEN = 'fake-registry-token';
  const registry = http.createServer((req, res) => {
    requests.push(`registry ${req.method} ${req.url} auth=${req.headers.authorization ?? '-'}`);
    const u = new URL(req.url ?? '/', 'http://registry');
    const error = (status: number, code: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify({ errors: [{ code, message: code.toLowerCase() }] }));
    };
    if (u.pathname === '/token') {
      if (o.login && req.headers.authorization !== `Basic ${Buffer.from(`${o.login.username}:${o.login.password}`).toString('base64')}`) return error(401, 'UNAUTHORIZED');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: TOKEN, expires_in: 300 }));
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(u.pathname);
    if (!m) return error(404, 'NAME_UNKNOWN');
    if (o.auth && req.headers.authorization !== `Bearer ${TOKEN}`) {
      return error(401, 'UNAUTHORIZED', { 'www-authenticate': `Bearer realm="${o.realm ?? `${url}/token`}",service="fake-registry",scope="repository:${m[1]}:pull"` });
    }
    if (m[2] === 'manifests') {
      const found = manifests.get(m[3].startsWith('sha256:') ? `${m[1]}@${m[3]}` : `${m[1]}:${m[3]}`)
        ?? (o.lieOnDigest && m[3].startsWith('sha256:') ? manifests.get(`${m[1]}:${o.lieOnDigest}`) : undefined);
      if (!found) return error(404, 'MANIFEST_UNKNOWN');
      res.writeHead(200, { 'content-type': found.mediaType, 'content-length': found.body.length, 'docker-content-digest': digestOf(found.body) });
      res.end(found.body);
      return;
    }
    if (!blobs.has(m[3])) return error(404, 'BLOB_UNKNOWN');
    res.writeHead(307, { location: `${storeUrl}/blob/${m[3]}?X-Amz-Signature=fake` });
    res.end();
  });
  await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
  const host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
  url = `http://${host}`;
  return {
    host,
    url,
    requests,
    manifestDigest: (ref) => digestOf(manifests.get(ref)!.body),
    close: async () => {
      for (const r of stalled) r.destroy();
      for (const s of [registry, store]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    },
  };
}
