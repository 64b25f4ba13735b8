// hf:// against a fake of the Hugging Face Hub on loopback (./fake-hf-hub.ts): the files of a repo at
// one commit, revision pinning, tokens for private repos sent to the Hub only, LFS files verified by
// their sha256, and the attacks (oversize, stall, lying listings, names that leave the model dir,
// a redirect from https to http).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { FakeHub, startFakeHfHub } from './fake-hf-hub';
import { fetchModel, parseStorageUri, StorageError } from '../../../src/server/storage';
import { runCli, tree } from '../attacks/storage-helpers';
import { request, startServer } from '../server-harness';

const MAIN = '1'.repeat(40);
const V1 = '2'.repeat(40);
const IRIS = readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'models', 'iris-logreg.onnx'));
const CONFIG = Buffer.from('{"labels": ["setosa", "versicolor", "virginica"]}\n');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'hf-hub-'));

let hub: FakeHub;
const env = () => ({ HF_ENDPOINT: hub.url });
const quick = { settings: { maxAttempts: 1, idleTimeoutMs: 300 }, retryBaseMs: 1 };

async function startHub(extra: Parameters<typeof startFakeHfHub>[0] extends infer O ? Partial<O> : never = {}) {
  hub = await startFakeHfHub({
    token: 'hf_test_token',
    repos: {
      'acme/iris': {
        commits: {
          [MAIN]: { 'model.onnx': IRIS, 'config.json': CONFIG, 'nested/dir/labels.txt': Buffer.from('a\nb\nc\n') },
          [V1]: { 'model.onnx': Buffer.from('version one'), 'config.json': CONFIG },
        },
        revisions: { main: MAIN, v1: V1 },
        lfs: ['model.onnx'],
      },
      'acme/private': { commits: { [MAIN]: { 'model.onnx': IRIS } }, revisions: { main: MAIN }, private: true },
    },
    ...extra,
  });
}

afterEach(async () => { await hub?.close(); });

describe('hf:// URIs in the storage initializer', () => {
  test('parse into repo and revision, main by default; KServe\'s :revision works too', () => {
    expect(parseStorageUri('hf://acme/iris')).toEqual({ kind: 'hf', repo: 'acme/iris', revision: 'main' });
    expect(parseStorageUri('hf://acme/iris@v1')).toEqual({ kind: 'hf', repo: 'acme/iris', revision: 'v1' });
    expect(parseStorageUri('hf://acme/iris:refs/pr/1')).toEqual({ kind: 'hf', repo: 'acme/iris', revision: 'refs/pr/1' });
  });

  test.each(['hf://iris', 'hf://acme/iris@../../x', 'hf://ac me/iris', 'hf://acme/iris/extra'])('fails: %s is refused as INVALID_URI', (uri) => {
    expect(() => parseStorageUri(uri)).toThrow(StorageError);
    expect(() => parseStorageUri(uri)).toThrow(/invalid Hugging Face URI/);
  });
});

