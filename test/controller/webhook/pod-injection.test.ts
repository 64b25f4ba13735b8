/**
 * The pod webhook's patch (src/controller/webhook/pod-injection.ts), in process: which pods it patches,
 * what it adds, what it refuses, and a seeded property test that every patched pod still validates
 * (schema, Pod Security restricted, project defaults).
 */
import { Chart, JsonPatch, Size, Testing } from 'cdk8s';
import { Secret } from 'cdk8s-plus-33';
import * as fc from 'fast-check';
import { DeploymentMode, ModelEndpoint, ModelFormat, StorageAuth, StorageUri } from '../../../src';
import * as contract from '../../../src/contract';
import { AdmissionReviewError } from '../../../src/controller/webhook/admission-review';
import { reviewPod } from '../../../src/controller/webhook/mutate-pods';
import { JsonPatchOperation, podInjection } from '../../../src/controller/webhook/pod-injection';
import { seeded } from '../../seeded';
import { findByKind } from '../../validation';
import { checkProjectDefaults, checkRestricted } from '../../validation/pod-security';
import { offlineManifestErrors, validateManifest } from '../../validation/schema-validator';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

const IMAGE = 'example.com/model-server:test';
const URI = 's3://models/iris/v1';
const A = contract.POD_INJECTION_ANNOTATIONS;

const restricted = (runAsUser = 1000) => ({
  runAsNonRoot: true,
  runAsUser,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});
const resources = { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' } };

/** A labelled pod as a Knative revision of a custom container would create it. */
function labelledPod(annotations: Record<string, string> = {}, spec: Obj = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'iris-00001-deployment-abc',
      labels: { [contract.POD_INJECTION.label]: 'true' },
      annotations: { [contract.POD_INJECTION.storageUriAnnotation]: URI, ...annotations },
    },
    spec: {
      automountServiceAccountToken: false,
      containers: [{ name: 'model-server', image: 'example/sklearn:1', resources, securityContext: restricted(), volumeMounts: [{ name: 'scratch', mountPath: '/tmp/scratch' }] }],
      volumes: [{ name: 'scratch', emptyDir: {} }],
      ...spec,
    },
  };
}

function patched(pod: Obj): { pod: Obj; patch: JsonPatchOperation[] } {
  const outcome = podInjection(pod, { image: IMAGE });
  if (outcome.kind !== 'patch') throw new Error(`expected a patch, got ${JSON.stringify(outcome)}`);
  return { pod: JsonPatch.apply(structuredClone(pod), ...outcome.patch.map((o) => JsonPatch.add(o.path, o.value))), patch: outcome.patch };
}

function review(object: unknown, operation = 'CREATE'): Obj {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'b5f1c1d2-0000-4000-8000-000000000001', kind: { group: '', version: 'v1', kind: 'Pod' }, operation, object },
  };
}

