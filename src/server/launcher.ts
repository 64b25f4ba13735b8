/**
 * Entry point of the `cdk8s-model-server` bin and the image (`assets/server/cli.js`): a few
 * lines that turn on Node's module compile cache, then load the server bundle
 * (`assets/server/server.js`, built from `./cli.ts`). The cache must be on before the bundle is
 * compiled, hence a file of its own. It holds V8's compiled code for the bundle, so later starts
 * skip most of parsing and compiling it (see the cold-start table in the README).
 *
 * Cache directory:
 * - `NODE_COMPILE_CACHE` when set (Node's own variable; `NODE_DISABLE_COMPILE_CACHE=1` turns
 *   the cache off);
 * - else `compile-cache/` next to the bundle when it exists: the image primes it at build time as
 *   uid 1000 (Node keeps one folder per uid), so a pod's first start reads it from the read-only
 *   image; entries it cannot write are skipped;
 * - else, or when that folder cannot be used (another uid on a read-only filesystem),
 *   `$TMPDIR/cdk8s-model-server-compile-cache` (the pods set `TMPDIR` to the writable
 *   `/tmp/scratch`), filled by the first start.
 * On Node < 22.1 (no compile cache) the bundle loads as before.
 */
import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { markStartup } from './startup-marks';

markStartup('launch');

type EnableCompileCache = (dir: string) => { status: number };
const enable = (nodeModule as { enableCompileCache?: EnableCompileCache }).enableCompileCache;
const FAILED = 0; // module.constants.compileCacheStatus.FAILED
if (enable && !process.env.NODE_COMPILE_CACHE && !process.env.NODE_DISABLE_COMPILE_CACHE) {
  const shipped = path.join(__dirname, 'compile-cache');
  if (!existsSync(shipped) || enable(shipped).status === FAILED) {
    enable(path.join(tmpdir(), 'cdk8s-model-server-compile-cache'));
  }
}

// The bundle beside this file at run time (not a source module): a computed path, so neither
// esbuild nor the layout test's import graph takes it for a source import.
// eslint-disable-next-line @typescript-eslint/no-require-imports
(require(path.join(__dirname, 'server.js')) as typeof import('./cli')).runFromProcess();
