// Shrinks the image's node_modules (Dockerfile, deps stage) to what `serve` loads at run time:
// onnxruntime-node's binaries for the target architecture only (it ships darwin, win32 and both
// Linux CPUs), and none of its install-only dependencies (adm-zip and global-agent download the
// CUDA providers in its postinstall, which the image skips).
//
//   node scripts/prune-runtime.js <node_modules> <TARGETARCH: amd64 | arm64>
const fs = require('fs');
const path = require('path');

/** Docker's TARGETARCH to the folder name onnxruntime-node uses (Node's process.arch). */
const ARCH_FOLDERS = { amd64: 'x64', arm64: 'arm64' };
/** What the image runs; everything else in node_modules goes unless one of these needs it. */
const RUNTIME_ROOTS = ['onnxruntime-node'];
/** onnxruntime-node's dependencies that only its install script (script/) uses. */
const INSTALL_ONLY = ['adm-zip', 'global-agent'];

function readManifest(nodeModules, name) {
  return JSON.parse(fs.readFileSync(path.join(nodeModules, name, 'package.json'), 'utf8'));
}

/** Package names reachable from RUNTIME_ROOTS, skipping INSTALL_ONLY (npm's flat layout). */
function runtimeClosure(nodeModules) {
  const keep = new Set();
  const queue = [...RUNTIME_ROOTS];
  while (queue.length > 0) {
    const name = queue.shift();
    if (keep.has(name) || INSTALL_ONLY.includes(name)) continue;
    if (!fs.existsSync(path.join(nodeModules, name, 'package.json'))) continue; // an optional dependency not installed
    keep.add(name);
    const manifest = readManifest(nodeModules, name);
    queue.push(...Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies }));
  }
  return keep;
}

/** Top-level package folders, scoped ones as `@scope/name`, plus npm's own entries (`.bin`, `.package-lock.json`). */
function topLevelEntries(nodeModules) {
  return fs.readdirSync(nodeModules).flatMap((entry) => (entry.startsWith('@')
    ? fs.readdirSync(path.join(nodeModules, entry)).map((inner) => `${entry}/${inner}`)
    : [entry]));
}

/** Prunes `nodeModules` in place for `targetArch`; returns the package names kept and removed. */
function pruneRuntime(nodeModules, targetArch) {
  const arch = ARCH_FOLDERS[targetArch];
  if (!arch) throw new Error(`TARGETARCH must be one of ${Object.keys(ARCH_FOLDERS).join(', ')}, got '${targetArch}'`);
  const keep = runtimeClosure(nodeModules);
  if (!keep.has('onnxruntime-node')) throw new Error(`${nodeModules}: onnxruntime-node is not installed there`);
  const removed = [];
  for (const entry of topLevelEntries(nodeModules)) {
    if (keep.has(entry)) continue;
    fs.rmSync(path.join(nodeModules, entry), { recursive: true, force: true });
    if (!entry.startsWith('.')) removed.push(entry);
  }
  for (const scope of fs.readdirSync(nodeModules).filter((e) => e.startsWith('@'))) {
    if (fs.readdirSync(path.join(nodeModules, scope)).length === 0) fs.rmdirSync(path.join(nodeModules, scope));
  }
  const ort = path.join(nodeModules, 'onnxruntime-node');
  // The install script is what needs adm-zip and global-agent.
  fs.rmSync(path.join(ort, 'script'), { recursive: true, force: true });
  for (const napi of fs.readdirSync(path.join(ort, 'bin')).filter((d) => d.startsWith('napi-v'))) {
    for (const platform of fs.readdirSync(path.join(ort, 'bin', napi))) {
      const platformDir = path.join(ort, 'bin', napi, platform);
      if (platform !== 'linux') {
        fs.rmSync(platformDir, { recursive: true, force: true });
        continue;
      }
      for (const cpu of fs.readdirSync(platformDir).filter((c) => c !== arch)) fs.rmSync(path.join(platformDir, cpu), { recursive: true, force: true });
      if (!fs.existsSync(path.join(platformDir, arch))) throw new Error(`onnxruntime-node has no ${path.join('bin', napi, 'linux', arch)}`);
    }
  }
  return { kept: [...keep].sort(), removed: removed.sort() };
}

module.exports = { pruneRuntime, ARCH_FOLDERS, INSTALL_ONLY };

if (require.main === module) {
  const [nodeModules, targetArch] = process.argv.slice(2);
  if (!nodeModules) {
    process.stderr.write('usage: node prune-runtime.js <node_modules> <TARGETARCH: amd64 | arm64>\n');
    process.exit(2);
  }
  // Without BuildKit, TARGETARCH is empty: the architecture of the machine that builds.
  const arch = targetArch || Object.keys(ARCH_FOLDERS).find((k) => ARCH_FOLDERS[k] === process.arch);
  const { kept, removed } = pruneRuntime(nodeModules, arch);
  process.stdout.write(`prune-runtime (${arch}): kept ${kept.join(', ')}; removed ${removed.length} packages (${removed.join(', ')})\n`);
}
