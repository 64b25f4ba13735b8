/**
 * Without Go and without built binaries the API server checks skip with one line, and under CI=true the
 * run fails instead (test/cluster/jest-global.js, called here directly with a PATH that has no Go).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { setupTestCluster } = require('./jest-global');

const SAVED = { ...process.env };
let emptyCache: string;

beforeEach(() => {
  emptyCache = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-cache-empty-'));
  process.env.CDK8S_CLUSTER_CACHE = emptyCache;
  process.env.PATH = (process.env.PATH ?? '').split(path.delimiter).filter((d) => !fs.existsSync(path.join(d, 'go'))).join(path.delimiter);
  delete process.env.CI;
});

afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in SAVED)) delete process.env[key];
  Object.assign(process.env, SAVED);
  fs.rmSync(emptyCache, { recursive: true, force: true });
  jest.restoreAllMocks();
});

test('without Go or binaries it skips with one line that says how to enable the checks', async () => {
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
  await setupTestCluster();
  expect(warn).toHaveBeenCalledTimes(1);
  expect(warn.mock.calls[0][0].trim().split('\n')).toHaveLength(1);
  expect(warn.mock.calls[0][0]).toMatch(/SKIPPING the real API server checks.*install Go 1\.26\+.*npx projen cluster:build/);
  expect(process.env.CDK8S_TEST_CLUSTER).toBeUndefined();
  expect(process.env.CDK8S_TEST_CLUSTER_SKIPPED).toMatch(/no Go and no built binaries/);
});

test('under CI=true it fails instead of skipping', async () => {
  process.env.CI = 'true';
  await expect(setupTestCluster()).rejects.toThrow(/the test cluster is required under CI=true, but no Go and no built binaries: install Go/);
});

test('CDK8S_TEST_CLUSTER=off skips on purpose, but not under CI=true', async () => {
  jest.spyOn(console, 'warn').mockImplementation(() => {});
  process.env.CDK8S_TEST_CLUSTER = 'off';
  await setupTestCluster();
  expect(process.env.CDK8S_TEST_CLUSTER_SKIPPED).toBe('CDK8S_TEST_CLUSTER=off');
  process.env.CDK8S_TEST_CLUSTER = 'off';
  process.env.CI = 'true';
  await expect(setupTestCluster()).rejects.toThrow(/required under CI=true, but CDK8S_TEST_CLUSTER=off/);
});
