/**
 * Validation and defaults of an endpoint's props, shared by ModelEndpoint and CanaryRollout
 * (which resolves one set per version). Internal.
 */
import { Duration, Size } from 'cdk8s';
import { ContainerResources } from 'cdk8s-plus-33';
import { IConstruct } from 'constructs';
import { resolveAnnotations } from './annotations';
import { resolveDeploymentStrategy } from './deployment-strategy';
import { resolveKeda, usesKeda } from './keda';
import { requireInitContainers, requireKnativeFeature } from './knative';
import { resolveLiveness } from './liveness';
import { assertDns1123Label, assertDns1123Subdomain } from './names';
import { ResolvedPayloadLog, resolveLoggerSettings } from './payload-logging';
import { amountMillis, sizeBytes } from './quantities';
import { ResolvedEndpoint, ResolvedContainer, ResolvedResources } from './resolved-endpoint';
import { resolveStorageAuth } from './storage-auth';
import type { CommonEndpointOptions } from '../../constructs/common-endpoint-options';
import { EndpointIngress, IngressKind } from '../../constructs/endpoint-ingress';
import { Autoscaler, DeploymentMode, InferenceProtocol, ScaleMetric } from '../../constructs/endpoint-options';
import { KnativeFeature } from '../../constructs/knative-features';
import { ModelFormat } from '../../constructs/model-format';
import type { ModelVersion } from '../../constructs/model-version';
import { ServingTarget } from '../../constructs/serving-target';
import { ModelImageMount } from '../../constructs/storage-uri';
import * as contract from '../../contract';
import { resolveTarget } from '../kserve/target';
import { checkKubernetesVersion, modelImageKnativeFeature } from '../model-image';
import { resolveEndpointRuntime, runtimeContainer } from '../runtime/endpoint-runtime';

/** What an endpoint has decided before its props are resolved: mode, names and host. */
export interface EndpointFacts extends IConstruct {
  /** The construct the objects belong to, when it is not the facts object itself. */
  readonly construct?: IConstruct;
  readonly mode: DeploymentMode;
  readonly protocol: InferenceProtocol;
  readonly name: string;
  readonly modelName: string;
  readonly namespace?: string;
  readonly host: string;
}

/**
 * The settings whose default each construct decides for itself, as `ModelEndpointProps` names
 * them (a CanaryRollout passes its own).
 */
export interface EndpointOwnSettings {
  readonly timeout?: Duration;
  readonly initialScale?: number;
  readonly stopped?: boolean;
  readonly ingress?: EndpointIngress;
  readonly allowedNamespaces?: string[];
  readonly autoscaler?: Autoscaler;
  readonly kedaPrometheusAddress?: string;
  readonly kedaInterceptorService?: string;
  readonly kedaInterceptorNamespace?: string;
}

/**
 * What `resolveEndpoint` reads: the endpoint-level settings both constructs share, one model
 * (a ModelEndpoint's own, or one CanaryRollout version's) and the settings whose default
 * each construct decides for itself. `ModelEndpointProps` is one as it stands.
 */
export type EndpointInput = CommonEndpointOptions
  & Omit<ModelVersion, 'version' | 'env'>
  & EndpointOwnSettings;

/**
 * `maxReplicas: 0`: no upper bound, as in KServe (whose `maxReplicas` 0 leaves Knative's
 * max-scale at its default, unlimited). Serverless only.
 */
export const UNLIMITED_REPLICAS = 0;

const DEFAULT_SCALE_TARGETS: Record<ScaleMetric, number> = {
  [ScaleMetric.CONCURRENCY]: 100,
  [ScaleMetric.RPS]: 200,
  [ScaleMetric.CPU]: 80,
  [ScaleMetric.MEMORY]: 80,
};