describe('hf:// fetches (fake Hub on loopback)', () => {
  test('downloads every file of the repo at main, byte for byte, through the CDN redirect for LFS files', async () => {
    await startHub();
    const dir = tmp();
    const log: string[] = [];
    const result = await fetchModel('hf://acme/iris', dir, { env: env(), log: (m) => log.push(m) });
    expect(result.files).toEqual(['config.json', 'model.onnx', 'nested/dir/labels.txt']);
    expect(tree(dir)).toEqual(['config.json', 'model.onnx', 'nested/', 'nested/dir/', 'nested/dir/labels.txt']);
    expect(sha(readFileSync(path.join(dir, 'model.onnx')))).toBe(sha(IRIS));
    expect(readFileSync(path.join(dir, 'config.json')).equals(CONFIG)).toBe(true);
    expect(log).toContain(`hf://acme/iris@main is commit ${MAIN}`);
    expect(hub.requests.filter((r) => r.startsWith('cdn '))).toHaveLength(1);
  });

  test('pins the revision: the branch is resolved to its commit once, and every file is read at that commit', async () => {
    await startHub();
    const dir = tmp();
    await fetchModel('hf://acme/iris@v1', dir, { env: env() });
    expect(readFileSync(path.join(dir, 'model.onnx'), 'utf8')).toBe('version one');
    const resolves = hub.requests.filter((r) => r.includes('/resolve/'));
    expect(resolves).toHaveLength(2);
    for (const r of resolves) expect(r).toContain(`/resolve/${V1}/`);
    expect(hub.requests[0]).toMatch(/^hub GET \/api\/models\/acme\/iris\/revision\/v1\?blobs=true /);
  });

  test('a private repo: refused without a token with the fix named, read with the token from the credentials dir', async () => {
    await startHub();
    const denied = await fetchModel('hf://acme/private', tmp(), { env: env(), ...quick }).catch((e) => e);
    expect(denied).toMatchObject({ code: 'AUTH', status: 401 });
    expect(denied.message).toMatch(/access denied; check the repo id and revision, and for a private or gated repo a token with access \(HF_TOKEN, StorageAuth.huggingFaceToken\(\)\); used no token/);
    const creds = tmp();
    writeFileSync(path.join(creds, 'HF_TOKEN'), 'hf_test_token\n');
    const dir = tmp();
    await fetchModel('hf://acme/private', dir, { env: env(), credentialsDir: creds });
    expect(sha(readFileSync(path.join(dir, 'model.onnx')))).toBe(sha(IRIS));
  });

  test('the token goes to the Hub only, never to the CDN a download redirects to', async () => {
    await startHub();
    await fetchModel('hf://acme/iris', tmp(), { env: { ...env(), HF_TOKEN: 'hf_test_token' } });
    const hubRequests = hub.requests.filter((r) => r.startsWith('hub '));
    expect(hubRequests.length).toBeGreaterThan(0);
    for (const r of hubRequests) expect(r).toMatch(/auth=Bearer hf_test_token$/);
    const cdn = hub.requests.filter((r) => r.startsWith('cdn '));
    expect(cdn).toHaveLength(1);
    expect(cdn[0]).toMatch(/auth=-$/);
  });

  test('--storage-auth secret without a token fails before any request; anonymous sends none', async () => {
    await startHub();
    const err = await fetchModel('hf://acme/iris', tmp(), { env: env(), settings: { auth: 'secret' } }).catch((e) => e);
    expect(err).toMatchObject({ code: 'AUTH' });
    expect(err.message).toMatch(/--storage-auth secret for hf:\/\/, but no HF_TOKEN/);
    expect(hub.requests).toEqual([]);
    await fetchModel('hf://acme/iris', tmp(), { env: { ...env(), HF_TOKEN: 'hf_test_token' }, settings: { auth: 'anonymous' } });
    for (const r of hub.requests) expect(r).toMatch(/auth=-$/);
  });

  test('an unknown revision is NOT_FOUND, an unknown repo an AUTH error (the Hub hides which)', async () => {
    await startHub();
    await expect(fetchModel('hf://acme/iris@nope', tmp(), { env: env(), ...quick })).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
    await expect(fetchModel('hf://acme/missing', tmp(), { env: env(), ...quick })).rejects.toMatchObject({ code: 'AUTH', status: 401 });
  });

  test('serve --storage-uri hf:// fetches the repo, then loads and serves its ONNX model (real process)', async () => {
    await startHub();
    const modelDir = tmp();
    const fixture = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'fixtures', 'models', 'iris-logreg.expected.json'), 'utf8'));
    const server = await startServer(['--storage-uri', 'hf://acme/private@main', '--model-dir', modelDir, '--model-name', 'iris'],
      { HF_ENDPOINT: hub.url, HF_TOKEN: 'hf_test_token' });
    try {
      const res = await request(server.port, 'POST', '/v2/models/iris/infer', fixture.v2_request);
      expect(res.status).toBe(200);
      const label = res.body.outputs.find((o: any) => o.name === 'label');
      expect(label.data).toEqual(fixture.outputs.find((o: any) => o.name === 'label').data);
    } finally {
      await server.stop();
    }
  });

  test('the storage-initializer subcommand fetches an hf:// repo as a real process', async () => {
    await startHub();
    const dir = tmp();
    const r = await runCli(['storage-initializer', 'hf://acme/iris@main', dir], { HF_ENDPOINT: hub.url });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ uri: 'hf://acme/iris@main', files: ['config.json', 'model.onnx', 'nested/dir/labels.txt'] });
    expect(sha(readFileSync(path.join(dir, 'model.onnx')))).toBe(sha(IRIS));
  });
});

