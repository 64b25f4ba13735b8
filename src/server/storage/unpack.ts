/**
 * Unpacks downloaded archives: `.tar`, `.tar.gz`/`.tgz` into a directory, `.gz` into one file.
 * Every byte unpacked is claimed from the fetch's write budget before it is written, so a
 * compression bomb stops at `--storage-max-bytes` however well it compresses (tars through
 * `./tar-extract`, shared with OCI image layers).
 */
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { isStorageError, StorageError } from './errors';
import { WriteBudget } from './limits';
import { extractTar } from './tar-extract';

export type ArchiveKind = 'tar' | 'tar.gz' | 'gz';

/** The archive kind of a file name, or undefined for a plain file. */
export function archiveKind(name: string): ArchiveKind | undefined {
  const n = name.toLowerCase();
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tar.gz';
  if (n.endsWith('.tar')) return 'tar';
  if (n.endsWith('.gz')) return 'gz';
  return undefined;
}

async function gunzipFile(file: string, out: string, what: string, budget: WriteBudget): Promise<void> {
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        budget.take(chunk.length, what);
      } catch (err) {
        done(err as Error);
        return;
      }
      done(null, chunk);
    },
  });
  await pipeline(createReadStream(file), createGunzip(), meter, createWriteStream(out));
}

/** Unpacks `file` (named `name` at the source) into `dir` and deletes it. */
export async function unpack(file: string, name: string, dir: string, budget: WriteBudget): Promise<void> {
  const kind = archiveKind(name);
  if (!kind) return;
  const what = `unpacking ${name}`;
  try {
    if (kind === 'gz') {
      await gunzipFile(file, path.join(dir, path.basename(name).replace(/\.gz$/i, '')), what, budget);
    } else {
      await extractTar(file, dir, { what, budget, gzip: kind === 'tar.gz' });
    }
  } catch (err) {
    if (isStorageError(err)) throw err;
    throw new StorageError('UNPACK', `cannot unpack ${name} (${kind}): ${(err as Error).message}`, { cause: err });
  }
  await fs.rm(file, { force: true });
}
