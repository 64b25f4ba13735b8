/**
 * Internal (rt-storage, issue 15): how an `oci://` model reaches the pod when it is not fetched:
 * KServe's modelcar sidecar, or an `image` volume (Kubernetes 1.33+). Used by the pod template.
 */
import * as path from 'node:path';
import { KnativeFeature } from '../constructs/knative-features';
import { ModelImageMount, StorageUri } from '../constructs/storage-uri';
import * as contract from '../contract';

/** The modelcar sidecar's container name (KServe's). */
export const MODELCAR_CONTAINER_NAME = 'modelcar';
/** The directory the modelcar links `models` into: the model directory's parent, a shared emptyDir. */
export const MODELCAR_LINK_DIR = path.posix.dirname(contract.MODEL_DIR);
/** Where KServe's modelcar images keep the model. */
export const MODEL_IMAGE_DIR = 'models';

/** The image reference of an `oci://` model. */
export function imageReference(storageUri: StorageUri): string {
  return storageUri.uri.slice('oci://'.length);
}

/** Whether the model is an image the pod mounts (modelcar or image volume), not one it fetches. */
export function isMountedImage(storageUri: StorageUri | undefined): boolean {
  return storageUri?.scheme === 'oci' && storageUri.modelImageMount !== ModelImageMount.FETCH;
}

/** The volume and mount that hold an image-mounted model, for the model container. */
export function modelImageVolume(storageUri: StorageUri, volumeName: string): { volume: Record<string, unknown>; mount: Record<string, unknown> } {
  if (storageUri.modelImageMount === ModelImageMount.IMAGE_VOLUME) {
    return {
      volume: { name: volumeName, image: { reference: imageReference(storageUri), pullPolicy: 'IfNotPresent' } },
      // subPath on image volumes needs Kubernetes 1.33 (the gate of 'kubernetesVersion').
      mount: { name: volumeName, mountPath: contract.MODEL_DIR, subPath: MODEL_IMAGE_DIR, readOnly: true },
    };
  }
  // Modelcar: the model directory is a link the sidecar makes in this shared emptyDir.
  return {
    volume: { name: volumeName, emptyDir: {} },
    mount: { name: volumeName, mountPath: MODELCAR_LINK_DIR, readOnly: true },
  };
}

/**
 * The modelcar sidecar: it links `<MODEL_DIR>` to its own `/models` through `/proc/<pid>/root`
 * (the pod shares one process namespace) and sleeps. Kubernetes turns `$$` into `$` in commands,
 * so `$$$$` reaches the shell as `$$`, its own pid, which `exec sleep` keeps.
 *
 * `native` (raw mode): a native sidecar, an init container with `restartPolicy: Always` whose startup
 * probe passes once the link resolves; the kubelet starts the model server only then, so the server
 * never looks at a model dir that is not there yet (and the image is pulled before it starts).
 * Knative does not take native sidecars: there it is a plain second container, started right after
 * the server, and the server's first look at the model dir may come before the link; our server
 * then waits for it (`--model-dir-wait-seconds`, set by the pod template). Third-party runtimes
 * have no such wait: the README says which ones need raw mode or an image volume.
 */
export function modelcarContainer(storageUri: StorageUri, volumeName: string, securityContext: Record<string, unknown>,
  native: boolean): Record<string, unknown> {
  const container: Record<string, unknown> = {
    name: MODELCAR_CONTAINER_NAME,
    image: imageReference(storageUri),
    command: ['sh', '-c', `ln -sf /proc/$$$$/root/${MODEL_IMAGE_DIR} ${MODELCAR_LINK_DIR}/ && exec sleep infinity`],
    resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext,
    volumeMounts: [{ name: volumeName, mountPath: MODELCAR_LINK_DIR }],
  };
  if (native) {
    container.restartPolicy = 'Always';
    container.startupProbe = { exec: { command: ['sh', '-c', `test -d ${contract.MODEL_DIR}/`] }, periodSeconds: 1, failureThreshold: 120 };
  }
  return container;
}

/** The Knative feature flag an image-mounted model needs in serverless mode, or undefined. */
export function modelImageKnativeFeature(storageUri: StorageUri | undefined): KnativeFeature | undefined {
  if (!storageUri || !isMountedImage(storageUri)) return undefined;
  return storageUri.modelImageMount === ModelImageMount.IMAGE_VOLUME ? KnativeFeature.IMAGE_VOLUMES : KnativeFeature.SHARE_PROCESS_NAMESPACE;
}

/** The oldest Kubernetes minor version the endpoints target, unless `kubernetesVersion` says otherwise. */
export const DEFAULT_KUBERNETES_VERSION = '1.30';

/**
 * Checks `kubernetesVersion` (`1.33`, `1.33.2` or `v1.33.2`) and that an image volume model has 1.33:
 * image volumes with `subPath` and their Pod Security admission under the restricted profile came then.
 */
export function checkKubernetesVersion(version: string | undefined, storageUri: StorageUri | undefined): void {
  const v = version ?? DEFAULT_KUBERNETES_VERSION;
  const m = /^v?1\.(\d+)(?:\.\d+)?$/.exec(v);
  if (!m) throw new Error(`'kubernetesVersion' must be a Kubernetes version such as '1.33', got '${v}'`);
  if (storageUri?.modelImageMount === ModelImageMount.IMAGE_VOLUME && Number(m[1]) < 33) {
    throw new Error(`'storageUri' ${storageUri.uri} is mounted as an image volume (ModelImageMount.IMAGE_VOLUME), which needs Kubernetes 1.33 or later, ` +
      `but 'kubernetesVersion' is '${v}'${version === undefined ? ' (the default)' : ''}; declare 'kubernetesVersion: \\'1.33\\'' if the cluster runs 1.33+, ` +
      'or use ModelImageMount.MODELCAR or ModelImageMount.FETCH');
  }
}
