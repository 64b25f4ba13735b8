/**
 * The pod an endpoint runs, as Kubernetes JSON: shared by the Knative revision template and
 * the raw Deployment, so both modes get the same container, probes and security settings.
 * Also the pieces every pod of ours is built from (security contexts, resources, probes,
 * volumes), which the transformer/explainer components and the ModelMesh members use too.
 */
import { EnvValue } from 'cdk8s-plus-33';
import * as contract from '../contract';
import { isMountedImage, modelcarContainer, modelImageVolume } from './model-image';
import { payloadLogArgs } from './payload-log-args';
import { ResolvedLiveness } from './resolve/liveness';
import { sizeToQuantity } from './resolve/quantities';
import { ResolvedEndpoint, ResolvedResources } from './resolve/resolved-endpoint';
import { runtimeContainerPorts, runtimeProbes } from './runtime/pod';
import { InferenceProtocol } from '../constructs/endpoint-options';
import { ModelImageMount, StorageUri } from '../constructs/storage-uri';

/** The volume models are fetched into (an emptyDir) or mounted from (a PVC). */
export const MODEL_VOLUME = 'model-dir';
/** The writable `TMPDIR` volume. */
export const TMP_VOLUME = 'scratch';
/** The storage-credentials secret's volume. */
export const CREDENTIALS_VOLUME = 'storage-credentials';
const STARTUP_PERIOD_SECONDS = 5;

/** The name of the model container. */
export const MODEL_CONTAINER_NAME = 'model-server';

/** Labels that select an endpoint's pods (stable across revisions and versions). */
export function selectorLabels(resolved: Pick<ResolvedEndpoint, 'name'>, component = 'predictor'): Record<string, string> {
  return {
    [contract.LABELS.endpoint]: resolved.name,
    [contract.LABELS.component]: component,
  };
}

/** Every label an endpoint's objects carry. */
export function objectLabels(resolved: ResolvedEndpoint, component = 'predictor'): Record<string, string> {
  return {
    ...resolved.labels,
    [contract.LABELS.name]: resolved.name,
    [contract.LABELS.partOf]: contract.PART_OF,
    [contract.LABELS.managedBy]: contract.MANAGED_BY,
    [contract.LABELS.model]: resolved.modelName,
    ...(resolved.version !== undefined ? { [contract.LABELS.version]: resolved.version } : {}),
    ...selectorLabels(resolved, component),
  };
}

/** The container security context of the Pod Security "restricted" profile. */
export function restrictedSecurityContext(user: { readonly runAsUser: number; readonly readOnlyRootFilesystem: boolean }): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: user.runAsUser,
    runAsGroup: user.runAsUser,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: user.readOnlyRootFilesystem,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** The pod security context of the Pod Security "restricted" profile. */
export function restrictedPodSecurityContext(runAsUser: number): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser,
    runAsGroup: runAsUser,
    fsGroup: runAsUser,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/**
 * The pod security context of an endpoint's pods, or undefined where Knative forbids one:
 * it disables pod-level securityContext by default; the container-level one carries every
 * restricted setting, which the Pod Security admission accepts as well.
 */
export function endpointPodSecurityContext(resolved: ResolvedEndpoint): Record<string, unknown> | undefined {
  if (resolved.serverless && !resolved.features.has('kubernetes.podspec-securitycontext')) return undefined;
  return restrictedPodSecurityContext(resolved.runAsUser);
}

/** A container's `resources`: requests and limits, with `gpus` NVIDIA GPUs in both. */
export function resourceRequirements(r: ResolvedResources, gpus = 0): Record<string, unknown> {
  const requests: Record<string, string> = { cpu: r.cpuRequest, memory: sizeToQuantity(r.memoryRequest) };
  const limits: Record<string, string> = { cpu: r.cpuLimit, memory: sizeToQuantity(r.memoryLimit) };
  if (r.ephemeralStorageRequest) requests['ephemeral-storage'] = sizeToQuantity(r.ephemeralStorageRequest);
  if (r.ephemeralStorageLimit) limits['ephemeral-storage'] = sizeToQuantity(r.ephemeralStorageLimit);
  if (gpus > 0) {
    requests['nvidia.com/gpu'] = String(gpus);
    limits['nvidia.com/gpu'] = String(gpus);
  }
  return { requests, limits };
}

