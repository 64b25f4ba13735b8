// The one budgeted tar extraction shared by archive unpacking and OCI image layers (src/server/storage/tar-extract.ts).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar';
import { isStorageError } from '../../../src/server/storage/errors';
import { WriteBudget } from '../../../src/server/storage/limits';
import { extractTar } from '../../../src/server/storage/tar-extract';

let work: string;
let archive: string;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'tar-extract-'));
  const src = path.join(work, 'src');
  mkdirSync(path.join(src, 'models'), { recursive: true });
  mkdirSync(path.join(src, 'other'));
  writeFileSync(path.join(src, 'models', 'model.onnx'), Buffer.alloc(100, 1));
  writeFileSync(path.join(src, 'other', 'big.bin'), Buffer.alloc(5000, 2));
  symlinkSync('/etc/passwd', path.join(src, 'models', 'link'));
  archive = path.join(work, 'layer.tar.gz');
  await tar.c({ gzip: true, file: archive, cwd: src, portable: true }, ['models', 'other']);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const out = () => mkdtempSync(path.join(work, 'out-'));

test('unpacks files and directories, skips links, and charges every byte written to the budget', async () => {
  const dir = out();
  const budget = new WriteBudget(10_000);
  await extractTar(archive, dir, { what: 'unpacking layer.tar.gz', budget, gzip: true });
  expect(readFileSync(path.join(dir, 'models', 'model.onnx'))).toEqual(Buffer.alloc(100, 1));
  expect(readFileSync(path.join(dir, 'other', 'big.bin')).length).toBe(5000);
  expect(existsSync(path.join(dir, 'models', 'link'))).toBe(false);
  expect(budget.written).toBe(5100);
});

test('entries the caller does not accept are neither written nor charged', async () => {
  const dir = out();
  const budget = new WriteBudget(1000);
  const seen: string[] = [];
  await extractTar(archive, dir, {
    what: 'layer', budget, accept: (p) => { seen.push(p); return p.startsWith('models'); },
  });
  expect(existsSync(path.join(dir, 'models', 'model.onnx'))).toBe(true);
  expect(existsSync(path.join(dir, 'other'))).toBe(false);
  expect(budget.written).toBe(100);
  expect(seen).toEqual(expect.arrayContaining(['other/big.bin', 'models/model.onnx']));
});

test('an entry past the budget is refused before it is written, with the budget\'s error naming the entry', async () => {
  const dir = out();
  const err = await extractTar(archive, dir, { what: 'unpacking layer.tar.gz', budget: new WriteBudget(1000) }).catch((e) => e);
  expect(isStorageError(err)).toBe(true);
  expect(err.code).toBe('TOO_LARGE');
  expect(err.message).toContain('unpacking layer.tar.gz: entry other/big.bin: writing it would pass the storage cap');
  expect(existsSync(path.join(dir, 'other', 'big.bin'))).toBe(false);
});

test('a corrupt archive fails with a plain error for the caller to word', async () => {
  const bad = path.join(work, 'bad.tar.gz');
  writeFileSync(bad, readFileSync(archive).subarray(0, 40));
  const err = await extractTar(bad, out(), { what: 'bad', budget: new WriteBudget(10_000), gzip: true }).catch((e) => e);
  expect(err).toBeInstanceOf(Error);
  expect(isStorageError(err)).toBe(false);
});
