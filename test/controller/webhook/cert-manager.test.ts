/**
 * `--webhook-cert-mode cert-manager`: the webhooks serve the certificate cert-manager writes (here
 * written by the test into a directory laid out like the mounted Secret, and into a Secret of the
 * test cluster) and pick up a renewed one without a restart. No cert-manager runs here.
 */
import { X509Certificate } from 'crypto';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort, presentedCertificate } from './webhook-fixtures';
import * as contract from '../../../src/contract';
import { readCertManagerCertificate } from '../../../src/controller/webhook/cert-manager';
import { createCertificateAuthority, issueServingCertificate } from '../../../src/controller/webhook/certificates';
import { runWebhooks, RunningWebhooks } from '../../../src/controller/webhook/run';
import { clusterClient, ensureNamespace, hasCluster, testNamespace } from '../../cluster/server-check';

const DAY = 86_400_000;
const noKube = { request: async () => { throw new Error('cert-manager mode with a directory makes no API call'); } };

function options(port: number, certDir: string | undefined, kube: any, namespace = 'unused') {
  return {
    certMode: contract.WEBHOOK_CERT_MODES.certManager,
    port,
    host: '127.0.0.1',
    namespace,
    service: 'hook',
    tlsSecret: 'hook-tls',
    validatingConfiguration: 'v',
    mutatingConfiguration: 'm',
    certHosts: [],
    certDir,
    certValidityMs: DAY,
    maxBodyBytes: 65_536,
    requestTimeoutMs: 5_000,
    storageInitializerImage: 'i',
    validateResource: () => undefined,
    kube,
    isLeader: () => true,
    log: () => undefined,
    pollIntervalMs: 60_000,
  };
}

test('from the mounted directory: not ready until the files exist, then serves them and reloads a renewed certificate', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cert-manager-'));
  let webhooks: RunningWebhooks | undefined;
  try {
    const port = await freePort();
    webhooks = runWebhooks(options(port, dir, noKube));
    await webhooks.refresh();
    expect(webhooks.notReady()).toEqual(['webhook certificate not available yet (cert-manager)']);
    const ca = await createCertificateAuthority('cert-manager-ca', DAY);
    const write = async (c: { certPem: string; keyPem: string }) => {
      await fs.writeFile(path.join(dir, 'tls.crt'), c.certPem);
      await fs.writeFile(path.join(dir, 'tls.key'), c.keyPem);
    };
    const first = await issueServingCertificate(ca, ['127.0.0.1'], DAY);
    await write(first);
    await webhooks.refresh();
    expect(webhooks.notReady()).toEqual([]);
    expect(await presentedCertificate(port)).toBe(new X509Certificate(first.certPem).fingerprint256);
    const renewed = await issueServingCertificate(ca, ['127.0.0.1'], DAY);
    await write(renewed);
    await webhooks.refresh();
    expect(await presentedCertificate(port)).toBe(new X509Certificate(renewed.certPem).fingerprint256);
  } finally {
    await webhooks?.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

(hasCluster() ? test : test.skip)('through the API: reads tls.crt and tls.key from the Secret in the test cluster', async () => {
  const client = await clusterClient();
  try {
    const ns = testNamespace(__filename);
    await ensureNamespace(client, ns);
    const source = { kube: client, namespace: ns, secretName: 'hook-tls' };
    expect(await readCertManagerCertificate(source)).toBeUndefined();
    const cert = await issueServingCertificate(await createCertificateAuthority('ca', DAY), ['hook.x.svc'], DAY);
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const r = await client.apply({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'hook-tls', namespace: ns },
      data: { 'tls.crt': b64(cert.certPem), 'tls.key': b64(cert.keyPem) },
    }, { force: true });
    expect(r.status).toBeLessThan(300);
    expect(await readCertManagerCertificate(source)).toEqual(cert);
  } finally {
    client.close();
  }
}, 300_000);
