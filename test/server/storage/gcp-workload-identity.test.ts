// gs:// with the credentials GKE gives a pod (Workload Identity: tokens from the metadata server),
// through google-auth-library's Application Default Credentials and a bearer token on GCS's JSON
// API. Real protocol peers on loopback: a fake GKE metadata server hands out short-lived tokens, a
// fake GCS checks each request's token is one it handed out and still valid.
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { FakeMetadataServer, startFakeGceMetadata } from './fake-gce-metadata';
import { FakeGcs, startFakeGcs } from './fake-gcs';
import { FakeGoogleSts, startFakeGoogleSts } from './fake-google-sts';
import { runCli, tempDir, tree } from '../attacks/storage-helpers';

const MODELS = path.join(__dirname, '..', '..', 'fixtures', 'models');
const IRIS = readFileSync(path.join(MODELS, 'iris-logreg.onnx'));

let metadata: FakeMetadataServer;
let sts: FakeGoogleSts;
const AUDIENCE = '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/k8s/providers/cluster';
const SUBJECT_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.fake-kubernetes-service-account-token.sig';
let gcs: FakeGcs;
let home: string;

beforeAll(async () => {
  // 60-second tokens: inside the client's eager-refresh window, so it fetches a new one per request.
  metadata = await startFakeGceMetadata({ lifetimeSeconds: 60, serviceAccount: 'model-reader@fake-project.iam.gserviceaccount.com' });
  sts = await startFakeGoogleSts({ audience: AUDIENCE, subjectToken: SUBJECT_TOKEN, lifetimeSeconds: 60 });
  const objects: Record<string, Buffer> = { 'iris/v1/model.onnx': IRIS };
  for (let i = 0; i < 4; i++) objects[`iris/v1/extra/part-${i}.bin`] = Buffer.from(`part ${i}`);
  gcs = await startFakeGcs({
    buckets: { 'private-models': objects, 'public-models': { 'iris/model.onnx': IRIS } },
    publicBuckets: ['public-models'],
    tokenValid: (t) => metadata.valid(t) || sts.valid(t),
  });
  home = tempDir('gcp-home'); // no gcloud user credentials
});

afterAll(async () => {
  await sts.close();
  await gcs.close();
  await metadata.close();
});

beforeEach(() => {
  gcs.authorizations.length = 0;
  metadata.issued.length = 0;
});

const podEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HOME: home, STORAGE_EMULATOR_HOST: gcs.url, ...extra });

test('GKE Workload Identity: the metadata server\'s token is sent as a bearer token (fake metadata server and fake GCS on loopback)', async () => {
  const dir = tempDir('gke');
  const r = await runCli(['storage-initializer', 'gs://private-models/iris/v1/model.onnx', dir, '--storage-auth', 'workload-identity'],
    podEnv({ GCE_METADATA_HOST: metadata.host }));
  expect(r.stderr).not.toContain('error');
  expect(r.code).toBe(0);
  expect(readFileSync(path.join(dir, 'model.onnx')).equals(IRIS)).toBe(true);
  expect(metadata.refused).toEqual([]);
  expect(metadata.issued.length).toBeGreaterThan(0);
  expect(metadata.issued[0].scopes).toContain('https://www.googleapis.com/auth/devstorage.read_only');
  const issued = metadata.issued.map((t) => `Bearer ${t.token}`);
  expect(gcs.authorizations.length).toBeGreaterThanOrEqual(2);
  for (const a of gcs.authorizations) expect(issued).toContain(a);
});

test('GKE Workload Identity: short-lived tokens are refreshed, and every request carries a valid one (fake metadata server and fake GCS on loopback)', async () => {
  const dir = tempDir('gke-prefix');
  const r = await runCli(['storage-initializer', 'gs://private-models/iris/v1', dir], podEnv({ GCE_METADATA_HOST: metadata.host }));
  expect(r.code).toBe(0);
  expect(tree(dir)).toEqual(['extra/', 'extra/part-0.bin', 'extra/part-1.bin', 'extra/part-2.bin', 'extra/part-3.bin', 'model.onnx']);
  expect(metadata.issued.length).toBeGreaterThan(1);
  expect(new Set(gcs.authorizations).size).toBeGreaterThan(1);
});

