// s3:// with the credentials EKS gives a pod, through the AWS SDK's default chain, against real
// protocol peers on loopback: a fake STS (IRSA's AssumeRoleWithWebIdentity) and a fake EKS Pod
// Identity agent hand out credentials; s3rver (a real S3-compatible server) checks the SigV4
// signatures made with them; a recording proxy in front of it sees the session tokens.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { FakeCredentialServer, startFakePodIdentityAgent, startFakeSts } from './fake-sts';
import { S3rver, S3RVER_KEYS, SeenRequest, startRecordingProxy, startS3rver } from './s3rver';
import { runCli, tempDir, tree } from '../attacks/storage-helpers';

const MODELS = path.join(__dirname, '..', '..', 'fixtures', 'models');
const IRIS = readFileSync(path.join(MODELS, 'iris-logreg.onnx'));
const ROLE = 'arn:aws:iam::123456789012:role/model-reader';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.fake-projected-service-account-token.sig';

let s3: S3rver;
let proxy: { endpoint: string; seen: SeenRequest[]; close(): Promise<void> };
let issuedBy: FakeCredentialServer[] = [];
let home: string;

beforeAll(async () => {
  s3 = await startS3rver(['models']);
  await s3.put('models', 'iris/v1/model.onnx', IRIS);
  for (let i = 0; i < 4; i++) await s3.put('models', `iris/v1/extra/part-${i}.bin`, Buffer.from(`part ${i}`));
  // Refuses a session token whose fake-issued credentials have expired, as S3 does (ExpiredToken).
  proxy = await startRecordingProxy(s3.endpoint, (seen) => {
    const issued = issuedBy.flatMap((f) => f.issued).find((c) => c.sessionToken === seen.securityToken);
    return issued && issued.expiresAt < seen.at ? { status: 400, code: 'ExpiredToken' } : undefined;
  });
  home = tempDir('home'); // no ~/.aws: the shared-config providers find nothing
});

afterAll(async () => {
  await proxy.close();
  await s3.stop();
});

afterEach(async () => {
  for (const f of issuedBy) await f.close();
  issuedBy = [];
  proxy.seen.length = 0;
});

/** The environment of a pod on EKS, minus the variables each test adds. */
const podEnv = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => ({
  HOME: home, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: proxy.endpoint, AWS_EC2_METADATA_DISABLED: 'true', ...extra,
});

test('IRSA: the web identity token file is exchanged at STS, and S3 requests are signed with the session (fake STS on loopback)', async () => {
  const sts = await startFakeSts({ roleArn: ROLE, webIdentityToken: TOKEN, ...S3RVER_KEYS, lifetimeMs: 15 * 60_000 });
  issuedBy.push(sts);
  const tokenFile = path.join(tempDir('irsa'), 'token');
  writeFileSync(tokenFile, TOKEN);
  const dir = tempDir('irsa-model');
  const r = await runCli(['storage-initializer', 's3://models/iris/v1/model.onnx', dir, '--storage-auth', 'workload-identity'], podEnv({
    AWS_ROLE_ARN: ROLE, AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ENDPOINT_URL_STS: sts.url,
  }));
  expect(r.stderr).not.toContain('error');
  expect(r.code).toBe(0);
  expect(readFileSync(path.join(dir, 'model.onnx')).equals(IRIS)).toBe(true);
  expect(sts.issued).toHaveLength(1);
  expect(sts.refused).toEqual([]);
  // Every request reached s3rver signed (it checks the signature) and carried the STS session.
  expect(proxy.seen.length).toBeGreaterThanOrEqual(2);
  for (const seen of proxy.seen) {
    expect(seen.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=S3RVER\//);
    expect(seen.securityToken).toBe('fake-sts-session-1');
  }
});

test('IRSA: credentials close to expiry are refreshed at STS, and no request uses an expired one (fake STS on loopback)', async () => {
  // Two-second credentials: inside the SDK's refresh window from the start, so it asks again.
  const sts = await startFakeSts({ roleArn: ROLE, webIdentityToken: TOKEN, ...S3RVER_KEYS, lifetimeMs: 2000 });
  issuedBy.push(sts);
  const tokenFile = path.join(tempDir('irsa-refresh'), 'token');
  writeFileSync(tokenFile, TOKEN);
  const dir = tempDir('irsa-refresh-model');
  const r = await runCli(['storage-initializer', 's3://models/iris/v1/', dir, '--storage-auth', 'workload-identity'], podEnv({
    AWS_ROLE_ARN: ROLE, AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ENDPOINT_URL_STS: sts.url,
  }));
  expect(r.code).toBe(0);
  expect(tree(dir)).toEqual(['extra/', 'extra/part-0.bin', 'extra/part-1.bin', 'extra/part-2.bin', 'extra/part-3.bin', 'model.onnx']);
  expect(sts.issued.length).toBeGreaterThan(1);
  const tokens = new Set(proxy.seen.map((s) => s.securityToken));
  expect(tokens.size).toBeGreaterThan(1);
  for (const t of tokens) expect(sts.issued.map((c) => c.sessionToken)).toContain(t);
});

test('IRSA: a token STS refuses fails with AUTH naming the chain and the annotation to check (fake STS on loopback)', async () => {
  const sts = await startFakeSts({ roleArn: ROLE, webIdentityToken: TOKEN, ...S3RVER_KEYS, lifetimeMs: 15 * 60_000 });
  issuedBy.push(sts);
  const tokenFile = path.join(tempDir('irsa-bad'), 'token');
  writeFileSync(tokenFile, 'not-the-token');
  const dir = tempDir('irsa-bad-model');
  const r = await runCli(['storage-initializer', 's3://models/iris/v1/model.onnx', dir, '--storage-auth', 'workload-identity'], podEnv({
    AWS_ROLE_ARN: ROLE, AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile, AWS_ENDPOINT_URL_STS: sts.url,
  }));
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/error \[AUTH\]: --storage-auth workload-identity: the AWS default credential chain found no credentials/);
  expect(r.stderr).toContain('eks.amazonaws.com/role-arn');
  expect(sts.refused[0]).toMatch(/InvalidIdentityToken/);
  expect(proxy.seen).toEqual([]);
  expect(tree(dir)).toEqual([]);
});

