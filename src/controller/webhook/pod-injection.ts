/**
 * The pod webhook's decision for one Pod: the JSONPatch that adds our `storage-initializer` init
 * container, the model volume (an emptyDir with a size limit, written by the initializer, read-only in
 * every serving container) and the credentials mount, or why the pod is left alone or refused. Pure: no
 * I/O. The init container itself comes from the constructs' renderer (`storageInitializerContainer`), so
 * injected and rendered initializers are the same container.
 *
 * KServe's pod mutator (storage initializer injector) is the reference for the behaviour: only pods that
 * ask for it, idempotent, the model mounted read-only where the model is served.
 */
import { StorageUri } from '../../constructs/storage-uri';
import * as contract from '../../contract';
import {
  CREDENTIALS_VOLUME, MODEL_VOLUME, storageCredentialsVolume, storageInitializerContainer, TMP_VOLUME,
} from '../../render/pod-template';

/** One RFC 6902 operation; the webhook only adds. */
export interface JsonPatchOperation {
  readonly op: 'add';
  readonly path: string;
  readonly value: unknown;
}

/** What the controller decides once for every pod it injects into. */
export interface PodInjectionOptions {
  /** Image of the init container (our model server image, `--storage-initializer-image`). */
  readonly image: string;
}

/** The outcome for one pod. */
export type PodInjection =
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'patch'; readonly patch: JsonPatchOperation[] }
  | { readonly kind: 'deny'; readonly message: string };

