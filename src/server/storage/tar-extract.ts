/**
 * The one budgeted tar extraction behind both archive unpacking (`unpack.ts`) and OCI image layers
 * (`oci-layers.ts`): every entry's size (from its header) is claimed from the fetch's write budget
 * before any of it is written, so a tar bomb stops at `--storage-max-bytes`; links and device files
 * are skipped; absolute and `..` paths are refused by the tar package (no `preservePaths`); a warning
 * of the tar package fails the extraction.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { StorageError } from './errors';
import { WriteBudget } from './limits';

/** Entry types written: files and directories (no links, devices or FIFOs). */
const KEPT_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);

export interface TarExtractOptions {
  /** What is being unpacked, for messages (`unpacking model.tar`). */
  readonly what: string;
  readonly budget: WriteBudget;
  /** Whether the tar is gzip-compressed. @default - detected by the tar package */
  readonly gzip?: boolean;
  /** Which entries (by path in the tar) to unpack; the rest are skipped without a budget claim. @default - all */
  readonly accept?: (entryPath: string) => boolean;
}

/**
 * Extracts `file` into `dir`. Throws the budget's StorageError when an entry does not fit; any other
 * failure (a corrupt archive, a tar warning) as a plain Error, which the caller words for its source.
 */
export async function extractTar(file: string, dir: string, o: TarExtractOptions): Promise<void> {
  let refused: StorageError | undefined;
  const warnings: string[] = [];
  const unpacker: tar.Unpack = new tar.Unpack({
    cwd: dir,
    gzip: o.gzip ? true : undefined,
    strict: true,
    preservePaths: false,
    preserveOwner: false,
    filter: (p, entry) => {
      const e = entry as tar.ReadEntry;
      if (o.accept && !o.accept(p)) return false;
      if (e.type !== undefined && !KEPT_TYPES.has(e.type)) return false;
      if (refused) return false;
      try {
        o.budget.take(e.size ?? 0, `${o.what}: entry ${p}`);
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