/**
 * An HTTP GET probe. Leave `port` undefined under Knative, which rewrites probes and requires
 * them to target the serving port.
 */
export function httpProbe(path: string, port: number | undefined, periodSeconds: number, failureThreshold: number): Record<string, unknown> {
  return { httpGet: { path, ...(port !== undefined ? { port } : {}) }, periodSeconds, timeoutSeconds: 2, failureThreshold };
}

/** A TCP probe; `port` as for `httpProbe`. */
export function tcpProbe(port: number | undefined, periodSeconds: number, failureThreshold: number): Record<string, unknown> {
  return { tcpSocket: port !== undefined ? { port } : {}, periodSeconds, failureThreshold };
}

/** A container `env` entry. */
export function envVar(name: string, value: EnvValue): Record<string, unknown> {
  return value.valueFrom !== undefined ? { name, valueFrom: value.valueFrom } : { name, value: value.value };
}

/** A volume and where a container mounts it. */
export interface PodVolume {
  readonly volume: Record<string, unknown>;
  readonly mount: Record<string, unknown>;
}

/** The storage-credentials secret, mounted read-only where our server looks for it. */
export function storageCredentialsVolume(secretName: string): PodVolume {
  return {
    // World-readable inside the pod: Knative forbids the pod-level fsGroup that would let
    // uid 1000 read group-only files, and the volume is private to this pod anyway.
    volume: { name: CREDENTIALS_VOLUME, secret: { secretName, defaultMode: 0o444 } },
    mount: { name: CREDENTIALS_VOLUME, mountPath: contract.STORAGE_CREDENTIALS_DIR, readOnly: true },
  };
}

/** A `pvc://` model, mounted read-only at the model directory (an `oci://` image: see `./model-image`). */
export function mountedModelVolume(storageUri: StorageUri): PodVolume {
  if (isMountedImage(storageUri)) return modelImageVolume(storageUri, MODEL_VOLUME);
  const mount: Record<string, unknown> = { name: MODEL_VOLUME, mountPath: contract.MODEL_DIR, readOnly: true };
  if (storageUri.path) mount.subPath = storageUri.path;
  return {
    volume: { name: MODEL_VOLUME, persistentVolumeClaim: { claimName: storageUri.authority, readOnly: true } },
    mount,
  };
}

/** The pod spec of the predictor, in Kubernetes JSON. */
export function podSpec(resolved: ResolvedEndpoint): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    automountServiceAccountToken: resolved.automountServiceAccountToken,
    enableServiceLinks: false,
    containers: [modelContainer(resolved)],
    volumes: volumes(resolved),
  };
  if (resolved.serviceAccountName) spec.serviceAccountName = resolved.serviceAccountName;
  if (resolved.imagePullSecrets.length > 0) spec.imagePullSecrets = resolved.imagePullSecrets.map((name) => ({ name }));
  const initContainers = storageInitializer(resolved);
  if (initContainers) spec.initContainers = initContainers;
  // rt-storage: an oci:// model through KServe's modelcar sidecar.
  if (resolved.storageUri && isMountedImage(resolved.storageUri) && resolved.storageUri.modelImageMount === ModelImageMount.MODELCAR) {
    const modelcar = modelcarContainer(resolved.storageUri, MODEL_VOLUME, restrictedSecurityContext(resolved), !resolved.serverless);
    // Raw mode: a native sidecar, ready before the server starts; Knative takes only plain containers.
    if (resolved.serverless) (spec.containers as unknown[]).push(modelcar);
    else spec.initContainers = [...initContainers ?? [], modelcar];
    spec.shareProcessNamespace = true;
  }
  const securityContext = endpointPodSecurityContext(resolved);
  if (securityContext) spec.securityContext = securityContext;
  Object.assign(spec, schedulingFields(resolved));
  if (!resolved.serverless) spec.terminationGracePeriodSeconds = 30;
  return spec;
}

