/**
 * `--help` of the `cdk8s-model-server` binary, generated from one table of `serve`'s flags
 * (`SERVE_FLAG_DOCS`: flag and variable names from `SERVER_FLAGS` / `SERVER_ENV`, defaults from
 * `DEFAULTS` where it has them, one line of description). The table is keyed by every
 * `SERVER_FLAGS` entry, so a flag added there without a line here fails to type-check, and a
 * test checks that the help lists every flag. Loads only `./config` (no onnxruntime-node, no
 * fastify), so `--help` works without onnxruntime-node installed.
 */
import { DEFAULT_PROPAGATED_HEADERS, SERVER_COMMANDS, SERVER_ENV, SERVER_FLAGS, SERVER_MODES } from '../contract';
import { DEFAULTS } from './config';

type FlagKey = keyof typeof SERVER_FLAGS;

/** One flag's documentation. */
export interface FlagDoc {
  /** The default, as a user would write it (or what happens without the flag). */
  readonly default: string;
  readonly description: string;
  /** Heading the flag is listed under. */
  readonly group: 'server' | 'gRPC port limits' | 'storage initializer (--storage-uri)' | 'mesh (--mode mesh)' | 'transformer and explainer';
}

const S = 'server' as const;
const GRPC = 'gRPC port limits' as const;
const STORAGE = 'storage initializer (--storage-uri)' as const;
const MESH = 'mesh (--mode mesh)' as const;
const COMPONENT = 'transformer and explainer' as const;

