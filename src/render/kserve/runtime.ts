/**
 * The `ServingRuntime` an InferenceService needs when its runtime is not one KServe ships
 * (our model server, a `ServingRuntime.custom()`, or a built-in with another image), and the
 * `runtime` name the predictor gives.
 */
import { ApiObject, Chart } from 'cdk8s';
import { IConstruct } from 'constructs';
import { ServingRuntime } from '../../constructs/serving-runtime';
import * as contract from '../../contract';
import { restrictedSecurityContext } from '../pod-template';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';
import { resolveRuntime } from '../runtime/resolve-runtime';

/**
 * Whether KServe installs this runtime as a ClusterServingRuntime of the same name and image
 * (kserve config/runtimes/*.yaml, kserve/kserve aaac4e29): then no ServingRuntime is emitted.
 */
export function isShippedByKServe(runtime: ServingRuntime | undefined): boolean {
  if (!runtime || runtime.isModelServer) return false;
  return ServingRuntime.builtIns().some(b => !b.isModelServer && b.name === runtime.name && b.image === runtime.image);
}

/** The ServingRuntime's container `args` and `env`, with KServe's `{{.Name}}` for the model name. */
function runtimeContainer(r: ResolvedEndpoint): Record<string, unknown> {
  const runtime = r.servingRuntime!;
  const container: Record<string, unknown> = {
    name: contract.KSERVE_EMIT.containerName,
    securityContext: restrictedSecurityContext(r),
  };
  if (runtime.isModelServer) {
    const f = contract.SERVER_FLAGS;
    container.image = r.container.image;
    // The model is in KServe's mount; the protocol is per endpoint (the predictor's own args).
    container.args = [
      contract.SERVER_COMMANDS.serve,
      f.modelName, contract.KSERVE_EMIT.nameTemplate,
      f.modelDir, contract.KSERVE_EMIT.modelMountPath,
      f.httpPort, String(contract.HTTP_PORT),
      f.grpcPort, String(contract.GRPC_PORT),
    ];
    return container;
  }
  // KServe fills {{.Name}} from the InferenceService's metadata (ReplacePlaceholders in
  // pkg/controller/v1beta1/inferenceservice/utils/utils.go).
  const filled = resolveRuntime(runtime, contract.KSERVE_EMIT.nameTemplate, r.format, r.protocol);
  container.image = filled.image;
  if (filled.command) container.command = filled.command;
  if (filled.args.length > 0) container.args = filled.args;
  if (filled.env.length > 0) container.env = filled.env;
  return container;
}

function servingRuntimeSpec(r: ResolvedEndpoint): Record<string, unknown> {
  const runtime = r.servingRuntime!;
  const spec: Record<string, unknown> = {
    supportedModelFormats: runtime.formats.map(f => ({
      name: f.format.name,
      ...(f.format.version !== undefined ? { version: f.format.version } : {}),
      autoSelect: f.autoSelect ?? true,
      ...(f.priority !== undefined ? { priority: f.priority } : {}),
    })),
    protocolVersions: [...runtime.protocols],
    // KServe's multiModel means ModelMesh; an InferenceService predictor needs false.
    multiModel: false,
    containers: [runtimeContainer(r)],
  };
  if (runtime.metrics) {
    // The annotations KServe's own runtimes carry for its metrics aggregation (kserve-sklearnserver.yaml).
    spec.annotations = {
      'prometheus.kserve.io/port': String(runtime.metrics.port),
      'prometheus.kserve.io/path': runtime.metrics.path ?? contract.PATHS.metrics,
    };
  }
  return spec;
}

/** JSON with object keys sorted, so two specs compare by content (toJson sorts its keys). */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
}

/**
 * Emits the endpoint's ServingRuntime into its chart unless KServe ships the runtime; one per
 * namespace and name, shared by the chart's endpoints.
 *
 * @returns the name the predictor's `runtime` gives, or undefined to let KServe pick by format
 * @throws when two endpoints need different ServingRuntimes under one name
 */
export function kserveRuntimeName(endpoint: IConstruct, r: ResolvedEndpoint, explicit: boolean): string | undefined {
  const runtime = r.servingRuntime;
  if (!runtime) return undefined; // a custom container: no runtime at all
  if (isShippedByKServe(runtime)) return explicit ? runtime.name : undefined;
  const chart = Chart.of(endpoint);
  const id = `KServeServingRuntime-${r.namespace ?? 'default'}-${runtime.name}`;
  const spec = servingRuntimeSpec(r);
  const existing = chart.node.tryFindChild(id) as ApiObject | undefined;
  if (existing) {
    if (canonical(existing.toJson().spec) !== canonical(spec)) {
      throw new Error(`runtime '${runtime.name}' is emitted as one ServingRuntime per namespace, but this endpoint needs a different one than another endpoint in namespace '${r.namespace ?? 'default'}' (a different image or 'serverImage', 'protocol', 'format' or 'runAsUser' fills it differently); use the same settings, or give the runtime another name with ServingRuntime.custom()`);
    }
    return runtime.name;
  }
  new ApiObject(chart, id, {
    apiVersion: contract.KSERVE.alphaApiVersion,
    kind: contract.KSERVE.kinds.servingRuntime,
    metadata: {
      name: runtime.name,
      namespace: r.namespace,
      labels: { [contract.LABELS.partOf]: contract.PART_OF, [contract.LABELS.managedBy]: contract.MANAGED_BY },
    },
    spec,
  });
  return runtime.name;
}
