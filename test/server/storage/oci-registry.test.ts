// oci:// fetched by the storage initializer (ModelImageMount.FETCH) against a fake OCI registry on
// loopback (./fake-oci-registry.ts): manifests and image indexes, layers merged with whiteouts, only
// the image's /models kept, Bearer tokens with a Docker-config login, the token never sent to the
// blob store, and the attacks (corrupt, oversize and stalled blobs, huge manifests, a pinned digest
// that does not match, tar entries that leave the model dir, links, zstd layers).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { FakeImage, FakeRegistry, rawTar, startFakeOciRegistry } from './fake-oci-registry';
import { fetchModel, parseStorageUri, StorageError } from '../../../src/server/storage';
import { runCli, tree } from '../attacks/storage-helpers';

const IRIS = readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'models', 'iris-logreg.onnx'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'oci-registry-'));
const quick = { settings: { maxAttempts: 1, idleTimeoutMs: 300 }, retryBaseMs: 1 };

/** A modelcar image: a base layer outside /models, the model, then a layer that replaces and deletes files. */
const MODELCAR: FakeImage = {
  layers: [
    { 'bin/sh': Buffer.from('#!/bin/fake'), 'etc/passwd': Buffer.from('root:x:0:0\n') },
    { 'models/iris/model.onnx': IRIS, 'models/iris/old.txt': Buffer.from('stale'), 'models/README.md': Buffer.from('v0') },
    { 'models/README.md': Buffer.from('v1'), 'models/iris/.wh.old.txt': Buffer.alloc(0) },
  ],
};

let registry: FakeRegistry;
afterEach(async () => { await registry?.close(); });

describe('oci:// URIs in the storage initializer', () => {
  test('parse with Docker\'s defaults: Docker Hub, library/, latest; a digest wins over a tag', () => {
    expect(parseStorageUri('oci://iris')).toEqual({ kind: 'oci', registry: 'registry-1.docker.io', repository: 'library/iris', reference: 'latest', digest: undefined });
    expect(parseStorageUri('oci://kserve/sklearn:v1')).toMatchObject({ registry: 'registry-1.docker.io', repository: 'kserve/sklearn', reference: 'v1' });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseStorageUri(`oci://localhost:5000/models/iris:v1@${digest}`)).toEqual({ kind: 'oci', registry: 'localhost:5000', repository: 'models/iris', reference: digest, digest });
  });

  test.each(['oci://Example.com/Iris', 'oci://example.com/iris@sha256:abc', 'oci://example.com/iris:bad tag'])('fails: %s is INVALID_URI', (uri) => {
    expect(() => parseStorageUri(uri)).toThrow(StorageError);
    expect(() => parseStorageUri(uri)).toThrow(/invalid OCI image URI/);
  });
});

