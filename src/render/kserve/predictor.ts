/**
 * `spec.predictor` of an InferenceService: the model (format, runtime, protocol, storage) or a
 * custom container, and the component fields (replicas, autoscaling, timeout, pod settings).
 */
import { knativePassThroughAnnotations } from './annotations';
import { isShippedByKServe } from './runtime';
import { ScaleMetric } from '../../constructs/endpoint-options';
import * as contract from '../../contract';
import { envVar, objectLabels, podSpec, TMP_VOLUME } from '../pod-template';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';
import { isGrpc } from '../runtime/resolve-runtime';

/** What the user set explicitly, where KServe's default differs from ours or presence matters. */
export interface PredictorExplicit {
  /** The predictor's `runtime` (from kserveRuntimeName, called while the tree can still grow). */
  readonly runtimeName?: string;
  readonly initialScale?: number;
  readonly deploymentStrategy: boolean;
  readonly containerConcurrency: boolean;
}

const PROBES = ['readinessProbe', 'startupProbe', 'livenessProbe'];

export function predictorSpec(r: ResolvedEndpoint, explicit: PredictorExplicit): Record<string, unknown> {
  const pod = podSpec(r);
  const native = (pod.containers as Array<Record<string, unknown>>)[0];
  const container: Record<string, unknown> = {
    resources: native.resources,
    securityContext: native.securityContext,
    env: [{ name: 'TMPDIR', value: contract.SCRATCH_DIR }, ...[...r.container.env].map(([name, value]) => envVar(name, value))],
    volumeMounts: [{ name: TMP_VOLUME, mountPath: contract.SCRATCH_DIR }],
  };
  const shipped = isShippedByKServe(r.servingRuntime);
  // A runtime KServe ships brings its own ports and probes; a gRPC predictor still names its h2c port, as KServe's docs do.
  if (!shipped || isGrpc(r.protocol)) container.ports = native.ports;
  if (!shipped) for (const p of PROBES) if (native[p] !== undefined) container[p] = native[p];

  withProbePorts(container);

  const predictor: Record<string, unknown> = {};
  // A third-party runtime's container is described as `custom` too; only the user's own is a custom predictor.
  const custom = r.container.runtime ? undefined : r.container.custom;
  if (custom) {
    const env = container.env as Array<Record<string, unknown>>;
    // KServe downloads a custom container's model when it sets STORAGE_URI (constants.CustomSpecStorageUriEnvVarKey).
    if (r.storageUri) env.push({ name: contract.KSERVE_EMIT.storageUriEnv, value: r.storageUri.uri });
    predictor.containers = [{
      name: contract.KSERVE_EMIT.containerName,
      image: custom.image,
      ...(custom.command ? { command: [...custom.command] } : {}),
      ...(custom.args ? { args: [...custom.args] } : {}),
      ...container,
    }];
  } else {
    const runtime = explicit.runtimeName;
    predictor.model = {
      modelFormat: { name: r.format.name, ...(r.format.version !== undefined ? { version: r.format.version } : {}) },
      ...(runtime !== undefined ? { runtime } : {}),
      protocolVersion: r.protocol,
      ...(r.storageUri ? { storageUri: r.storageUri.uri } : {}),
      // Our server's args extend the ServingRuntime's (KServe concatenates them: MergeRuntimeContainers).
      ...(r.servingRuntime?.isModelServer ? { args: [contract.SERVER_FLAGS.protocol, r.protocol] } : {}),
      ...container,
    };
  }

  for (const key of ['serviceAccountName', 'automountServiceAccountToken', 'imagePullSecrets', 'nodeSelector', 'tolerations', 'affinity', 'securityContext']) {
    if (pod[key] !== undefined) predictor[key] = pod[key];
  }
  predictor.volumes = [{ name: TMP_VOLUME, emptyDir: {} }];
  Object.assign(predictor, componentExtension(r, {
    minReplicas: r.minReplicas,
    maxReplicas: r.maxReplicas,
    scaleMetric: r.scaleMetric,
    scaleTarget: r.scaleTarget,
    initialScale: explicit.initialScale,
  }, 'predictor'));
  if (r.serverless && explicit.containerConcurrency) predictor.containerConcurrency = r.containerConcurrency;
  if (r.timeoutSeconds !== undefined) predictor.timeout = r.timeoutSeconds;
  // Payload logging: KServe's agent sidecar logs for any runtime (ComponentExtensionSpec.logger: {mode, url}).
  if (r.payloadLog) predictor.logger = { mode: r.payloadLog.mode, url: r.payloadLog.url };
  // Batching: KServe's agent batches for any runtime (ComponentExtensionSpec.batcher, maxLatency in ms).
  if (r.batcher) predictor.batcher = { maxBatchSize: r.batcher.maxBatchSize, maxLatency: r.batcher.maxBatchLatencyMs };
  if (!r.serverless && explicit.deploymentStrategy) predictor.deploymentStrategy = r.deploymentStrategy;
  return predictor;
}

/**
 * Gives probes without a port the container's serving port. Knative fills it in itself, but
 * KServe's CRD checks the component's containers as plain Kubernetes containers, where the
 * port is required; Knative accepts the serving port named explicitly.
 */
export function withProbePorts(container: Record<string, unknown>): void {
  const ports = container.ports as Array<{ containerPort: number }> | undefined;
  if (!ports || ports.length === 0) return;
  for (const name of PROBES) {
    const probe = container[name] as Record<string, Record<string, unknown> | undefined> | undefined;
    for (const handler of ['httpGet', 'tcpSocket', 'grpc']) {
      const h = probe?.[handler];
      if (h && h.port === undefined) probe![handler] = { ...h, port: ports[0].containerPort };
    }
  }
}

/** The replica and autoscaling fields a component has, with the Knative pass-through annotations. */
export interface ComponentReplicas {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly scaleMetric: ScaleMetric;
  readonly scaleTarget: number;
  readonly initialScale?: number;
}

/** `minReplicas`, `maxReplicas`, `scaleMetric`, `scaleTarget`, the component's labels and annotations. */
export function componentExtension(r: ResolvedEndpoint, s: ComponentReplicas, component: string): Record<string, unknown> {
  const annotations = knativePassThroughAnnotations(r, {
    scaleMetric: s.scaleMetric,
    initialScale: s.initialScale,
    scaleDownDelaySeconds: r.scaleDownDelaySeconds,
  });
  return {
    minReplicas: s.minReplicas,
    maxReplicas: s.maxReplicas,
    scaleMetric: s.scaleMetric,
    scaleTarget: s.scaleTarget,
    labels: objectLabels(r, component),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
}
