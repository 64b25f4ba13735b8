// Bundles the model server (and its CLI) into assets/server/ for the `cdk8s-model-server` bin
// and the container image. Used by the `bundle:server` task and by jest's global setup, so the
// tests always run the code in src/.
const path = require('path');
const fs = require('fs');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const outdir = path.join(root, 'assets', 'server');
const pkg = require(path.join(root, 'package.json'));
const { stampVersion } = require('./stamp-version');
const ORT_VERSION = (pkg.devDependencies || {})['onnxruntime-node'] || (pkg.dependencies || {})['onnxruntime-node'];

// ---- Node 24 LTS target and the launcher (issue 11 section 7) ----
// The image runs Node 24 LTS (Dockerfile). The bin also works on the Node 20 floor of `engines`:
// CI runs every server suite on Node 20 and again on Node 24 (`test:server:node24`), so syntax
// that Node 20 cannot parse would fail there.
const TARGET = 'node24';
/** onnxruntime-node's version for `--version` (replaced at bundle time); the package version is src/package-version.ts. */
const DEFINE = { MODEL_SERVER_ORT_VERSION: JSON.stringify(ORT_VERSION) };

// ---- storage clients (issue 11 §4): the AWS SDK and google-auth-library are bundled into chunks
// of their own beside server.js, which src/server/storage/fetch-objects.ts require()s only for
// s3:// and gs://, so `serve` without those schemes never reads them. buildSync takes no plugins:
// the chunks are loaded by path (the STORAGE_CHUNKS define drops the in-source require() branch).
const STORAGE_CHUNKS = { 's3': 'storage-s3.js', 'gcs': 'storage-gcs.js' };
function bundleStorageChunks() {
  for (const [name, file] of Object.entries(STORAGE_CHUNKS)) {
    esbuild.buildSync({
      entryPoints: [path.join(root, 'src', 'server', 'storage', `${name}.ts`)],
      outfile: path.join(outdir, file),
      bundle: true,
      platform: 'node',
      target: TARGET,
      format: 'cjs',
      sourcemap: 'linked',
      minify: process.env.BUNDLE_MINIFY !== '0',
      logLevel: 'warning',
    });
  }
}
// ---- end storage clients ----

function bundleServer() {
  stampVersion(); // src/package-version.ts from package.json, before esbuild reads it
  bundleStorageChunks(); // storage clients
  // cli.js: the launcher (bin and image entry point): turns on Node's compile cache, then loads
  // server.js, so that the big bundle is compiled with the cache on (src/server/launcher.ts).
  esbuild.buildSync({
    entryPoints: [path.join(root, 'src', 'server', 'launcher.ts')],
    outfile: path.join(outdir, 'cli.js'),
    bundle: true,
    platform: 'node',
    target: TARGET,
    external: ['./server.js'],
    banner: { js: '#!/usr/bin/env node' },
    minify: process.env.BUNDLE_MINIFY !== '0',
    logLevel: 'warning',
  });
  // server.js: the CLI and the server (src/server/cli.ts).
  esbuild.buildSync({
    entryPoints: [path.join(root, 'src', 'server', 'cli.ts')],
    outfile: path.join(outdir, 'server.js'),
    bundle: true,
    platform: 'node',
    target: TARGET,
    // storage clients: src/server/storage/fetch-objects.ts loads storage-<name>.js beside server.js.
    define: { ...DEFINE, STORAGE_CHUNKS: 'true' },
    // A linked map keeps the bundle small, so the server parses it faster at start-up.
    sourcemap: 'linked',
    // Native addon: shipped as a package next to the bundle (the image), or installed beside the
    // package by npm users; never inlined. The CLI says how to install it when it is missing.
    external: ['onnxruntime-node'],
    // Smaller code parses faster: start-to-ready is a target (the map keeps stack traces readable).
    minify: process.env.BUNDLE_MINIFY !== '0',
    logLevel: 'warning',
  });
  fs.rmSync(path.join(outdir, 'cli.js.map'), { force: true }); // from before the launcher
  // ---- end of Node 24 target and launcher ----
  // The gRPC service definition is read at run time.
  fs.copyFileSync(path.join(root, 'src', 'server', 'protocol', 'grpc_predict_v2.proto'), path.join(outdir, 'grpc_predict_v2.proto'));
  fs.chmodSync(path.join(outdir, 'cli.js'), 0o755);
  return path.join(outdir, 'cli.js');
}

module.exports = { bundleServer, outdir };

if (require.main === module) {
  console.log(`bundled ${path.relative(root, bundleServer())}`);
}