describe('hf:// attacks (fake Hub on loopback)', () => {
  test('fails: an LFS file whose bytes do not match its listed sha256 is CHECKSUM, and nothing is kept', async () => {
    await startHub({ corrupt: ['model.onnx'] });
    const dir = tmp();
    const err = await fetchModel('hf://acme/iris', dir, { env: env(), ...quick }).catch((e) => e);
    expect(err).toMatchObject({ code: 'CHECKSUM' });
    expect(err.message).toMatch(/sha256 of the bytes received is .* but lfs.sha256 of the Hub listing says/);
    expect(tree(dir)).toEqual([]);
  });

  test('fails: a body longer than its listed size stops at the size, not at the write cap', async () => {
    await startHub({ oversize: ['model.onnx'] });
    const dir = tmp();
    const err = await fetchModel('hf://acme/iris', dir, { env: env(), ...quick }).catch((e) => e);
    expect(err).toMatchObject({ code: 'TOO_LARGE' });
    expect(err.message).toMatch(/model\.onnx: the body is longer than the \d+ bytes announced/);
    expect(tree(dir)).toEqual([]);
  });

  test('fails: a listing that passes the cap is refused before the first download', async () => {
    await startHub({ listedSizes: { 'model.onnx': 50 * 1024 ** 3 } });
    const dir = tmp();
    const err = await fetchModel('hf://acme/iris', dir, { env: env(), ...quick }).catch((e) => e);
    expect(err).toMatchObject({ code: 'TOO_LARGE' });
    expect(err.message).toMatch(/hf:\/\/acme\/iris@main\/ \(3 objects, .* listed\).*--storage-max-bytes/);
    expect(hub.requests.filter((r) => r.includes('/resolve/'))).toEqual([]);
  });

  test('fails: a download that stalls times out on the idle timer', async () => {
    await startHub({ stall: ['config.json'] });
    const dir = tmp();
    const err = await fetchModel('hf://acme/iris', dir, { env: env(), ...quick }).catch((e) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT' });
    expect(err.message).toMatch(/config\.json: no data for 300 ms/);
    expect(tree(dir)).toEqual([]);
  });

  test.each(['../../escape.txt', 'a/../../escape.txt', '..'])('fails: a listed file named %s is refused before anything is written', async (name) => {
    await startHub({ extraSiblings: [{ rfilename: name, size: 3 }] });
    const parent = tmp();
    const dir = path.join(parent, 'models');
    const err = await fetchModel('hf://acme/iris', dir, { env: env(), ...quick }).catch((e) => e);
    expect(err).toMatchObject({ code: 'INVALID_URI' });
    expect(err.message).toMatch(/refusing to write .* leaves the model directory/);
    expect(tree(parent)).toEqual(['models/']);
    expect(hub.requests.filter((r) => r.includes('/resolve/'))).toEqual([]);
  });

  test('fails: an https Hub that redirects a download to http is refused (real process, self-signed https on loopback)', async () => {
    const dir = tmp();
    const caFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', caFile], { stdio: 'ignore' });
    await startHub();
    // An https front of the Hub whose resolve answers point at the plain-http CDN.
    const front = https.createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (req, res) => {
      if (req.url?.startsWith('/api/')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ sha: MAIN, siblings: [{ rfilename: 'model.onnx', size: IRIS.length }] }));
      } else {
        res.writeHead(302, { location: `${hub.url}/acme/iris/resolve/${MAIN}/model.onnx` });
        res.end();
      }
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    try {
      const out = path.join(dir, 'models');
      const r = await runCli(['storage-initializer', 'hf://acme/iris', out, '--storage-max-attempts', '1'],
        { HF_ENDPOINT: `https://127.0.0.1:${(front.address() as AddressInfo).port}`, NODE_EXTRA_CA_CERTS: caFile, HF_TOKEN: 'hf_test_token' });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/\[REDIRECT\].*refusing the redirect to GET http:\/\/127\.0\.0\.1:\d+\/acme\/iris\/resolve\/.*it downgrades https to http/);
      expect(hub.requests).toEqual([]);
    } finally {
      front.closeAllConnections();
      await new Promise((r) => front.close(r));
    }
  });
});