/** The pod spec's `nodeSelector`, `tolerations` and `affinity` from the endpoint's scheduling props (only those set). */
export function schedulingFields(resolved: ResolvedEndpoint): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  if (resolved.nodeSelector && Object.keys(resolved.nodeSelector).length > 0) spec.nodeSelector = { ...resolved.nodeSelector };
  if (resolved.tolerations.length > 0) {
    spec.tolerations = resolved.tolerations.map(t => ({
      key: t.key,
      operator: t.operator ?? 'Equal',
      value: t.value,
      effect: t.effect,
    }));
  }
  const affinity = nodeAffinity(resolved);
  if (affinity) spec.affinity = affinity;
  return spec;
}

function modelContainer(resolved: ResolvedEndpoint): Record<string, unknown> {
  const custom = resolved.container.custom;
  const container: Record<string, unknown> = {
    name: MODEL_CONTAINER_NAME,
    image: resolved.container.image,
    ports: containerPorts(resolved),
    resources: resourceRequirements(resolved.resources, resolved.gpus),
    securityContext: restrictedSecurityContext(resolved),
    volumeMounts: volumeMounts(resolved),
  };
  if (custom) {
    if (custom.command) container.command = [...custom.command];
    if (custom.args) container.args = [...custom.args];
  } else {
    container.args = serverArgs(resolved);
  }
  container.env = envVars(resolved);
  Object.assign(container, probes(resolved));
  return container;
}

/** Arguments of `cdk8s-model-server serve` for this endpoint. */
function serverArgs(resolved: ResolvedEndpoint): string[] {
  const f = contract.SERVER_FLAGS;
  const args = [
    contract.SERVER_COMMANDS.serve,
    f.modelName, resolved.modelName,
    f.modelDir, contract.MODEL_DIR,
    f.protocol, resolved.protocol,
    f.httpPort, String(contract.HTTP_PORT),
    f.grpcPort, String(contract.GRPC_PORT),
  ];
  // The server fetches the model itself before it reports ready: Knative's default feature
  // flags forbid the init container KServe would use. (Our server always has a storageUri.)
  if (resolved.storageUri && !resolved.storageUri.isMounted) args.push(f.storageUri, resolved.storageUri.uri);
  // A serverless modelcar is a plain sidecar started with the server, not before it: the server
  // waits (not ready) for the sidecar's link instead of marking the model FAILED at first look.
  if (resolved.serverless && resolved.storageUri?.modelImageMount === ModelImageMount.MODELCAR && isMountedImage(resolved.storageUri)) {
    args.push(f.modelDirWaitSeconds, String(contract.MODELCAR_MODEL_DIR_WAIT_SECONDS));
  }
  // Payload logging (issue 18 part 2); under KServe its agent logs instead (see render/kserve/predictor.ts).
  if (resolved.payloadLog && !resolved.kserve) args.push(...payloadLogArgs(resolved, resolved.payloadLog));
  // `batcher` (issue 18 part 3): our server's own adaptive batching, which never waits.
  if (resolved.batcher && !resolved.kserve) args.push(f.maxBatchSize, String(resolved.batcher.maxBatchSize));
  return args;
}

function containerPorts(resolved: ResolvedEndpoint): Array<Record<string, unknown>> {
  if (resolved.container.runtime) return runtimeContainerPorts(resolved.container.runtime, resolved.serverless);
  const grpc = resolved.protocol === InferenceProtocol.GRPC_V2;
  if (resolved.serverless) {
    // Knative exposes exactly one port, named for its protocol.
    return [{ name: grpc ? 'h2c' : 'http1', containerPort: resolved.container.port, protocol: 'TCP' }];
  }
  if (resolved.container.custom) {
    return [{ name: grpc ? 'grpc' : 'http', containerPort: resolved.container.port, protocol: 'TCP' }];
  }
  return [
    { name: 'http', containerPort: contract.HTTP_PORT, protocol: 'TCP' },
    { name: 'grpc', containerPort: contract.GRPC_PORT, protocol: 'TCP' },
  ];
}