/** Validates the props and fills in every default, once, so the synthesizers only read. */
export function resolveEndpoint(endpoint: EndpointFacts, props: EndpointInput): ResolvedEndpoint {
  const serverless = endpoint.mode === DeploymentMode.SERVERLESS;
  const kserve = resolveTarget(endpoint.construct ?? endpoint, props.target) === ServingTarget.KSERVE;
  const features = new Set<string>(props.knativeFeatures ?? []);
  const format = props.format ?? ModelFormat.ONNX;
  // rt-core: a third-party serving runtime, when the format or `runtime` asks for one.
  const runtime = resolveEndpointRuntime(endpoint.construct ?? endpoint, props, format, endpoint.protocol, endpoint.modelName);
  if (!props.container && !runtime?.resolved && !props.storageUri) {
    throw new Error("'storageUri' is required with our model server, which fetches the model from it at start; set 'storageUri', or set 'container' to an image that has the model baked in");
  }

  const keda = usesKeda(endpoint.mode, props);
  const [minReplicas, maxReplicas] = resolveReplicas(serverless, props.minReplicas, props.maxReplicas,
    ", or use 'autoscaler: Autoscaler.KEDA' or 'mode: DeploymentMode.SERVERLESS' (use 'stopped: true' to take a raw endpoint to zero)", keda);
  const { scaleMetric, scaleTarget } = resolveScaling(serverless, props.scaleMetric, props.scaleTarget, keda);
  const initialScale = props.initialScale ?? Math.max(1, minReplicas);
  assertCount('initialScale', initialScale);
  if (initialScale < 1 || (maxReplicas !== UNLIMITED_REPLICAS && initialScale > maxReplicas)) {
    throw new Error(`'initialScale' must be between 1 and 'maxReplicas' (${maxReplicas}), got ${initialScale}`);
  }
  const containerConcurrency = props.containerConcurrency ?? 0;
  assertCount('containerConcurrency', containerConcurrency);
  const gpus = props.gpus ?? 0;
  assertCount('gpus', gpus);
  const runAsUser = props.runAsUser ?? 1000;
  assertCount('runAsUser', runAsUser);
  if (runAsUser === 0) throw new Error("'runAsUser' must not be 0: the Pod Security restricted profile forbids running as root");

  const timeoutSeconds = wholeSeconds('timeout', props.timeout);
  if (timeoutSeconds !== undefined && timeoutSeconds < 1) {
    throw new Error(`'timeout' must be at least 1 second, got ${timeoutSeconds}`);
  }
  if (serverless && timeoutSeconds !== undefined && timeoutSeconds > KNATIVE_MAX_REVISION_TIMEOUT_SECONDS) {
    throw new Error(`'timeout' is ${timeoutSeconds} seconds, above Knative's default max-revision-timeout-seconds (${KNATIVE_MAX_REVISION_TIMEOUT_SECONDS}); raise it in the knative-serving/config-defaults ConfigMap and patch the revision's timeoutSeconds, or use 'mode: DeploymentMode.RAW'`);
  }
  const startupSeconds = wholeSeconds('startupTimeout', props.startupTimeout ?? Duration.minutes(10))!;
  if (startupSeconds < 10) throw new Error(`'startupTimeout' must be at least 10 seconds, got ${startupSeconds}`);
  const scaleDownDelaySeconds = wholeSeconds('scaleDownDelay', props.scaleDownDelay);
  if (scaleDownDelaySeconds !== undefined && (scaleDownDelaySeconds < 0 || scaleDownDelaySeconds > 3600)) {
    throw new Error(`'scaleDownDelay' must be between 0 and 3600 seconds, got ${scaleDownDelaySeconds}`);
  }

  const resources = resolveResources(props.resources ?? runtime?.catalogResources);
  const ingress = props.ingress ?? (serverless ? EndpointIngress.istio() : EndpointIngress.none());
  if (serverless && (ingress._kind === IngressKind.GATEWAY_API || ingress._kind === IngressKind.KUBERNETES)) {
    throw new Error("'ingress' must be EndpointIngress.istio() or EndpointIngress.none() in serverless mode: Knative brings its own networking layer; Gateway API and Ingress objects are for raw mode");
  }
  const kedaSettings = keda ? resolveKeda(props, minReplicas, scaleTarget, endpoint.protocol, ingress._kind) : undefined;

  const container: ResolvedContainer = runtime?.resolved ? runtimeContainer(runtime.resolved) : {
    custom: props.container,
    image: props.container?.image ?? props.serverImage ?? runtime?.modelServerImage ?? contract.DEFAULT_SERVER_IMAGE,
    port: props.container?.port ?? (endpoint.protocol === InferenceProtocol.GRPC_V2 ? contract.GRPC_PORT : contract.HTTP_PORT),
    env: new Map(),
    liveness: resolveLiveness(props.container),
  };
  if (container.port < 1 || container.port > 65535 || !Number.isInteger(container.port)) {
    throw new Error(`'container.port' must be an integer from 1 to 65535, got ${container.port}`);
  }
  if (kedaSettings?.prometheusAddress !== undefined && (container.runtime || container.custom)) {
    const what = container.runtime ? `runtime '${runtime?.runtime?.name}'` : "a custom 'container'";
    throw new Error(`'autoscaler: Autoscaler.KEDA' with 'minReplicas' 1 or more scales on our model server's series (${contract.METRICS.requestsInFlight}, ${contract.METRICS.requestsTotal}), which ${what} does not export; use 'minReplicas: 0' (KEDA's HTTP add-on counts requests itself) or 'autoscaler: Autoscaler.HPA'`);
  }

  checkKubernetesVersion(props.kubernetesVersion, props.storageUri); // rt-storage
  const storage = resolveStorageAuth({ ...props, modelVolumeLimit: resources.ephemeralStorageLimit });
  const resolved: ResolvedEndpoint = {
    endpoint: endpoint.construct ?? endpoint,
    name: endpoint.name,
    modelName: endpoint.modelName,
    namespace: endpoint.namespace,
    host: endpoint.host,
    serverless,
    protocol: endpoint.protocol,
    storageUri: props.storageUri,
    format,
    servingRuntime: runtime?.runtime,
    features,
    container,
    resources,
    gpus,
    nodeSelector: props.nodeSelector,
    tolerations: props.tolerations ?? [],
    nodeAffinity: props.nodeAffinity ?? [],
    timeoutSeconds,
    containerConcurrency,
    minReplicas,
    maxReplicas,
    scaleMetric,
    scaleTarget,
    initialScale,
    scaleDownDelaySeconds,
    keda: kedaSettings,
    stopped: props.stopped ?? false,
    deploymentStrategy: resolveDeploymentStrategy(serverless, props.deploymentStrategy),
    startupSeconds,
    serviceAccountName: storage.serviceAccountName,
    automountServiceAccountToken: props.automountServiceAccountToken ?? false,
    imagePullSecrets: resolveImagePullSecrets(props.imagePullSecrets),
    storageCredentialsSecret: storage.storageCredentialsSecret,
    storageEnv: storage.storageEnv,
    labels: props.labels ?? {},
    annotations: resolveAnnotations(props.annotations),
    ingress,
    networkPolicy: props.networkPolicy ?? true,
    // From zero, requests reach the pods only through KEDA's interceptor.
    allowedNamespaces: props.allowedNamespaces
      ?? (kedaSettings?.httpAddOn ? [kedaSettings.interceptorNamespace] : defaultAllowedNamespaces(serverless, ingress)),
    runAsUser,
    readOnlyRootFilesystem: props.readOnlyRootFilesystem ?? !(runtime?.resolved?.runtime.writableRootFilesystem ?? false),
    // Only where the pod template cannot carry the init container itself.
    storageInitializerWebhook: serverless && (props.storageInitializerWebhook ?? false) && !features.has(KnativeFeature.INIT_CONTAINERS),
    kserve,
    ...resolvePayloadLogging(props.logger, kserve),
    ...resolveBatcher(props.batcher),
    ...resolveAgent(props, container, kserve, endpoint.protocol),
  };
  for (const [key, value] of Object.entries(resolved.labels)) assertLabel(key, value);
  for (const ns of resolved.allowedNamespaces) assertDns1123Label('allowedNamespaces', ns);

  if (serverless) {
    if (props.nodeSelector && Object.keys(props.nodeSelector).length > 0) requireKnativeFeature(resolved, KnativeFeature.NODE_SELECTOR, "'nodeSelector'");
    if (resolved.tolerations.length > 0) requireKnativeFeature(resolved, KnativeFeature.TOLERATIONS, "'tolerations'");
    if (resolved.nodeAffinity.length > 0) requireKnativeFeature(resolved, KnativeFeature.AFFINITY, "'nodeAffinity'");
    // KServe's pod mutator adds the model volume and the storage initializer to the pods, past Knative's checks.
    if (props.storageUri?.scheme === 'pvc' && !kserve) requireKnativeFeature(resolved, KnativeFeature.PERSISTENT_VOLUME_CLAIM, 'a pvc:// \'storageUri\'');
    // rt-storage: an oci:// model mounted as a modelcar sidecar or an image volume.
    const imageFeature = props.storageUri ? modelImageKnativeFeature(props.storageUri) : undefined;
    if (imageFeature && !kserve) {
      requireKnativeFeature(resolved, imageFeature, `an oci:// 'storageUri' mounted with ModelImageMount.${props.storageUri!.modelImageMount === ModelImageMount.IMAGE_VOLUME ? 'IMAGE_VOLUME' : 'MODELCAR'} (ModelImageMount.FETCH needs no flag)`);
    }
    if ((props.container || container.runtime) && props.storageUri && !props.storageUri.isMounted && !resolved.storageInitializerWebhook && !kserve) {
      // rt-core: the runtime by name (only our model server fetches its own model).
      requireInitContainers(resolved, props.container ? "a custom 'container'" : `runtime ${container.runtime!.runtime.name}`);
    }
  }
  for (const rule of resolved.nodeAffinity) {
    if (rule.preferredWeight !== undefined && (!Number.isInteger(rule.preferredWeight) || rule.preferredWeight < 1 || rule.preferredWeight > 100)) {
      throw new Error(`'nodeAffinity' preferredWeight must be an integer from 1 to 100, got ${rule.preferredWeight} for key '${rule.key}'`);
    }
  }

  return resolved;
}

