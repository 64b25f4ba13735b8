// @ts-check
/**
 * The test cluster's part of jest's global setup and teardown: one cluster per run, started before the
 * first test file and stopped after the last. Test files find it through $CDK8S_TEST_CLUSTER.
 */
const fs = require('fs');
const os = require('os');
const path = require('path');
const { ENABLE_HINT, cachedBinaries, ensureBinaries, hasGo } = require('./binaries');
const { startCluster, stopCluster } = require('./cluster');

const STATE_ENV = 'CDK8S_TEST_CLUSTER';
const SKIP_ENV = 'CDK8S_TEST_CLUSTER_SKIPPED';
const REPORT = path.join(__dirname, '..', '..', 'test-reports', 'api-server-check.json');

// Jest shares globals, not module state, between the global setup and teardown.
const RUNNING = Symbol.for('cdk8s-model-serving.test-cluster');

/** Starts the cluster, or explains in one line why not (and fails under CI=true). */
async function setupTestCluster() {
  const optedOut = process.env[STATE_ENV] === 'off';
  if (optedOut || (!cachedBinaries() && !hasGo())) {
    const reason = optedOut ? `${STATE_ENV}=off` : `no Go and no built binaries: ${ENABLE_HINT}`;
    if (process.env.CI && process.env.CI !== 'false') throw new Error(`the test cluster is required under CI=true, but ${reason}`);
    process.env[SKIP_ENV] = reason;
    delete process.env[STATE_ENV];
    console.warn(`\n!!! SKIPPING the real API server checks (test/cluster): ${reason} !!!`);
    return;
  }
  ensureBinaries({ log: (line) => console.log(line) }); // a no-op unless the pins changed
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk8s-model-serving-jest-cluster-'));
  process.env[STATE_ENV] = path.join(dir, 'cluster.json');
  // Not awaited: the cluster starts while the first test files run; their checks wait for `ready` in the
  // state file (server-check.ts), and a failure is written there for them to report.
  const running = { dir, startMs: 0, settled: false, stopped: false, starting: Promise.resolve() };
  running.starting = startCluster(dir, { log: (line) => console.log(line) }).then(
    () => { running.startMs = Date.now() - started; running.settled = true; },
    (e) => {
      running.settled = true;
      if (running.stopped) return; // the teardown stopped it on purpose
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'cluster.json'), JSON.stringify({ error: e instanceof Error ? e.message : String(e) }));
    });
  /** @type {any} */ (globalThis)[RUNNING] = running;
  // If jest exits without its global teardown (a crash, an exit in a test), do not leave the cluster running.
  process.once('exit', () => stopCluster(dir));
}

/** Sums up the per-file reports, writes test-reports/api-server-check.json, and stops the cluster. */
async function teardownTestCluster() {
  /** @type {{ dir: string, startMs: number, settled: boolean, stopped: boolean, starting: Promise<void> } | undefined} */
  const running = /** @type {any} */ (globalThis)[RUNNING];
  if (!running) return;
  if (!running.settled) {
    // Every test file is done and none waited for the cluster (e.g. a run of server tests only): stop now.
    running.stopped = true;
    stopCluster(running.dir);
    await running.starting;
    delete /** @type {any} */ (globalThis)[RUNNING];
    console.log('\ncluster: stopped before it was ready; no test file needed it');
    return;
  }
  const reportsDir = path.join(running.dir, 'reports');
  const reports = fs.existsSync(reportsDir)
    ? fs.readdirSync(reportsDir).map((f) => JSON.parse(fs.readFileSync(path.join(reportsDir, f), 'utf8')))
    : [];
  const objects = reports.reduce((n, r) => n + r.objects, 0);
  const checkMs = reports.reduce((n, r) => n + r.ms, 0);
  const offlineStricter = reports.flatMap((r) => r.offlineStricter.map((d) => ({ testFile: path.relative(process.cwd(), r.testFile), ...d })));
  const serverStricter = reports.flatMap((r) => r.serverStricter.map((d) => ({ testFile: path.relative(process.cwd(), r.testFile), ...d })));
  fs.mkdirSync(path.dirname(REPORT), { recursive: true });
  fs.writeFileSync(REPORT, JSON.stringify({ objects, testFiles: reports.length, startMs: running.startMs, checkMs, serverStricter, offlineStricter }, null, 2));
  console.log(`\ncluster: the API server checked ${objects} synthesized object(s) from ${reports.length} test file(s) `
    + `(dry-run server-side apply, strict field validation) in ${(checkMs / 1000).toFixed(1)} s of afterAll time `
    + `plus ${(running.startMs / 1000).toFixed(1)} s start-up; ${serverStricter.length} rejected that offline validation accepted, `
    + `${offlineStricter.length} accepted that offline validation rejects (see ${path.relative(process.cwd(), REPORT)})`);
  const error = fs.existsSync(path.join(running.dir, 'cluster.json')) ? JSON.parse(fs.readFileSync(path.join(running.dir, 'cluster.json'), 'utf8')).error : undefined;
  stopCluster(running.dir);
  if (error) console.log(`cluster: the test cluster did not start: ${error}`);
  delete /** @type {any} */ (globalThis)[RUNNING];
}

module.exports = { setupTestCluster, teardownTestCluster };