function probes(resolved: ResolvedEndpoint): Record<string, unknown> {
  const custom = resolved.container.custom;
  const startupFailures = Math.ceil(resolved.startupSeconds / STARTUP_PERIOD_SECONDS);
  if (resolved.container.runtime) return runtimeProbes(resolved.container.runtime, resolved.serverless, STARTUP_PERIOD_SECONDS, startupFailures);
  if (resolved.protocol === InferenceProtocol.GRPC_V2 && !custom) {
    // A gRPC endpoint still runs our HTTP port inside the pod in raw mode; in serverless mode
    // only the h2c port exists, so the probes use gRPC's TCP port.
    if (resolved.serverless) {
      return {
        readinessProbe: tcpProbe(undefined, 5, 3),
        startupProbe: tcpProbe(undefined, STARTUP_PERIOD_SECONDS, startupFailures),
      };
    }
  }
  if (custom && !custom.readinessPath) {
    const port = resolved.serverless ? undefined : resolved.container.port;
    return {
      readinessProbe: tcpProbe(port, 5, 3),
      startupProbe: tcpProbe(port, STARTUP_PERIOD_SECONDS, startupFailures),
      ...livenessProbe(resolved.container.liveness, port),
    };
  }
  const readyPath = custom?.readinessPath ?? contract.modelReadyPath(resolved.modelName);
  const httpPort = resolved.serverless ? undefined : (custom ? resolved.container.port : contract.HTTP_PORT);
  const result: Record<string, unknown> = {
    // Readiness follows the model: a replica whose model is not loaded gets no traffic.
    readinessProbe: httpProbe(readyPath, httpPort, 5, 3),
    // Sized for slow downloads and loads: the pod has `startupTimeout` to become ready.
    startupProbe: httpProbe(readyPath, httpPort, STARTUP_PERIOD_SECONDS, startupFailures),
  };
  if (!custom) {
    result.livenessProbe = httpProbe(contract.PATHS.live, httpPort, 10, 3);
  }
  return { ...result, ...livenessProbe(resolved.container.liveness, httpPort) };
}

/** A custom container's `livenessProbe`, when it asked for one; `port` as for `httpProbe`. */
export function livenessProbe(liveness: ResolvedLiveness | undefined, port: number | undefined): Record<string, unknown> {
  return liveness ? { livenessProbe: httpProbe(liveness.path, port, liveness.periodSeconds, liveness.failureThreshold) } : {};
}

function envVars(resolved: ResolvedEndpoint): Array<Record<string, unknown>> {
  const env: Array<Record<string, unknown>> = [{ name: 'TMPDIR', value: contract.SCRATCH_DIR }];
  if (resolved.storageCredentialsSecret && !resolved.container.custom) {
    env.push({ name: contract.SERVER_ENV.storageCredentialsDir, value: contract.STORAGE_CREDENTIALS_DIR });
  }
  if (!resolved.container.custom) env.push(...resolved.storageEnv);
  // A runtime's own variables; the endpoint's `env` may override them.
  for (const e of resolved.container.runtime?.env ?? []) if (!resolved.container.env.has(e.name)) env.push(e);
  for (const [name, value] of resolved.container.env) env.push(envVar(name, value));
  return env;
}

function volumeMounts(resolved: ResolvedEndpoint): Array<Record<string, unknown>> {
  const mounts: Array<Record<string, unknown>> = [];
  if (resolved.storageUri?.isMounted) {
    mounts.push(mountedModelVolume(resolved.storageUri).mount);
  } else if (resolved.storageUri && !injectedByWebhook(resolved)) {
    // The container that serves only reads the model; our server downloads it itself.
    mounts.push({ name: MODEL_VOLUME, mountPath: contract.MODEL_DIR, readOnly: !!resolved.container.custom });
  }
  // No storageUri: the model is in the custom image, and no model volume is needed.
  mounts.push({ name: TMP_VOLUME, mountPath: contract.SCRATCH_DIR });
  if (resolved.storageCredentialsSecret && !resolved.container.custom) {
    mounts.push(storageCredentialsVolume(resolved.storageCredentialsSecret).mount);
  }
  return mounts;
}

