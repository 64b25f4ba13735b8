/**
 * Configuration of `cdk8s-model-server serve`: command-line flags, then environment variables,
 * then defaults (flag and variable names from `SERVER_FLAGS` / `SERVER_ENV` in `_contract.ts`).
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--model-name` | `MODEL_NAME` | `model` (name of the model in single-model mode) |
 * | `--model-dir` | `MODEL_DIR` | `/mnt/models` |
 * | `--storage-uri` | `STORAGE_URI` | none (`serve` fetches it into `--model-dir` before loading, see `./storage`) |
 * | `--protocol` | `PROTOCOL` | `v2` (`v1`, `v2` or `grpc-v2`; informational: all protocols are served) |
 * | `--http-port` | `HTTP_PORT` | `8080` (`0` picks a free port, logged as `httpPort`) |
 * | `--grpc-port` | `GRPC_PORT` | `8081` |
 * | `--mode` | `SERVER_MODE` | `auto` (`single`, `multi`) |
 * | `--memory-budget-bytes` | `MEMORY_BUDGET_BYTES` | `0` = no limit; accepts `512Mi`, `2G`, ... |
 * | `--max-body-bytes` | `MAX_BODY_BYTES` | `16777216` (16 MiB) |
 * | `--request-timeout-ms` | `REQUEST_TIMEOUT_MS` | `30000` (`0` = none) |
 * | `--max-batch-size` | `MAX_BATCH_SIZE` | `1024` |
 * | `--shutdown-grace-ms` | `SHUTDOWN_GRACE_MS` | `25000` |
 * | `--shutdown-delay-ms` | `SHUTDOWN_DELAY_MS` | `0` (time between readiness off and closing the listener on SIGTERM) |
 * | `--log-level` | `LOG_LEVEL` | `info` |
 * | `--model-dir-wait-seconds` | `MODEL_DIR_WAIT_SECONDS` | `0` (a missing `--model-dir` is awaited this long, not ready, before the model is FAILED; the renderer sets it next to a serverless modelcar) |
 *
 * HTTP/1.1 front, connection bounds and listen address (see `./http/lean-http1.ts`, `./http/graceful-close.ts`):
 * | `--host` | `SERVER_HOST` | `0.0.0.0` (REST and gRPC listeners; `127.0.0.1` keeps a local server local) |
 * | `--http-front` | `HTTP_FRONT` | `lean` (`node`: node:http parses every request) |
 * | `--http-max-connections` | `HTTP_MAX_CONNECTIONS` | `1024` (more REST connections are closed at once) |
 * | `--max-unread-response-bytes` | `MAX_UNREAD_RESPONSE_BYTES` | `262144` (256 KiB; at least 16 KiB) |
 *
 * Mesh mode (`--mode mesh`, a ModelMesh member; see `./mesh`): multi-model, plus
 * | `--peers` | `MESH_PEERS` | none (comma-separated `host:port` of the members) |
 * | `--peer-dns` | `MESH_PEER_DNS` | none (headless Service name; its addresses are the members, port = `--http-port`) |
 * | `--self` | `MESH_SELF` | `127.0.0.1:<http port>` (this member as the others see it) |
 * | `--model-registry` | `MODEL_REGISTRY` | none (JSON registry file; without it, the models in `--model-dir`) |
 * | `--load-timeout-ms` | `MODEL_LOAD_TIMEOUT_MS` | `120000` |
 *
 * gRPC port limits per client (node:http2; see `./grpc/limits` and the README, "gRPC limits"):
 * | `--grpc-max-concurrent-streams` | `GRPC_MAX_CONCURRENT_STREAMS` | `100` (calls open at once on one connection) |
 * | `--grpc-max-header-list-bytes` | `GRPC_MAX_HEADER_LIST_BYTES` | `16Ki` (a request's decoded header section) |
 * | `--grpc-max-session-memory-bytes` | `GRPC_MAX_SESSION_MEMORY_BYTES` | `32Mi` (HTTP/2 memory of one connection, whole MiB) |
 * | `--grpc-idle-timeout-ms` | `GRPC_IDLE_TIMEOUT_MS` | `300000` (a connection with no call and no traffic is closed; `0` = never) |
 * | `--grpc-preface-timeout-ms` | `GRPC_PREFACE_TIMEOUT_MS` | `10000` (a connection that has not sent the HTTP/2 preface is closed) |
 * | `--grpc-max-connections` | `GRPC_MAX_CONNECTIONS` | `1000` (more are closed on accept) |
 *
 * Storage initializer (`--storage-uri`, and the `storage-initializer` subcommand; see `./storage/settings`):
 * | `--storage-max-bytes` | `STORAGE_MAX_BYTES` | `16Gi` (downloads plus unpacked archives) |
 * | `--storage-idle-timeout-ms` | `STORAGE_IDLE_TIMEOUT_MS` | `30000` |
 * | `--storage-deadline-ms` | `STORAGE_DEADLINE_MS` | `3600000` |
 * | `--storage-max-attempts` | `STORAGE_MAX_ATTEMPTS` | `5` |
 * | `--storage-auth` | `STORAGE_AUTH` | `auto` (`secret`, `workload-identity`, `anonymous`) |
 */
