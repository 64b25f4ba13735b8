// Attack: a small .gz that inflates far past the model volume. Before the fix, a 2 MB file became
// 2 GiB on disk with exit 0. Now every inflated byte is claimed from --storage-max-bytes first.
import { readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { LoopbackServer, runCli, startServer, tempDir, tree } from './storage-helpers';
import { fetchModel } from '../../../src/server/storage';

const INFLATED = 32 * 1024 * 1024;
const CAP = 4 * 1024 * 1024;
let bomb: Buffer;
let server: LoopbackServer;

beforeAll(async () => {
  bomb = gzipSync(Buffer.alloc(INFLATED), { level: 9 });
  server = await startServer((_req, res) => {
    res.writeHead(200, { 'content-length': bomb.length });
    res.end(bomb);
  });
});

afterAll(() => server.close());

test('the bomb is small and inflates 1000-fold (the premise of the attack)', () => {
  expect(bomb.length).toBeLessThan(INFLATED / 1000);
});

test('fails at the cap with TOO_LARGE naming the cap and the flag, and leaves nothing behind (CLI)', async () => {
  const dir = tempDir('gz');
  const r = await runCli(['storage-initializer', `${server.base}/model.onnx.gz`, dir, '--storage-max-bytes', String(CAP)]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/error \[TOO_LARGE\]: unpacking model\.onnx\.gz: writing it would pass the storage cap of 4194304 bytes \(4\.0 MiB\)/);
  expect(r.stderr).toContain('raise --storage-max-bytes (STORAGE_MAX_BYTES)');
  expect(tree(dir)).toEqual([]);
});

test('the cap comes from STORAGE_MAX_BYTES too (what the constructs set from the volume size limit)', async () => {
  const dir = tempDir('gz-env');
  const r = await runCli(['storage-initializer', `${server.base}/model.onnx.gz`, dir], { STORAGE_MAX_BYTES: '4Mi' });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('[TOO_LARGE]');
  expect(tree(dir)).toEqual([]);
});

test('in process: the error is TOO_LARGE and the staging directory is gone', async () => {
  const dir = tempDir('gz-inproc');
  const err = await fetchModel(`${server.base}/model.onnx.gz`, dir, { settings: { maxBytes: CAP } }).catch((e) => e);
  expect(err).toMatchObject({ name: 'StorageError', code: 'TOO_LARGE' });
  expect(tree(dir)).toEqual([]);
});

test('under a large enough cap it unpacks, and the log reports the bytes written, not the compressed size', async () => {
  const dir = tempDir('gz-ok');
  const log: string[] = [];
  const result = await fetchModel(`${server.base}/model.onnx.gz`, dir, { settings: { maxBytes: 64 * 1024 * 1024 }, log: (m) => log.push(m) });
  expect(result.bytes).toBe(bomb.length);
  expect(result.bytesWritten).toBe(bomb.length + INFLATED);
  expect(statSync(path.join(dir, 'model.onnx')).size).toBe(INFLATED);
  expect(log.join('\n')).toContain(`${bomb.length + INFLATED} bytes (32.0 MiB) written`);
  expect(readFileSync(path.join(dir, 'model.onnx')).subarray(0, 16).equals(Buffer.alloc(16))).toBe(true);
});