/**
 * Replica counts with their defaults (1, and the larger of 3 and the minimum), validated;
 * returns [min, max].
 *
 * @param zeroFix what else fixes a raw-mode minimum of 0, for the message
 * @param keda whether KEDA scales the raw Deployment, which may go to zero
 */
export function resolveReplicas(serverless: boolean, min: number | undefined, max: number | undefined, zeroFix = '', keda = false): [number, number] {
  const minReplicas = min ?? 1;
  assertCount('minReplicas', minReplicas);
  const maxReplicas = max ?? Math.max(3, minReplicas);
  assertCount('maxReplicas', maxReplicas);
  if (maxReplicas === UNLIMITED_REPLICAS && !serverless) {
    throw new Error("'maxReplicas' is 0 (no limit), which only Knative's autoscaler allows; raw mode's HorizontalPodAutoscaler needs an upper bound: set 'maxReplicas' to 1 or more, or use 'mode: DeploymentMode.SERVERLESS'");
  }
  if (maxReplicas !== UNLIMITED_REPLICAS && minReplicas > maxReplicas) {
    throw new Error(`'minReplicas' (${minReplicas}) must not be greater than 'maxReplicas' (${maxReplicas})`);
  }
  if (!serverless && !keda && minReplicas === 0) {
    throw new Error(`'minReplicas' is 0, but scale to zero needs serverless mode; set 'minReplicas' to 1 or more${zeroFix}`);
  }
  return [minReplicas, maxReplicas];
}