import { GRPC_PORT, HTTP_PORT, KSERVE_EMIT, MODEL_DIR, PAYLOAD_LOG_MODES, SERVER_ENV, SERVER_FLAGS, SERVER_MODES } from '../contract';
import { DEFAULT_GRPC_LIMITS, GrpcTransportLimits } from './grpc/limits';
import { RepositoryMode } from './models/repository';
import { PAYLOAD_LOG_DEFAULTS, PayloadLogConfig, PayloadLogMode } from './payload-log/config';
import { DEFAULT_GRAPH_SPEC_PATH, RouterConfig } from './router/config';
import { parseStorageSettings, STORAGE_DEFAULTS, StorageSettings } from './storage/settings';
import { ComponentConfig, parseComponentConfig, parsePropagateHeaders } from './transformer/config';

/** Validated server configuration. */
export interface ServerConfig {
  readonly modelName: string;
  readonly modelDir: string;
  readonly storageUri?: string;
  readonly protocol: string;
  readonly httpPort: number;
  readonly grpcPort: number;
  readonly mode: RepositoryMode;
  readonly memoryBudgetBytes: number;
  readonly maxBodyBytes: number;
  readonly requestTimeoutMs: number;
  readonly maxBatchSize: number;
  readonly shutdownGraceMs: number;
  readonly shutdownDelayMs: number;
  readonly logLevel: string;
  /** Seconds a missing model directory is awaited before the model is FAILED (0: not awaited). */
  readonly modelDirWaitSeconds: number;
  // ---- HTTP/1.1 front, connection bounds and listen address (issue 11) ----
  /** Address the REST and gRPC listeners bind. */
  readonly host: string;
  /** `lean`: the lean HTTP/1.1 front serves plain inference requests; `node`: node:http parses everything. */
  readonly httpFront: HttpFront;
  /** Most open REST connections (`server.maxConnections`). */
  readonly httpMaxConnections: number;
  /** Answer bytes a REST client may leave unread before the server stops reading its requests. */
  readonly maxUnreadResponseBytes: number;
  /** Limits and authentication of `--storage-uri` fetches (`./storage/settings`). */
  readonly storage: StorageSettings;
  /** TEST-ONLY fault injection (`--fault-error-ratio`, `--fault-delay-ms`); undefined: none. */
  readonly faults?: FaultConfig;
  /** Payload logging (`--payload-log-url` set); see `./payload-log`. */
  readonly payloadLog?: PayloadLogConfig;
  /** Set in mesh mode (`--mode mesh`); `mode` is then `multi`. */
  readonly mesh?: MeshConfig;
  /**
   * Transformer/explainer settings (`--mode transformer|explainer`, or `--transformer-module` /
   * `--explainer-method` in a predictor for the in-process variants; table in `./transformer/config`).
   */
  readonly component?: ComponentConfig;
  /** gRPC port limits per client (the `--grpc-*` limit flags). */
  readonly grpcLimits: GrpcTransportLimits;
  /** Set in router mode (`--mode router`, an inference graph; see `./router`). */
  readonly router?: RouterConfig;
}

/** Values of `--http-front`. */
export type HttpFront = 'lean' | 'node';
const HTTP_FRONTS: readonly HttpFront[] = ['lean', 'node'];
/** A socket's default write high-water mark: the smallest useful unread-answer bound. */
const MIN_UNREAD_RESPONSE_BYTES = 16 * 1024;

/** Settings of a mesh member (`--mode mesh`). */
export interface MeshConfig {
  readonly peers: string[];
  readonly peerDns?: string;
  readonly self?: string;
  readonly modelRegistry?: string;
  readonly loadTimeoutMs: number;
}

