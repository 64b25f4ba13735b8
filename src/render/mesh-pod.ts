/**
 * The pod template of a ModelMesh member, as Kubernetes JSON: our server in mesh mode with the
 * restricted security defaults ModelEndpoint uses (non-root, read-only root filesystem, no
 * token, every capability dropped, limits ≥ requests).
 */
import { Size } from 'cdk8s';
import * as contract from '../contract';
import {
  httpProbe, MODEL_CONTAINER_NAME, MODEL_VOLUME, resourceRequirements, restrictedPodSecurityContext, restrictedSecurityContext,
  storageCredentialsVolume, TMP_VOLUME,
} from './pod-template';

/** What the pod template needs from the mesh. */
export interface MeshPodInputs {
  readonly image: string;
  readonly memoryBudgetBytes: number;
  /** Requested and limit: the model budget plus the server's overhead. */
  readonly memory: Size;
  readonly cpuRequest: string;
  readonly cpuLimit: string;
  readonly peerDns: string;
  readonly registryConfigMap: string;
  readonly loadTimeoutMs: number;
  readonly runAsUser: number;
  readonly serviceAccountName?: string;
  readonly storageCredentialsSecret?: string;
  readonly modelDirSizeLimit: string;
  /** `STORAGE_AUTH` / `STORAGE_MAX_BYTES` (`_storage-auth`). */
  readonly storageEnv: Array<{ name: string; value: string }>;
}

const REGISTRY_VOLUME = 'model-registry';

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
  env.push(...p.storageEnv);
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
    const credentials = storageCredentialsVolume(p.storageCredentialsSecret);
    mounts.push(credentials.mount);
    volumes.push(credentials.volume);
  }
  const spec: Record<string, unknown> = {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: restrictedPodSecurityContext(p.runAsUser),
    containers: [{
      name: MODEL_CONTAINER_NAME,
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
      resources: resourceRequirements({ cpuRequest: p.cpuRequest, cpuLimit: p.cpuLimit, memoryRequest: p.memory, memoryLimit: p.memory }),
      securityContext: restrictedSecurityContext({ runAsUser: p.runAsUser, readOnlyRootFilesystem: true }),
      volumeMounts: mounts,
      // Models load on demand: the member is ready once it listens, not when models are loaded.
      readinessProbe: httpProbe(contract.PATHS.ready, contract.HTTP_PORT, 5, 3),
      livenessProbe: httpProbe(contract.PATHS.live, contract.HTTP_PORT, 10, 3),
      startupProbe: httpProbe(contract.PATHS.live, contract.HTTP_PORT, 2, 30),
    }],
    volumes,
    terminationGracePeriodSeconds: 30,
  };
  if (p.serviceAccountName) spec.serviceAccountName = p.serviceAccountName;
  return spec;
}