/**
 * What the autoscaler scales on, and its target, with their defaults (concurrency in serverless
 * mode, CPU in raw mode; Knative's targets for concurrency and rps, 80 percent otherwise), validated.
 */
export function resolveScaling(
  serverless: boolean, metric?: ScaleMetric, target?: number, keda = false,
): { scaleMetric: ScaleMetric; scaleTarget: number } {
  const scaleMetric = metric ?? (serverless || keda ? ScaleMetric.CONCURRENCY : ScaleMetric.CPU);
  const requestDriven = scaleMetric === ScaleMetric.CONCURRENCY || scaleMetric === ScaleMetric.RPS;
  if (keda && !requestDriven) {
    throw new Error(`'scaleMetric' ${scaleMetric} with 'autoscaler: Autoscaler.KEDA': KEDA scales on our server's requests, ScaleMetric.CONCURRENCY or ScaleMetric.RPS; use one of those, or 'autoscaler: Autoscaler.HPA' for ${scaleMetric}`);
  }
  if (!serverless && !keda && requestDriven) {
    throw new Error(`'scaleMetric' ${scaleMetric} needs Knative's autoscaler (serverless mode); in raw mode use ScaleMetric.CPU or ScaleMetric.MEMORY`);
  }
  const scaleTarget = target ?? DEFAULT_SCALE_TARGETS[scaleMetric];
  assertPositive('scaleTarget', scaleTarget);
  if ((scaleMetric === ScaleMetric.CPU || scaleMetric === ScaleMetric.MEMORY) && (!Number.isInteger(scaleTarget) || scaleTarget > 100)) {
    throw new Error(`'scaleTarget' is a utilization percent for ${scaleMetric} and must be an integer from 1 to 100, got ${scaleTarget}`);
  }
  return { scaleMetric, scaleTarget };
}