/** Every flag of `serve`, in the order `--help` lists them. */
export const SERVE_FLAG_DOCS: Record<FlagKey, FlagDoc> = {
  modelName: { group: S, default: DEFAULTS.modelName, description: 'name of the model in single-model mode' },
  modelDir: { group: S, default: DEFAULTS.modelDir, description: 'directory of the model (a .onnx file) or of one folder per model' },
  storageUri: { group: S, default: 'none', description: 'fetch the model from s3://, gs://, https:// or http:// into --model-dir before loading it' },
  protocol: { group: S, default: DEFAULTS.protocol, description: 'v1, v2 or grpc-v2; informational, every protocol is served' },
  httpPort: { group: S, default: String(DEFAULTS.httpPort), description: 'HTTP port (KServe V1, V2 REST, /metrics); 0 picks a free port' },
  grpcPort: { group: S, default: String(DEFAULTS.grpcPort), description: 'gRPC port (V2 GRPCInferenceService); 0 picks a free port' },
  mode: { group: S, default: DEFAULTS.mode, description: `${Object.values(SERVER_MODES).join(', ')}; auto is single when --model-dir holds a .onnx file, else multi` },
  memoryBudgetBytes: { group: S, default: `${DEFAULTS.memoryBudgetBytes} (no limit)`, description: 'memory for loaded models, idle ones evicted first; accepts 512Mi, 2G' },
  maxBodyBytes: { group: S, default: `${DEFAULTS.maxBodyBytes} (${DEFAULTS.maxBodyBytes / 2 ** 20} MiB)`, description: 'largest request body; larger ones get 413; accepts 512Mi, 2G' },
  requestTimeoutMs: { group: S, default: String(DEFAULTS.requestTimeoutMs), description: 'deadline of a request in ms; 0 means none' },
  maxBatchSize: { group: S, default: String(DEFAULTS.maxBatchSize), description: 'most rows joined into one onnxruntime call' },
  shutdownGraceMs: { group: S, default: String(DEFAULTS.shutdownGraceMs), description: 'on SIGTERM, longest wait in ms for requests in flight' },
  shutdownDelayMs: { group: S, default: String(DEFAULTS.shutdownDelayMs), description: 'on SIGTERM, ms between readiness off and closing the listener (about 5000 behind a Service)' },
  logLevel: { group: S, default: DEFAULTS.logLevel, description: 'fatal, error, warn, info, debug, trace or silent' },
  modelDirWaitSeconds: { group: S, default: `${DEFAULTS.modelDirWaitSeconds} (no wait)`, description: 'a missing --model-dir is awaited this long, not ready, before the model is FAILED (an oci:// modelcar sidecar links it)' },
  host: { group: S, default: DEFAULTS.host, description: 'address the REST and gRPC listeners bind; 127.0.0.1 keeps a local server local' },
  httpFront: { group: S, default: DEFAULTS.httpFront, description: 'lean: the lean HTTP/1.1 front answers plain inference requests; node: node:http parses every request' },
  httpMaxConnections: { group: S, default: String(DEFAULTS.httpMaxConnections), description: 'open REST connections; more are closed at once' },
  maxUnreadResponseBytes: { group: S, default: `${DEFAULTS.maxUnreadResponseBytes} (256 KiB)`, description: 'unread answer bytes per REST connection past which the server stops reading that client; at least 16Ki' },
  grpcMaxConcurrentStreams: { group: GRPC, default: String(DEFAULTS.grpcLimits.maxConcurrentStreams), description: 'calls one gRPC connection may have open at once' },
  grpcMaxHeaderListBytes: { group: GRPC, default: String(DEFAULTS.grpcLimits.maxHeaderListBytes), description: 'largest decoded header section of a gRPC request; larger: the call is reset' },
  grpcMaxSessionMemoryBytes: { group: GRPC, default: String(DEFAULTS.grpcLimits.maxSessionMemoryBytes), description: 'HTTP/2 memory one gRPC connection may use (whole MiB); past it new calls are refused' },
  grpcIdleTimeoutMs: { group: GRPC, default: String(DEFAULTS.grpcLimits.idleTimeoutMs), description: 'a gRPC connection with no call and no traffic this long is closed; 0 means never' },
  grpcPrefaceTimeoutMs: { group: GRPC, default: String(DEFAULTS.grpcLimits.prefaceTimeoutMs), description: 'a gRPC connection that has not sent the HTTP/2 preface by then is closed' },
  grpcMaxConnections: { group: GRPC, default: String(DEFAULTS.grpcLimits.maxConnections), description: 'open gRPC connections; more are closed on accept' },
  // ---- storage initializer (also the flags of `storage-initializer`) ----
  storageMaxBytes: { group: STORAGE, default: `${DEFAULTS.storage.maxBytes} (${DEFAULTS.storage.maxBytes / 2 ** 30} GiB)`, description: 'most bytes a fetch writes, downloads plus unpacked archives; accepts 512Mi, 2G' },
  storageIdleTimeoutMs: { group: STORAGE, default: String(DEFAULTS.storage.idleTimeoutMs), description: 'an attempt with no byte for this long times out (and is retried)' },
  storageDeadlineMs: { group: STORAGE, default: String(DEFAULTS.storage.deadlineMs), description: 'the whole fetch, retries included, times out after this long' },
  storageMaxAttempts: { group: STORAGE, default: String(DEFAULTS.storage.maxAttempts), description: 'attempts per request for network errors, timeouts, 429 and 5xx; 1 = no retries' },
  storageAuth: { group: STORAGE, default: DEFAULTS.storage.auth, description: 'auto, secret, workload-identity or anonymous' },
  faultErrorRatio: { group: S, default: '0 (off)', description: 'TEST-ONLY: share (0 to 1) of inference requests answered 500; never set in a deployment' },
  payloadLogUrl: { group: S, default: 'none (no payload logging)', description: 'sink receiving request/response payloads as CloudEvents (KServe logger format); http:// or https://' },
  payloadLogMode: { group: S, default: 'all', description: 'which payloads are sent: all, request or response' },
  payloadLogQueueSize: { group: S, default: '256', description: 'most payload events waiting to be sent; more are dropped and counted, inference never waits' },
  payloadLogTimeoutMs: { group: S, default: '5000', description: 'longest time one payload event may take to send; then it is dropped (no retries)' },
  payloadLogInferenceService: { group: S, default: 'the model name', description: 'ce-inferenceservicename of payload events' },
  payloadLogNamespace: { group: S, default: "''", description: 'ce-namespace of payload events' },
  payloadLogEndpoint: { group: S, default: "''", description: 'ce-endpoint of payload events (KServe: default or canary)' },
  graphSpec: { group: S, default: '/etc/inference-graph/graph.json', description: '--mode router: the inference graph to serve (JSON, KServe InferenceGraph nodes); model steps run on --model-dir in process' },
  faultDelayMs: { group: S, default: '0 (off)', description: 'TEST-ONLY: milliseconds added to every inference request; never set in a deployment' },
  peers: { group: MESH, default: 'none', description: 'comma-separated host:port of every member' },
  peerDns: { group: MESH, default: 'none', description: 'headless Service name whose addresses are the members (port: --http-port)' },
  self: { group: MESH, default: '127.0.0.1:<http port>', description: 'this member as the others see it (host:port)' },
  modelRegistry: { group: MESH, default: 'none (the models in --model-dir)', description: 'JSON model registry file, re-read when it changes' },
  loadTimeoutMs: { group: MESH, default: '120000', description: 'longest wait in ms for a model to be fetched and loaded' },
  predictorHost: { group: COMPONENT, default: 'none (required by --mode transformer|explainer)', description: 'host:port of the predictor' },
  predictorProtocol: { group: COMPONENT, default: 'v2', description: 'how to call the predictor: v1, v2 or grpc-v2' },
  transformerModule: { group: COMPONENT, default: 'none', description: 'transformer module (.js); in a predictor, runs it in process' },
  propagateHeaders: { group: COMPONENT, default: DEFAULT_PROPAGATED_HEADERS.join(','), description: 'headers forwarded to the predictor (comma-separated)' },
  explainerMethod: { group: COMPONENT, default: 'kernel_shap', description: 'kernel_shap or lime; in a predictor, adds the :explain routes in process' },
  explainerBackground: { group: COMPONENT, default: '<model dir>/background.json', description: 'background rows: a .json or .csv path (relative to the model dir) or inline JSON' },
  explainerSamples: { group: COMPONENT, default: '0 (auto)', description: 'coalitions (KernelSHAP) or samples (LIME) per explanation' },
  explainerSeed: { group: COMPONENT, default: '0', description: 'seed of the sampling' },
  explainerOutput: { group: COMPONENT, default: "the model's first floating-point output", description: 'the output to explain' },
  explainerBatchSize: { group: COMPONENT, default: '1024', description: 'rows per predictor request' },
  explainerMaxBackground: { group: COMPONENT, default: '50', description: 'background rows kept (larger sets are subsampled with the seed)' },
};