/** Defaults of every setting. */
export const DEFAULTS: ServerConfig = {
  modelName: 'model',
  modelDir: MODEL_DIR,
  protocol: 'v2',
  httpPort: HTTP_PORT,
  grpcPort: GRPC_PORT,
  mode: 'auto',
  memoryBudgetBytes: 0,
  maxBodyBytes: 16 * 1024 * 1024,
  requestTimeoutMs: 30_000,
  maxBatchSize: 1024,
  shutdownGraceMs: 25_000,
  shutdownDelayMs: 0,
  logLevel: 'info',
  modelDirWaitSeconds: 0,
  grpcLimits: DEFAULT_GRPC_LIMITS,
  host: '0.0.0.0',
  httpFront: 'lean',
  httpMaxConnections: 1024,
  maxUnreadResponseBytes: 256 * 1024,
  storage: STORAGE_DEFAULTS,
};

/** A configuration error: the message names the flag, the variable, the value and the rule. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Key = keyof typeof SERVER_FLAGS;

const PROTOCOLS = ['v1', 'v2', 'grpc-v2'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MODES = Object.values(SERVER_MODES);

/** Parses flags (`--flag value` or `--flag=value`) and environment variables into a config. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const flags = parseFlags(argv);
  const raw = (key: Key): string | undefined => {
    const v = flags.get(SERVER_FLAGS[key]);
    if (v !== undefined) {
      return v;
    }
    const e = env[(SERVER_ENV as Record<string, string>)[key]];
    return e === undefined || e === '' ? undefined : e;
  };
  const where = (key: Key) => `'${SERVER_FLAGS[key]}' (${(SERVER_ENV as Record<string, string>)[key]})`;
  const int = (key: Key, min: number, max: number): number | undefined => {
    const v = raw(key);
    if (v === undefined) {
      return undefined;
    }
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`${where(key)} must be an integer between ${min} and ${max}, got '${v}'`);
    }
    return n;
  };
  const oneOf = (key: Key, allowed: readonly string[]): string | undefined => {
    const v = raw(key);
    if (v !== undefined && !allowed.includes(v)) {
      throw new ConfigError(`${where(key)} must be one of ${allowed.join(', ')}, got '${v}'`);
    }
    return v;
  };
  const bytes = (key: Key): number | undefined => {
    const v = raw(key);
    if (v === undefined) {
      return undefined;
    }
    const n = parseBytes(v);
    if (n === undefined) {
      throw new ConfigError(`${where(key)} must be a byte count such as 1048576, 512Mi or 2G, got '${v}'`);
    }
    return n;
  };
  const modelName = raw('modelName') ?? DEFAULTS.modelName;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(modelName)) {
    throw new ConfigError(`${where('modelName')} must start with a letter or digit and hold only letters, digits, '.', '_' and '-', got '${modelName}'`);
  }
  const mode = oneOf('mode', MODES) ?? DEFAULTS.mode;
  let mesh: MeshConfig | undefined;
  if (mode === SERVER_MODES.mesh) {
    const peers = (raw('peers') ?? '').split(',').map((p) => p.trim()).filter((p) => p.length > 0);
    for (const p of peers) {
      if (!/^[^\s:,]+:\d{1,5}$/.test(p)) {
        throw new ConfigError(`${where('peers')} must be comma-separated host:port pairs, got '${p}'`);
      }
    }
    const self = raw('self');
    if (self !== undefined && !/^[^\s:,]+:\d{1,5}$/.test(self)) {
      throw new ConfigError(`${where('self')} must be host:port, got '${self}'`);
    }
    mesh = { peers, peerDns: raw('peerDns'), self, modelRegistry: raw('modelRegistry'), loadTimeoutMs: int('loadTimeoutMs', 1, 3_600_000) ?? 120_000 };
  }
  const component = parseComponentConfig(mode, raw, where, (message) => {
    throw new ConfigError(message);
  });
  const maxBodyBytes = bytes('maxBodyBytes') ?? DEFAULTS.maxBodyBytes;
  if (maxBodyBytes < 1) {
    throw new ConfigError(`${where('maxBodyBytes')} must be at least 1, got '${raw('maxBodyBytes')}'`);
  }
  const grpcLimits = parseGrpcLimits(int, bytes, where);
  const host = raw('host') ?? DEFAULTS.host;
  if (!/^[A-Za-z0-9.:_-]+$/.test(host)) {
    throw new ConfigError(`${where('host')} must be an IP address or a host name such as 0.0.0.0, 127.0.0.1 or ::, got '${host}'`);
  }
  const maxUnreadResponseBytes = bytes('maxUnreadResponseBytes') ?? DEFAULTS.maxUnreadResponseBytes;
  if (maxUnreadResponseBytes < MIN_UNREAD_RESPONSE_BYTES) {
    throw new ConfigError(`${where('maxUnreadResponseBytes')} must be at least ${MIN_UNREAD_RESPONSE_BYTES} (a socket's write buffer), got '${raw('maxUnreadResponseBytes')}'`);
  }
  return {
    modelName,
    modelDir: raw('modelDir') ?? DEFAULTS.modelDir,
    storageUri: raw('storageUri'),
    protocol: oneOf('protocol', PROTOCOLS) ?? DEFAULTS.protocol,
    httpPort: int('httpPort', 0, 65535) ?? DEFAULTS.httpPort,
    grpcPort: int('grpcPort', 0, 65535) ?? DEFAULTS.grpcPort,
    mode: (mode === SERVER_MODES.mesh || mode === SERVER_MODES.router ? 'multi' : mode === SERVER_MODES.transformer || mode === SERVER_MODES.explainer ? 'auto' : mode) as RepositoryMode,
    memoryBudgetBytes: bytes('memoryBudgetBytes') ?? DEFAULTS.memoryBudgetBytes,
    maxBodyBytes,
    requestTimeoutMs: int('requestTimeoutMs', 0, 3_600_000) ?? DEFAULTS.requestTimeoutMs,
    maxBatchSize: int('maxBatchSize', 1, 1_000_000) ?? DEFAULTS.maxBatchSize,
    shutdownGraceMs: int('shutdownGraceMs', 0, 3_600_000) ?? DEFAULTS.shutdownGraceMs,
    shutdownDelayMs: int('shutdownDelayMs', 0, 3_600_000) ?? DEFAULTS.shutdownDelayMs,
    logLevel: oneOf('logLevel', LOG_LEVELS) ?? DEFAULTS.logLevel,
    modelDirWaitSeconds: int('modelDirWaitSeconds', 0, 3600) ?? DEFAULTS.modelDirWaitSeconds,
    host,
    httpFront: (oneOf('httpFront', HTTP_FRONTS) ?? DEFAULTS.httpFront) as HttpFront,
    httpMaxConnections: int('httpMaxConnections', 1, 1_000_000) ?? DEFAULTS.httpMaxConnections,
    maxUnreadResponseBytes,
    // ---- storage initializer ----
    storage: parseStorageSettings({
      int,
      bytes,
      oneOf,
      legacyEnv: (name) => env[name],
      fail: (message) => {
        throw new ConfigError(message);
      },
    }),
    ...(mesh ? { mesh } : {}),
    ...(component ? { component } : {}),
    ...(mode === SERVER_MODES.router ? { router: routerOf(raw, where) } : {}),
    grpcLimits,
    ...faultsOf(raw, where, int),
    ...payloadLogOf(raw, where, int, oneOf, component?.kind ?? 'predictor'),
  };
}

/** `--mode router`: the graph spec and the headers forwarded to steps (as a transformer's). */
function routerOf(raw: (key: Key) => string | undefined, where: (key: Key) => string): RouterConfig {
  const propagateHeaders = parsePropagateHeaders(raw('propagateHeaders'), where('propagateHeaders'), (message) => {
    throw new ConfigError(message);
  });
  return { specPath: raw('graphSpec') ?? DEFAULT_GRAPH_SPEC_PATH, propagateHeaders };
}