/**
 * Throws unless `name` is a valid environment variable name.
 *
 * @param of where the variable is set, for the message (` of version 'v2'`)
 */
export function assertEnvVarName(name: string, of = ''): void {
  if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(name)) {
    throw new Error(`environment variable name '${name}'${of} is not valid: use letters, digits, '_', '-' and '.', not starting with a digit`);
  }
}

/**
 * `resources` with `defaults` where neither the request nor the limit is set; where one of
 * them is, the other takes its value.
 */
export function defaultResources(resources: ContainerResources | undefined, defaults: ResolvedResources): ResolvedResources {
  return {
    cpuRequest: resources?.cpu?.request?.amount ?? resources?.cpu?.limit?.amount ?? defaults.cpuRequest,
    cpuLimit: resources?.cpu?.limit?.amount ?? resources?.cpu?.request?.amount ?? defaults.cpuLimit,
    memoryRequest: resources?.memory?.request ?? resources?.memory?.limit ?? defaults.memoryRequest,
    memoryLimit: resources?.memory?.limit ?? resources?.memory?.request ?? defaults.memoryLimit,
    ephemeralStorageRequest: resources?.ephemeralStorage?.request,
    ephemeralStorageLimit: resources?.ephemeralStorage?.limit,
  };
}

function resolveResources(resources?: ContainerResources): ResolvedResources {
  const defaulted = defaultResources(resources, { cpuRequest: '500m', cpuLimit: '1', memoryRequest: Size.mebibytes(512), memoryLimit: Size.gibibytes(1) });
  const { cpuRequest, cpuLimit, memoryRequest, memoryLimit } = defaulted;
  const cpuRequestMillis = amountMillis(cpuRequest);
  const cpuLimitMillis = amountMillis(cpuLimit);
  if (cpuLimitMillis < cpuRequestMillis) {
    throw new Error(`'resources.cpu.limit' (${cpuLimit}) must not be below 'resources.cpu.request' (${cpuRequest})`);
  }
  if (sizeBytes(memoryLimit) < sizeBytes(memoryRequest)) {
    throw new Error(`'resources.memory.limit' (${sizeBytes(memoryLimit)} bytes) must not be below 'resources.memory.request' (${sizeBytes(memoryRequest)} bytes)`);
  }
  if (cpuRequestMillis <= 0 || sizeBytes(memoryRequest) <= 0) {
    throw new Error("'resources' requests must be greater than zero");
  }
  return defaulted;
}

function defaultAllowedNamespaces(serverless: boolean, ingress: EndpointIngress): string[] {
  if (serverless) return ['istio-system', 'knative-serving'];
  switch (ingress._kind) {
    case IngressKind.ISTIO: return ['istio-system'];
    case IngressKind.KUBERNETES: return ['ingress-nginx'];
    case IngressKind.GATEWAY_API: return [ingress._gatewayNamespace ?? 'istio-system'];
    default: return [];
  }
}

/** Seconds in a Duration, which Kubernetes and Knative take only as whole numbers. */
/** Knative's default `max-revision-timeout-seconds` (config-defaults). */
const KNATIVE_MAX_REVISION_TIMEOUT_SECONDS = 600;

function wholeSeconds(prop: string, duration?: Duration): number | undefined {
  if (duration === undefined) return undefined;
  const millis = duration.toMilliseconds();
  if (millis % 1000 !== 0) {
    throw new Error(`'${prop}' must be a whole number of seconds, got ${millis} ms`);
  }
  return millis / 1000;
}

function assertCount(prop: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`'${prop}' must be a non-negative integer, got ${value}`);
  }
}

function assertPositive(prop: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) {
    throw new Error(`'${prop}' must be a positive number, got ${value}`);
  }
}

function assertLabel(key: string, value: string): void {
  const name = key.includes('/') ? key.slice(key.indexOf('/') + 1) : key;
  const prefix = key.includes('/') ? key.slice(0, key.indexOf('/')) : undefined;
  const LABEL = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
  if (!name || name.length > 63 || !LABEL.test(name) || (prefix !== undefined && (prefix.length > 253 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(prefix)))) {
    throw new Error(`'labels' key '${key}' is not a valid Kubernetes label key (an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.')`);
  }
  if (value.length > 63 || !LABEL.test(value)) {
    throw new Error(`'labels' value '${value}' of '${key}' is not a valid Kubernetes label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`);
  }
}

