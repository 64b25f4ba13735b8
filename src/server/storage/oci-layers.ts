/**
 * Image layers for oci:// fetches: each layer's `models/` entries are unpacked into a directory of
 * their own (`./tar-extract`: every byte claimed from the write cap first; links and devices skipped;
 * absolute and `..` paths refused by the tar package), then merged over the layers below with the OCI whiteout
 * rules: `.wh.<name>` deletes `<name>`, `.wh..wh..opq` empties its directory.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isStorageError, StorageError } from './errors';
import { WriteBudget } from './limits';
import { extractTar } from './tar-extract';

/** Layer media types we unpack (tar, gzip-compressed or not); zstd layers are refused by name. */
export const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
]);

const MODELS = 'models';
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** `./models/a` and `/models/a` as `models/a`. */
function normal(p: string): string {
  return p.replace(/^(?:\.?\/)+/, '');
}

/** Unpacks the `models/` entries of a layer into `dir`; returns whether the layer has any. */
export async function extractLayer(file: string, dir: string, what: string, budget: WriteBudget): Promise<boolean> {
  let found = false;
  const accept = (p: string): boolean => {
    const n = normal(p);
    const model = n === MODELS || n === `${MODELS}/` || n.startsWith(`${MODELS}/`);
    if (model) found = true;
    return model;
  };
  try {
    await extractTar(file, dir, { what, budget, accept });
  } catch (err) {
    if (isStorageError(err)) throw err;
    throw new StorageError('UNPACK', `${what}: cannot unpack the layer: ${(err as Error).message}`, { cause: err });
  }
  return found;
}

/** A whiteout's target name, refusing names that would reach outside their directory. */
function whiteoutTarget(name: string): string {
  const target = name.slice(WHITEOUT.length);
  if (target === '' || target === '.' || target === '..' || target.includes('/')) {
    throw new StorageError('UNPACK', `refusing the whiteout '${name}': it names no entry of its directory`);
  }
  return target;
}

async function merge(src: string, dst: string): Promise<void> {
  const entries = await fs.readdir(src, { withFileTypes: true });
  if (entries.some((e) => e.name === OPAQUE)) {
    for (const e of await fs.readdir(dst).catch(() => [] as string[])) await fs.rm(path.join(dst, e), { recursive: true, force: true });
  }
  for (const e of entries) {
    if (e.name === OPAQUE) continue;
    if (e.name.startsWith(WHITEOUT)) {
      await fs.rm(path.join(dst, whiteoutTarget(e.name)), { recursive: true, force: true });
      continue;
    }
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    if (e.isDirectory()) {
      const existing = await fs.lstat(d).catch(() => undefined);
      if (existing && !existing.isDirectory()) await fs.rm(d, { force: true });
      await fs.mkdir(d, { recursive: true });
      await merge(s, d);
    } else {
      await fs.rm(d, { recursive: true, force: true });
      await fs.rename(s, d);
    }
  }
}

/** Merges the `models/` of an unpacked layer over `out` (the layers below it). */
export async function mergeLayer(dir: string, out: string): Promise<void> {
  const models = path.join(dir, MODELS);
  const st = await fs.lstat(models).catch(() => undefined);
  if (!st?.isDirectory()) return;
  await merge(models, out);
}
