/**
 * The self-signed PKI's passes (src/controller/webhook/self-signed.ts) against the test cluster's API
 * server, with the clock passed in: only the leader writes, followers serve the leader's certificate,
 * the CA's rotation trusts old and new CA until the old one expires, and caBundle follows.
 */
import { X509Certificate } from 'crypto';
import { ADMISSION, configurations } from './webhook-fixtures';
import { splitPemBundle } from '../../../src/controller/webhook/certificates';
import { SECRET_KEYS, SelfSignedCertificates } from '../../../src/controller/webhook/self-signed';
import { clusterClient, ensureNamespace, hasCluster, testNamespace } from '../../cluster/server-check';

const describeWithCluster = hasCluster() ? describe : describe.skip;
const DAY = 86_400_000;
const T0 = new Date('2027-01-01T00:00:00Z');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

describeWithCluster('self-signed certificates (the clock passed in)', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let client: any;
  const ns = testNamespace(__filename);
  const name = `${ns}-pki`;
  let leader = false;
  let pki: SelfSignedCertificates;

  beforeAll(async () => {
    client = await clusterClient();
    await ensureNamespace(client, ns);
    // Port 1: never called; these configurations only carry the caBundle.
    for (const config of configurations(name, 1, ns)) await client.apply(config, { force: true });
    pki = new SelfSignedCertificates({
      kube: client,
      namespace: ns,
      secretName: 'pki-tls',
      hosts: [`hook.${ns}.svc`, '127.0.0.1'],
      validatingConfiguration: `${name}-validation`,
      mutatingConfiguration: `${name}-pods`,
      certValidityMs: DAY,
      isLeader: () => leader,
      log: () => undefined,
    });
  }, 300_000);
  afterAll(async () => {
    await client.request('DELETE', `${ADMISSION}/mutatingwebhookconfigurations/${name}-pods`);
    await client.request('DELETE', `${ADMISSION}/validatingwebhookconfigurations/${name}-validation`);
    client.close();
  });

  const secret = async (): Promise<Obj | undefined> => {
    const r = await client.request('GET', `/api/v1/namespaces/${ns}/secrets/pki-tls`);
    return r.status === 200 ? r.body : undefined;
  };
  const pem = (s: Obj, key: string) => Buffer.from(s.data[key], 'base64').toString('utf8');
  const caBundles = async () => Promise.all([`mutatingwebhookconfigurations/${name}-pods`, `validatingwebhookconfigurations/${name}-validation`]
    .map(async (p) => (await client.request('GET', `${ADMISSION}/${p}`)).body.webhooks[0].clientConfig.caBundle));
  const subjects = (bundle: string) => splitPemBundle(bundle).map((c) => new X509Certificate(c).fingerprint256);

  test('a follower writes nothing and has nothing to serve before the leader made the certificate', async () => {
    expect(await pki.pass(T0)).toEqual({ serving: undefined, rotated: false });
    expect(await secret()).toBeUndefined();
  });

  test('the leader creates the CA and certificate and patches caBundle; a follower then serves the same certificate', async () => {
    leader = true;
    const created = await pki.pass(T0);
    expect(created.rotated).toBe(true);
    const s = (await secret())!;
    expect(pem(s, SECRET_KEYS.cert)).toBe(created.serving!.certPem);
    expect(await caBundles()).toEqual([s.data[SECRET_KEYS.caBundle], s.data[SECRET_KEYS.caBundle]]);
    leader = false;
    expect((await pki.pass(T0)).serving).toEqual(created.serving);
    leader = true;
    expect((await pki.pass(new Date(T0.getTime() + DAY / 2))).rotated).toBe(false);
  });

  test('the serving certificate is renewed after two thirds of its lifetime, signed by the same CA', async () => {
    const before = (await secret())!;
    const r = await pki.pass(new Date(T0.getTime() + 0.8 * DAY));
    expect(r.rotated).toBe(true);
    const after = (await secret())!;
    expect(pem(after, SECRET_KEYS.cert)).not.toBe(pem(before, SECRET_KEYS.cert));
    expect(after.data[SECRET_KEYS.caBundle]).toBe(before.data[SECRET_KEYS.caBundle]);
    expect(new X509Certificate(pem(after, SECRET_KEYS.cert)).checkIssued(new X509Certificate(pem(after, SECRET_KEYS.caBundle)))).toBe(true);
  });

  test('the CA is renewed after two thirds of its (10x) lifetime: both CAs are trusted until the old one expires', async () => {
    const oldCa = subjects(pem((await secret())!, SECRET_KEYS.caBundle));
    expect(oldCa).toHaveLength(1);
    await pki.pass(new Date(T0.getTime() + 7.5 * DAY));
    const during = (await secret())!;
    const both = subjects(pem(during, SECRET_KEYS.caBundle));
    expect(both).toHaveLength(2);
    expect(both[1]).toBe(oldCa[0]);
    // The new serving certificate is signed by the new CA (first in the bundle), and the API server trusts both.
    const newCa = new X509Certificate(splitPemBundle(pem(during, SECRET_KEYS.caBundle))[0]);
    expect(new X509Certificate(pem(during, SECRET_KEYS.cert)).checkIssued(newCa)).toBe(true);
    expect(await caBundles()).toEqual([during.data[SECRET_KEYS.caBundle], during.data[SECRET_KEYS.caBundle]]);

    await pki.pass(new Date(T0.getTime() + 10.5 * DAY));
    const afterExpiry = subjects(pem((await secret())!, SECRET_KEYS.caBundle));
    expect(afterExpiry).toEqual([both[0]]);
  });
});