/** The names of `imagePullSecrets`: Secret names (DNS-1123 subdomains), each once. */
export function resolveImagePullSecrets(secrets: ReadonlyArray<{ readonly name: string }> | undefined): string[] {
  const names: string[] = [];
  for (const secret of secrets ?? []) {
    if (!secret.name) throw new Error("'imagePullSecrets' has a Secret with an empty name; give each Secret its name (Secret.fromSecretName(scope, id, 'regcred'))");
    assertDns1123Subdomain('imagePullSecrets', secret.name);
    if (names.includes(secret.name)) throw new Error(`'imagePullSecrets' names the Secret '${secret.name}' twice; list each Secret once`);
    names.push(secret.name);
  }
  return names;
}

/**
 * `logger`, validated: an http(s) URL and a mode. A custom container or a third-party runtime logs
 * through our agent sidecar (see resolveAgent); KServe's agent does it under `target: KSERVE`.
 */
function resolvePayloadLogging(logger: EndpointInput['logger'], kserve: boolean | undefined): { payloadLog?: ResolvedPayloadLog } {
  if (!logger) return {};
  return { payloadLog: resolveLoggerSettings(logger, kserve) };
}

/** `batcher`, validated, with KServe's defaults (32 rows, 5000 ms). */
function resolveBatcher(batcher: EndpointInput['batcher']): { batcher?: { maxBatchSize: number; maxBatchLatencyMs: number } } {
  if (!batcher) return {};
  const maxBatchSize = batcher.maxBatchSize ?? contract.AGENT.defaultMaxBatchSize;
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1 || maxBatchSize > 1_000_000) {
    throw new Error(`'batcher.maxBatchSize' must be an integer from 1 to 1000000, got ${maxBatchSize}`);
  }
  const maxBatchLatencyMs = batcher.maxLatency ? batcher.maxLatency.toMilliseconds() : contract.AGENT.defaultMaxBatchLatencyMs;
  if (!Number.isInteger(maxBatchLatencyMs) || maxBatchLatencyMs < 1 || maxBatchLatencyMs > 600_000) {
    throw new Error(`'batcher.maxLatency' must be whole milliseconds from 1 ms to 10 minutes, got ${maxBatchLatencyMs} ms; use Duration.millis(5000) for KServe's default`);
  }
  return { batcher: { maxBatchSize, maxBatchLatencyMs } };
}

/**
 * Whether our server runs as an agent sidecar: `batcher` or `logger` on a third-party runtime or a
 * custom container (KServe's own agent does it under `target: ServingTarget.KSERVE`). The agent
 * speaks REST to the runtime's HTTP port.
 */
function resolveAgent(
  props: EndpointInput, container: ResolvedContainer, kserve: boolean | undefined, protocol: InferenceProtocol,
): { agent?: { upstreamPort: number; image: string } } {
  if (kserve || (!props.batcher && !props.logger) || (!container.custom && !container.runtime)) return {};
  const what = container.runtime ? `runtime ${container.runtime.runtime.name}` : "a custom 'container'";
  const asked = [props.batcher ? "'batcher'" : undefined, props.logger ? "'logger'" : undefined].filter(Boolean).join(' and ');
  if (protocol === InferenceProtocol.GRPC_V2) {
    throw new Error(`${asked} on ${what} add our agent sidecar, which takes REST (V1, V2) only, but the endpoint's 'protocol' is GRPC_V2; use InferenceProtocol.V2, or remove ${asked}`);
  }
  const upstreamPort = container.runtime ? container.runtime.httpPort : container.port;
  if (upstreamPort === undefined) {
    throw new Error(`${asked} on ${what} add our agent sidecar, which forwards REST, but the runtime has no HTTP port; remove ${asked}`);
  }
  if (upstreamPort === contract.AGENT.port) {
    throw new Error(`${asked} add our agent sidecar on port ${contract.AGENT.port}, which is also the ${container.custom ? "'container.port'" : "runtime's HTTP port"}; move the runtime to another port`);
  }
  return { agent: { upstreamPort, image: props.serverImage ?? contract.DEFAULT_SERVER_IMAGE } };
}
