/** Unpacks downloaded archives: `.tar`, `.tar.gz`/`.tgz` into a directory, `.gz` into one file. */
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { StorageError } from './errors';

export type ArchiveKind = 'tar' | 'tar.gz' | 'gz';

/** The archive kind of a file name, or undefined for a plain file. */
export function archiveKind(name: string): ArchiveKind | undefined {
  const n = name.toLowerCase();
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) return 'tar.gz';
  if (n.endsWith('.tar')) return 'tar';
  if (n.endsWith('.gz')) return 'gz';
  return undefined;
}

/**
 * Unpacks `file` (named `name` at the source) into `dir` and deletes it. Tar entries that are
 * absolute or climb out with `..` are refused by the tar package (no `preservePaths`); links
 * and device files are skipped.
 */
export async function unpack(file: string, name: string, dir: string): Promise<void> {
  const kind = archiveKind(name);
  if (!kind) return;
  try {
    if (kind === 'gz') {
      const out = path.join(dir, path.basename(name).replace(/\.gz$/i, ''));
      await pipeline(createReadStream(file), createGunzip(), createWriteStream(out));
    } else {
      const warnings: string[] = [];
      await tar.x({
        file,
        cwd: dir,
        gzip: kind === 'tar.gz' ? true : undefined,
        strict: true,
        preservePaths: false,
        preserveOwner: false,
        noChmod: false,
        filter: (_p, entry) => {
          const type = (entry as { type?: string }).type;
          return type === undefined || type === 'File' || type === 'OldFile' || type === 'Directory' || type === 'ContiguousFile';
        },
        onwarn: (_code, message) => { warnings.push(String(message)); },
      });
      if (warnings.length > 0) throw new Error(warnings.join('; '));
    }
  } catch (err) {
    throw new StorageError('UNPACK', `cannot unpack ${name} (${kind}): ${(err as Error).message}`, { cause: err });
  }
  await fs.rm(file, { force: true });
}