describe('pod injection', () => {
  test('a labelled pod gets the storage-initializer init container, fetching the annotated URI into the model volume', () => {
    const { pod } = patched(labelledPod());
    expect(pod.spec.initContainers).toHaveLength(1);
    const init = pod.spec.initContainers[0];
    expect(init.name).toBe('storage-initializer');
    expect(init.image).toBe(IMAGE);
    expect(init.args).toEqual([contract.SERVER_COMMANDS.storageInitializer, URI, contract.MODEL_DIR]);
    expect(init.volumeMounts).toContainEqual({ name: 'model-dir', mountPath: contract.MODEL_DIR, readOnly: false });
    expect(init.securityContext).toEqual(expect.objectContaining({
      runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
    }));
    expect(init.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' } });
  });

  test('the model volume is an emptyDir with the default size limit, which is also the initializer\'s write cap', () => {
    const { pod } = patched(labelledPod());
    expect(pod.spec.volumes).toContainEqual({ name: 'model-dir', emptyDir: { sizeLimit: contract.DEFAULT_MODEL_VOLUME_SIZE_LIMIT } });
    expect(pod.spec.initContainers[0].env).toContainEqual({ name: contract.SERVER_ENV.storageMaxBytes, value: String(20 * 2 ** 30) });
  });

  test('the size-limit annotation sets the volume\'s sizeLimit and the cap', () => {
    const { pod } = patched(labelledPod({ [A.modelVolumeSizeLimit]: '500M' }));
    expect(pod.spec.volumes).toContainEqual({ name: 'model-dir', emptyDir: { sizeLimit: '500M' } });
    expect(pod.spec.initContainers[0].env).toContainEqual({ name: contract.SERVER_ENV.storageMaxBytes, value: '500000000' });
  });

  test('every serving container mounts the model read-only', () => {
    const pod = labelledPod();
    pod.spec.containers.push({ name: 'queue-proxy', image: 'q', resources, securityContext: restricted() });
    const { pod: out } = patched(pod);
    expect(out.spec.containers[0].volumeMounts).toContainEqual({ name: 'model-dir', mountPath: contract.MODEL_DIR, readOnly: true });
    expect(out.spec.containers[1].volumeMounts).toEqual([{ name: 'model-dir', mountPath: contract.MODEL_DIR, readOnly: true }]);
  });

  test('the credentials annotation mounts the secret read-only in the init container only', () => {
    const { pod } = patched(labelledPod({ [A.storageCredentialsSecret]: 'aws-keys', [A.storageAuth]: 'secret' }));
    expect(pod.spec.volumes).toContainEqual({ name: 'storage-credentials', secret: { secretName: 'aws-keys', defaultMode: 0o444 } });
    const init = pod.spec.initContainers[0];
    expect(init.volumeMounts).toContainEqual({ name: 'storage-credentials', mountPath: contract.STORAGE_CREDENTIALS_DIR, readOnly: true });
    expect(init.env).toContainEqual({ name: contract.SERVER_ENV.storageCredentialsDir, value: contract.STORAGE_CREDENTIALS_DIR });
    expect(init.env).toContainEqual({ name: contract.SERVER_ENV.storageAuth, value: 'secret' });
    expect(pod.spec.containers[0].volumeMounts.map((m: Obj) => m.name)).not.toContain('storage-credentials');
  });

  test('the init container runs as the serving container\'s user', () => {
    const pod = labelledPod();
    pod.spec.containers[0].securityContext = restricted(4242);
    expect(patched(pod).pod.spec.initContainers[0].securityContext.runAsUser).toBe(4242);
  });

  test('a pod without init containers, volumes or mounts gets the lists created', () => {
    const pod = labelledPod({}, { volumes: undefined, containers: [{ name: 'c', image: 'i', resources, securityContext: restricted() }] });
    delete pod.spec.volumes;
    const { pod: out, patch } = patched(pod);
    expect(patch.map((o) => o.path)).toEqual(['/spec/volumes', '/spec/initContainers', '/spec/containers/0/volumeMounts']);
    expect(out.spec.volumes.map((v: Obj) => v.name)).toEqual(['model-dir', 'scratch']);
  });

  test('existing init containers run before the storage initializer', () => {
    const pod = labelledPod({}, { initContainers: [{ name: 'setup', image: 'i', resources, securityContext: restricted() }] });
    expect(patched(pod).pod.spec.initContainers.map((c: Obj) => c.name)).toEqual(['setup', 'storage-initializer']);
  });

  test('the injected container is the one the constructs render in raw mode for the same custom container', () => {
    const chart = new Chart(Testing.app(), 'test');
    const secret = Secret.fromSecretName(chart, 'Keys', 'aws-keys');
    new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      format: ModelFormat.SKLEARN,
      storageUri: StorageUri.fromUri(URI),
      container: { image: 'example/sklearn:1' },
      storageAuth: StorageAuth.secret(secret),
      resources: { ephemeralStorage: { limit: Size.gibibytes(2) } },
    });
    const rendered = findByKind(Testing.synth(chart), 'Deployment')[0].spec.template.spec.initContainers[0];
    const { pod } = patched(labelledPod({ [A.storageCredentialsSecret]: 'aws-keys', [A.storageAuth]: 'secret', [A.modelVolumeSizeLimit]: '2Gi' }));
    expect(pod.spec.initContainers[0]).toEqual({ ...rendered, image: IMAGE });
  });
});

describe('pods the webhook leaves alone', () => {
  test('a pod without the label gets no patch', () => {
    const pod = labelledPod();
    delete pod.metadata.labels[contract.POD_INJECTION.label];
    expect(podInjection(pod, { image: IMAGE }).kind).toBe('skip');
    expect(reviewPod(review(pod), { image: IMAGE }).response).toEqual({ uid: expect.any(String), allowed: true });
  });

  test('a pod whose label is not "true" gets no patch', () => {
    const pod = labelledPod();
    pod.metadata.labels[contract.POD_INJECTION.label] = 'false';
    expect(podInjection(pod, { image: IMAGE }).kind).toBe('skip');
  });

  test('injection is idempotent: a patched pod is not patched again', () => {
    const { pod } = patched(labelledPod());
    expect(podInjection(pod, { image: IMAGE })).toEqual({ kind: 'skip', reason: expect.stringMatching(/already has the storage-initializer/) });
  });

  test('an UPDATE is allowed without a patch', () => {
    expect(reviewPod(review(labelledPod(), 'UPDATE'), { image: IMAGE }).response.patch).toBeUndefined();
  });
});

