/**
 * The pod an endpoint runs, as Kubernetes JSON: shared by the Knative revision template and
 * the raw Deployment, so both modes get the same container, probes and security settings.
 */
import * as contract from './_contract';
import { sizeToQuantity } from './_quantities';
import { ResolvedEndpoint } from './_resolved-endpoint';
import { InferenceProtocol } from './endpoint-options';

const MODEL_VOLUME = 'model-dir';
const TMP_VOLUME = 'scratch';
const CREDENTIALS_VOLUME = 'storage-credentials';
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
export function restrictedSecurityContext(resolved: ResolvedEndpoint): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: resolved.runAsUser,
    runAsGroup: resolved.runAsUser,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: resolved.readOnlyRootFilesystem,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
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
  const initContainers = storageInitializer(resolved);
  if (initContainers) spec.initContainers = initContainers;
  // Knative disables pod-level securityContext by default; the container-level one carries
  // every restricted setting, which the Pod Security admission accepts as well.
  if (!resolved.serverless || resolved.features.has('kubernetes.podspec-securitycontext')) {
    spec.securityContext = {
      runAsNonRoot: true,
      runAsUser: resolved.runAsUser,
      runAsGroup: resolved.runAsUser,
      fsGroup: resolved.runAsUser,
      seccompProfile: { type: 'RuntimeDefault' },
    };
  }
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
  if (!resolved.serverless) spec.terminationGracePeriodSeconds = 30;
  return spec;
}

