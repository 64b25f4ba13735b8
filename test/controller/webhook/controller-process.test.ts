/**
 * The webhooks inside the real controller process (assets/tool/cli.js, spawned by the harness)
 * against the test cluster's API server: url-based configurations point at the process on
 * 127.0.0.1 (the installed ones use the Service, which this cluster cannot route), with
 * `--webhook-cert-hosts 127.0.0.1` in its self-signed certificate and the TEST-ONLY short validity,
 * so a rotation happens during the test. No kubelet runs: pods are created, never started.
 */
import { X509Certificate } from 'crypto';
import * as contract from '../../../src/contract';
import { SECRET_KEYS } from '../../../src/controller/webhook/self-signed';
import { cluster, ControllerProcess, eventually, freshNamespace, installCrds, Json, KubeClientLike, startController, stopAll } from '../harness';
import { ADMISSION, configurations, freePort, labelledPod, plainPod, presentedCertificate } from './webhook-fixtures';
import type { ClusterState } from '../../cluster/server-check';

let state: ClusterState;
let client: KubeClientLike;
let ns: string;
let port: number;
let controller: ControllerProcess;
const names = () => ({ pods: `${ns}-proc-pods`, validation: `${ns}-proc-validation`, secret: 'webhook-tls' });

beforeAll(async () => {
  ({ state, client } = await cluster());
  await installCrds(client);
  ns = await freshNamespace(client, 'webhook-proc');
  await eventually('the namespace\'s default ServiceAccount', async () => (await client.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200);
  port = await freePort();
  for (const config of configurations(`${ns}-proc`, port, ns)) {
    const r = await client.apply(config, { force: true });
    if (r.status >= 300) throw new Error(`could not apply ${config.kind}: ${JSON.stringify(r.body)}`);
  }
  controller = await startController(state, {
    namespace: ns,
    args: [
      '--leader-elect', 'false', '--watch-namespace', ns,
      '--webhook-cert-mode', contract.WEBHOOK_CERT_MODES.selfSigned, '--webhook-port', String(port), '--webhook-cert-hosts', '127.0.0.1',
      '--tls-secret', names().secret, '--validating-webhook-configuration', names().validation, '--mutating-webhook-configuration', names().pods,
    ],
    // TEST ONLY: 12 s certificates, renewed after 8 s.
    env: { [contract.CONTROLLER_WEBHOOK_ENV.testOnlyCertValiditySeconds]: '12' },
  });
}, 360_000);

afterAll(async () => {
  await stopAll();
  await client?.request('DELETE', `${ADMISSION}/mutatingwebhookconfigurations/${names().pods}`);
  await client?.request('DELETE', `${ADMISSION}/validatingwebhookconfigurations/${names().validation}`);
  client?.close();
});

const createPod = (pod: Json) => client.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: pod });
const secretCert = async () => (await client.request('GET', `/api/v1/namespaces/${ns}/secrets/${names().secret}`)).body.data?.[SECRET_KEYS.cert] as string | undefined;

test('the controller process creates the TLS Secret, patches caBundle, and its webhook injects the storage initializer into a Pod created through the API server', async () => {
  expect(await secretCert()).toBeDefined();
  const caBundle = (await client.request('GET', `/api/v1/namespaces/${ns}/secrets/${names().secret}`)).body.data[SECRET_KEYS.caBundle];
  for (const path of [`mutatingwebhookconfigurations/${names().pods}`, `validatingwebhookconfigurations/${names().validation}`]) {
    expect((await client.request('GET', `${ADMISSION}/${path}`)).body.webhooks[0].clientConfig.caBundle).toBe(caBundle);
  }
  const r = await createPod(labelledPod('from-process'));
  expect(r.status).toBe(201);
  expect(r.body.spec.initContainers.map((c: Json) => c.name)).toEqual(['storage-initializer']);
  // The controller process is the bundled tool: its default image carries package.json's version,
  // not the version jest puts in its place (test/release/test-version.ts).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  expect(r.body.spec.initContainers[0].image).toBe(`${contract.SERVER_IMAGE_REPOSITORY}:${require('../../../package.json').version}`);
});

test('fails: the controller process refuses an invalid ModelEndpoint with the field-naming synth message', async () => {
  const r = await client.request('POST', `/apis/${contract.CRD_GROUP}/${contract.CRD_VERSION}/namespaces/${ns}/modelendpoints`, {
    body: { apiVersion: `${contract.CRD_GROUP}/${contract.CRD_VERSION}`, kind: 'ModelEndpoint', metadata: { name: 'too-slow' }, spec: { modelName: 'iris', storageUri: 's3://m/iris', timeout: '700s' } },
  });
  expect(r.status).toBe(422);
  expect(r.body.message).toMatch(/denied the request: spec\.timeout: 'timeout' is 700 seconds, above Knative's default max-revision-timeout-seconds/);
});

test('the controller process rotates its certificate (TEST-ONLY 12 s validity) and serves the new one while pods keep being admitted', async () => {
  const first = await secretCert();
  let i = 0;
  await eventually('a rotated certificate in the Secret', async () => {
    const r = await createPod(labelledPod(`rotation-${i++}`));
    if (r.status !== 201) throw new Error(`pod refused during rotation: ${r.status} ${r.body?.message}`);
    return (await secretCert()) !== first;
  }, 30_000);
  const rotated = Buffer.from((await secretCert())!, 'base64').toString('utf8');
  await eventually('the process to serve the rotated certificate', async () => (await presentedCertificate(port)) === new X509Certificate(rotated).fingerprint256, 10_000);
  expect((await createPod(labelledPod('after-rotation'))).status).toBe(201);
  expect(controller.logs.some((l) => l.msg === 'rotated the webhook certificate')).toBe(true);
}, 60_000);

test('with the controller stopped, an unrelated pod is still admitted (the objectSelector keeps it from the webhook)', async () => {
  await controller.stop();
  expect((await createPod(plainPod('unrelated-during-outage'))).status).toBe(201);
  expect((await createPod(labelledPod('labelled-during-outage'))).status).toBe(500);
});