describe('pods the webhook refuses, naming the annotation or volume', () => {
  const refusal = (pod: Obj) => {
    const outcome = podInjection(pod, { image: IMAGE });
    if (outcome.kind !== 'deny') throw new Error(`expected a refusal, got ${outcome.kind}`);
    return outcome.message;
  };
  test('fails without the storage URI annotation', () => {
    const pod = labelledPod();
    delete pod.metadata.annotations[contract.POD_INJECTION.storageUriAnnotation];
    expect(refusal(pod)).toMatch(/no annotation serving\.cdk8s-model-serving\.io\/storage-uri/);
  });
  test('fails with an unsupported scheme', () => {
    expect(refusal(labelledPod({ [contract.POD_INJECTION.storageUriAnnotation]: 'ftp://x/y' }))).toMatch(/annotation serving\.cdk8s-model-serving\.io\/storage-uri: 'storageUri' has an unknown scheme 'ftp:\/\/'/);
  });
  test('fails with a pvc:// URI, which is mounted, not downloaded', () => {
    expect(refusal(labelledPod({ [contract.POD_INJECTION.storageUriAnnotation]: 'pvc://claim/m' }))).toMatch(/pvc:\/\/ model, which is mounted/);
  });
  test('fails with a secret name that is not a DNS-1123 subdomain', () => {
    expect(refusal(labelledPod({ [A.storageCredentialsSecret]: 'Bad_Name' }))).toMatch(/storage-credentials-secret must name a Secret/);
  });
  test('fails with an unknown auth mode', () => {
    expect(refusal(labelledPod({ [A.storageAuth]: 'oauth' }))).toMatch(/storage-auth must be one of auto, secret, workload-identity, anonymous, got 'oauth'/);
  });
  test.each(['0', '1.5Gi', '-1Gi', '20gb', ''])('fails with the size limit %p', (size) => {
    expect(refusal(labelledPod({ [A.modelVolumeSizeLimit]: size }))).toMatch(/model-volume-size-limit must be a whole positive size/);
  });
  test('fails when the pod already has a volume named model-dir', () => {
    expect(refusal(labelledPod({}, { volumes: [{ name: 'model-dir', emptyDir: {} }] }))).toMatch(/already has a volume named model-dir/);
  });
  test('fails when a container already mounts something at the model directory', () => {
    const pod = labelledPod();
    pod.spec.containers[0].volumeMounts.push({ name: 'scratch', mountPath: contract.MODEL_DIR });
    expect(refusal(pod)).toMatch(/container model-server already mounts a volume at \/mnt\/models/);
  });
  test('fails when the pod has no containers', () => {
    expect(refusal(labelledPod({}, { containers: [] }))).toMatch(/no spec\.containers/);
  });
  test('a refusal is an AdmissionReview with allowed false and the message', () => {
    const pod = labelledPod({ [A.storageAuth]: 'oauth' });
    const { response } = reviewPod(review(pod), { image: IMAGE });
    expect(response.allowed).toBe(false);
    expect(response.status).toEqual({ code: 400, reason: 'BadRequest', message: expect.stringMatching(/^storage initializer injection: annotation .*storage-auth/) });
  });
});

describe('AdmissionReview', () => {
  test('the patch is base64 JSONPatch, answered under the request\'s uid', () => {
    const { response } = reviewPod(review(labelledPod()), { image: IMAGE });
    expect(response.uid).toBe('b5f1c1d2-0000-4000-8000-000000000001');
    expect(response.patchType).toBe('JSONPatch');
    const ops = JSON.parse(Buffer.from(response.patch!, 'base64').toString('utf8'));
    expect(ops).toEqual(patched(labelledPod()).patch);
  });
  test.each([
    ['not an object', 'x', /must be a JSON AdmissionReview object/],
    ['a v1beta1 review', { apiVersion: 'admission.k8s.io/v1beta1', kind: 'AdmissionReview', request: {} }, /expected apiVersion admission\.k8s\.io\/v1/],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /no request object/],
    ['no uid', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' } }, /request\.uid/],
  ])('fails on %s with an AdmissionReviewError', (_name, body, message) => {
    expect(() => reviewPod(body, { image: IMAGE })).toThrow(AdmissionReviewError);
    expect(() => reviewPod(body, { image: IMAGE })).toThrow(message);
  });
});