function modelContainer(resolved: ResolvedEndpoint): Record<string, unknown> {
  const custom = resolved.container.custom;
  const container: Record<string, unknown> = {
    name: MODEL_CONTAINER_NAME,
    image: resolved.container.image,
    ports: containerPorts(resolved),
    resources: resources(resolved),
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
  // flags forbid the init container KServe would use.
  if (!resolved.storageUri.isMounted) args.push(f.storageUri, resolved.storageUri.uri);
  return args;
}

function containerPorts(resolved: ResolvedEndpoint): Array<Record<string, unknown>> {
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

function resources(resolved: ResolvedEndpoint): Record<string, unknown> {
  const r = resolved.resources;
  const requests: Record<string, string> = { cpu: r.cpuRequest, memory: sizeToQuantity(r.memoryRequest) };
  const limits: Record<string, string> = { cpu: r.cpuLimit, memory: sizeToQuantity(r.memoryLimit) };
  if (r.ephemeralStorageRequest) requests['ephemeral-storage'] = sizeToQuantity(r.ephemeralStorageRequest);
  if (r.ephemeralStorageLimit) limits['ephemeral-storage'] = sizeToQuantity(r.ephemeralStorageLimit);
  if (resolved.gpus > 0) {
    requests['nvidia.com/gpu'] = String(resolved.gpus);
    limits['nvidia.com/gpu'] = String(resolved.gpus);
  }
  return { requests, limits };
}

function probes(resolved: ResolvedEndpoint): Record<string, unknown> {
  const custom = resolved.container.custom;
  const startupFailures = Math.ceil(resolved.startupSeconds / STARTUP_PERIOD_SECONDS);
  if (resolved.protocol === InferenceProtocol.GRPC_V2 && !custom) {
    // A gRPC endpoint still runs our HTTP port inside the pod in raw mode; in serverless mode
    // only the h2c port exists, so the probes use gRPC's TCP port.
    if (resolved.serverless) {
      const tcp = { tcpSocket: {} };
      return {
        readinessProbe: { ...tcp, periodSeconds: 5, failureThreshold: 3 },
        startupProbe: { ...tcp, periodSeconds: STARTUP_PERIOD_SECONDS, failureThreshold: startupFailures },
      };
    }
  }
  if (custom && !custom.readinessPath) {
    const tcp = { tcpSocket: resolved.serverless ? {} : { port: resolved.container.port } };
    return {
      readinessProbe: { ...tcp, periodSeconds: 5, failureThreshold: 3 },
      startupProbe: { ...tcp, periodSeconds: STARTUP_PERIOD_SECONDS, failureThreshold: startupFailures },
    };
  }
  const readyPath = custom?.readinessPath ?? contract.modelReadyPath(resolved.modelName);
  // Knative rewrites probes and requires them to target the serving port, so it is left out.
  const httpPort = resolved.serverless ? {} : { port: custom ? resolved.container.port : contract.HTTP_PORT };
  const probe = (path: string) => ({ httpGet: { path, ...httpPort } });
  const result: Record<string, unknown> = {
    // Readiness follows the model: a replica whose model is not loaded gets no traffic.
    readinessProbe: { ...probe(readyPath), periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 3 },
    // Sized for slow downloads and loads: the pod has `startupTimeout` to become ready.
    startupProbe: { ...probe(readyPath), periodSeconds: STARTUP_PERIOD_SECONDS, timeoutSeconds: 2, failureThreshold: startupFailures },
  };
  if (!custom) {
    result.livenessProbe = { ...probe(contract.PATHS.live), periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 };
  }
  return result;
}

function envVars(resolved: ResolvedEndpoint): Array<Record<string, unknown>> {
  const env: Array<Record<string, unknown>> = [{ name: 'TMPDIR', value: contract.SCRATCH_DIR }];
  if (resolved.storageCredentialsSecret && !resolved.container.custom) {
    env.push({ name: contract.SERVER_ENV.storageCredentialsDir, value: contract.STORAGE_CREDENTIALS_DIR });
  }
  for (const [name, value] of resolved.container.env) {
    env.push(value.valueFrom !== undefined ? { name, valueFrom: value.valueFrom } : { name, value: value.value });
  }
  return env;
}

function volumeMounts(resolved: ResolvedEndpoint, forInitializer = false): Array<Record<string, unknown>> {
  const mounts: Array<Record<string, unknown>> = [];
  if (resolved.storageUri.isMounted) {
    const mount: Record<string, unknown> = { name: MODEL_VOLUME, mountPath: contract.MODEL_DIR, readOnly: true };
    if (resolved.storageUri.path) mount.subPath = resolved.storageUri.path;
    mounts.push(mount);
  } else {
    // The container that serves only reads the model; the one that downloads writes it.
    mounts.push({ name: MODEL_VOLUME, mountPath: contract.MODEL_DIR, readOnly: !!resolved.container.custom && !forInitializer });
  }
  mounts.push({ name: TMP_VOLUME, mountPath: contract.SCRATCH_DIR });
  if (resolved.storageCredentialsSecret && (forInitializer || !resolved.container.custom)) {
    mounts.push({ name: CREDENTIALS_VOLUME, mountPath: contract.STORAGE_CREDENTIALS_DIR, readOnly: true });
  }
  return mounts;
}

function volumes(resolved: ResolvedEndpoint): Array<Record<string, unknown>> {
  const result: Array<Record<string, unknown>> = [];
  if (resolved.storageUri.isMounted) {
    result.push({ name: MODEL_VOLUME, persistentVolumeClaim: { claimName: resolved.storageUri.authority, readOnly: true } });
  } else {
    result.push({ name: MODEL_VOLUME, emptyDir: {} });
  }
  result.push({ name: TMP_VOLUME, emptyDir: {} });
  if (resolved.storageCredentialsSecret) {
    // World-readable inside the pod: Knative forbids the pod-level fsGroup that would let
    // uid 1000 read group-only files, and the volume is private to this pod anyway.
    result.push({ name: CREDENTIALS_VOLUME, secret: { secretName: resolved.storageCredentialsSecret, defaultMode: 0o444 } });
  }
  return result;
}

/**
 * A storage-initializer init container: only in front of a custom container, which cannot
 * fetch its own model. Our server fetches in-process instead.
 */
function storageInitializer(resolved: ResolvedEndpoint): Array<Record<string, unknown>> | undefined {
  if (!resolved.container.custom || resolved.storageUri.isMounted) return undefined;
  const env: Array<Record<string, string>> = [{ name: 'TMPDIR', value: contract.SCRATCH_DIR }];
  if (resolved.storageCredentialsSecret) {
    env.push({ name: contract.SERVER_ENV.storageCredentialsDir, value: contract.STORAGE_CREDENTIALS_DIR });
  }
  return [{
    name: 'storage-initializer',
    image: contract.DEFAULT_SERVER_IMAGE,
    args: [contract.SERVER_COMMANDS.storageInitializer, resolved.storageUri.uri, contract.MODEL_DIR],
    env,
    resources: {
      requests: { cpu: '100m', memory: '128Mi' },
      limits: { cpu: '1', memory: '1Gi' },
    },
    securityContext: restrictedSecurityContext(resolved),
    volumeMounts: volumeMounts(resolved, true),
  }];
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
