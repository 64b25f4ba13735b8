/**
 * Loads a transformer module (`--transformer-module`): a CommonJS file (`.js`, `.cjs`) or an
 * ES module (`.mjs`, or a `.js` that Node loads as ESM), exporting `preprocess` and/or
 * `postprocess` as named exports or on its default export (`defineTransformer({...})`).
 */
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Transformer } from '../sdk';

/** A module that cannot be used; the message says why, for the startup log. */
export class TransformerLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransformerLoadError';
  }
}

// A real dynamic import(), kept as such by esbuild and TypeScript's CommonJS output (both would
// otherwise turn `import()` into `require()`, which cannot load ES modules).
const dynamicImport = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>;

/** Loads and checks the module at `file` (relative paths resolve against the working directory). */
export async function loadTransformerModule(file: string): Promise<Transformer> {
  const abs = path.resolve(file);
  if (!existsSync(abs) || !statSync(abs).isFile()) {
    throw new TransformerLoadError(`transformer module '${file}' not found (resolved to ${abs})`);
  }
  let mod: Record<string, unknown>;
  try {
    if (/\.mjs$/.test(abs)) {
      mod = await dynamicImport(pathToFileURL(abs).href);
    } else {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        mod = require(abs);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw err;
        mod = await dynamicImport(pathToFileURL(abs).href);
      }
    }
  } catch (err) {
    const first = (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).split('\n')[0].slice(0, 300);
    throw new TransformerLoadError(`transformer module '${file}' failed to load: ${first}`);
  }
  return pickTransformer(file, mod);
}

function pickTransformer(file: string, mod: Record<string, unknown>): Transformer {
  const candidates: unknown[] = [mod, mod?.default, (mod?.default as Record<string, unknown> | undefined)?.default];
  const found = candidates.find((c) => c !== null && typeof c === 'object' || typeof c === 'function'
    ? typeof (c as Transformer).preprocess === 'function' || typeof (c as Transformer).postprocess === 'function'
    : false) as Transformer | undefined;
  if (!found) {
    throw new TransformerLoadError(`transformer module '${file}' exports neither preprocess nor postprocess (export functions with these names, or a default export from defineTransformer({...}))`);
  }
  for (const key of ['preprocess', 'postprocess'] as const) {
    const fn = (found as Record<string, unknown>)[key];
    if (fn !== undefined && typeof fn !== 'function') {
      throw new TransformerLoadError(`transformer module '${file}' exports '${key}', but it is a ${typeof fn}, not a function`);
    }
  }
  return found;
}