describe('oci:// pulls (fake OCI registry on loopback)', () => {
  test('keeps only the image\'s /models, with later layers replacing files and whiteouts deleting them', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': MODELCAR } });
    const dir = tmp();
    const result = await fetchModel(`oci://${registry.host}/models/iris:v1`, dir);
    expect(result.files).toEqual(['README.md', 'iris/model.onnx']);
    expect(tree(dir)).toEqual(['README.md', 'iris/', 'iris/model.onnx']);
    expect(sha(readFileSync(path.join(dir, 'iris', 'model.onnx')))).toBe(sha(IRIS));
    expect(readFileSync(path.join(dir, 'README.md'), 'utf8')).toBe('v1');
  });

  test('uncompressed layers, and an opaque whiteout that empties a directory of the layers below', async () => {
    registry = await startFakeOciRegistry({
      images: {
        'models/iris:v2': {
          gzip: false,
          layers: [{ 'models/a/one.txt': Buffer.from('1'), 'models/b.txt': Buffer.from('b') }, { 'models/a/.wh..wh..opq': Buffer.alloc(0), 'models/a/two.txt': Buffer.from('2') }],
        },
      },
    });
    const dir = tmp();
    await fetchModel(`oci://${registry.host}/models/iris:v2`, dir);
    expect(tree(dir)).toEqual(['a/', 'a/two.txt', 'b.txt']);
  });

  test('an image index resolves to this machine\'s linux image, and a pinned digest is checked', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:multi': MODELCAR }, indexTags: ['multi'] });
    const dir = tmp();
    const log: string[] = [];
    await fetchModel(`oci://${registry.host}/models/iris:multi@${registry.manifestDigest('models/iris:multi')}`, dir, { log: (m) => log.push(m) });
    expect(tree(dir)).toEqual(['README.md', 'iris/', 'iris/model.onnx']);
    expect(log.some((m) => /linux\/(amd64|arm64) is sha256:[0-9a-f]{64}/.test(m))).toBe(true);
  });

  test('Bearer auth with a Docker-config login: the token goes to the registry only, never to the blob store', async () => {
    registry = await startFakeOciRegistry({ images: { 'private/iris:v1': MODELCAR }, auth: true, login: { username: 'robot', password: 's3cret' } });
    const creds = tmp();
    writeFileSync(path.join(creds, '.dockerconfigjson'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('robot:s3cret').toString('base64') } } }));
    const dir = tmp();
    await fetchModel(`oci://${registry.host}/private/iris:v1`, dir, { credentialsDir: creds });
    expect(tree(dir)).toEqual(['README.md', 'iris/', 'iris/model.onnx']);
    const token = registry.requests.filter((r) => r.startsWith('registry GET /token'));
    expect(token).toEqual([expect.stringMatching(/scope=repository%3Aprivate%2Firis%3Apull.* auth=Basic /)]);
    const blobs = registry.requests.filter((r) => r.startsWith('registry GET /v2/private/iris/blobs/'));
    expect(blobs.length).toBe(3);
    for (const r of blobs) expect(r).toMatch(/auth=Bearer fake-registry-token$/);
    const store = registry.requests.filter((r) => r.startsWith('store '));
    expect(store.length).toBe(3);
    for (const r of store) expect(r).toMatch(/auth=-$/);
  });

  test('fails: a private registry without a login says where the login goes', async () => {
    registry = await startFakeOciRegistry({ images: { 'private/iris:v1': MODELCAR }, auth: true, login: { username: 'robot', password: 's3cret' } });
    const err = await fetchModel(`oci://${registry.host}/private/iris:v1`, tmp(), { ...quick, credentialsDir: tmp() }).catch((e) => e);
    expect(err).toMatchObject({ code: 'AUTH', status: 401 });
    expect(err.message).toMatch(/add a login for this registry \(\.dockerconfigjson in STORAGE_CREDENTIALS_DIR\)/);
  });

  test('fails: an unknown tag is NOT_FOUND; an image without /models says what the modelcar layout is', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': MODELCAR, 'models/app:v1': { layers: [{ 'app/server.py': Buffer.from('print()') }] } } });
    await expect(fetchModel(`oci://${registry.host}/models/iris:v9`, tmp(), quick)).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    const err = await fetchModel(`oci://${registry.host}/models/app:v1`, tmp(), quick).catch((e) => e);
    expect(err).toMatchObject({ code: 'NOT_FOUND' });
    expect(err.message).toMatch(/the image has no \/models directory/);
  });

  test('the storage-initializer subcommand pulls an image as a real process', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': MODELCAR } });
    const dir = tmp();
    const r = await runCli(['storage-initializer', `oci://${registry.host}/models/iris:v1`, dir]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ files: ['README.md', 'iris/model.onnx'] });
  });
});