/** `STORAGE_AUTH` values of the storage initializer (`--storage-auth`, src/server/storage/settings.ts). */
const STORAGE_AUTH_MODES = ['auto', 'secret', 'workload-identity', 'anonymous'];
/** The uid the init container runs as when no serving container names one (the constructs' default). */
const DEFAULT_RUN_AS_USER = 1000;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUANTITY = /^([1-9][0-9]{0,15})(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/;
const QUANTITY_FACTORS: Record<string, number> = {
  '': 1,
  'k': 1e3,
  'M': 1e6,
  'G': 1e9,
  'T': 1e12,
  'P': 1e15,
  'Ki': 2 ** 10,
  'Mi': 2 ** 20,
  'Gi': 2 ** 30,
  'Ti': 2 ** 40,
  'Pi': 2 ** 50,
};

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Decides what the pod webhook does with `pod` (the `object` of a CREATE AdmissionReview).
 *
 * Pods without `POD_INJECTION.label: "true"` and pods that already have the init container are
 * skipped; a labelled pod whose annotations are missing or malformed, or whose volumes clash with the
 * ones we add, is refused with a message naming the annotation or the volume.
 */
export function podInjection(pod: unknown, options: PodInjectionOptions): PodInjection {
  if (!isObject(pod)) return { kind: 'deny', message: 'the AdmissionReview\'s request.object is not a Pod object' };
  const metadata = isObject(pod.metadata) ? pod.metadata : {};
  const labels = isObject(metadata.labels) ? metadata.labels : {};
  if (labels[contract.POD_INJECTION.label] !== 'true') {
    return { kind: 'skip', reason: `no label ${contract.POD_INJECTION.label}: "true"` };
  }
  const spec = pod.spec;
  if (!isObject(spec) || !Array.isArray(spec.containers) || spec.containers.length === 0 || !spec.containers.every(isObject)) {
    return { kind: 'deny', message: 'the pod has no spec.containers to mount the model into' };
  }
  const initContainers = optionalObjectArray(spec.initContainers);
  const volumes = optionalObjectArray(spec.volumes);
  if (initContainers === undefined || volumes === undefined) {
    return { kind: 'deny', message: 'the pod\'s spec.initContainers and spec.volumes must be lists of objects' };
  }
  if (initContainers.some((c) => c.name === contract.STORAGE_INITIALIZER_CONTAINER)) {
    return { kind: 'skip', reason: `the pod already has the ${contract.STORAGE_INITIALIZER_CONTAINER} init container` };
  }

  const annotations = isObject(metadata.annotations) ? metadata.annotations : {};
  const settings = injectionSettings(annotations);
  if (typeof settings === 'string') return { kind: 'deny', message: settings };

  const containers = spec.containers as Obj[];
  const clash = volumeClash(volumes, containers, settings.credentialsSecret !== undefined);
  if (clash) return { kind: 'deny', message: clash };

  const initializer = storageInitializerContainer({
    storageUri: settings.storageUri,
    image: options.image,
    runAsUser: runAsUserOf(spec, containers),
    readOnlyRootFilesystem: true,
    credentialsSecret: settings.credentialsSecret,
    storageEnv: [
      ...(settings.auth !== undefined ? [{ name: contract.SERVER_ENV.storageAuth, value: settings.auth }] : []),
      // The initializer stops before the volume's limit would evict the pod.
      { name: contract.SERVER_ENV.storageMaxBytes, value: String(settings.sizeLimitBytes) },
    ],
  });
  const newVolumes: Obj[] = [{ name: MODEL_VOLUME, emptyDir: { sizeLimit: settings.sizeLimit } }];
  if (!volumes.some((v) => v.name === TMP_VOLUME)) newVolumes.push({ name: TMP_VOLUME, emptyDir: {} });
  if (settings.credentialsSecret !== undefined) newVolumes.push(storageCredentialsVolume(settings.credentialsSecret).volume);

  const patch: JsonPatchOperation[] = [];
  appendAll(patch, '/spec/volumes', Array.isArray(spec.volumes), newVolumes);
  appendAll(patch, '/spec/initContainers', Array.isArray(spec.initContainers), [initializer]);
  containers.forEach((c, i) => {
    const mount = { name: MODEL_VOLUME, mountPath: contract.MODEL_DIR, readOnly: true };
    appendAll(patch, `/spec/containers/${i}/volumeMounts`, Array.isArray(c.volumeMounts), [mount]);
  });
  return { kind: 'patch', patch };
}

interface InjectionSettings {
  readonly storageUri: string;
  readonly credentialsSecret?: string;
  readonly auth?: string;
  readonly sizeLimit: string;
  readonly sizeLimitBytes: number;
}

/** The injection settings from the pod's annotations, or the message that refuses the pod. */
function injectionSettings(annotations: Obj): InjectionSettings | string {
  const uriKey = contract.POD_INJECTION.storageUriAnnotation;
  const a = contract.POD_INJECTION_ANNOTATIONS;
  const uri = annotations[uriKey];
  if (typeof uri !== 'string' || uri === '') {
    return `the pod has the label ${contract.POD_INJECTION.label}: "true" but no annotation ${uriKey} with the model's storage URI; add the annotation, or remove the label`;
  }
  let parsed: StorageUri;
  try {
    parsed = StorageUri.fromUri(uri);
  } catch (e) {
    return `annotation ${uriKey}: ${(e as Error).message}`;
  }
  if (parsed.isMounted) {
    return `annotation ${uriKey} is '${uri}', a pvc:// model, which is mounted, not downloaded: mount the claim at ${contract.MODEL_DIR} and remove the label ${contract.POD_INJECTION.label}`;
  }
  const secret = annotations[a.storageCredentialsSecret];
  if (secret !== undefined && (typeof secret !== 'string' || secret.length > 253 || !DNS1123_SUBDOMAIN.test(secret))) {
    return `annotation ${a.storageCredentialsSecret} must name a Secret (a DNS-1123 subdomain), got '${String(secret)}'`;
  }
  const auth = annotations[a.storageAuth];
  if (auth !== undefined && (typeof auth !== 'string' || !STORAGE_AUTH_MODES.includes(auth))) {
    return `annotation ${a.storageAuth} must be one of ${STORAGE_AUTH_MODES.join(', ')}, got '${String(auth)}'`;
  }
  const sizeLimit = annotations[a.modelVolumeSizeLimit] ?? contract.DEFAULT_MODEL_VOLUME_SIZE_LIMIT;
  const match = typeof sizeLimit === 'string' ? QUANTITY.exec(sizeLimit) : null;
  if (!match) {
    return `annotation ${a.modelVolumeSizeLimit} must be a whole positive size such as 500Mi or 20Gi, got '${String(sizeLimit)}'`;
  }
  const sizeLimitBytes = Number(match[1]) * QUANTITY_FACTORS[match[2] ?? ''];
  if (!Number.isSafeInteger(sizeLimitBytes)) {
    return `annotation ${a.modelVolumeSizeLimit} is too large: '${sizeLimit}'`;
  }
  return { storageUri: uri, credentialsSecret: secret, auth, sizeLimit: sizeLimit as string, sizeLimitBytes };
}

/** Why the volumes we add would clash with the pod's own, if they do. */
function volumeClash(volumes: Obj[], containers: Obj[], withCredentials: boolean): string | undefined {
  const taken = [MODEL_VOLUME, ...(withCredentials ? [CREDENTIALS_VOLUME] : [])].filter((n) => volumes.some((v) => v.name === n));
  if (taken.length > 0) {
    return `the pod already has a volume named ${taken.join(' and ')}, which the storage initializer adds; rename it, or remove the label ${contract.POD_INJECTION.label}`;
  }
  const scratch = volumes.find((v) => v.name === TMP_VOLUME);
  if (scratch && !isObject(scratch.emptyDir)) {
    return `the pod's volume ${TMP_VOLUME} must be an emptyDir: the storage initializer uses it as its TMPDIR`;
  }
  for (const c of containers) {
    const mounts = optionalObjectArray(c.volumeMounts);
    if (mounts === undefined) return `container ${String(c.name)}: volumeMounts must be a list of objects`;
    if (mounts.some((m) => m.mountPath === contract.MODEL_DIR)) {
      return `container ${String(c.name)} already mounts a volume at ${contract.MODEL_DIR}, where the storage initializer puts the model; remove that mount, or remove the label ${contract.POD_INJECTION.label}`;
    }
  }
  return undefined;
}

/** The uid of the serving container (or the pod), which must be able to read what the initializer writes. */
function runAsUserOf(spec: Obj, containers: Obj[]): number {
  for (const sc of [...containers.map((c) => c.securityContext), spec.securityContext]) {
    if (isObject(sc) && Number.isInteger(sc.runAsUser) && (sc.runAsUser as number) > 0) return sc.runAsUser as number;
  }
  return DEFAULT_RUN_AS_USER;
}

function optionalObjectArray(v: unknown): Obj[] | undefined {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) && v.every(isObject) ? v : undefined;
}

/** Appends `values` to the list at `path`, creating the list when the pod has none. */
function appendAll(patch: JsonPatchOperation[], path: string, exists: boolean, values: unknown[]): void {
  if (!exists) {
    patch.push({ op: 'add', path, value: values });
    return;
  }
  for (const value of values) patch.push({ op: 'add', path: `${path}/-`, value });
}
