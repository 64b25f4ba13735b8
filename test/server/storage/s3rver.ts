// s3rver (a real S3-compatible server, checking SigV4 signatures with its S3RVER/S3RVER account)
// in its own process, and a recording proxy in front of it, so tests see the headers each
// request carried (s3rver does not look at x-amz-security-token).
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

export const S3RVER_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3rver {
  readonly endpoint: string;
  put(bucket: string, key: string, body: Buffer): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3rver(buckets: string[]): Promise<S3rver> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 's3rver-'));
  // s3rver encrypts continuation tokens with DES, which Node's OpenSSL 3 offers only through the legacy provider.
  const script = `
    const S3rver = require(${JSON.stringify(require.resolve('s3rver'))});
    new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(dir)},
      configureBuckets: ${JSON.stringify(buckets.map((name) => ({ name })))} }).run().then((a) => console.log(JSON.stringify(a)));`;
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]).port);
    });
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: S3RVER_KEYS });
  return {
    endpoint,
    put: async (bucket, key, body) => {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    stop: async () => {
      client.destroy();
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill();
      await exited;
    },
  };
}

/** What one request through the proxy carried. */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly authorization?: string;
  readonly securityToken?: string;
  readonly at: number;
}

/** A recording proxy to `target`; `reject` may answer a request itself (e.g. 403 for an expired token). */
export async function startRecordingProxy(target: string, reject?: (seen: SeenRequest) => { status: number; code: string } | undefined):
Promise<{ endpoint: string; seen: SeenRequest[]; close(): Promise<void> }> {
  const seen: SeenRequest[] = [];
  const to = new URL(target);
  const server = http.createServer((req, res) => {
    const s: SeenRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      at: Date.now(),
      authorization: req.headers.authorization,
      securityToken: req.headers['x-amz-security-token'] as string | undefined,
    };
    seen.push(s);
    const refusal = reject?.(s);
    if (refusal) {
      req.resume();
      res.writeHead(refusal.status, { 'content-type': 'application/xml' });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${refusal.code}</Code><Message>refused by the test proxy</Message></Error>`);
      return;
    }
    const upstream = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