test('GOOGLE_APPLICATION_CREDENTIALS: an external_account file (Workload Identity Federation) is exchanged at STS for a bearer token (fake Google STS and fake GCS on loopback)', async () => {
  const dir = tempDir('wif');
  const subjectFile = path.join(tempDir('wif-token'), 'token');
  writeFileSync(subjectFile, SUBJECT_TOKEN);
  const credentialsFile = path.join(tempDir('wif-config'), 'credentials.json');
  writeFileSync(credentialsFile, JSON.stringify({
    type: 'external_account',
    audience: AUDIENCE,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: sts.url,
    credential_source: { file: subjectFile },
  }));
  const r = await runCli(['storage-initializer', 'gs://private-models/iris/v1/model.onnx', dir, '--storage-auth', 'workload-identity'],
    podEnv({ GOOGLE_APPLICATION_CREDENTIALS: credentialsFile, METADATA_SERVER_DETECTION: 'none' }));
  expect(r.stderr).not.toContain('error');
  expect(r.code).toBe(0);
  expect(readFileSync(path.join(dir, 'model.onnx')).equals(IRIS)).toBe(true);
  expect(sts.refused).toEqual([]);
  expect(sts.issued.length).toBeGreaterThan(0);
  expect(sts.issued[0].scopes).toContain('https://www.googleapis.com/auth/devstorage.read_only');
  for (const a of gcs.authorizations) expect(sts.issued.map((t) => `Bearer ${t.token}`)).toContain(a);
});

test('without any Google credentials, workload-identity fails with AUTH naming the annotation to check (fake GCS on loopback, never reached)', async () => {
  const dir = tempDir('gke-none');
  const r = await runCli(['storage-initializer', 'gs://private-models/iris/v1/model.onnx', dir, '--storage-auth', 'workload-identity'],
    podEnv({ METADATA_SERVER_DETECTION: 'none' }));
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/error \[AUTH\]: --storage-auth workload-identity: Google Application Default Credentials found no credentials/);
  expect(r.stderr).toContain('iam.gke.io/gcp-service-account');
  expect(gcs.authorizations).toEqual([]);
  expect(tree(dir)).toEqual([]);
});

test('without credentials, auto reads a public bucket anonymously, and a private one fails with AUTH (fake GCS on loopback)', async () => {
  const pub = await runCli(['storage-initializer', 'gs://public-models/iris/model.onnx', tempDir('gcs-public')], podEnv({ METADATA_SERVER_DETECTION: 'none' }));
  expect(pub.stderr).toMatch(/no Google credentials found .*; sending anonymous requests/);
  expect(pub.code).toBe(0);
  const priv = await runCli(['storage-initializer', 'gs://private-models/iris/v1/model.onnx', tempDir('gcs-private')], podEnv({ METADATA_SERVER_DETECTION: 'none' }));
  expect(priv.code).toBe(1);
  expect(priv.stderr).toMatch(/error \[AUTH\]: gs:\/\/private-models\/iris\/v1\/model\.onnx: access denied, HTTP 401: Anonymous caller/);
  expect(gcs.authorizations.every((a) => a === undefined)).toBe(true);
});

test('--storage-auth anonymous never asks the metadata server (fake metadata server and fake GCS on loopback)', async () => {
  const r = await runCli(['storage-initializer', 'gs://public-models/iris/model.onnx', tempDir('gcs-anon'), '--storage-auth', 'anonymous'],
    podEnv({ GCE_METADATA_HOST: metadata.host }));
  expect(r.code).toBe(0);
  expect(metadata.issued).toEqual([]);
});
