// Storage initializer against real servers on loopback: node:http for http(s) URIs, s3rver for s3://
// (the attack suites are in test/server/attacks/storage-*, credentials in test/server/storage/).
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fs, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';
import { SERVER_NODE } from './server-harness';
import { S3rver, S3RVER_KEYS, startS3rver } from './storage/s3rver';
import { fetchModel, gcsConfig, parseStorageUri, resolveS3Config, StorageError } from '../../src/server/storage';

const MODELS = path.join(__dirname, '..', 'fixtures', 'models');
const CLI = path.join(__dirname, '..', '..', 'assets', 'server', 'cli.js');
const IRIS = readFileSync(path.join(MODELS, 'iris-logreg.onnx'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let tmp: string;
let archives: { tgz: Buffer; tar: Buffer; gz: Buffer };

function newDir(name: string): string {
  return mkdtempSync(path.join(tmp, `${name}-`));
}

/** Lists a directory recursively (relative, sorted), including hidden entries. */
function tree(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...tree(dir, r));
    else out.push(r);
  }
  return out.sort();
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(SERVER_NODE, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `serve --storage-uri` until it logs `ready` (or exits); returns its HTTP port. */
interface Served { child: ChildProcess; httpPort?: number; code?: number | null; logs: string }

async function serveFrom(uri: string, modelDir: string, env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const child = spawn(SERVER_NODE, [CLI, 'serve', '--storage-uri', uri, '--model-dir', modelDir, '--model-name', 'iris', '--http-port', '0', '--grpc-port', '0'], {
    env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  return new Promise((resolve) => {
    let httpPort: number | undefined;
    const onData = (c: Buffer) => {
      logs += c.toString();
      for (const line of logs.split('\n')) {
        if (!line.startsWith('{')) continue;
        const e = JSON.parse(line);
        if (e.event === 'listening') httpPort = e.httpPort;
        if (e.event === 'ready') {
          child.stdout!.off('data', onData);
          resolve({ child, httpPort, logs });
          return;
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => { logs += c.toString(); });
    child.once('exit', (code) => resolve({ child, code, logs }));
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Asks the served model for the iris fixture and checks the answer. */
async function expectIrisServed(httpPort: number, model = 'iris'): Promise<void> {
  const f = JSON.parse(readFileSync(path.join(MODELS, 'iris-logreg.expected.json'), 'utf8'));
  const res = await fetch(`http://127.0.0.1:${httpPort}/v2/models/${model}/infer`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(f.v2_request),
  });
  expect(res.status).toBe(200);
  const body = await res.json() as { outputs: Array<{ name: string; data: number[] }> };
  const probs = body.outputs.find((o) => o.name === 'probabilities')!.data;
  const want = f.outputs.find((o: { name: string }) => o.name === 'probabilities').data as number[];
  want.forEach((w, i) => expect(Math.abs(probs[i] - w)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(w)));
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'storage-test-'));
  const src = newDir('archive-src');
  writeFileSync(path.join(src, 'model.onnx'), IRIS);
  await fs.mkdir(path.join(src, 'meta'));
  writeFileSync(path.join(src, 'meta', 'labels.txt'), 'setosa\nversicolor\nvirginica\n');
  const tgzFile = path.join(tmp, 'model.tar.gz');
  const tarFile = path.join(tmp, 'model.tar');
  await tar.c({ gzip: true, file: tgzFile, cwd: src, portable: true }, ['model.onnx', 'meta']);
  await tar.c({ file: tarFile, cwd: src, portable: true }, ['model.onnx', 'meta']);
  archives = { tgz: readFileSync(tgzFile), tar: readFileSync(tarFile), gz: gzipSync(IRIS) };
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('storage URIs', () => {
  test('gs:// reads Google Cloud Storage through its S3-compatible XML API', () => {
    const base = resolveS3Config({}, undefined);
    const gcs = gcsConfig(base, {});
    expect(gcs.endpoint?.href).toBe('https://storage.googleapis.com/');
    expect(gcs.region).toBe('auto');
    // An explicit endpoint (an emulator) and region win.
    const custom = gcsConfig(resolveS3Config({ AWS_ENDPOINT_URL: 'http://127.0.0.1:4443', AWS_REGION: 'eu' }, undefined), { AWS_REGION: 'eu' });
    expect(custom.endpoint?.href).toBe('http://127.0.0.1:4443/');
    expect(custom.region).toBe('eu');
  });

  test('an invalid gs:// bucket is a clear error', async () => {
    await expect(fetchModel('gs://B!/model', '/tmp/none')).rejects.toThrow(/invalid GCS URI 'gs:\/\/B!\/model'/);
  });

  test('pvc:// and local paths are mounted, not fetched', async () => {
    const pvc = await fetchModel('pvc://models-claim/iris', '/mnt/models');
    expect(pvc).toMatchObject({ fetched: false, dir: '/mnt/models' });
    expect(pvc.note).toMatch(/mounted into the pod/);
    expect(await fetchModel(`file://${MODELS}`, '/mnt/models')).toMatchObject({ fetched: false, dir: MODELS });
    expect(await fetchModel(MODELS, '/mnt/models')).toMatchObject({ fetched: false, dir: MODELS });
  });

  test('bad URIs say what is accepted', () => {
    expect(() => parseStorageUri('s3://')).toThrow(/expected s3:\/\/<bucket>/);
    expect(() => parseStorageUri('hdfs://x/y')).toThrow(/supported: s3:\/\/, gs:\/\/, https:\/\//);
    expect(() => parseStorageUri('file:///models/%ZZ')).toThrow(/invalid URI 'file:\/\/\/models\/%ZZ': malformed percent-escape/);
    expect(parseStorageUri('s3://my-bucket/a/b')).toEqual({ kind: 's3', bucket: 'my-bucket', key: 'a/b' });
  });
});

describe('http(s) storage', () => {
  let server: http.Server;
  let base: string;
  const hits: Record<string, number> = {};

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      hits[url] = (hits[url] ?? 0) + 1;
      const send = (body: Buffer) => { res.writeHead(200, { 'content-length': body.length }); res.end(body); };
      switch (url) {
        case '/models/iris-logreg.onnx': return send(IRIS);
        case '/models/model.tar.gz': return send(archives.tgz);
        case '/models/bundle.tgz': return send(archives.tgz);
        case '/models/model.tar': return send(archives.tar);
        case '/models/iris.onnx.gz': return send(archives.gz);
        case '/redirect': res.writeHead(302, { location: '/models/iris-logreg.onnx' }); return res.end();
        case '/flaky/model.onnx':
          if (hits[url] <= 2) { res.writeHead(503); return res.end('busy'); }
          return send(IRIS);
        case '/always-500/model.onnx': res.writeHead(500); return res.end('boom');
        case '/secret/model.onnx': res.writeHead(403); return res.end('forbidden');
        case '/truncated/model.onnx':
          res.writeHead(200, { 'content-length': IRIS.length });
          res.write(IRIS.subarray(0, 100));
          return setTimeout(() => res.destroy(), 20);
        case '/stall/model.onnx': return; // never answers
        default: res.writeHead(404); return res.end('no such model');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('downloads one file byte for byte', async () => {
    const dir = newDir('http-file');
    const result = await fetchModel(`${base}/models/iris-logreg.onnx`, dir);
    expect(result).toMatchObject({ fetched: true, files: ['iris-logreg.onnx'], bytes: IRIS.length, dir });
    expect(sha(readFileSync(path.join(dir, 'iris-logreg.onnx')))).toBe(sha(IRIS));
    expect(tree(dir)).toEqual(['iris-logreg.onnx']);
  });

  test.each([['model.tar.gz'], ['bundle.tgz'], ['model.tar']])('unpacks %s', async (name) => {
    const dir = newDir('http-archive');
    const result = await fetchModel(`${base}/models/${name}`, dir);
    expect(result.files).toEqual(['meta/labels.txt', 'model.onnx']);
    expect(tree(dir)).toEqual(['meta/labels.txt', 'model.onnx']);
    expect(sha(readFileSync(path.join(dir, 'model.onnx')))).toBe(sha(IRIS));
  });

  test('gunzips a .gz file', async () => {
    const dir = newDir('http-gz');
    await fetchModel(`${base}/models/iris.onnx.gz`, dir);
    expect(tree(dir)).toEqual(['iris.onnx']);
    expect(sha(readFileSync(path.join(dir, 'iris.onnx')))).toBe(sha(IRIS));
  });

  test('follows redirects', async () => {
    const dir = newDir('http-redirect');
    await fetchModel(`${base}/redirect`, dir);
    expect(readFileSync(path.join(dir, 'redirect')).equals(IRIS)).toBe(true);
  });

  test('retries 5xx with backoff, then succeeds', async () => {
    const dir = newDir('http-flaky');
    const log: string[] = [];
    await fetchModel(`${base}/flaky/model.onnx`, dir, { retryBaseMs: 5, log: (m) => log.push(m) });
    expect(hits['/flaky/model.onnx']).toBe(3);
    expect(log.filter((m) => /attempt \d\/5 in \d+ ms/.test(m))).toHaveLength(2);
    expect(tree(dir)).toEqual(['model.onnx']);
  });

  test('gives up after the retries with the status in the message', async () => {
    const err = await fetchModel(`${base}/always-500/model.onnx`, newDir('http-500'), { settings: { maxAttempts: 3 }, retryBaseMs: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err.message).toMatch(/GET http:\/\/127\.0\.0\.1:\d+\/always-500\/model\.onnx: HTTP 500.*gave up after 3 attempts/);
    expect(hits['/always-500/model.onnx']).toBe(3);
  });

  test('404 and 403 are clear, not retried', async () => {
    const notFound = await fetchModel(`${base}/nope/model.onnx`, newDir('http-404'), { retryBaseMs: 1 }).catch((e) => e);
    expect(notFound).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect(notFound.message).toMatch(/HTTP 404.*model not found/);
    expect(hits['/nope/model.onnx']).toBe(1);
    const denied = await fetchModel(`${base}/secret/model.onnx`, newDir('http-403'), { retryBaseMs: 1 }).catch((e) => e);
    expect(denied).toMatchObject({ code: 'AUTH', status: 403 });
  });

  test('a half download leaves nothing that looks like a model', async () => {
    const dir = newDir('http-truncated');
    const err = await fetchModel(`${base}/truncated/model.onnx`, dir, { settings: { maxAttempts: 2 }, retryBaseMs: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err.code).toBe('TRUNCATED');
    expect(err.message).toMatch(/the body ended after 100 of \d+ bytes \(Content-Length\); not keeping a truncated file/);
    expect(tree(dir)).toEqual([]);
  });

  test('times out a server that never answers', async () => {
    const dir = newDir('http-stall');
    const err = await fetchModel(`${base}/stall/model.onnx`, dir, { settings: { idleTimeoutMs: 200, maxAttempts: 1 } }).catch((e) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT' });
    expect(err.message).toMatch(/no data for 200 ms; raise --storage-idle-timeout-ms \(STORAGE_IDLE_TIMEOUT_MS\)/);
    expect(tree(dir)).toEqual([]);
  });

  test('CLI subcommand fetches and exits 0, fails with exit 1 and a clear message', async () => {
    const dir = newDir('cli-http');
    const ok = await run(['storage-initializer', `${base}/models/model.tar.gz`, dir]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ dir, files: ['meta/labels.txt', 'model.onnx'] });
    expect(tree(dir)).toEqual(['meta/labels.txt', 'model.onnx']);

    const missing = await run(['storage-initializer', `${base}/nope.onnx`, newDir('cli-404')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/error \[NOT_FOUND\]: GET http:\/\/127\.0\.0\.1:\d+\/nope\.onnx: HTTP 404/);

    const gs = await run(['storage-initializer', 'gs://b/m', newDir('cli-gs')]);
    expect(gs.code).toBe(1);
    expect(gs.stderr).toMatch(/error \[INVALID_URI\]: invalid GCS URI/);

    expect((await run(['storage-initializer'])).code).toBe(2);
  });
});

describe('serve --storage-uri (http)', () => {
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/models/model.tar.gz') {
        res.writeHead(200, { 'content-length': archives.tgz.length });
        res.end(archives.tgz);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('fetches and unpacks the model, then loads and serves it', async () => {
    const dir = newDir('serve-http');
    const run1 = await serveFrom(`${base}/models/model.tar.gz`, dir);
    try {
      expect(run1.httpPort).toBeDefined();
      expect(run1.logs).toContain('"event":"model_fetched"');
      await expectIrisServed(run1.httpPort!);
    } finally {
      await stopProcess(run1.child);
    }
  });

  test('a failed fetch exits 1 with the reason logged', async () => {
    const result = await serveFrom(`${base}/models/missing.onnx`, newDir('serve-404'));
    expect(result.code).toBe(1);
    expect(result.logs).toMatch(/"event":"model_fetch_failed".*"code":"NOT_FOUND".*HTTP 404/);
  });
});

describe('s3 storage (s3rver)', () => {
  let s3: S3rver;
  let endpoint: string;
  // s3rver's built-in account.
  const creds = { AWS_ACCESS_KEY_ID: S3RVER_KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_KEYS.secretAccessKey };
  const env = () => ({ AWS_ENDPOINT_URL: endpoint, AWS_REGION: 'us-east-1', ...creds });
  const put = (key: string, body: Buffer) => s3.put('models', key, body);

  beforeAll(async () => {
    s3 = await startS3rver(['models']);
    endpoint = s3.endpoint;
    await put('iris/v1/model.onnx', IRIS);
    await put('iris/v1/config/labels.txt', Buffer.from('setosa\nversicolor\nvirginica\n'));
    for (let i = 0; i < 5; i++) await put(`many/part-${i}.bin`, Buffer.from(`part ${i}`));
    await put('archives/model.tar.gz', archives.tgz);
    await put('iris/v1-other/decoy.onnx', Buffer.from('not me'));
  });

  afterAll(() => s3.stop());

  test('downloads one object with a signed GET', async () => {
    const dir = newDir('s3-one');
    const result = await fetchModel('s3://models/iris/v1/model.onnx', dir, { env: env() });
    expect(result.files).toEqual(['model.onnx']);
    expect(sha(readFileSync(path.join(dir, 'model.onnx')))).toBe(sha(IRIS));
  });

  test('gs:// is read through the same S3 protocol (here against an S3 server standing in for GCS)', async () => {
    const dir = newDir('gs-prefix');
    const result = await fetchModel('gs://models/iris/v1', dir, { env: env() });
    expect(result.files).toEqual(['config/labels.txt', 'model.onnx']);
    expect(sha(readFileSync(path.join(dir, 'model.onnx')))).toBe(sha(IRIS));
  });

  test('downloads every object under a prefix, following pagination', async () => {
    const dir = newDir('s3-prefix');
    const result = await fetchModel('s3://models/iris/v1', dir, { env: env(), listPageSize: 1 });
    // iris/v1-other/ shares the string prefix but is another folder.
    expect(result.files).toEqual(['config/labels.txt', 'model.onnx']);
    expect(tree(dir)).toEqual(['config/labels.txt', 'model.onnx']);
    const many = await fetchModel('s3://models/many/', newDir('s3-many'), { env: env(), listPageSize: 2 });
    expect(many.files).toEqual([0, 1, 2, 3, 4].map((i) => `part-${i}.bin`));
  });

  test('unpacks an archive object', async () => {
    const dir = newDir('s3-tgz');
    await fetchModel('s3://models/archives/model.tar.gz', dir, { env: env() });
    expect(tree(dir)).toEqual(['meta/labels.txt', 'model.onnx']);
  });

  test('reads credentials and endpoint from a mounted secret directory', async () => {
    const secret = newDir('secret');
    writeFileSync(path.join(secret, 'AWS_ACCESS_KEY_ID'), 'S3RVER\n');
    writeFileSync(path.join(secret, 'AWS_SECRET_ACCESS_KEY'), 'S3RVER\n');
    writeFileSync(path.join(secret, 'AWS_ENDPOINT_URL'), endpoint);
    const dir = newDir('s3-files');
    await fetchModel('s3://models/iris/v1/model.onnx', dir, { env: { STORAGE_CREDENTIALS_DIR: secret } });
    expect(tree(dir)).toEqual(['model.onnx']);

    // A wrong key id in the files is used (and rejected), proving the files are read.
    writeFileSync(path.join(secret, 'AWS_ACCESS_KEY_ID'), 'WRONGKEY');
    const err = await fetchModel('s3://models/iris/v1/model.onnx', newDir('s3-files-bad'), { env: { STORAGE_CREDENTIALS_DIR: secret } }).catch((e) => e);
    expect(err).toMatchObject({ code: 'AUTH', status: 403 });
    expect(err.message).toContain(`files in ${secret}`);
  });

  test('bad credentials give a clear 403 error', async () => {
    const dir = newDir('s3-403');
    const err = await fetchModel('s3://models/iris/v1/model.onnx', dir, { env: { ...env(), AWS_ACCESS_KEY_ID: 'NOPE' }, retryBaseMs: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: 'AUTH', status: 403 });
    expect(err.message).toMatch(/s3:\/\/models\/iris\/v1\/model\.onnx: access denied, HTTP 403 InvalidAccessKeyId/);
    expect(err.message).toContain('access key id NOPE from env AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY');
    expect(tree(dir)).toEqual([]);
  });

  test('missing prefix and missing bucket are clear 404s', async () => {
    const none = await fetchModel('s3://models/does/not/exist', newDir('s3-404'), { env: env() }).catch((e) => e);
    expect(none).toMatchObject({ code: 'NOT_FOUND' });
    expect(none.message).toMatch(/s3:\/\/models\/does\/not\/exist: no objects found under this prefix in bucket 'models'/);
    const bucket = await fetchModel('s3://no-such-bucket/x', newDir('s3-nobucket'), { env: env() }).catch((e) => e);
    expect(bucket).toMatchObject({ code: 'NOT_FOUND', status: 404 });
    expect(bucket.message).toMatch(/bucket 'no-such-bucket' does not exist/);
  });

  test('CLI subcommand downloads a prefix with credentials from env', async () => {
    const dir = newDir('cli-s3');
    const ok = await run(['storage-initializer', 's3://models/iris/v1/', dir], env());
    expect(ok.stderr).toContain('storage-initializer: fetched s3://models/iris/v1/');
    expect(ok.code).toBe(0);
    expect(tree(dir)).toEqual(['config/labels.txt', 'model.onnx']);
    const bad = await run(['storage-initializer', 's3://models/iris/v1/', newDir('cli-s3-bad')], { ...env(), AWS_ACCESS_KEY_ID: 'NOPE' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error \[AUTH\]: .*HTTP 403 InvalidAccessKeyId/);
  });

  test('serve fetches an s3 prefix with credentials from a secret dir, then serves it', async () => {
    const secret = newDir('serve-secret');
    writeFileSync(path.join(secret, 'AWS_ACCESS_KEY_ID'), 'S3RVER');
    writeFileSync(path.join(secret, 'AWS_SECRET_ACCESS_KEY'), 'S3RVER');
    const result = await serveFrom('s3://models/iris/v1/', newDir('serve-s3'), { AWS_ENDPOINT_URL: endpoint, STORAGE_CREDENTIALS_DIR: secret });
    try {
      expect(result.httpPort).toBeDefined();
      await expectIrisServed(result.httpPort!);
    } finally {
      await stopProcess(result.child);
    }
  });

  test('a fresh download replaces the same files and leaves no staging directory', async () => {
    const dir = newDir('s3-replace');
    writeFileSync(path.join(dir, 'model.onnx'), 'old');
    await fetchModel('s3://models/iris/v1/model.onnx', dir, { env: env() });
    expect(readFileSync(path.join(dir, 'model.onnx')).equals(IRIS)).toBe(true);
    expect(existsSync(dir) && readdirSync(dir)).toEqual(['model.onnx']);
  });
});
