// Configuration: flags over environment over defaults, validated with messages naming both.
import { ConfigError, DEFAULTS, parseBytes, parseConfig } from '../../src/server/config';
import { fromHalf, toHalf } from '../../src/server/inference/datatypes';

test('defaults apply when nothing is set', () => {
  expect(parseConfig([], {})).toEqual({ ...DEFAULTS, storageUri: undefined });
});

test('flags win over environment variables', () => {
  const c = parseConfig(['--http-port', '9000', '--max-batch-size=8', '--memory-budget-bytes', '512Mi'], { HTTP_PORT: '7000', GRPC_PORT: '7001', LOG_LEVEL: 'warn', SERVER_MODE: 'multi' });
  expect(c).toMatchObject({ httpPort: 9000, grpcPort: 7001, maxBatchSize: 8, memoryBudgetBytes: 512 * 2 ** 20, logLevel: 'warn', mode: 'multi' });
});

test('fails on bad values, naming the flag, the variable and the value', () => {
  expect(() => parseConfig(['--http-port', '70000'], {})).toThrow(/'--http-port' \(HTTP_PORT\) must be an integer between 0 and 65535, got '70000'/);
  expect(() => parseConfig([], { SERVER_MODE: 'both' })).toThrow(/'--mode' \(SERVER_MODE\) must be one of auto, single, multi/);
  expect(() => parseConfig([], { MEMORY_BUDGET_BYTES: 'lots' })).toThrow(ConfigError);
  expect(() => parseConfig(['--nope'], {})).toThrow(/unknown argument '--nope'/);
  expect(() => parseConfig(['--model-name'], {})).toThrow(/needs a value/);
  expect(() => parseConfig(['--model-name', '../x'], {})).toThrow(/'--model-name'/);
});

test('byte quantities accept Kubernetes suffixes', () => {
  expect(parseBytes('1024')).toBe(1024);
  expect(parseBytes('2Gi')).toBe(2 * 2 ** 30);
  expect(parseBytes('1.5M')).toBe(1_500_000);
  expect(parseBytes('-1')).toBeUndefined();
});

test('FP16 encoding round-trips representable values', () => {
  for (const v of [0, 1, -2, 0.5, 65504, 6.103515625e-5, 5.960464477539063e-8, Infinity, -Infinity]) {
    expect(fromHalf(toHalf(v))).toBe(v);
  }
  expect(fromHalf(toHalf(1 / 3))).toBeCloseTo(1 / 3, 3);
  expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
});

// ---- HTTP/1.1 front, connection bounds and listen address (issue 11) ----
test('--host, --http-front, --http-max-connections and --max-unread-response-bytes: defaults, flags and variables', () => {
  expect(parseConfig([], {})).toMatchObject({ host: '0.0.0.0', httpFront: 'lean', httpMaxConnections: 1024, maxUnreadResponseBytes: 256 * 1024 });
  expect(parseConfig(['--host', '127.0.0.1', '--http-front', 'node', '--http-max-connections', '64', '--max-unread-response-bytes', '1Mi'], {}))
    .toMatchObject({ host: '127.0.0.1', httpFront: 'node', httpMaxConnections: 64, maxUnreadResponseBytes: 2 ** 20 });
  expect(parseConfig([], { SERVER_HOST: '::', HTTP_FRONT: 'node', HTTP_MAX_CONNECTIONS: '10', MAX_UNREAD_RESPONSE_BYTES: '65536' }))
    .toMatchObject({ host: '::', httpFront: 'node', httpMaxConnections: 10, maxUnreadResponseBytes: 65536 });
});

test('fails on a bad --host, --http-front, --http-max-connections or --max-unread-response-bytes, naming the flag and the variable', () => {
  expect(() => parseConfig(['--host', 'a b'], {})).toThrow(/'--host' \(SERVER_HOST\) must be an IP address or a host name/);
  expect(() => parseConfig(['--http-front', 'fast'], {})).toThrow(/'--http-front' \(HTTP_FRONT\) must be one of lean, node, got 'fast'/);
  expect(() => parseConfig([], { HTTP_MAX_CONNECTIONS: '0' })).toThrow(/'--http-max-connections' \(HTTP_MAX_CONNECTIONS\) must be an integer between 1 and 1000000/);
  expect(() => parseConfig(['--max-unread-response-bytes', '1024'], {})).toThrow(/'--max-unread-response-bytes' \(MAX_UNREAD_RESPONSE_BYTES\) must be at least 16384/);
});