/** Subcommands and what they do, for the top-level help. */
export const COMMAND_DOCS: Record<string, string> = {
  [SERVER_COMMANDS.serve]: 'serve models over KServe V1, Open Inference Protocol V2 REST and gRPC',
  [SERVER_COMMANDS.storageInitializer]: 'fetch a model into a directory (an init container)',
};

/** True when `args` ask for help (`-h` / `--help`). */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/** The top-level usage: commands, `--help`, `--version`. */
export function topLevelHelp(): string {
  const width = Math.max(...Object.keys(COMMAND_DOCS).map((c) => c.length));
  return [
    'usage: cdk8s-model-server <command> [flags]',
    '',
    'commands:',
    ...Object.entries(COMMAND_DOCS).map(([name, text]) => `  ${name.padEnd(width)}  ${text}`),
    '',
    '  -h, --help  this help; \'cdk8s-model-server <command> --help\' lists a command\'s flags',
    '  --version   print the version',
    '',
  ].join('\n');
}

/** `serve --help`: every flag with its variable, default and description, by group. */
export function serveHelp(): string {
  const env = SERVER_ENV as Record<string, string | undefined>;
  const lines = [
    `usage: cdk8s-model-server ${SERVER_COMMANDS.serve} [flags]`,
    '',
    `${COMMAND_DOCS[SERVER_COMMANDS.serve]}.`,
    'Flags take a value (--flag value or --flag=value); each also reads the environment variable',
    'shown, and a flag wins over its variable.',
  ];
  const groups = [...new Set(Object.values(SERVE_FLAG_DOCS).map((d) => d.group))];
  for (const group of groups) {
    lines.push('', `${group}:`);
    for (const [key, doc] of Object.entries(SERVE_FLAG_DOCS) as Array<[FlagKey, FlagDoc]>) {
      if (doc.group !== group) continue;
      const variable = env[key] ? `  (env ${env[key]})` : '';
      lines.push(`  ${SERVER_FLAGS[key]}${variable}  default: ${doc.default}`, `      ${doc.description}`);
    }
  }
  lines.push('');
  return lines.join('\n');
}
