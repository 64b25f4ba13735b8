/**
 * The real kube-apiserver of the test cluster calling our admission webhooks over TLS.
 *
 * The webhooks run in this jest process on 127.0.0.1 (src/controller/webhook/run.ts: the same
 * server, handlers and self-signed TLS the controller process starts), and the configurations point
 * at them with `clientConfig.url` instead of the installed Service, because the test cluster has no
 * Service network. Their namespaceSelector limits them to this file's namespace, so other test files
 * sharing the cluster never reach them. No kubelet runs: pods are created and inspected, never started.
 */
import { X509Certificate } from 'crypto';
import { Chart, Duration, Testing } from 'cdk8s';
import { ADMISSION, configurations, freePort, labelledPod, plainPod, presentedCertificate } from './webhook-fixtures';
import { ModelEndpoint, StorageUri } from '../../../src';
import * as contract from '../../../src/contract';
import { validateCustomResource } from '../../../src/controller/spec';
import { servesHost } from '../../../src/controller/webhook/certificates';
import { runWebhooks, RunningWebhooks, WebhookRunOptions } from '../../../src/controller/webhook/run';
import { SECRET_KEYS } from '../../../src/controller/webhook/self-signed';
import { customResourceDefinitions } from '../../../src/render/controller/custom-resource-definitions';
import { clusterClient, ensureNamespace, hasCluster, testNamespace } from '../../cluster/server-check';

const describeWithCluster = hasCluster() ? describe : describe.skip;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

