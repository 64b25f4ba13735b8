// @ts-check
/**
 * Builds etcd, kube-apiserver and kube-controller-manager from the Go modules pinned in
 * test/cluster/go.mod, into a cache folder outside the repo named after the hash of go.mod and
 * go.sum: a build happens once per pin change, never per test run.
 */
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const MODULE_DIR = __dirname;

/** Binary name → Go package, as listed in go.mod's `tool` block. */
const BINARIES = {
  'etcd': 'go.etcd.io/etcd/server/v3',
  'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
  'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
};

/** How to turn the cluster tests on, for the one-line skip message. */
const ENABLE_HINT = 'install Go 1.26+ (https://go.dev/dl) and run `npx projen cluster:build` once (about 10 minutes)';

/** The Kubernetes release go.mod pins, e.g. `v1.37.2`. */
function kubernetesVersion() {
  const m = /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(fs.readFileSync(path.join(MODULE_DIR, 'go.mod'), 'utf8'));
  if (!m) throw new Error('test/cluster/go.mod: no k8s.io/kubernetes requirement');
  return m[1];
}

/**
 * Linker flags: strip symbols, and stamp the release into the binaries as Kubernetes' own build does
 * (`kubectl version` and clients read it; without it the server says v0.0.0-master).
 */
function ldflags() {
  const version = kubernetesVersion();
  const [major, minor] = version.slice(1).split('.');
  const stamp = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => [
    `-X ${pkg}.gitVersion=${version}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`, `-X ${pkg}.gitTreeState=clean`,
  ]);
  return ['-s', '-w', ...stamp].join(' ');
}

/** The cache folder for the current pins: `$CDK8S_CLUSTER_CACHE` or ~/.cache/cdk8s-model-serving/cluster/<hash>. */
function binDir() {
  const hash = crypto.createHash('sha256');
  for (const f of ['go.mod', 'go.sum']) hash.update(fs.readFileSync(path.join(MODULE_DIR, f)));
  hash.update(ldflags());
  const root = process.env.CDK8S_CLUSTER_CACHE ?? path.join(os.homedir(), '.cache', 'cdk8s-model-serving', 'cluster');
  return path.join(root, hash.digest('hex').slice(0, 16));
}

/** The path of each binary when all of them are built for the current pins, else undefined. */
function cachedBinaries() {
  const dir = binDir();
  const paths = Object.fromEntries(Object.keys(BINARIES).map((name) => [name, path.join(dir, name)]));
  return Object.values(paths).every((p) => fs.existsSync(p)) ? paths : undefined;
}

/** `true` when a `go` command is on PATH. */
function hasGo() {
  return spawnSync('go', ['version'], { stdio: 'ignore', env: process.env }).status === 0;
}

/**
 * The binaries for the current pins, building the missing ones with `nice -n 19 go build`.
 *
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {Record<string, string>} binary name → absolute path
 * @throws when Go is missing or a build fails
 */
function ensureBinaries(options = {}) {
  const log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  const cached = cachedBinaries();
  if (cached) return cached;
  if (!hasGo()) throw new Error(`the test cluster's binaries are not built and there is no Go: ${ENABLE_HINT}`);
  const dir = binDir();
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, pkg] of Object.entries(BINARIES)) {
    const target = path.join(dir, name);
    if (fs.existsSync(target)) continue;
    const started = Date.now();
    log(`cluster: building ${name} (${pkg} at Kubernetes ${kubernetesVersion()}) into ${dir}`);
    // Write beside the target and rename, so an interrupted build never leaves a half binary.
    const partial = `${target}.partial-${process.pid}`;
    const r = spawnSync('nice', ['-n', '19', 'go', 'build', '-trimpath', `-ldflags=${ldflags()}`, '-o', partial, pkg], {
      cwd: MODULE_DIR,
      stdio: ['ignore', 'inherit', 'inherit'],
      // GOTOOLCHAIN=local: never fetch another Go toolchain; go.mod's `go` line says what is needed.
      env: { ...process.env, GOTOOLCHAIN: 'local' },
    });
    if (r.status !== 0) {
      fs.rmSync(partial, { force: true });
      throw new Error(`cluster: go build ${pkg} failed (exit ${r.status}); see the output above`);
    }
    fs.renameSync(partial, target);
    log(`cluster: built ${name} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  return /** @type {Record<string, string>} */ (cachedBinaries());
}

module.exports = { BINARIES, ENABLE_HINT, binDir, cachedBinaries, ensureBinaries, hasGo, kubernetesVersion };
