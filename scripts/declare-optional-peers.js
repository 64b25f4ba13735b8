// Declares onnxruntime-node (the native addon the `cdk8s-model-server` bin loads) as an optional peer
// dependency in the npm tarball: `npm install cdk8s-model-serving` then installs no 113 MB addon for
// users of the constructs, and the bin's users install it explicitly (`npm install onnxruntime-node`).
// It cannot be in package.json itself: jsii requires every peerDependency to be a jsii module. So the
// `package:js` task rewrites package/package.json inside dist/js/*.tgz after jsii-pacmak packed it.
//
//   node scripts/declare-optional-peers.js [tarball ...]   (default: dist/js/*.tgz)
const fs = require('fs');
const os = require('os');
const path = require('path');
const tar = require('tar');

const root = path.join(__dirname, '..');

/** `{ name: range }` for the optional peers: the versions the repo builds and tests with. */
function optionalPeers() {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const ort = (pkg.devDependencies || {})['onnxruntime-node'];
  if (!ort) throw new Error('package.json: onnxruntime-node must be in devDependencies (the bin is built and tested with it)');
  return { 'onnxruntime-node': `^${ort.replace(/^[\^~]/, '')}` };
}

/** Rewrites `tarball` in place with the optional peers declared; returns the new package.json. */
function declareOptionalPeers(tarball, peers = optionalPeers()) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'declare-peers-'));
  try {
    tar.x({ file: tarball, cwd: dir, sync: true });
    const manifestPath = path.join(dir, 'package', 'package.json');
    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
    manifest.peerDependencies = { ...manifest.peerDependencies, ...peers };
    manifest.peerDependenciesMeta = { ...manifest.peerDependenciesMeta };
    for (const name of Object.keys(peers)) manifest.peerDependenciesMeta[name] = { optional: true };
    fs.writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    tar.c({ file: tarball, cwd: dir, gzip: true, sync: true, portable: true }, ['package']);
    return manifest;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports = { declareOptionalPeers, optionalPeers };

if (require.main === module) {
  const args = process.argv.slice(2);
  const jsDir = path.join(root, 'dist', 'js');
  const tarballs = args.length > 0 ? args : (fs.existsSync(jsDir) ? fs.readdirSync(jsDir).filter((f) => f.endsWith('.tgz')).map((f) => path.join(jsDir, f)) : []);
  if (tarballs.length === 0) throw new Error('declare-optional-peers: no tarball given and none in dist/js/ (run after jsii-pacmak)');
  for (const t of tarballs) {
    declareOptionalPeers(t);
    process.stdout.write(`declared optional peers ${Object.keys(optionalPeers()).join(', ')} in ${path.relative(process.cwd(), t)}\n`);
  }
}
