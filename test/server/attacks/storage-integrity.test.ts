// Attack: a store (or anything between it and us) that sends corrupt or short bytes must not get
// them loaded as a model. Checksums the store offers are verified (x-amz-checksum-*, x-goog-hash),
// and a body shorter than its Content-Length is an error, retried, never kept.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { Crc32c } from '@aws-crypto/crc32c';
import { LoopbackServer, startServer, tempDir, tree } from './storage-helpers';
import { fetchModel } from '../../../src/server/storage';

const MODEL = Buffer.from('model bytes '.repeat(1000));
const b64 = (alg: string) => createHash(alg).update(MODEL).digest('base64');
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b.toString('base64');
};
const CRC32 = u32(crc32(MODEL));
const CRC32C = u32(new Crc32c().update(MODEL).digest());
const WRONG = u32(12345);

const HEADERS: Record<string, Record<string, string>> = {
  '/amz-sha256-ok/model.onnx': { 'x-amz-checksum-sha256': b64('sha256') },
  '/amz-sha256-bad/model.onnx': { 'x-amz-checksum-sha256': createHash('sha256').update('other').digest('base64') },
  '/amz-crc32-ok/model.onnx': { 'x-amz-checksum-crc32': CRC32 },
  '/amz-crc32c-bad/model.onnx': { 'x-amz-checksum-crc32c': WRONG },
  '/amz-sha1-ok/model.onnx': { 'x-amz-checksum-sha1': b64('sha1') },
  '/amz-composite/model.onnx': { 'x-amz-checksum-crc32': WRONG, 'x-amz-checksum-type': 'COMPOSITE' },
  '/goog-ok/model.onnx': { 'x-goog-hash': `crc32c=${CRC32C},md5=${b64('md5')}` },
  '/goog-md5-bad/model.onnx': { 'x-goog-hash': `crc32c=${CRC32C},md5=${createHash('md5').update('x').digest('base64')}` },
};

let server: LoopbackServer;
const s3Authorization: Array<string | undefined> = [];

beforeAll(async () => {
  server = await startServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/short/model.onnx') {
      res.writeHead(200, { 'content-length': MODEL.length });
      res.write(MODEL.subarray(0, 500));
      setTimeout(() => res.destroy(), 10);
      return;
    }
    if (url.startsWith('/fake-s3/')) {
      s3Authorization.push(req.headers.authorization);
      return fakeS3(url, res);
    }
    res.writeHead(200, { 'content-length': MODEL.length, ...HEADERS[url] });
    res.end(MODEL);
  });
});

afterAll(() => server.close());

/** A fake S3 (on loopback): lists one object, and serves it with a wrong x-amz-checksum-crc32. */
function fakeS3(url: string, res: import('node:http').ServerResponse): void {
  if (url.includes('list-type=2')) {
    res.writeHead(200, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0"?><ListBucketResult><Name>fake-s3</Name><IsTruncated>false</IsTruncated>
      <Contents><Key>model.onnx</Key><Size>${MODEL.length}</Size></Contents></ListBucketResult>`);
    return;
  }
  res.writeHead(200, { 'content-length': MODEL.length, 'x-amz-checksum-crc32': WRONG });
  res.end(MODEL);
}

const opts = { settings: { maxAttempts: 2 }, retryBaseMs: 1 };

test.each([
  ['amz-sha256-ok'], ['amz-crc32-ok'], ['amz-sha1-ok'], ['goog-ok'], ['amz-composite'],
])('%s: matching (or not recomputable) checksums are accepted', async (name) => {
  const dir = tempDir(name);
  await fetchModel(`${server.base}/${name}/model.onnx`, dir, opts);
  expect(readFileSync(path.join(dir, 'model.onnx')).equals(MODEL)).toBe(true);
});

test.each([
  ['amz-sha256-bad', /sha256 of the bytes received is .* but x-amz-checksum-sha256 says/],
  ['amz-crc32c-bad', /crc32c of the bytes received is .* but x-amz-checksum-crc32c says AAAwOQ==/],
  ['goog-md5-bad', /md5 of the bytes received is .* but x-goog-hash says/],
])('%s: a mismatch is CHECKSUM, retried, and nothing is kept', async (name, message) => {
  const dir = tempDir(name);
  const err = await fetchModel(`${server.base}/${name}/model.onnx`, dir, opts).catch((e) => e);
  expect(err).toMatchObject({ name: 'StorageError', code: 'CHECKSUM' });
  expect(err.message).toMatch(message);
  expect(err.message).toContain('the download is corrupt');
  expect(server.hits[`/${name}/model.onnx`]).toBe(2);
  expect(tree(dir)).toEqual([]);
});

test('a body shorter than its Content-Length is TRUNCATED, retried, and never kept', async () => {
  const dir = tempDir('short');
  const err = await fetchModel(`${server.base}/short/model.onnx`, dir, opts).catch((e) => e);
  expect(err).toMatchObject({ code: 'TRUNCATED' });
  expect(err.message).toMatch(/the body ended after 500 of 12000 bytes \(Content-Length\)/);
  expect(server.hits['/short/model.onnx']).toBe(2);
  expect(tree(dir)).toEqual([]);
});

test('s3://: the SDK verifies x-amz-checksum-crc32 and a mismatch is CHECKSUM (fake S3 on loopback)', async () => {
  const dir = tempDir('s3-checksum');
  const err = await fetchModel('s3://fake-s3/model.onnx', dir, {
    ...opts, settings: { ...opts.settings, auth: 'anonymous' }, env: { AWS_ENDPOINT_URL: server.base },
  }).catch((e) => e);
  expect(err).toMatchObject({ code: 'CHECKSUM' });
  expect(err.message).toMatch(/^s3:\/\/fake-s3\/model\.onnx: .*checksum mismatch/i);
  // --storage-auth anonymous: the list and both GETs went unsigned.
  expect(s3Authorization).toEqual([undefined, undefined, undefined]);
  expect(tree(dir)).toEqual([]);
});