// ---- property: random pods that pass restricted still pass it (and the schema) once patched ----

const name = fc.stringMatching(/^[a-z]([a-z0-9-]{0,10}[a-z0-9])?$/);
const uid = fc.integer({ min: 1, max: 65535 });
const arbContainer = fc.record({
  name,
  image: fc.constantFrom('example/a:1', 'example/b:2'),
  runAsUser: fc.option(uid, { nil: undefined }),
  mounts: fc.constantFrom<'absent' | 'empty' | 'scratch'>('absent', 'empty', 'scratch'),
});
const arbPod = fc.record({
  containers: fc.uniqueArray(arbContainer, { minLength: 1, maxLength: 3, selector: (c) => c.name }),
  initContainer: fc.option(name.map((n) => `init-${n}`), { nil: undefined }),
  volumes: fc.constantFrom<'absent' | 'empty' | 'scratch' | 'scratch+config'>('absent', 'empty', 'scratch', 'scratch+config'),
  podSecurityContext: fc.boolean(),
  uri: fc.constantFrom('s3://models/iris', 'gs://bucket/m/v1', 'https://example.com/model.onnx', 'http://minio.minio:9000/m'),
  secret: fc.option(name, { nil: undefined }),
  auth: fc.option(fc.constantFrom('auto', 'secret', 'workload-identity', 'anonymous'), { nil: undefined }),
  size: fc.option(fc.tuple(fc.integer({ min: 1, max: 999 }), fc.constantFrom('Mi', 'Gi', 'M', 'G')).map(([n, u]) => `${n}${u}`), { nil: undefined }),
});

type RandomPod = typeof arbPod extends fc.Arbitrary<infer T> ? T : never;

function podFrom(p: RandomPod): Obj {
  const annotations: Record<string, string> = { [contract.POD_INJECTION.storageUriAnnotation]: p.uri };
  if (p.secret) annotations[A.storageCredentialsSecret] = p.secret;
  if (p.auth) annotations[A.storageAuth] = p.auth;
  if (p.size) annotations[A.modelVolumeSizeLimit] = p.size;
  const spec: Obj = {
    automountServiceAccountToken: false,
    containers: p.containers.map((c) => ({
      name: c.name,
      image: c.image,
      resources,
      securityContext: restricted(c.runAsUser ?? 1000),
      ...(c.mounts === 'absent' ? {} : { volumeMounts: c.mounts === 'empty' || p.volumes === 'absent' || p.volumes === 'empty' ? [] : [{ name: 'scratch', mountPath: '/tmp/scratch' }] }),
    })),
  };
  if (p.initContainer) spec.initContainers = [{ name: p.initContainer, image: 'example/init:1', resources, securityContext: restricted() }];
  if (p.volumes !== 'absent') spec.volumes = [];
  if (p.volumes.startsWith('scratch')) spec.volumes.push({ name: 'scratch', emptyDir: {} });
  if (p.volumes === 'scratch+config') spec.volumes.push({ name: 'config', configMap: { name: 'cfg' } });
  if (p.podSecurityContext) spec.securityContext = { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } };
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', labels: { [contract.POD_INJECTION.label]: 'true' }, annotations }, spec };
}

test('every patched random pod still passes the schema, Pod Security restricted and the project defaults (seeded)', () => {
  let checked = 0;
  fc.assert(fc.property(arbPod, (p) => {
    const pod = podFrom(p);
    // The generator makes valid pods only: the property is about what the patch adds.
    expect([...offlineManifestErrors(pod), ...checkRestricted(pod), ...checkProjectDefaults(pod)]).toEqual([]);
    const { pod: out } = patched(pod);
    expect([...offlineManifestErrors(out), ...checkRestricted(out), ...checkProjectDefaults(out)]).toEqual([]);
    expect(out.spec.initContainers.at(-1).name).toBe('storage-initializer');
    for (const c of out.spec.containers) expect(c.volumeMounts).toContainEqual({ name: 'model-dir', mountPath: contract.MODEL_DIR, readOnly: true });
    expect(podInjection(out, { image: IMAGE }).kind).toBe('skip');
    checked++;
  }), seeded({ seed: 14_0301, numRuns: 200 }));
  expect(checked).toBe(200);
});

test('a patched pod is accepted by the real API server too (queued for the dry-run check after this file)', () => {
  const { pod } = patched(labelledPod({ [A.storageCredentialsSecret]: 'aws-keys', [A.storageAuth]: 'secret' }));
  expect(validateManifest(pod)).toEqual([]);
});
