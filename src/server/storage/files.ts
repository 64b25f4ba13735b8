/** The files of a fetch: safe relative paths, listings, and placing a download (unpacking archives). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from './errors';
import type { Transfer } from './transfer';
import { archiveKind, unpack } from './unpack';

/** A relative path from an object key, refusing anything that would leave the directory. */
export function safeRelative(rel: string, source: string): string {
  const parts = rel.split('/').filter((p) => p !== '');
  if (parts.length === 0 || parts.some((p) => p === '.' || p === '..')) {
    throw new StorageError('INVALID_URI', `refusing to write '${source}': its path '${rel}' is empty or leaves the model directory`);
  }
  return parts.join(path.sep);
}

/** Every file under `root`, relative, sorted. */
export async function listFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...await listFiles(root, r));
    else out.push(r);
  }
  return out.sort();
}

/** Places one downloaded file (unpacking archives) under `out`. */
export async function place(file: string, name: string, out: string, t: Transfer): Promise<void> {
  if (archiveKind(name)) {
    await unpack(file, name, out, t.budget);
  } else {
    await fs.rename(file, path.join(out, path.basename(name)));
  }
}
