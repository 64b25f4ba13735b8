/**
 * A third-party runtime filled in for one endpoint: its placeholders replaced, its serving
 * port chosen for the protocol, its probes and metrics decided. Internal.
 */
import { InferenceProtocol } from '../../constructs/endpoint-options';
import { ModelFormat } from '../../constructs/model-format';
import { RuntimeMetrics, ServingRuntime } from '../../constructs/serving-runtime';
import { StorageUri } from '../../constructs/storage-uri';
import * as contract from '../../contract';

export interface ResolvedRuntime {
  readonly runtime: ServingRuntime;
  readonly image: string;
  readonly command?: string[];
  readonly args: string[];
  /** The runtime's own variables, before the user's `env` (which may override them). */
  readonly env: Array<{ name: string; value: string }>;
  readonly httpPort?: number;
  readonly grpcPort?: number;
  /** The port of the endpoint's protocol: the one Knative exposes. */
  readonly servingPort: number;
  /** Whether the endpoint's protocol is a gRPC one. */
  readonly grpc: boolean;
  readonly readinessPath?: string;
  readonly livenessPath?: string;
  readonly metrics?: RuntimeMetrics;
  /** URI prefixes of the gRPC services the endpoint routes (gRPC protocols only). */
  readonly grpcPrefixes: string[];
  /** Our model server's image, which runs the storage initializer in front of the runtime. */
  readonly storageInitializerImage: string;
}

/** Whether `protocol` runs over gRPC. */
export function isGrpc(protocol: InferenceProtocol): boolean {
  return protocol === InferenceProtocol.GRPC_V2 || protocol === InferenceProtocol.GRPC_V1;
}

/** The gRPC service of the Open Inference Protocol. */
export const V2_GRPC_SERVICE = 'inference.GRPCInferenceService';

/**
 * @param runtime a runtime that is not our model server
 * @param storageUri checked against the runtime's model file extensions
 */
export function resolveRuntime(
  runtime: ServingRuntime, modelName: string, format: ModelFormat, protocol: InferenceProtocol, storageUri?: StorageUri,
  storageInitializerImage = contract.DEFAULT_SERVER_IMAGE,
): ResolvedRuntime {
  const grpc = isGrpc(protocol);
  const values: Record<string, string> = {
    modelName,
    modelDir: contract.MODEL_DIR,
    httpPort: runtime.httpPort !== undefined ? String(runtime.httpPort) : '',
    grpcPort: runtime.grpcPort !== undefined ? String(runtime.grpcPort) : '',
    protocol,
  };
  const fill = (template: string) => template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, name: string) => values[name]);
  checkModelFile(runtime, storageUri);
  return {
    runtime,
    image: runtime.image,
    command: runtime.command?.map(fill),
    args: runtime.args.map(fill),
    env: Object.entries(runtime._envFor(format, protocol)).map(([name, value]) => ({ name, value: fill(value) })),
    httpPort: runtime.httpPort,
    grpcPort: runtime.grpcPort,
    servingPort: (grpc ? runtime.grpcPort : runtime.httpPort)!,
    grpc,
    readinessPath: runtime.readinessPath ? fill(runtime.readinessPath) : undefined,
    livenessPath: runtime.livenessPath ? fill(runtime.livenessPath) : undefined,
    metrics: runtime.metrics,
    storageInitializerImage,
    grpcPrefixes: !grpc ? [] : (protocol === InferenceProtocol.GRPC_V2 ? [V2_GRPC_SERVICE] : runtime.grpcServices).map(s => `/${s}/`),
  };
}

/**
 * Where the storage URI names a file (its last segment has an extension), that the runtime
 * can load it.
 */
function checkModelFile(runtime: ServingRuntime, storageUri?: StorageUri): void {
  const extensions = runtime.modelFileExtensions;
  if (!storageUri || !extensions) return;
  const last = storageUri.uri.replace(/[?#].*$/, '').split('/').pop() ?? '';
  const dot = last.lastIndexOf('.');
  if (dot <= 0) return;
  const ext = last.slice(dot).toLowerCase();
  // Archives unpack into the model dir; their contents are checked by the runtime.
  if (['.tar', '.gz', '.tgz', '.zip'].includes(ext)) return;
  if (!extensions.includes(ext)) {
    throw new Error(`'storageUri' names the file '${last}', but runtime ${runtime.name} loads ${extensions.join(', ')} files (it expects ${runtime.modelLayout ?? 'its own layout'}); point 'storageUri' at such a file or at its folder, or pick another 'runtime'`);
  }
}