test('EKS Pod Identity: the agent is asked with the pod token, and S3 requests are signed with its session (fake agent on loopback)', async () => {
  const agent = await startFakePodIdentityAgent({ authorizationToken: TOKEN, ...S3RVER_KEYS, lifetimeMs: 15 * 60_000 });
  issuedBy.push(agent);
  const tokenFile = path.join(tempDir('pod-identity'), 'eks-pod-identity-token');
  writeFileSync(tokenFile, TOKEN);
  const dir = tempDir('pod-identity-model');
  const r = await runCli(['storage-initializer', 's3://models/iris/v1/model.onnx', dir], podEnv({
    AWS_CONTAINER_CREDENTIALS_FULL_URI: `${agent.url}/v1/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile,
  }));
  expect(r.stderr).not.toContain('error');
  expect(r.code).toBe(0);
  expect(readFileSync(path.join(dir, 'model.onnx')).equals(IRIS)).toBe(true);
  expect(agent.issued).toHaveLength(1);
  for (const seen of proxy.seen) expect(seen.securityToken).toBe('fake-pod-identity-session-1');
});

test('with no credentials anywhere, auto falls back to anonymous requests and says so', async () => {
  const dir = tempDir('anon');
  const r = await runCli(['storage-initializer', 's3://models/iris/v1/model.onnx', dir], podEnv({}));
  expect(r.stderr).toMatch(/no AWS credentials found .*; sending anonymous requests/);
  // s3rver serves anonymous reads (it has no bucket policies); the point is that nothing was signed.
  expect(r.code).toBe(0);
  expect(proxy.seen.length).toBeGreaterThan(0);
  for (const seen of proxy.seen) expect(seen.authorization).toBeUndefined();
});

test('--storage-auth anonymous never looks for credentials, even when a chain would find some', async () => {
  const dir = tempDir('anon-forced');
  const r = await runCli(['storage-initializer', 's3://models/iris/v1/model.onnx', dir, '--storage-auth=anonymous'], podEnv({
    AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER',
  }));
  expect(r.code).toBe(0);
  for (const seen of proxy.seen) expect(seen.authorization).toBeUndefined();
});

test('--storage-auth secret without keys is a clear AUTH error', async () => {
  const r = await runCli(['storage-initializer', 's3://models/iris/v1/model.onnx', tempDir('secret-missing'), '--storage-auth', 'secret'], podEnv({}));
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/error \[AUTH\]: --storage-auth secret, but no AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY/);
});