function volumes(resolved: ResolvedEndpoint): Array<Record<string, unknown>> {
  const result: Array<Record<string, unknown>> = [];
  if (resolved.storageUri?.isMounted) {
    result.push(mountedModelVolume(resolved.storageUri).volume);
  } else if (resolved.storageUri && !injectedByWebhook(resolved)) {
    result.push({ name: MODEL_VOLUME, emptyDir: {} });
  }
  result.push({ name: TMP_VOLUME, emptyDir: {} });
  // Only a container that fetches the model reads the credentials (the webhook mounts them itself).
  if (resolved.storageCredentialsSecret && resolved.storageUri && !injectedByWebhook(resolved)) {
    result.push(storageCredentialsVolume(resolved.storageCredentialsSecret).volume);
  }
  return result;
}

/**
 * Whether the controller's pod webhook adds the storage initializer, the model volume and the
 * credentials volume to this endpoint's pods (instead of the pod template carrying them).
 */
export function injectedByWebhook(resolved: Pick<ResolvedEndpoint, 'container' | 'storageUri' | 'storageInitializerWebhook'>): boolean {
  return !!resolved.container.custom && !!resolved.storageUri && !resolved.storageUri.isMounted && resolved.storageInitializerWebhook;
}

/**
 * The pod template's label and annotations that ask the controller's pod webhook for a storage
 * initializer (empty when the template carries its own): the storage URI, the credentials
 * secret, the auth mode and the model volume's size limit.
 */
export function storageInjectionMetadata(resolved: ResolvedEndpoint): { labels: Record<string, string>; annotations: Record<string, string> } {
  if (!injectedByWebhook(resolved)) return { labels: {}, annotations: {} };
  const annotations: Record<string, string> = { [contract.POD_INJECTION.storageUriAnnotation]: resolved.storageUri!.uri };
  const a = contract.POD_INJECTION_ANNOTATIONS;
  if (resolved.storageCredentialsSecret) annotations[a.storageCredentialsSecret] = resolved.storageCredentialsSecret;
  const auth = resolved.storageEnv.find((e) => e.name === contract.SERVER_ENV.storageAuth);
  if (auth) annotations[a.storageAuth] = auth.value;
  if (resolved.resources.ephemeralStorageLimit) annotations[a.modelVolumeSizeLimit] = sizeToQuantity(resolved.resources.ephemeralStorageLimit);
  return { labels: { [contract.POD_INJECTION.label]: 'true' }, annotations };
}

/**
 * A storage-initializer init container: only in front of a custom container, which cannot
 * fetch its own model. Our server fetches in-process instead.
 */
function storageInitializer(resolved: ResolvedEndpoint): Array<Record<string, unknown>> | undefined {
  if (!resolved.container.custom || !resolved.storageUri || resolved.storageUri.isMounted || resolved.storageInitializerWebhook) return undefined;
  return [storageInitializerContainer({
    storageUri: resolved.storageUri.uri,
    image: storageInitializerImage(resolved),
    runAsUser: resolved.runAsUser,
    readOnlyRootFilesystem: resolved.readOnlyRootFilesystem,
    credentialsSecret: resolved.storageCredentialsSecret,
    storageEnv: resolved.storageEnv,
  })];
}

/** Our server image runs the storage initializer; a runtime catalog may mirror it. */
function storageInitializerImage(resolved: ResolvedEndpoint): string {
  return resolved.container.runtime?.storageInitializerImage ?? contract.DEFAULT_SERVER_IMAGE;
}

/** What a storage-initializer init container needs, whoever renders it (the constructs, or the controller's pod webhook). */
export interface StorageInitializerInput {
  readonly storageUri: string;
  readonly image: string;
  readonly runAsUser: number;
  readonly readOnlyRootFilesystem: boolean;
  /** A Secret with storage credentials, mounted read-only (its volume is `storageCredentialsVolume`). */
  readonly credentialsSecret?: string;
  /** `STORAGE_AUTH` / `STORAGE_MAX_BYTES`. */
  readonly storageEnv: ReadonlyArray<{ name: string; value: string }>;
}