/** `--payload-log-*`: on when `--payload-log-url` is set. */
function payloadLogOf(
  raw: (key: Key) => string | undefined, where: (key: Key) => string, int: (key: Key, min: number, max: number) => number | undefined,
  oneOf: (key: Key, allowed: readonly string[]) => string | undefined, component: string,
): { payloadLog?: PayloadLogConfig } {
  const url = raw('payloadLogUrl');
  if (url === undefined || url === '') return {};
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new ConfigError(`${where('payloadLogUrl')} must be an http:// or https:// URL, got '${url}'`);
  }
  const d = PAYLOAD_LOG_DEFAULTS;
  const inferenceService = raw('payloadLogInferenceService');
  return {
    payloadLog: {
      url,
      mode: (oneOf('payloadLogMode', Object.values(PAYLOAD_LOG_MODES)) ?? d.mode) as PayloadLogMode,
      queueSize: int('payloadLogQueueSize', 1, 1_000_000) ?? d.queueSize,
      timeoutMs: int('payloadLogTimeoutMs', 1, 600_000) ?? d.timeoutMs,
      ...(inferenceService ? { inferenceService } : {}),
      namespace: raw('payloadLogNamespace') ?? d.namespace,
      endpoint: raw('payloadLogEndpoint') ?? d.endpoint,
      component,
    },
  };
}

