/**
 * Unpacks downloaded archives: `.tar`, `.tar.gz`/`.tgz` into a directory, `.gz` into one file.
 * Every byte unpacked is claimed from the fetch's write budget before it is written, so a
 * compression bomb stops at `--storage-max-bytes` however well it compresses.
 */
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { isStorageError, StorageError } from './errors';
import { WriteBudget } from './limits';

export type ArchiveKind = 'tar' | 'tar.gz' | 'gz';

/** The archive kind of a file name, or undefined for a plain file. */
export function archiveKind(name: string): ArchiveKind | undefined {
  const n = name.toLowerCase();
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tar.gz';
  if (n.endsWith('.tar')) return 'tar';
  if (n.endsWith('.gz')) return 'gz';
  return undefined;
}

const KEPT_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

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

/**
 * Extracts a tar. Each entry's size is in its header, so the budget refuses an entry before any
 * of it is written. Entries that are absolute or climb out with `..` are refused by the tar
 * package (no `preservePaths`); links and device files are skipped.
 */
async function untar(file: string, dir: string, gzip: boolean, what: string, budget: WriteBudget): Promise<void> {
  let refused: StorageError | undefined;
  const warnings: string[] = [];
  const unpacker: tar.Unpack = new tar.Unpack({
    cwd: dir,
    gzip: gzip ? true : undefined,
    strict: true,
    preservePaths: false,
    preserveOwner: false,
    filter: (_p, entry) => {
      const e = entry as tar.ReadEntry;
      if (e.type !== undefined && !KEPT_TYPES.has(e.type)) return false;
      if (refused) return false;
      try {
        budget.take(e.size ?? 0, `${what}: entry ${e.path}`);
      } catch (err) {
        refused = err as StorageError;
        unpacker.abort(refused);
        return false;
      }
      return true;
    },
    onwarn: (_code, message) => { warnings.push(String(message)); },
  });
  try {
    await pipeline(createReadStream(file), unpacker);
  } catch (err) {
    throw refused ?? err;
  }
  if (refused) throw refused;
  if (warnings.length > 0) throw new Error(warnings.join('; '));
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
      await untar(file, dir, kind === 'tar.gz', what, budget);
    }
  } catch (err) {
    if (isStorageError(err)) throw err;
    throw new StorageError('UNPACK', `cannot unpack ${name} (${kind}): ${(err as Error).message}`, { cause: err });
  }
  await fs.rm(file, { force: true });
}
