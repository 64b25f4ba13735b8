// Attack: a server that drips one byte at a time never trips an idle timeout, and before the fix
// the initializer waited forever; a stalled body was reported as ECONNRESET. Now the whole fetch
// has a deadline (--storage-deadline-ms) and a stall trips the idle timeout, both as TIMEOUT.
import { writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import * as path from 'node:path';
import { LoopbackServer, runCli, startServer, tempDir, tree } from './storage-helpers';
import { fetchModel } from '../../../src/server/storage';

let server: LoopbackServer;
const open = new Set<ServerResponse>();

beforeAll(async () => {
  server = await startServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    if (req.url === '/drip/model.onnx') {
      // Headers at once, then one byte every 50 ms: always under the idle timeout.
      res.writeHead(200, { 'content-length': 100_000 });
      const timer = setInterval(() => res.write(Buffer.from([1])), 50);
      res.on('close', () => clearInterval(timer));
    } else if (req.url === '/stall-body/model.onnx') {
      // Headers and a first chunk, then silence.
      res.writeHead(200, { 'content-length': 100_000 });
      res.write(Buffer.alloc(1000));
    } else if (req.url === '/slow-headers/model.onnx') {
      // Never sends headers at all.
    } else if (req.url?.startsWith('/fake-s3/')) {
      // A fake S3 (on loopback): lists one object, then drips its body like /drip.
      if (req.url.includes('list-type=2')) {
        res.writeHead(200, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0"?><ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>model.onnx</Key><Size>100000</Size></Contents></ListBucketResult>');
        return;
      }
      res.writeHead(200, { 'content-length': 100_000 });
      const timer = setInterval(() => res.write(Buffer.from([1])), 50);
      res.on('close', () => clearInterval(timer));
    } else if (req.url?.startsWith('/fake-sts')) {
      // A fake STS (on loopback) that never answers.
    }
  });
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await server.close();
});

test('a drip times out at the deadline with TIMEOUT naming the flag, not retried, nothing left (CLI)', async () => {
  const dir = tempDir('drip');
  const r = await runCli(['storage-initializer', `${server.base}/drip/model.onnx`, dir, '--storage-deadline-ms', '1500', '--storage-idle-timeout-ms', '1000']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/error \[TIMEOUT\]: GET http:\/\/127\.0\.0\.1:\d+\/drip\/model\.onnx: the fetch did not finish within its deadline of 1500 ms; raise --storage-deadline-ms \(STORAGE_DEADLINE_MS\)/);
  expect(r.stderr).not.toContain('ECONNRESET');
  expect(server.hits['/drip/model.onnx']).toBe(1);
  expect(tree(dir)).toEqual([]);
});

test('s3://: a dripping object times out at the deadline too, through the AWS SDK (fake S3 on loopback)', async () => {
  const dir = tempDir('s3-drip');
  const err = await fetchModel('s3://fake-s3/model.onnx', dir, {
    settings: { deadlineMs: 1500, idleTimeoutMs: 1000, auth: 'anonymous' }, env: { AWS_ENDPOINT_URL: server.base },
  }).catch((e) => e);
  expect(err).toMatchObject({ name: 'StorageError', code: 'TIMEOUT' });
  expect(err.message).toMatch(/^s3:\/\/fake-s3\/model\.onnx: the fetch did not finish within its deadline of 1500 ms/);
  expect(tree(dir)).toEqual([]);
});

test('a token endpoint that never answers times out as TIMEOUT instead of hanging the fetch (fake STS on loopback)', async () => {
  const dir = tempDir('sts-hang');
  const tokenFile = path.join(tempDir('sts-hang-token'), 'token');
  writeFileSync(tokenFile, 'token');
  const r = await runCli(['storage-initializer', 's3://models/model.onnx', dir, '--storage-idle-timeout-ms', '500', '--storage-auth', 'workload-identity'], {
    HOME: tempDir('sts-hang-home'),
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL: server.base,
    AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/r',
    AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
    AWS_ENDPOINT_URL_STS: `${server.base}/fake-sts`,
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/error \[TIMEOUT\]: the AWS default credential chain: no data for 500 ms; raise --storage-idle-timeout-ms/);
  expect(tree(dir)).toEqual([]);
});

test('a body that stalls trips the idle timeout as TIMEOUT (not ECONNRESET), and is retried up to --storage-max-attempts', async () => {
  const dir = tempDir('stall');
  const log: string[] = [];
  const err = await fetchModel(`${server.base}/stall-body/model.onnx`, dir, {
    settings: { idleTimeoutMs: 300, maxAttempts: 3 }, retryBaseMs: 10, log: (m) => log.push(m),
  }).catch((e) => e);
  expect(err).toMatchObject({ name: 'StorageError', code: 'TIMEOUT' });
  expect(err.message).toMatch(/stall-body\/model\.onnx: no data for 300 ms; raise --storage-idle-timeout-ms \(STORAGE_IDLE_TIMEOUT_MS\) \(gave up after 3 attempts; --storage-max-attempts\)/);
  expect(err.message).not.toContain('ECONNRESET');
  expect(server.hits['/stall-body/model.onnx']).toBe(3);
  expect(log.filter((m) => m.includes('no data for 300 ms'))).toHaveLength(2);
  expect(tree(dir)).toEqual([]);
});

test('a server that never sends headers trips the idle timeout too', async () => {
  const dir = tempDir('no-headers');
  const err = await fetchModel(`${server.base}/slow-headers/model.onnx`, dir, { settings: { idleTimeoutMs: 300, maxAttempts: 1 } }).catch((e) => e);
  expect(err).toMatchObject({ code: 'TIMEOUT' });
  expect(err.message).toMatch(/no data for 300 ms/);
  expect(tree(dir)).toEqual([]);
});

test('no retry waits past the deadline: the deadline error is reported with the last failure as its cause', async () => {
  const dir = tempDir('deadline-retry');
  const err = await fetchModel(`${server.base}/stall-body/model.onnx`, dir, {
    settings: { idleTimeoutMs: 200, maxAttempts: 10, deadlineMs: 1000 }, retryBaseMs: 2000,
  }).catch((e) => e);
  expect(err).toMatchObject({ code: 'TIMEOUT' });
  expect(err.message).toMatch(/deadline of 1000 ms/);
  expect(err.cause).toMatchObject({ code: 'TIMEOUT' });
  expect(err.cause.message).toMatch(/no data for 200 ms/);
});