describeWithCluster('the real API server calls our webhooks over TLS (webhooks in process on 127.0.0.1, url-based configurations)', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let client: any;
  const ns = testNamespace(__filename);
  const logs: string[] = [];
  const created: string[] = [];

  async function createPod(pod: Obj): Promise<{ status: number; body: Obj }> {
    const r = await client.request('POST', `/api/v1/namespaces/${ns}/pods`, { body: pod });
    if (r.status < 300) created.push(pod.metadata.name);
    return r;
  }

  interface Started { webhooks: RunningWebhooks; port: number; secret: string }

  async function start(name: string, overrides: Partial<WebhookRunOptions> = {}): Promise<Started> {
    const port = await freePort();
    for (const config of configurations(name, port, ns)) {
      const r = await client.apply(config, { force: true });
      if (r.status >= 300) throw new Error(`could not apply ${config.kind}: ${r.body?.message}`);
    }
    const secret = `${name}-tls`;
    const webhooks = runWebhooks({
      certMode: contract.WEBHOOK_CERT_MODES.selfSigned,
      port,
      host: '127.0.0.1',
      namespace: ns,
      service: 'cdk8s-model-serving-webhook',
      tlsSecret: secret,
      validatingConfiguration: `${name}-validation`,
      mutatingConfiguration: `${name}-pods`,
      certHosts: ['127.0.0.1'],
      certValidityMs: 365 * 86_400_000,
      maxBodyBytes: contract.CONTROLLER_WEBHOOK_DEFAULTS.maxBodyBytes,
      requestTimeoutMs: 10_000,
      storageInitializerImage: contract.DEFAULT_SERVER_IMAGE,
      validateResource: validateCustomResource,
      kube: client,
      isLeader: () => true,
      log: (level, msg, fields) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`),
      ...overrides,
    });
    await webhooks.refresh();
    if (webhooks.port() === undefined) throw new Error(`the webhooks did not start: ${webhooks.notReady().join('; ')}\n${logs.join('\n')}`);
    return { webhooks, port, secret };
  }

  let main: Started;

  beforeAll(async () => {
    client = await clusterClient();
    await ensureNamespace(client, ns);
    // The ServiceAccount admission plugin refuses pods until the namespace's default account exists.
    for (let i = 0; i < 150; i++) {
      if ((await client.request('GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Our CRDs, as ModelServingController installs them (server-side apply: the same objects other files may apply).
    for (const crd of customResourceDefinitions()) {
      const r = await client.apply(crd, { force: true });
      if (r.status >= 300) throw new Error(`could not apply CRD ${(crd as Obj).metadata.name}: ${r.body?.message}`);
    }
    for (let i = 0; i < 150; i++) {
      const { body } = await client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${contract.CRD_KINDS.modelEndpoint.plural}.${contract.CRD_GROUP}`);
      if ((body.status?.conditions ?? []).some((c: Obj) => c.type === 'Established' && c.status === 'True')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    main = await start(`${ns}-main`);
  }, 300_000); // the cluster may still be starting

  afterAll(async () => {
    await main?.webhooks.close();
    for (const name of [`${ns}-main`, `${ns}-rotate`]) {
      await client.request('DELETE', `${ADMISSION}/mutatingwebhookconfigurations/${name}-pods`);
      await client.request('DELETE', `${ADMISSION}/validatingwebhookconfigurations/${name}-validation`);
    }
    for (const pod of created) await client.request('DELETE', `/api/v1/namespaces/${ns}/pods/${pod}`);
    client.close();
  });

  test('self-signed mode creates the TLS Secret and patches its CA into both configurations', async () => {
    const secret = (await client.request('GET', `/api/v1/namespaces/${ns}/secrets/${main.secret}`)).body;
    expect(secret.type).toBe('kubernetes.io/tls');
    const pem = (k: string) => Buffer.from(secret.data[k], 'base64').toString('utf8');
    expect(servesHost(pem(SECRET_KEYS.cert), pem(SECRET_KEYS.caBundle), `cdk8s-model-serving-webhook.${ns}.svc`)).toBe(true);
    expect(servesHost(pem(SECRET_KEYS.cert), pem(SECRET_KEYS.caBundle), '127.0.0.1')).toBe(true);
    for (const path of [`mutatingwebhookconfigurations/${ns}-main-pods`, `validatingwebhookconfigurations/${ns}-main-validation`]) {
      const config = (await client.request('GET', `${ADMISSION}/${path}`)).body;
      expect(config.webhooks[0].clientConfig.caBundle).toBe(secret.data[SECRET_KEYS.caBundle]);
    }
    expect(await presentedCertificate(main.port)).toBe(new X509Certificate(pem(SECRET_KEYS.cert)).fingerprint256);
  });

  test('a labelled Pod created through the API server gets the storage initializer from our webhook', async () => {
    const r = await createPod(labelledPod('labelled'));
    expect(r.status).toBe(201);
    const spec = r.body.spec;
    expect(spec.initContainers.map((c: Obj) => c.name)).toEqual(['storage-initializer']);
    expect(spec.initContainers[0].args).toEqual([contract.SERVER_COMMANDS.storageInitializer, 's3://models/iris/v1', contract.MODEL_DIR]);
    expect(spec.volumes).toContainEqual({ name: 'model-dir', emptyDir: { sizeLimit: contract.DEFAULT_MODEL_VOLUME_SIZE_LIMIT } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'model-dir', mountPath: contract.MODEL_DIR, readOnly: true });
  });

  test('a pod without the label is left untouched', async () => {
    const r = await createPod(plainPod('unrelated'));
    expect(r.status).toBe(201);
    expect(r.body.spec.initContainers).toBeUndefined();
    expect(r.body.spec.volumes ?? []).not.toContainEqual(expect.objectContaining({ name: 'model-dir' }));
  });

  test('fails: a labelled pod with a malformed annotation is refused with our message', async () => {
    const r = await createPod(labelledPod('bad-auth', { [contract.POD_INJECTION_ANNOTATIONS.storageAuth]: 'oauth' }));
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/admission webhook "pods\.serving\.cdk8s-model-serving\.io" denied the request: storage initializer injection: annotation serving\.cdk8s-model-serving\.io\/storage-auth must be one of/);
  });

  const modelEndpoint = (name: string, spec: Obj): Obj => ({
    apiVersion: `${contract.CRD_GROUP}/${contract.CRD_VERSION}`, kind: 'ModelEndpoint', metadata: { name }, spec,
  });
  const modelEndpointsPath = () => `/apis/${contract.CRD_GROUP}/${contract.CRD_VERSION}/namespaces/${ns}/${contract.CRD_KINDS.modelEndpoint.plural}`;

  test('fails: an invalid ModelEndpoint is refused at create with the message cdk8s synth prints, naming the field', async () => {
    let synthMessage = '';
    try {
      // A check only the construct makes (the CRD's schema cannot know Knative's limit).
      new ModelEndpoint(new Chart(Testing.app(), 'iris'), 'ModelEndpoint', {
        name: 'iris', modelName: 'iris', storageUri: StorageUri.s3('models', 'iris'), timeout: Duration.seconds(700),
      });
    } catch (e) { synthMessage = (e as Error).message; }
    expect(synthMessage).toMatch(/^'timeout' is 700 seconds, above Knative's default max-revision-timeout-seconds/);
    const r = await client.request('POST', modelEndpointsPath(), { body: modelEndpoint('iris-invalid', { modelName: 'iris', storageUri: 's3://models/iris', timeout: '700s' }) });
    expect(r.status).toBe(422);
    expect(r.body.message).toBe(`admission webhook "resources.serving.cdk8s-model-serving.io" denied the request: spec.timeout: ${synthMessage}`);
  });

  test('a valid ModelEndpoint is admitted', async () => {
    const r = await client.request('POST', modelEndpointsPath(), { body: modelEndpoint('iris-valid', { modelName: 'iris', storageUri: 's3://models/iris', minReplicas: 1, maxReplicas: 2 }) });
    expect(r.status).toBe(201);
    await client.request('DELETE', `${modelEndpointsPath()}/iris-valid`);
  });

  test('rotation replaces the certificate (test-only short validity) while pods keep being admitted', async () => {
    // 15 s certificates: renewed after 10 s; checked every second.
    const rotating = await start(`${ns}-rotate`, { certValidityMs: 15_000, pollIntervalMs: 1_000 });
    try {
      const secretPath = `/api/v1/namespaces/${ns}/secrets/${rotating.secret}`;
      const first = (await client.request('GET', secretPath)).body.data[SECRET_KEYS.cert];
      const firstPresented = await presentedCertificate(rotating.port);
      let current = first;
      let admitted = 0;
      for (let i = 0; current === first; i++) {
        if (i > 60) throw new Error(`no rotation after 60 pods\n${logs.join('\n')}`);
        // The rotating configuration also matches labelled pods: both webhooks must answer for the pod to be created.
        const r = await createPod(labelledPod(`during-rotation-${i}`));
        expect(r.status).toBe(201);
        admitted++;
        await new Promise((res) => setTimeout(res, 500));
        current = (await client.request('GET', secretPath)).body.data[SECRET_KEYS.cert];
      }
      await rotating.webhooks.refresh();
      const presented = await presentedCertificate(rotating.port);
      expect(presented).not.toBe(firstPresented);
      expect(presented).toBe(new X509Certificate(Buffer.from(current, 'base64').toString('utf8')).fingerprint256);
      const after = await createPod(labelledPod('after-rotation'));
      expect(after.status).toBe(201);
      expect(admitted).toBeGreaterThan(0);
    } finally {
      await rotating.webhooks.close();
      await client.request('DELETE', `${ADMISSION}/mutatingwebhookconfigurations/${ns}-rotate-pods`);
      await client.request('DELETE', `${ADMISSION}/validatingwebhookconfigurations/${ns}-rotate-validation`);
    }
  }, 60_000);

  test('with the webhooks stopped, an unrelated pod is still admitted and only labelled pods are refused (objectSelector, failurePolicy Fail)', async () => {
    await main.webhooks.close();
    const unrelated = await createPod(plainPod('during-outage'));
    expect(unrelated.status).toBe(201);
    const labelled = await createPod(labelledPod('labelled-during-outage'));
    expect(labelled.status).toBe(500);
    expect(labelled.body.message).toMatch(/failed calling webhook "pods\.serving\.cdk8s-model-serving\.io"/);
  });
});