/**
 * The `storage-initializer` init container: our server image's `storage-initializer` subcommand
 * fetching the model into the model volume (writable here only), with the restricted security
 * context. The pod needs the model volume, the scratch volume and, with a secret, the credentials volume.
 */
export function storageInitializerContainer(input: StorageInitializerInput): Record<string, unknown> {
  const env: Array<Record<string, string>> = [{ name: 'TMPDIR', value: contract.SCRATCH_DIR }];
  if (input.credentialsSecret) {
    env.push({ name: contract.SERVER_ENV.storageCredentialsDir, value: contract.STORAGE_CREDENTIALS_DIR });
  }
  env.push(...input.storageEnv.map((e) => ({ ...e })));
  const mounts: Array<Record<string, unknown>> = [
    { name: MODEL_VOLUME, mountPath: contract.MODEL_DIR, readOnly: false },
    { name: TMP_VOLUME, mountPath: contract.SCRATCH_DIR },
  ];
  if (input.credentialsSecret) mounts.push(storageCredentialsVolume(input.credentialsSecret).mount);
  return {
    name: contract.STORAGE_INITIALIZER_CONTAINER,
    image: input.image,
    args: [contract.SERVER_COMMANDS.storageInitializer, input.storageUri, contract.MODEL_DIR],
    env,
    resources: {
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { cpu: '1', memory: '1Gi' },
    },
    securityContext: restrictedSecurityContext(input),
    volumeMounts: mounts,
  };
}

/** A custom transformer's or explainer's own model: what its pod needs to have it at the model directory. */
export interface ComponentModelStorage {
  /** The model volume, mounted read-only in the component's container. */
  readonly model: PodVolume;
  /** Volumes only the init container mounts (the storage credentials). */
  readonly initOnlyVolumes: Array<Record<string, unknown>>;
  readonly initContainers: Array<Record<string, unknown>>;
}

/**
 * The model of a custom component (KServe gives transformers and explainers the predictor's
 * storage initializer): a pvc:// volume mounted read-only, or an emptyDir the storage
 * initializer fills with the endpoint's storage credentials.
 */
export function componentModelStorage(resolved: ResolvedEndpoint, storageUri: StorageUri): ComponentModelStorage {
  if (storageUri.isMounted) return { model: mountedModelVolume(storageUri), initOnlyVolumes: [], initContainers: [] };
  const credentials = resolved.storageCredentialsSecret;
  return {
    model: { volume: { name: MODEL_VOLUME, emptyDir: {} }, mount: { name: MODEL_VOLUME, mountPath: contract.MODEL_DIR, readOnly: true } },
    initOnlyVolumes: credentials ? [storageCredentialsVolume(credentials).volume] : [],
    initContainers: [storageInitializerContainer({
      storageUri: storageUri.uri,
      image: storageInitializerImage(resolved),
      runAsUser: resolved.runAsUser,
      readOnlyRootFilesystem: resolved.readOnlyRootFilesystem,
      credentialsSecret: credentials,
      storageEnv: resolved.storageEnv,
    })],
  };
}

function nodeAffinity(resolved: ResolvedEndpoint): Record<string, unknown> | undefined {
  if (resolved.nodeAffinity.length === 0) return undefined;
  const expression = (rule: { key: string; operator: string; values?: string[] }) => ({
    key: rule.key,
    operator: rule.operator,
    ...(rule.values ? { values: [...rule.values] } : {}),
  });
  const required = resolved.nodeAffinity.filter(r => r.preferredWeight === undefined);
  const preferred = resolved.nodeAffinity.filter(r => r.preferredWeight !== undefined);
  const result: Record<string, unknown> = {};
  if (required.length > 0) {
    result.requiredDuringSchedulingIgnoredDuringExecution = {
      nodeSelectorTerms: [{ matchExpressions: required.map(expression) }],
    };
  }
  if (preferred.length > 0) {
    result.preferredDuringSchedulingIgnoredDuringExecution = preferred.map(r => ({
      weight: r.preferredWeight,
      preference: { matchExpressions: [expression(r)] },
    }));
  }
  return { nodeAffinity: result };
}
