// The storage flags: parsed by the same parser as every `serve` flag, with errors that name the
// flag and the variable, and the defaults the README documents.
import { ConfigError, parseConfig } from '../../../src/server/config';
import { STORAGE_DEFAULTS } from '../../../src/server/storage/settings';
import { runCli, tempDir } from '../attacks/storage-helpers';

test('defaults: 16 GiB written, 30 s idle, 1 h deadline, 5 attempts, auto auth', () => {
  expect(parseConfig([], {}).storage).toEqual({ maxBytes: 16 * 2 ** 30, idleTimeoutMs: 30_000, deadlineMs: 3_600_000, maxAttempts: 5, auth: 'auto' });
  expect(parseConfig([], {}).storage).toEqual(STORAGE_DEFAULTS);
});

test('flags win over variables; byte counts take Kubernetes suffixes', () => {
  const env = { STORAGE_MAX_BYTES: '1Gi', STORAGE_IDLE_TIMEOUT_MS: '1000', STORAGE_DEADLINE_MS: '5000', STORAGE_MAX_ATTEMPTS: '2', STORAGE_AUTH: 'anonymous' };
  expect(parseConfig([], env).storage).toEqual({ maxBytes: 2 ** 30, idleTimeoutMs: 1000, deadlineMs: 5000, maxAttempts: 2, auth: 'anonymous' });
  expect(parseConfig(['--storage-max-bytes', '512Mi', '--storage-auth=workload-identity', '--storage-max-attempts', '1'], env).storage)
    .toMatchObject({ maxBytes: 512 * 2 ** 20, auth: 'workload-identity', maxAttempts: 1 });
});

test('the names before the flags still work: STORAGE_TIMEOUT_MS, STORAGE_RETRIES (retries after the first attempt)', () => {
  expect(parseConfig([], { STORAGE_TIMEOUT_MS: '1234', STORAGE_RETRIES: '0' }).storage).toMatchObject({ idleTimeoutMs: 1234, maxAttempts: 1 });
  expect(parseConfig([], { STORAGE_TIMEOUT_MS: '1234', STORAGE_IDLE_TIMEOUT_MS: '99' }).storage.idleTimeoutMs).toBe(99);
});

test.each([
  [['--storage-max-bytes', 'lots'], /'--storage-max-bytes' \(STORAGE_MAX_BYTES\) must be a byte count such as 1048576, 512Mi or 2G, got 'lots'/],
  [['--storage-max-bytes', '0'], /'--storage-max-bytes' \(STORAGE_MAX_BYTES\) must be at least 1 byte, got 0/],
  [['--storage-idle-timeout-ms', '0'], /'--storage-idle-timeout-ms' \(STORAGE_IDLE_TIMEOUT_MS\) must be an integer between 1 and 3600000, got '0'/],
  [['--storage-deadline-ms', '-5'], /'--storage-deadline-ms' \(STORAGE_DEADLINE_MS\) must be an integer between 1 and/],
  [['--storage-max-attempts', '1000'], /'--storage-max-attempts' \(STORAGE_MAX_ATTEMPTS\) must be an integer between 1 and 100, got '1000'/],
  [['--storage-auth', 'irsa'], /'--storage-auth' \(STORAGE_AUTH\) must be one of auto, secret, workload-identity, anonymous, got 'irsa'/],
])('fails on %j with a message naming the flag and the rule', (argv, message) => {
  expect(() => parseConfig(argv, {})).toThrow(ConfigError);
  expect(() => parseConfig(argv, {})).toThrow(message);
});

test('storage-initializer: a bad or unknown flag exits 2 with the flag named; --help lists the storage flags', async () => {
  const bad = await runCli(['storage-initializer', 'https://example.com/m.onnx', tempDir('flags'), '--storage-max-attempts', 'x']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/storage-initializer: '--storage-max-attempts' \(STORAGE_MAX_ATTEMPTS\) must be an integer between 1 and 100, got 'x'/);
  const unknown = await runCli(['storage-initializer', 'https://example.com/m.onnx', tempDir('flags'), '--model-name', 'x']);
  expect(unknown.code).toBe(2);
  expect(unknown.stderr).toMatch(/unknown argument '--model-name' \(flags: --storage-max-bytes, --storage-idle-timeout-ms, --storage-deadline-ms, --storage-max-attempts, --storage-auth\)/);
  const help = await runCli(['storage-initializer', '--help']);
  expect(help.code).toBe(0);
  for (const flag of ['--storage-max-bytes', '--storage-idle-timeout-ms', '--storage-deadline-ms', '--storage-max-attempts', '--storage-auth']) expect(help.stdout).toContain(flag);
});
