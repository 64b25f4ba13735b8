// Attack: tar archives that unpack far past the model volume. Before the fix only the tar
// library's decompression-ratio check stood in the way (and a plain .tar has none). Now each
// entry's size, read from its header, is claimed from --storage-max-bytes before it is written.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tar from 'tar';
import { LoopbackServer, runCli, startServer, tempDir, tree } from './storage-helpers';
import { fetchModel } from '../../../src/server/storage';

const MiB = 1024 * 1024;
const archives: Record<string, Buffer> = {};
let server: LoopbackServer;

beforeAll(async () => {
  const work = tempDir('tar-src');
  // One 32 MiB entry of zeros: a .tgz of a few tens of KiB.
  mkdirSync(path.join(work, 'one'));
  writeFileSync(path.join(work, 'one', 'model.onnx'), Buffer.alloc(32 * MiB));
  await tar.c({ gzip: { level: 9 }, file: path.join(work, 'one.tgz'), cwd: path.join(work, 'one'), portable: true }, ['model.onnx']);
  // Eight 1 MiB entries in a plain .tar: no compression ratio to check, only the total.
  mkdirSync(path.join(work, 'many'));
  for (let i = 0; i < 8; i++) writeFileSync(path.join(work, 'many', `part-${i}.bin`), Buffer.alloc(MiB, i));
  await tar.c({ file: path.join(work, 'many.tar'), cwd: path.join(work, 'many'), portable: true }, [...Array(8).keys()].map((i) => `part-${i}.bin`));
  archives['/bomb.tgz'] = readFileSync(path.join(work, 'one.tgz'));
  archives['/many.tar'] = readFileSync(path.join(work, 'many.tar'));
  server = await startServer((req, res) => {
    const body = archives[req.url ?? ''];
    if (!body) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
});

afterAll(() => server.close());

test('a .tgz whose one entry passes the cap fails at that entry, before writing it (CLI)', async () => {
  expect(archives['/bomb.tgz'].length).toBeLessThan(MiB);
  const dir = tempDir('tgz');
  const r = await runCli(['storage-initializer', `${server.base}/bomb.tgz`, dir, '--storage-max-bytes=4Mi']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/error \[TOO_LARGE\]: unpacking bomb\.tgz: entry model\.onnx: writing it would pass the storage cap of 4194304 bytes \(4\.0 MiB\)/);
  expect(r.stderr).toContain('--storage-max-bytes (STORAGE_MAX_BYTES)');
  expect(tree(dir)).toEqual([]);
});

test('a plain .tar of many entries fails when their total (plus the archive) passes the cap', async () => {
  const dir = tempDir('tar-many');
  const cap = 12 * MiB;
  const err = await fetchModel(`${server.base}/many.tar`, dir, { settings: { maxBytes: cap } }).catch((e) => e);
  expect(err).toMatchObject({ name: 'StorageError', code: 'TOO_LARGE' });
  // The archive (a little over 8 MiB) fits; its fourth 1 MiB entry would pass 12 MiB.
  expect(err.message).toMatch(/unpacking many\.tar: entry part-3\.bin: writing it would pass the storage cap of 12582912 bytes/);
  expect(tree(dir)).toEqual([]);
});

test('the same .tar unpacks under a cap that holds the archive and its contents', async () => {
  const dir = tempDir('tar-ok');
  const result = await fetchModel(`${server.base}/many.tar`, dir, { settings: { maxBytes: 20 * MiB } });
  expect(result.files).toEqual([...Array(8).keys()].map((i) => `part-${i}.bin`));
  expect(result.bytesWritten).toBe(archives['/many.tar'].length + 8 * MiB);
  expect(readFileSync(path.join(dir, 'part-7.bin')).equals(Buffer.alloc(MiB, 7))).toBe(true);
});

test('an archive larger than the cap fails while downloading', async () => {
  const dir = tempDir('tar-download');
  const err = await fetchModel(`${server.base}/many.tar`, dir, { settings: { maxBytes: 2 * MiB } }).catch((e) => e);
  expect(err).toMatchObject({ code: 'TOO_LARGE' });
  expect(err.message).toMatch(/^GET http:\/\/127\.0\.0\.1:\d+\/many\.tar: writing it would pass the storage cap of 2097152 bytes/);
  expect(tree(dir)).toEqual([]);
});