/** TEST-ONLY: the share of inference requests to fail (500) and the delay added to each. */
export interface FaultConfig {
  readonly errorRatio: number;
  readonly delayMs: number;
}

function faultsOf(
  raw: (key: Key) => string | undefined, where: (key: Key) => string, int: (key: Key, min: number, max: number) => number | undefined,
): { faults?: FaultConfig } {
  const ratioText = raw('faultErrorRatio');
  const errorRatio = ratioText === undefined ? 0 : Number(ratioText);
  if (ratioText !== undefined && (!/^\d*\.?\d+$/.test(ratioText.trim()) || errorRatio > 1)) {
    throw new ConfigError(`${where('faultErrorRatio')} (test only) must be a number from 0 to 1, got '${ratioText}'`);
  }
  const delayMs = int('faultDelayMs', 0, 600_000) ?? 0;
  return errorRatio > 0 || delayMs > 0 ? { faults: { errorRatio, delayMs } } : {};
}

// ---- gRPC port limits per client ----
/** The `--grpc-*` limit flags; bounds keep each limit meaningful (a 0 would refuse every client). */
function parseGrpcLimits(
  int: (key: Key, min: number, max: number) => number | undefined,
  bytes: (key: Key) => number | undefined,
  where: (key: Key) => string,
): GrpcTransportLimits {
  const byteCount = (key: Key, min: number, max: number): number | undefined => {
    const n = bytes(key);
    if (n !== undefined && (n < min || n > max)) {
      throw new ConfigError(`${where(key)} must be between ${min} and ${max} bytes, got ${n}`);
    }
    return n;
  };
  const d = DEFAULT_GRPC_LIMITS;
  return {
    maxConcurrentStreams: int('grpcMaxConcurrentStreams', 1, 2 ** 31 - 1) ?? d.maxConcurrentStreams,
    // RFC 9113 leaves the size open; node:http2 takes up to 2^32 - 1.
    maxHeaderListBytes: byteCount('grpcMaxHeaderListBytes', 1024, 2 ** 32 - 1) ?? d.maxHeaderListBytes,
    // node:http2 counts session memory in whole MiB.
    maxSessionMemoryBytes: byteCount('grpcMaxSessionMemoryBytes', 2 ** 20, 2 ** 40) ?? d.maxSessionMemoryBytes,
    idleTimeoutMs: int('grpcIdleTimeoutMs', 0, 86_400_000) ?? d.idleTimeoutMs,
    prefaceTimeoutMs: int('grpcPrefaceTimeoutMs', 1, 3_600_000) ?? d.prefaceTimeoutMs,
    maxConnections: int('grpcMaxConnections', 1, 1_000_000) ?? d.maxConnections,
  };
}
// ---- end of gRPC port limits ----

function parseFlags(argv: readonly string[]): Map<string, string> {
  const known = new Set<string>(Object.values(SERVER_FLAGS));
  const out = new Map<string, string>();
  // kserve-emit: what KServe appends to a transformer's or explainer's args, read after ours.
  const appended = new Map<string, string>();
  const kserveArgs = KSERVE_EMIT.appendedComponentArgs;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (flag in kserveArgs) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new ConfigError(`'${flag}' needs a value`);
      const ours = kserveArgs[flag];
      if (ours !== undefined) appended.set(ours, value);
      continue;
    }
    if (!known.has(flag)) {
      throw new ConfigError(`unknown argument '${arg}' (flags: ${[...known].join(', ')})`);
    }
    let value: string | undefined;
    if (eq > 0) {
      value = arg.slice(eq + 1);
    } else {
      value = argv[++i];
      if (value === undefined) {
        throw new ConfigError(`'${flag}' needs a value`);
      }
    }
    out.set(flag, value);
  }
  for (const [flag, value] of appended) if (!out.has(flag)) out.set(flag, value);
  return out;
}

const UNITS: Record<string, number> = {
  '': 1, 'K': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'Ki': 2 ** 10, 'Mi': 2 ** 20, 'Gi': 2 ** 30, 'Ti': 2 ** 40,
};

/** Parses `1048576`, `512Mi`, `2G` (Kubernetes quantity suffixes) into bytes. */
export function parseBytes(value: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?)?\s*$/.exec(value);
  if (!m) {
    return undefined;
  }
  const n = Math.floor(Number(m[1]) * UNITS[m[2] ?? '']);
  return Number.isSafeInteger(n) ? n : undefined;
}