describe('oci:// attacks (fake OCI registry on loopback)', () => {
  test('fails: a blob whose bytes do not hash to its digest is CHECKSUM, and nothing is kept', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': MODELCAR }, corruptBlobs: 'all' });
    const dir = tmp();
    const err = await fetchModel(`oci://${registry.host}/models/iris:v1`, dir, quick).catch((e) => e);
    expect(err).toMatchObject({ code: 'CHECKSUM' });
    expect(err.message).toMatch(/but the layer digest says/);
    expect(tree(dir)).toEqual([]);
  });

  test('fails: a blob longer than its descriptor stops at the size', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': MODELCAR }, oversizeBlobs: true });
    const err = await fetchModel(`oci://${registry.host}/models/iris:v1`, tmp(), quick).catch((e) => e);
    expect(err).toMatchObject({ code: 'TOO_LARGE' });
    expect(err.message).toMatch(/the body is longer than the \d+ bytes announced/);
  });

  test('fails: a stalled blob times out on the idle timer', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': MODELCAR }, stallBlobs: true });
    const err = await fetchModel(`oci://${registry.host}/models/iris:v1`, tmp(), quick).catch((e) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT' });
    expect(err.message).toMatch(/no data for 300 ms/);
  });

  test('fails: layers that pass the write cap are refused before the first blob', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': MODELCAR } });
    const err = await fetchModel(`oci://${registry.host}/models/iris:v1`, tmp(), { ...quick, settings: { ...quick.settings, maxBytes: 100 } }).catch((e) => e);
    expect(err).toMatchObject({ code: 'TOO_LARGE' });
    expect(err.message).toMatch(/\(3 layers, .* listed\).*--storage-max-bytes/);
    expect(registry.requests.filter((r) => r.includes('/blobs/'))).toEqual([]);
  });

  test('fails: a manifest over 4 MiB is refused', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': MODELCAR }, hugeManifests: true });
    const err = await fetchModel(`oci://${registry.host}/models/iris:v1`, tmp(), quick).catch((e) => e);
    expect(err).toMatchObject({ code: 'TOO_LARGE' });
    expect(err.message).toMatch(/manifests are at most 4194304 bytes/);
  });

  test('fails: a pinned digest is asked for by digest, and a manifest that does not hash to it is refused', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': MODELCAR }, lieOnDigest: 'v1' });
    const pinned = `sha256:${'0'.repeat(64)}`;
    const dir = tmp();
    const err = await fetchModel(`oci://${registry.host}/models/iris:v1@${pinned}`, dir, quick).catch((e) => e);
    expect(err).toMatchObject({ code: 'CHECKSUM' });
    expect(err.message).toMatch(new RegExp(`the manifest hashes to sha256:[0-9a-f]{64}, not ${pinned}`));
    expect(registry.requests[0]).toContain(`/manifests/${pinned}`);
    expect(registry.requests.filter((r) => r.includes('/blobs/'))).toEqual([]);
    expect(tree(dir)).toEqual([]);
  });

  test('fails: a zstd layer is refused by media type, before any blob is fetched', async () => {
    registry = await startFakeOciRegistry({ images: { 'models/iris:v1': { ...MODELCAR, layerMediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' } } });
    const err = await fetchModel(`oci://${registry.host}/models/iris:v1`, tmp(), quick).catch((e) => e);
    expect(err).toMatchObject({ code: 'UNSUPPORTED' });
    expect(err.message).toMatch(/is application\/vnd.oci.image.layer.v1.tar\+zstd; supported layers:/);
  });

  test.each([
    ['an entry that climbs out with ..', [{ name: 'models/../../escape.txt', body: Buffer.from('x') }], /^UNPACK .*path contains '\.\.'/],
    ['a whiteout named .wh...', [{ name: 'models/ok.txt', body: Buffer.from('x') }, { name: 'models/.wh...', body: Buffer.alloc(0) }], /refusing the whiteout '\.wh\.\.\.'/],
  ])('fails: %s', async (_what, entries, message) => {
    registry = await startFakeOciRegistry({ images: { 'models/evil:v1': { layers: [gzipSync(rawTar(entries))] } } });
    const parent = tmp();
    const dir = path.join(parent, 'models');
    const err = await fetchModel(`oci://${registry.host}/models/evil:v1`, dir, quick).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(`${err.code} ${err.message}`).toMatch(message);
    expect(tree(parent)).toEqual(['models/']);
    expect(existsSync(path.join(parent, 'escape.txt'))).toBe(false);
  });

  test('links in a layer are skipped, never followed', async () => {
    registry = await startFakeOciRegistry({
      images: { 'models/links:v1': { layers: [gzipSync(rawTar([{ name: 'models/model.onnx', body: IRIS }, { name: 'models/passwd', type: '2', link: '/etc/passwd' }]))] } },
    });
    const dir = tmp();
    await fetchModel(`oci://${registry.host}/models/links:v1`, dir, quick);
    expect(tree(dir)).toEqual(['model.onnx']);
  });
});
