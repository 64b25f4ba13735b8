// Bundles the model server (and its CLI) into assets/server/ for the `cdk8s-model-server` bin
// and the container image. Used by the `bundle:server` task and by jest's global setup, so the
// tests always run the code in src/.
const path = require('path');
const fs = require('fs');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const outdir = path.join(root, 'assets', 'server');
const pkg = require(path.join(root, 'package.json'));
const ORT_VERSION = (pkg.devDependencies || {})['onnxruntime-node'] || (pkg.dependencies || {})['onnxruntime-node'];

// ---- storage clients (issue 11 §4): the AWS SDK and google-auth-library are bundled into chunks of
// their own beside cli.js, which src/server/storage/index.ts require()s only for s3:// and gs://, so
// `serve` without those schemes never reads them. buildSync takes no plugins: the chunks' files are
// loaded by path (STORAGE_CHUNKS below drops the in-source require() branch from cli.js).
const STORAGE_CHUNKS = { 's3': 'storage-s3.js', 'gcs': 'storage-gcs.js' };
function bundleStorageChunks() {
  for (const [name, file] of Object.entries(STORAGE_CHUNKS)) {
    esbuild.buildSync({
      entryPoints: [path.join(root, 'src', 'server', 'storage', `${name}.ts`)],
      outfile: path.join(outdir, file),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      sourcemap: 'linked',
      minify: process.env.BUNDLE_MINIFY !== '0',
      logLevel: 'warning',
    });
  }
}
// ---- end storage clients ----

function bundleServer() {
  bundleStorageChunks();
  esbuild.buildSync({
    entryPoints: [path.join(root, 'src', 'server', 'cli.ts')],
    outfile: path.join(outdir, 'cli.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    // A linked map keeps the bundle small, so the server parses it faster at start-up.
    sourcemap: 'linked',
    // Native addon: shipped as a package next to the bundle, never inlined.
    external: ['onnxruntime-node'],
    // storage clients: src/server/storage/index.ts loads storage-<name>.js beside cli.js.
    define: { STORAGE_CHUNKS: 'true' },
    // onnxruntime-node (a native addon) is not bundled: the image ships it, and an npm user
    // installs it beside the package; say so instead of failing with MODULE_NOT_FOUND.
    banner: { js: `#!/usr/bin/env node\ntry { require.resolve('onnxruntime-node'); } catch { process.stderr.write('cdk8s-model-server: onnxruntime-node is not installed; run npm install onnxruntime-node@${ORT_VERSION} (the container image ships it)\\n'); process.exit(2); }` },
    // Smaller code parses faster: start-to-ready is a target (the map keeps stack traces readable).
    minify: process.env.BUNDLE_MINIFY !== '0',
    logLevel: 'warning',
  });
  // The gRPC service definition is read at run time.
  fs.copyFileSync(path.join(root, 'src', 'server', 'protocol', 'grpc_predict_v2.proto'), path.join(outdir, 'grpc_predict_v2.proto'));
  fs.chmodSync(path.join(outdir, 'cli.js'), 0o755);
  return path.join(outdir, 'cli.js');
}

module.exports = { bundleServer, outdir };

if (require.main === module) {
  console.log(`bundled ${path.relative(root, bundleServer())}`);
}
