// Bundles the `cdk8s-model-serving` tool (src/controller/cli.ts: the controller, later `kserve`) into
// assets/tool/cli.js for the bin and the container image (`node /app/assets/tool/cli.js controller`).
// Used by the `bundle:tool` task (before compile) and by jest's global setup, so the tests always
// spawn the code in src/. @kubernetes/client-node is ESM-only: esbuild turns it into CommonJS here.
const path = require('path');
const fs = require('fs');
const esbuild = require('esbuild');
const { stampVersion } = require('./stamp-version');

const root = path.join(__dirname, '..');
const outdir = path.join(root, 'assets', 'tool');

function bundleTool() {
  stampVersion(); // the controller's default image tag (src/contract.ts) is the package version
  const outfile = path.join(outdir, 'cli.js');
  esbuild.buildSync({
    entryPoints: [path.join(root, 'src', 'controller', 'cli.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    // The image runs Node 24; the test suite spawns it on the machine's Node 20 (client-node 1.4 runs there).
    target: 'node20',
    format: 'cjs',
    banner: { js: '#!/usr/bin/env node' },
    // Optional native speed-ups of `ws` (client-node's exec/attach): absent is fine, it falls back to JS.
    external: ['bufferutil', 'utf-8-validate'],
    sourcemap: 'linked',
    minify: process.env.BUNDLE_MINIFY !== '0',
    // The constructs' file lookups (cdk8s reads no files when an App has no outdir) stay as they are.
    logLevel: 'warning',
  });
  fs.chmodSync(outfile, 0o755);
  return outfile;
}

module.exports = { bundleTool, outdir };

if (require.main === module) {
  console.log(`bundled ${path.relative(root, bundleTool())}`);
}
