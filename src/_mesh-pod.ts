/**
 * The pod template of a ModelMesh member, as Kubernetes JSON: our server in mesh mode with the
 * restricted security defaults ModelEndpoint uses (non-root, read-only root filesystem, no
 * token, every capability dropped, limits ≥ requests).
 */
import * as contract from './_contract';
import { sizeToQuantity } from './_quantities';

/** What the pod template needs from the mesh. */
export interface MeshPodInputs {
  readonly image: string;
  readonly memoryBudgetBytes: number;
  readonly memoryQuantity: string;
  readonly cpuRequest: string;
  readonly cpuLimit: string;
  readonly peerDns: string;
  readonly registryConfigMap: string;
  readonly loadTimeoutMs: number;
  readonly runAsUser: number;
  readonly serviceAccountName?: string;
  readonly storageCredentialsSecret?: string;
  readonly modelDirSizeLimit: string;
}

export const MESH_CONTAINER_NAME = 'model-server';
const MODEL_VOLUME = 'model-dir';
const TMP_VOLUME = 'scratch';
const REGISTRY_VOLUME = 'model-registry';
const CREDENTIALS_VOLUME = 'storage-credentials';

export function meshSecurityContext(runAsUser: number): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser,
    runAsGroup: runAsUser,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function meshPodSpec(p: MeshPodInputs): Record<string, unknown> {
  const f = contract.SERVER_FLAGS;
  const e = contract.SERVER_ENV;
  const env: Array<Record<string, unknown>> = [
    { name: 'TMPDIR', value: contract.SCRATCH_DIR },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    // Peers find members by pod IP through the headless Service; this is how they see us.
    { name: e.self, value: `$(POD_IP):${contract.HTTP_PORT}` },
  ];
  if (p.storageCredentialsSecret) env.push({ name: e.storageCredentialsDir, value: contract.STORAGE_CREDENTIALS_DIR });
  const mounts: Array<Record<string, unknown>> = [
    // Models are fetched here on demand: writable, and sized by `modelDirSizeLimit`.
    { name: MODEL_VOLUME, mountPath: contract.MODEL_DIR },
    { name: TMP_VOLUME, mountPath: contract.SCRATCH_DIR },
    { name: REGISTRY_VOLUME, mountPath: contract.MESH_REGISTRY_DIR, readOnly: true },
  ];
  const volumes: Array<Record<string, unknown>> = [
    { name: MODEL_VOLUME, emptyDir: { sizeLimit: p.modelDirSizeLimit } },
    { name: TMP_VOLUME, emptyDir: {} },
    { name: REGISTRY_VOLUME, configMap: { name: p.registryConfigMap } },
  ];
  if (p.storageCredentialsSecret) {
    mounts.push({ name: CREDENTIALS_VOLUME, mountPath: contract.STORAGE_CREDENTIALS_DIR, readOnly: true });
    volumes.push({ name: CREDENTIALS_VOLUME, secret: { secretName: p.storageCredentialsSecret, defaultMode: 0o444 } });
  }
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: contract.HTTP_PORT }, periodSeconds, timeoutSeconds: 2, failureThreshold,
  });
  const spec: Record<string, unknown> = {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: p.runAsUser,
      runAsGroup: p.runAsUser,
      fsGroup: p.runAsUser,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: [{
      name: MESH_CONTAINER_NAME,
      image: p.image,
      args: [
        contract.SERVER_COMMANDS.serve,
        f.mode, contract.SERVER_MODES.mesh,
        f.modelDir, contract.MODEL_DIR,
        f.httpPort, String(contract.HTTP_PORT),
        f.grpcPort, String(contract.GRPC_PORT),
        f.memoryBudgetBytes, String(p.memoryBudgetBytes),
        f.peerDns, p.peerDns,
        f.modelRegistry, `${contract.MESH_REGISTRY_DIR}/${contract.MESH_REGISTRY_KEY}`,
        f.loadTimeoutMs, String(p.loadTimeoutMs),
      ],
      env,
      ports: [
        { name: 'http', containerPort: contract.HTTP_PORT, protocol: 'TCP' },
        { name: 'grpc', containerPort: contract.GRPC_PORT, protocol: 'TCP' },
      ],
      resources: {
        requests: { cpu: p.cpuRequest, memory: p.memoryQuantity },
        limits: { cpu: p.cpuLimit, memory: p.memoryQuantity },
      },
      securityContext: meshSecurityContext(p.runAsUser),
      volumeMounts: mounts,
      // Models load on demand: the member is ready once it listens, not when models are loaded.
      readinessProbe: probe(contract.PATHS.ready, 5, 3),
      livenessProbe: probe(contract.PATHS.live, 10, 3),
      startupProbe: probe(contract.PATHS.live, 2, 30),
    }],
    volumes,
    terminationGracePeriodSeconds: 30,
  };
  if (p.serviceAccountName) spec.serviceAccountName = p.serviceAccountName;
  return spec;
}

export { sizeToQuantity };
