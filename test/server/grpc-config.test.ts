// The gRPC port's limit flags (`--grpc-*`): defaults, flags over environment, bad values
// rejected with a message naming the flag, the variable and the rule, and a real `serve` that
// advertises what its environment says.
import * as http2 from 'node:http2';
import { MODELS, startServer } from './server-harness';
import { ConfigError, parseConfig } from '../../src/server/config';
import { DEFAULT_GRPC_LIMITS } from '../../src/server/grpc/limits';

test('the gRPC limits default to the documented values', () => {
  expect(parseConfig([], {}).grpcLimits).toEqual({
    maxConcurrentStreams: 100,
    maxHeaderListBytes: 16384,
    maxSessionMemoryBytes: 32 * 2 ** 20,
    idleTimeoutMs: 300_000,
    prefaceTimeoutMs: 10_000,
    maxConnections: 1000,
  });
  expect(DEFAULT_GRPC_LIMITS).toEqual(parseConfig([], {}).grpcLimits);
});

test('each gRPC limit is read from its flag, else from its environment variable', () => {
  const env = {
    GRPC_MAX_CONCURRENT_STREAMS: '7',
    GRPC_MAX_HEADER_LIST_BYTES: '8Ki',
    GRPC_MAX_SESSION_MEMORY_BYTES: '4Mi',
    GRPC_IDLE_TIMEOUT_MS: '0',
    GRPC_PREFACE_TIMEOUT_MS: '250',
    GRPC_MAX_CONNECTIONS: '3',
  };
  expect(parseConfig([], env).grpcLimits).toEqual({
    maxConcurrentStreams: 7, maxHeaderListBytes: 8192, maxSessionMemoryBytes: 4 * 2 ** 20, idleTimeoutMs: 0, prefaceTimeoutMs: 250, maxConnections: 3,
  });
  const flags = ['--grpc-max-concurrent-streams', '9', '--grpc-max-header-list-bytes=2048', '--grpc-max-session-memory-bytes', '2Mi',
    '--grpc-idle-timeout-ms', '1000', '--grpc-preface-timeout-ms', '500', '--grpc-max-connections', '10'];
  expect(parseConfig(flags, env).grpcLimits).toEqual({
    maxConcurrentStreams: 9,
    maxHeaderListBytes: 2048,
    maxSessionMemoryBytes: 2 * 2 ** 20,
    idleTimeoutMs: 1000,
    prefaceTimeoutMs: 500,
    maxConnections: 10,
  });
});

test('fails on gRPC limits out of range, naming the flag and the variable', () => {
  expect(() => parseConfig(['--grpc-max-concurrent-streams', '0'], {}))
    .toThrow(/'--grpc-max-concurrent-streams' \(GRPC_MAX_CONCURRENT_STREAMS\) must be an integer between 1 and/);
  expect(() => parseConfig(['--grpc-max-connections', '-1'], {})).toThrow(/'--grpc-max-connections' \(GRPC_MAX_CONNECTIONS\)/);
  expect(() => parseConfig([], { GRPC_PREFACE_TIMEOUT_MS: '0' })).toThrow(/'--grpc-preface-timeout-ms' \(GRPC_PREFACE_TIMEOUT_MS\) must be an integer between 1/);
  expect(() => parseConfig([], { GRPC_MAX_HEADER_LIST_BYTES: '100' })).toThrow(/'--grpc-max-header-list-bytes' \(GRPC_MAX_HEADER_LIST_BYTES\) must be between 1024 and 4294967295 bytes, got 100/);
  expect(() => parseConfig(['--grpc-max-session-memory-bytes', '1Ki'], {})).toThrow(/'--grpc-max-session-memory-bytes' \(GRPC_MAX_SESSION_MEMORY_BYTES\) must be between 1048576/);
  expect(() => parseConfig(['--grpc-idle-timeout-ms', 'soon'], {})).toThrow(ConfigError);
});

test('serve advertises the limits its environment sets (GRPC_MAX_CONCURRENT_STREAMS, GRPC_MAX_HEADER_LIST_BYTES)', async () => {
  const server = await startServer(['--model-dir', MODELS, '--mode', 'multi'], { GRPC_MAX_CONCURRENT_STREAMS: '7', GRPC_MAX_HEADER_LIST_BYTES: '4Ki' });
  const port = Number(server.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const settings = await new Promise<http2.Settings>((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    expect(settings).toMatchObject({ maxConcurrentStreams: 7, maxHeaderListSize: 4096 });
  } finally {
    session.destroy();
    await server.stop();
  }
});
