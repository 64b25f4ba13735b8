/**
 * Configuration of `cdk8s-model-serving controller`: flags, then environment variables, then
 * defaults. Names come from CONTROLLER_FLAGS / CONTROLLER_ENV and CONTROLLER_CORE_FLAGS /
 * CONTROLLER_CORE_ENV in `src/contract.ts`; the help text below is the one table of them.
 * A bad value is a ConfigError that names the flag (or the variable it came from) and the rule.
 */
import {
  CONTROLLER_ANALYSIS_ENV, CONTROLLER_ANALYSIS_FLAGS, CONTROLLER_CORE_ENV, CONTROLLER_CORE_FLAGS, CONTROLLER_DEFAULTS, CONTROLLER_ENV,
  CONTROLLER_FLAGS,
  CONTROLLER_PORTS, CONTROLLER_WEBHOOK_DEFAULTS, CONTROLLER_WEBHOOK_ENV, CONTROLLER_WEBHOOK_FLAGS, DEFAULT_SERVER_IMAGE, WEBHOOK_CERT_MODES,
} from '../contract';

/** Validated controller configuration. */
export interface ControllerConfig {
  /** Kubeconfig file; undefined: in-cluster configuration. */
  readonly kubeconfig?: string;
  /** The controller's own namespace (Lease, TLS Secret). */
  readonly namespace: string;
  /** This replica's name (the Lease holder identity starts with it). */
  readonly podName: string;
  /** Only this namespace's custom resources; '' = every namespace. */
  readonly watchNamespace: string;
  readonly metricsPort: number;
  readonly bindAddress: string;
  readonly webhookPort: number;
  readonly leaderElect: boolean;
  readonly leaseName: string;
  readonly leaseDurationSeconds: number;
  readonly renewDeadlineSeconds: number;
  readonly retryPeriodSeconds: number;
  readonly webhookCertMode: string;
  readonly webhookService: string;
  readonly tlsSecret: string;
  readonly validatingWebhookConfiguration: string;
  readonly mutatingWebhookConfiguration: string;
  readonly storageInitializerImage: string;
  /** Seconds between full resyncs; 0 turns them off. */
  readonly resyncSeconds: number;
  readonly workers: number;
  readonly shutdownGraceSeconds: number;
  readonly logLevel: LogLevel;
  // ---- ctl-webhook: the webhook server's TLS and bounds ----
  /** Extra names and IPs of the self-signed serving certificate. */
  readonly webhookCertHosts: readonly string[];
  /** cert-manager mode: the mounted Secret's directory; undefined: read through the API. */
  readonly webhookCertDir?: string;
  readonly webhookMaxBodyBytes: number;
  readonly webhookRequestTimeoutSeconds: number;
  /** The self-signed serving certificate's lifetime: a year, or the TEST-ONLY env's value. */
  readonly webhookCertValidityMs: number;
  // ---- end of ctl-webhook ----
  /** The Prometheus HTTP API that CanaryRollout analyses query; undefined: analyses pause. */
  readonly prometheusUrl?: string;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** A bad flag or environment value: the message names it and says what is allowed. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Key = keyof typeof CONTROLLER_FLAGS | keyof typeof CONTROLLER_CORE_FLAGS | keyof typeof CONTROLLER_WEBHOOK_FLAGS
  | keyof typeof CONTROLLER_ANALYSIS_FLAGS;
const FLAGS: Record<Key, string> = { ...CONTROLLER_FLAGS, ...CONTROLLER_CORE_FLAGS, ...CONTROLLER_WEBHOOK_FLAGS, ...CONTROLLER_ANALYSIS_FLAGS };
const ENV: Partial<Record<Key, string>> = { ...CONTROLLER_ENV, ...CONTROLLER_CORE_ENV, ...CONTROLLER_WEBHOOK_ENV, ...CONTROLLER_ANALYSIS_ENV };
/** A year: the self-signed serving certificate's lifetime (renewed after two thirds of it). */
const CERT_VALIDITY_MS = 365 * 86_400_000;

/** Help text of each flag: [key, default, description]. Every flag in the contract has a row (a test checks it). */
export const CONTROLLER_HELP: ReadonlyArray<readonly [Key, string, string]> = [
  ['kubeconfig', 'in-cluster', 'kubeconfig file (run out of cluster, for development); without it the pod\'s service account is used'],
  ['namespace', CONTROLLER_DEFAULTS.namespace, 'namespace the controller runs in: its Lease and webhook TLS Secret live there'],
  ['watchNamespace', 'every namespace', 'reconcile only the custom resources of this namespace'],
  ['metricsPort', String(CONTROLLER_PORTS.metrics), '/metrics, /healthz and /readyz (0 picks a free port, logged as metricsPort)'],
  ['bindAddress', '0.0.0.0', 'address the metrics and health listener and the webhook server bind'],
  ['webhookPort', String(CONTROLLER_PORTS.webhook), 'HTTPS port of the admission webhooks'],
  ['leaderElect', 'true', 'true: only the replica holding the Lease reconciles (run two replicas); false: this one always does'],
  ['leaseName', CONTROLLER_DEFAULTS.leaseName, 'name of the coordination.k8s.io Lease used for leader election'],
  ['leaseDurationSeconds', '15', 'seconds a Lease is valid without renewal; a follower takes over after it'],
  ['renewDeadlineSeconds', '10', 'seconds the leader tries to renew before it stops reconciling (less than the lease duration)'],
  ['retryPeriodSeconds', '2', 'seconds between tries to acquire or renew the Lease'],
  ['webhookCertMode', WEBHOOK_CERT_MODES.selfSigned, `webhook TLS: ${Object.values(WEBHOOK_CERT_MODES).join(', ')}`],
  ['webhookService', CONTROLLER_DEFAULTS.webhookService, 'Service in front of the webhook port (the certificate\'s DNS name)'],
  ['tlsSecret', CONTROLLER_DEFAULTS.tlsSecret, 'Secret holding the webhook certificate'],
  ['validatingWebhookConfiguration', CONTROLLER_DEFAULTS.validatingWebhookConfiguration, 'ValidatingWebhookConfiguration whose caBundle the controller keeps'],
  ['mutatingWebhookConfiguration', CONTROLLER_DEFAULTS.mutatingWebhookConfiguration, 'MutatingWebhookConfiguration whose caBundle the controller keeps'],
  ['storageInitializerImage', DEFAULT_SERVER_IMAGE, 'image of the storage-initializer init container the pod webhook injects'],
  ['resyncSeconds', '300', 'seconds between full resyncs of every custom resource (0: never)'],
  ['workers', '4', 'custom resources reconciled at once'],
  ['shutdownGraceSeconds', '25', 'seconds SIGTERM waits for in-flight reconciles'],
  ['logLevel', 'info', `${LOG_LEVELS.join(', ')}`],
  // ---- ctl-webhook ----
  ['webhookCertHosts', 'none', 'extra DNS names or IPs (comma-separated) in the self-signed webhook certificate, for webhooks reached by URL (out of cluster)'],
  ['webhookCertDir', 'read the TLS Secret through the API', 'cert-manager mode: directory where the TLS Secret is mounted (tls.crt, tls.key)'],
  ['webhookMaxBodyBytes', String(CONTROLLER_WEBHOOK_DEFAULTS.maxBodyBytes), 'largest AdmissionReview body the webhooks read (413 above)'],
  ['webhookRequestTimeoutSeconds', String(CONTROLLER_WEBHOOK_DEFAULTS.requestTimeoutSeconds), 'seconds a client has to send a whole webhook request (and to finish the TLS handshake)'],
  // ---- end of ctl-webhook ----
  ['prometheusUrl', 'none (CanaryRollout analyses pause)', 'Prometheus HTTP API (http://prometheus.monitoring:9090) that CanaryRollout analyses query'],
];

/** `cdk8s-model-serving controller --help`. */
export function controllerHelp(): string {
  const rows = CONTROLLER_HELP.map(([key, def, text]) => {
    const env = ENV[key] ? ` (env ${ENV[key]})` : '';
    return `  ${FLAGS[key]} <value>${env}\n      ${text}; default: ${def}`;
  });
  return 'Usage: cdk8s-model-serving controller [flags]\n\n'
    + 'Reconciles ModelEndpoint, CanaryRollout and ModelMesh custom resources into the objects the\n'
    + 'cdk8s-model-serving constructs render. Every flag can also be set through its environment variable.\n\n'
    + `${rows.join('\n')}\n`;
}

/** Parses argv (after the command name) and the environment. Throws ConfigError on a bad value. */
export function parseControllerConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  const byFlag = new Map(Object.entries(FLAGS).map(([k, f]) => [f, k as Key]));
  const given = new Map<Key, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const key = byFlag.get(flag);
    if (!key) throw new ConfigError(`unknown flag '${flag}' (see cdk8s-model-serving controller --help)`);
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    given.set(key, value);
  }
  const where = (key: Key) => (given.has(key) || !ENV[key] || env[ENV[key]!] === undefined ? FLAGS[key] : `${ENV[key]} (for ${FLAGS[key]})`);
  const raw = (key: Key): string | undefined => given.get(key) ?? (ENV[key] ? env[ENV[key]!] : undefined);
  const str = (key: Key, def: string) => raw(key) ?? def;
  const int = (key: Key, def: number, min: number, max: number) => {
    const v = raw(key);
    if (v === undefined) return def;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new ConfigError(`${where(key)} must be an integer between ${min} and ${max}, got '${v}'`);
    }
    return Number(v);
  };
  /** A duration in seconds; decimals allowed (tests use sub-second lease timings). */
  const seconds = (key: Key, def: number, min: number, max: number) => {
    const v = raw(key);
    if (v === undefined) return def;
    if (!/^\d+(\.\d+)?$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new ConfigError(`${where(key)} must be a number of seconds between ${min} and ${max}, got '${v}'`);
    }
    return Number(v);
  };
  const oneOf = <T extends string>(key: Key, def: T, allowed: readonly T[]): T => {
    const v = raw(key);
    if (v === undefined) return def;
    if (!allowed.includes(v as T)) throw new ConfigError(`${where(key)} must be one of ${allowed.join(', ')}, got '${v}'`);
    return v as T;
  };
  const bool = (key: Key, def: boolean) => oneOf(key, def ? 'true' : 'false', ['true', 'false']) === 'true';
  const name = (key: Key, def: string) => {
    const v = str(key, def);
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v) || v.length > 253) {
      throw new ConfigError(`${where(key)} must be a Kubernetes object name (lowercase letters, digits, '-' and '.'), got '${v}'`);
    }
    return v;
  };

  const watchNamespace = raw('watchNamespace') ?? '';
  if (watchNamespace !== '' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(watchNamespace)) {
    throw new ConfigError(`${where('watchNamespace')} must be a namespace name (DNS-1123 label) or empty for every namespace, got '${watchNamespace}'`);
  }
  const kubeconfig = raw('kubeconfig');
  const config: ControllerConfig = {
    kubeconfig: kubeconfig === '' ? undefined : kubeconfig,
    namespace: name('namespace', CONTROLLER_DEFAULTS.namespace),
    podName: env[CONTROLLER_ENV.podName] || `${CONTROLLER_DEFAULTS.name}-${process.pid}`,
    watchNamespace,
    metricsPort: int('metricsPort', CONTROLLER_PORTS.metrics, 0, 65535),
    bindAddress: str('bindAddress', '0.0.0.0'),
    webhookPort: int('webhookPort', CONTROLLER_PORTS.webhook, 0, 65535),
    leaderElect: bool('leaderElect', true),
    leaseName: name('leaseName', CONTROLLER_DEFAULTS.leaseName),
    leaseDurationSeconds: seconds('leaseDurationSeconds', 15, 1, 3600),
    renewDeadlineSeconds: seconds('renewDeadlineSeconds', 10, 0.2, 3600),
    retryPeriodSeconds: seconds('retryPeriodSeconds', 2, 0.1, 600),
    webhookCertMode: oneOf('webhookCertMode', WEBHOOK_CERT_MODES.selfSigned, Object.values(WEBHOOK_CERT_MODES)),
    webhookService: name('webhookService', CONTROLLER_DEFAULTS.webhookService),
    tlsSecret: name('tlsSecret', CONTROLLER_DEFAULTS.tlsSecret),
    validatingWebhookConfiguration: name('validatingWebhookConfiguration', CONTROLLER_DEFAULTS.validatingWebhookConfiguration),
    mutatingWebhookConfiguration: name('mutatingWebhookConfiguration', CONTROLLER_DEFAULTS.mutatingWebhookConfiguration),
    storageInitializerImage: str('storageInitializerImage', DEFAULT_SERVER_IMAGE),
    resyncSeconds: int('resyncSeconds', 300, 0, 86_400),
    workers: int('workers', 4, 1, 64),
    shutdownGraceSeconds: int('shutdownGraceSeconds', 25, 0, 3600),
    logLevel: oneOf('logLevel', 'info', LOG_LEVELS),
    // ---- ctl-webhook ----
    webhookCertHosts: (raw('webhookCertHosts') ?? '').split(',').map((h) => h.trim()).filter((h) => h !== ''),
    webhookCertDir: raw('webhookCertDir') || undefined,
    webhookMaxBodyBytes: int('webhookMaxBodyBytes', CONTROLLER_WEBHOOK_DEFAULTS.maxBodyBytes, 1024, 64 * 1024 * 1024),
    webhookRequestTimeoutSeconds: int('webhookRequestTimeoutSeconds', CONTROLLER_WEBHOOK_DEFAULTS.requestTimeoutSeconds, 1, 300),
    webhookCertValidityMs: testOnlyCertValidityMs(env),
    // ---- end of ctl-webhook ----
    prometheusUrl: prometheusUrl(raw('prometheusUrl'), where('prometheusUrl')),
  };
  // client-go's rule: the leader must give up before a follower may take over.
  if (config.leaderElect && !(config.renewDeadlineSeconds < config.leaseDurationSeconds)) {
    throw new ConfigError(`${where('renewDeadlineSeconds')} must be less than ${FLAGS.leaseDurationSeconds} (${config.leaseDurationSeconds}), got ${config.renewDeadlineSeconds}`);
  }
  if (config.leaderElect && !(config.retryPeriodSeconds < config.renewDeadlineSeconds)) {
    throw new ConfigError(`${where('retryPeriodSeconds')} must be less than ${FLAGS.renewDeadlineSeconds} (${config.renewDeadlineSeconds}), got ${config.retryPeriodSeconds}`);
  }
  return config;
}

/** An http(s) URL without a trailing slash, or undefined when unset or empty. */
function prometheusUrl(value: string | undefined, where: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${where} must be an http:// or https:// URL, got '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`${where} must be an http:// or https:// URL, got '${value}'`);
  return value.replace(/\/+$/, '');
}

// ---- ctl-webhook ----
/** The TEST-ONLY env's certificate validity (at least 6 s, so a pass can run between renewals), else a year. */
function testOnlyCertValidityMs(env: NodeJS.ProcessEnv): number {
  const name = CONTROLLER_WEBHOOK_ENV.testOnlyCertValiditySeconds;
  const v = env[name];
  if (v === undefined || v === '') return CERT_VALIDITY_MS;
  if (!/^\d+$/.test(v) || Number(v) < 6) throw new ConfigError(`${name} (test only) must be a whole number of seconds, at least 6, got '${v}'`);
  return Number(v) * 1000;
}
// ---- end of ctl-webhook ----
