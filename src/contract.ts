/**
 * The serving contract shared by the constructs, the model server and the controller.
 *
 * Ports, probe paths, command-line flags, label keys and metric names live here once, so the
 * manifests we synthesize and the server they run cannot drift apart. Internal: not exported
 * from `src/index.ts`, and it holds plain values only, so both jsii and esbuild can use it.
 */
// The one import: the package version, generated from package.json at build (scripts/stamp-version.js).
import { PACKAGE_VERSION } from './package-version';

/** This package's version (package.json); the server reports it at GET /v2 and in `--version`. */
export { PACKAGE_VERSION };

/** Port of the HTTP server (KServe V1, Open Inference Protocol V2 REST, `/metrics`). */
export const HTTP_PORT = 8080;
/** Port of the gRPC server (`inference.GRPCInferenceService`). */
export const GRPC_PORT = 8081;
/** Where models are mounted or downloaded to in the pod, as in KServe. */
export const MODEL_DIR = '/mnt/models';

/**
 * A writable scratch directory (an emptyDir) for a read-only root filesystem. Not `/tmp`
 * itself: Knative rejects volume mounts on `/tmp`. The pod sets `TMPDIR` to it.
 */
export const SCRATCH_DIR = '/tmp/scratch';

/** HTTP paths the probes and scrapers use. */
export const PATHS = {
  live: '/v2/health/live',
  ready: '/v2/health/ready',
  metrics: '/metrics',
  modelReadyPrefix: '/v2/models/',
};

/** The V2 readiness path of one model: probes follow the model, not just the process. */
export function modelReadyPath(modelName: string): string {
  return `${PATHS.modelReadyPrefix}${modelName}/ready`;
}

/**
 * Command-line flags of `cdk8s-model-server serve`. Every flag also reads an environment
 * variable (see README, "Model server configuration").
 */
export const SERVER_FLAGS = {
  modelName: '--model-name',
  modelDir: '--model-dir',
  storageUri: '--storage-uri',
  protocol: '--protocol',
  httpPort: '--http-port',
  grpcPort: '--grpc-port',
  mode: '--mode',
  memoryBudgetBytes: '--memory-budget-bytes',
  maxBodyBytes: '--max-body-bytes',
  requestTimeoutMs: '--request-timeout-ms',
  maxBatchSize: '--max-batch-size',
  shutdownGraceMs: '--shutdown-grace-ms',
  shutdownDelayMs: '--shutdown-delay-ms',
  logLevel: '--log-level',
  // ---- mesh mode (`--mode mesh`, see src/server/mesh) ----
  /** Static peer list: comma-separated `host:port` of every member (this one included). */
  peers: '--peers',
  /** DNS name (a headless Service) whose A records are the members, re-resolved periodically. */
  peerDns: '--peer-dns',
  /** This member's own `host:port` as peers see it. */
  self: '--self',
  /** The model registry file (JSON, a mounted ConfigMap key), re-read when it changes. */
  modelRegistry: '--model-registry',
  /** Longest time a member waits for a model to be fetched and loaded. */
  loadTimeoutMs: '--load-timeout-ms',
  // ---- transformer and explainer components (`--mode transformer|explainer`, see src/server/transformer) ----
  predictorHost: '--predictor-host',
  predictorProtocol: '--predictor-protocol',
  transformerModule: '--transformer-module',
  propagateHeaders: '--propagate-headers',
  explainerMethod: '--explainer-method',
  explainerBackground: '--explainer-background',
  explainerSamples: '--explainer-samples',
  explainerSeed: '--explainer-seed',
  explainerOutput: '--explainer-output',
  explainerBatchSize: '--explainer-batch-size',
  explainerMaxBackground: '--explainer-max-background',
  // ---- gRPC port limits per client (node:http2; see src/server/grpc/limits.ts, README "gRPC limits") ----
  grpcMaxConcurrentStreams: '--grpc-max-concurrent-streams',
  grpcMaxHeaderListBytes: '--grpc-max-header-list-bytes',
  grpcMaxSessionMemoryBytes: '--grpc-max-session-memory-bytes',
  grpcIdleTimeoutMs: '--grpc-idle-timeout-ms',
  grpcPrefaceTimeoutMs: '--grpc-preface-timeout-ms',
  grpcMaxConnections: '--grpc-max-connections',
  // ---- end of gRPC port limits ----
  // ---- HTTP/1.1 front, connection bounds and listen address (issue 11: src/server/http) ----
  /** Address the REST and gRPC listeners bind (`0.0.0.0` in a pod; `127.0.0.1` for a local-only server). */
  host: '--host',
  /** `lean`: the lean HTTP/1.1 front answers plain inference requests; `node`: node:http serves everything. */
  httpFront: '--http-front',
  /** Most open REST connections; more are refused (closed at once). */
  httpMaxConnections: '--http-max-connections',
  /** Unread answer bytes per REST connection past which the server stops reading from that client. */
  maxUnreadResponseBytes: '--max-unread-response-bytes',
  // ---- storage initializer (`serve --storage-uri` and `storage-initializer`, see src/server/storage) ----
  /** Most bytes a fetch may write: downloads plus what archives unpack to. */
  storageMaxBytes: '--storage-max-bytes',
  /** Longest wait for the next byte (connect, headers, body) before an attempt times out. */
  storageIdleTimeoutMs: '--storage-idle-timeout-ms',
  /** Longest time the whole fetch may take, retries included. */
  storageDeadlineMs: '--storage-deadline-ms',
  /** Attempts per request (first try included) for network errors, timeouts, 429 and 5xx. */
  storageMaxAttempts: '--storage-max-attempts',
  /** How requests are authenticated: one of `STORAGE_AUTH_MODES`. */
  storageAuth: '--storage-auth',
  // ---- end of storage initializer ----
  // rt-finish (issue 15): how long a missing model directory is awaited (an oci:// modelcar sidecar links it).
  modelDirWaitSeconds: '--model-dir-wait-seconds',
  // ---- TEST-ONLY fault injection (issue 17: a canary analysis shown rolling back a bad version); off by default ----
  /** TEST-ONLY: the share (0 to 1) of inference requests answered 500. Never set in a deployment. */
  faultErrorRatio: '--fault-error-ratio',
  /** TEST-ONLY: milliseconds added to every inference request. Never set in a deployment. */
  faultDelayMs: '--fault-delay-ms',
  // ---- payload logging (issue 18 part 2, src/server/payload-log): CloudEvents as KServe's logger sends them ----
  /** The sink that receives the events (http:// or https://); unset: no payload logging. */
  payloadLogUrl: '--payload-log-url',
  /** One of `PAYLOAD_LOG_MODES`. */
  payloadLogMode: '--payload-log-mode',
  /** Most events waiting to be sent; more are dropped (and counted). */
  payloadLogQueueSize: '--payload-log-queue-size',
  /** Longest time one event may take to send; then it is dropped (no retries). */
  payloadLogTimeoutMs: '--payload-log-timeout-ms',
  /** The `ce-inferenceservicename` attribute (default: the model name). */
  payloadLogInferenceService: '--payload-log-inference-service',
  /** The `ce-namespace` attribute. */
  payloadLogNamespace: '--payload-log-namespace',
  /** The `ce-endpoint` attribute (KServe: `default` or `canary`). */
  payloadLogEndpoint: '--payload-log-endpoint',
  /** Share of inferences logged, 0 to 1, decided per event id (a request and its response together). */
  payloadLogSampleRate: '--payload-log-sample-rate',
  // ---- end of payload logging ----
  // ---- graph router (issue 18 part 1, src/server/router): the same value as GRAPH.specFlag (defined below) ----
  /** The inference graph spec (JSON file) `--mode router` serves. */
  graphSpec: '--graph-spec',
  // ---- end of graph router ----
};

/** Values of `--mode` / `SERVER_MODE`: how the model directory is laid out. */
export const SERVER_MODES = {
  /** single-model if the model directory holds a `.onnx` file itself, else multi-model. */
  auto: 'auto',
  /** one model, served under `--model-name`. */
  single: 'single',
  /** one model per folder (or top-level `<name>.onnx`), loaded and unloaded at run time. */
  multi: 'multi',
  /** multi-model, one member of a ModelMesh: models placed on members by rendezvous hashing. */
  mesh: 'mesh',
  /** a transformer component: runs `--transformer-module` around calls to `--predictor-host`. */
  transformer: 'transformer',
  /** an explainer component: answers `:explain` by calling `--predictor-host`. */
  explainer: 'explainer',
  /** an inference graph router (GRAPH.routerMode): serves the graph of `--graph-spec` (src/server/router). */
  router: 'router',
  /** a sidecar in front of another runtime's container: batching, payload logging, metrics (`AGENT`). */
  agent: 'agent',
};

/** Subcommands of the `cdk8s-model-server` binary. */
export const SERVER_COMMANDS = {
  serve: 'serve',
  storageInitializer: 'storage-initializer',
};

/** Environment variables the server reads (the same settings as the flags). */
export const SERVER_ENV = {
  modelName: 'MODEL_NAME',
  modelDir: 'MODEL_DIR',
  storageUri: 'STORAGE_URI',
  protocol: 'PROTOCOL',
  httpPort: 'HTTP_PORT',
  grpcPort: 'GRPC_PORT',
  mode: 'SERVER_MODE',
  memoryBudgetBytes: 'MEMORY_BUDGET_BYTES',
  maxBodyBytes: 'MAX_BODY_BYTES',
  requestTimeoutMs: 'REQUEST_TIMEOUT_MS',
  maxBatchSize: 'MAX_BATCH_SIZE',
  shutdownGraceMs: 'SHUTDOWN_GRACE_MS',
  logLevel: 'LOG_LEVEL',
  shutdownDelayMs: 'SHUTDOWN_DELAY_MS',
  s3Endpoint: 'AWS_ENDPOINT_URL',
  s3Region: 'AWS_REGION',
  s3AccessKeyId: 'AWS_ACCESS_KEY_ID',
  s3SecretAccessKey: 'AWS_SECRET_ACCESS_KEY',
  storageCredentialsDir: 'STORAGE_CREDENTIALS_DIR',
  peers: 'MESH_PEERS',
  peerDns: 'MESH_PEER_DNS',
  self: 'MESH_SELF',
  modelRegistry: 'MODEL_REGISTRY',
  loadTimeoutMs: 'MODEL_LOAD_TIMEOUT_MS',
  predictorHost: 'PREDICTOR_HOST',
  predictorProtocol: 'PREDICTOR_PROTOCOL',
  transformerModule: 'TRANSFORMER_MODULE',
  propagateHeaders: 'PROPAGATE_HEADERS',
  explainerMethod: 'EXPLAINER_METHOD',
  explainerBackground: 'EXPLAINER_BACKGROUND',
  explainerSamples: 'EXPLAINER_SAMPLES',
  explainerSeed: 'EXPLAINER_SEED',
  explainerOutput: 'EXPLAINER_OUTPUT',
  explainerBatchSize: 'EXPLAINER_BATCH_SIZE',
  explainerMaxBackground: 'EXPLAINER_MAX_BACKGROUND',
  // ---- gRPC port limits per client (see SERVER_FLAGS) ----
  grpcMaxConcurrentStreams: 'GRPC_MAX_CONCURRENT_STREAMS',
  grpcMaxHeaderListBytes: 'GRPC_MAX_HEADER_LIST_BYTES',
  grpcMaxSessionMemoryBytes: 'GRPC_MAX_SESSION_MEMORY_BYTES',
  grpcIdleTimeoutMs: 'GRPC_IDLE_TIMEOUT_MS',
  grpcPrefaceTimeoutMs: 'GRPC_PREFACE_TIMEOUT_MS',
  grpcMaxConnections: 'GRPC_MAX_CONNECTIONS',
  // ---- end of gRPC port limits ----
  // ---- HTTP/1.1 front, connection bounds and listen address (issue 11: src/server/http) ----
  host: 'SERVER_HOST',
  httpFront: 'HTTP_FRONT',
  httpMaxConnections: 'HTTP_MAX_CONNECTIONS',
  maxUnreadResponseBytes: 'MAX_UNREAD_RESPONSE_BYTES',
  // ---- storage initializer (see SERVER_FLAGS) ----
  storageMaxBytes: 'STORAGE_MAX_BYTES',
  storageIdleTimeoutMs: 'STORAGE_IDLE_TIMEOUT_MS',
  storageDeadlineMs: 'STORAGE_DEADLINE_MS',
  storageMaxAttempts: 'STORAGE_MAX_ATTEMPTS',
  storageAuth: 'STORAGE_AUTH',
  /** TEST-ONLY (see SERVER_FLAGS.faultErrorRatio). */
  faultErrorRatio: 'FAULT_ERROR_RATIO',
  /** TEST-ONLY (see SERVER_FLAGS.faultDelayMs). */
  faultDelayMs: 'FAULT_DELAY_MS',
  // rt-storage (issue 15): hf:// and oci:// sources. Each is also read as a file of the same name in
  // STORAGE_CREDENTIALS_DIR (a mounted Secret).
  /** Hugging Face access token for private or gated hf:// repos (the name Hugging Face's own clients read). */
  hfToken: 'HF_TOKEN',
  /** The Hugging Face Hub's base URL (a mirror or a proxy). */
  hfEndpoint: 'HF_ENDPOINT',
  /** A Docker config JSON (`.dockerconfigjson` of a kubernetes.io/dockerconfigjson Secret) with oci:// registry credentials. */
  ociDockerConfig: '.dockerconfigjson',
  // ---- end of storage initializer ----
  modelDirWaitSeconds: 'MODEL_DIR_WAIT_SECONDS',
  // ---- payload logging (see SERVER_FLAGS) ----
  payloadLogUrl: 'PAYLOAD_LOG_URL',
  payloadLogMode: 'PAYLOAD_LOG_MODE',
  payloadLogQueueSize: 'PAYLOAD_LOG_QUEUE_SIZE',
  payloadLogTimeoutMs: 'PAYLOAD_LOG_TIMEOUT_MS',
  payloadLogInferenceService: 'PAYLOAD_LOG_INFERENCE_SERVICE',
  payloadLogNamespace: 'PAYLOAD_LOG_NAMESPACE',
  payloadLogEndpoint: 'PAYLOAD_LOG_ENDPOINT',
  payloadLogSampleRate: 'PAYLOAD_LOG_SAMPLE_RATE',
  // ---- graph router (GRAPH.specEnv) ----
  graphSpec: 'GRAPH_SPEC',
  // ---- end of graph router ----
  // ---- end of payload logging ----
};

/**
 * Values of `--payload-log-mode`: which payloads are sent. The same strings as KServe's
 * `LoggerType` (`all`, `request`, `response`; kserve/kserve pkg/apis/serving/v1beta1), so an
 * InferenceService's `logger.mode` maps one to one.
 */
export const PAYLOAD_LOG_MODES = {
  all: 'all',
  request: 'request',
  response: 'response',
};

/**
 * CloudEvent types of logged payloads: KServe's (kserve/kserve pkg/logger/worker.go at
 * 94b70edde64f309571fabf4996890863b762878a, `CEInferenceRequest` / `CEInferenceResponse`).
 */
export const PAYLOAD_LOG_EVENT_TYPES = {
  request: 'org.kubeflow.serving.inference.request',
  response: 'org.kubeflow.serving.inference.response',
};

/** Mesh members mark requests they forward with this header; a holder never forwards again. */
export const MESH_FORWARDED_HEADER = 'x-model-mesh-forwarded';
/** Mesh status route (placement, members, memory) each member answers. */
export const MESH_STATUS_PATH = '/v2/mesh/status';
/** Where a ModelMesh mounts its model registry ConfigMap, and the key holding the JSON. */
export const MESH_REGISTRY_DIR = '/etc/model-mesh';
export const MESH_REGISTRY_KEY = 'models.json';

/** Where a storage-credentials secret is mounted read-only (files named like the env vars). */
export const STORAGE_CREDENTIALS_DIR = '/var/run/secrets/model-storage';

/** Values of `--storage-auth` / `STORAGE_AUTH`: how the storage initializer authenticates. */
export const STORAGE_AUTH_MODES = {
  /** Static keys when given (env or the credentials dir), else the cloud's default chain, else anonymous. */
  auto: 'auto',
  /** Static keys from env or the credentials dir (a mounted Secret); missing keys are an error. */
  secret: 'secret',
  /** The cloud's default chain (IRSA, EKS Pod Identity, GKE Workload Identity, ...); no anonymous fallback. */
  workloadIdentity: 'workload-identity',
  /** Unsigned requests (public buckets and URLs); no credential lookup at all. */
  anonymous: 'anonymous',
};

/** Where the release workflow pushes the model-server image (`.projenrc.ts`, release-image job). */
export const SERVER_IMAGE_REPOSITORY = 'ghcr.io/cdk8s-model-serving/model-server';
/** The default model-server image: tagged with this package's version (src/package-version.ts, stamped at build). */
export const DEFAULT_SERVER_IMAGE = `${SERVER_IMAGE_REPOSITORY}:${PACKAGE_VERSION}`;

/** Our own label and annotation keys, all under one prefix. */
export const LABEL_PREFIX = 'serving.cdk8s-model-serving.io';
export const LABELS = {
  endpoint: `${LABEL_PREFIX}/endpoint`,
  model: `${LABEL_PREFIX}/model`,
  track: `${LABEL_PREFIX}/track`,
  mesh: `${LABEL_PREFIX}/mesh`,
  version: `${LABEL_PREFIX}/version`,
  component: 'app.kubernetes.io/component',
  name: 'app.kubernetes.io/name',
  partOf: 'app.kubernetes.io/part-of',
  managedBy: 'app.kubernetes.io/managed-by',
};
export const PART_OF = 'cdk8s-model-serving';
export const MANAGED_BY = 'cdk8s-model-serving';

/**
 * Prometheus metric names the server exports and the dashboards and alerts query.
 * Units in names, `_total` counters, as the Prometheus naming conventions ask.
 */
export const METRICS = {
  /** Counter {model, protocol, code}: requests answered. */
  requestsTotal: 'model_server_requests_total',
  /** Histogram {model, protocol}: time from request received to response sent. */
  requestDurationSeconds: 'model_server_request_duration_seconds',
  /** Gauge {protocol}: requests being processed. */
  requestsInFlight: 'model_server_requests_in_flight',
  /** Histogram {model}: time to load a model. */
  modelLoadDurationSeconds: 'model_server_model_load_duration_seconds',
  /** Counter {model}: failed model loads. */
  modelLoadFailuresTotal: 'model_server_model_load_failures_total',
  /** Gauge: models in state READY. */
  modelsLoaded: 'model_server_models_loaded',
  /** Gauge {model}: estimated bytes held by each loaded model. */
  modelMemoryBytes: 'model_server_model_memory_bytes',
  /** Counter {model}: models evicted to stay under the memory budget. */
  modelEvictionsTotal: 'model_server_model_evictions_total',
  /** Counter {model}: mesh requests for a model this member served with the model already loaded. */
  meshCacheHitsTotal: 'model_server_mesh_cache_hits_total',
  /** Counter {model}: mesh requests this member served that had to load the model first. */
  meshCacheMissesTotal: 'model_server_mesh_cache_misses_total',
  /** Counter {model}: model loads on this member (on demand). */
  meshLoadsTotal: 'model_server_mesh_loads_total',
  /** Counter {outcome}: requests forwarded to another member (ok, error, fallback). */
  meshForwardsTotal: 'model_server_mesh_forwards_total',
  /** Counter {model, via}: mesh requests received, by how they were served (local, forwarded, from_peer). */
  meshRequestsTotal: 'model_server_mesh_requests_total',
  /** Gauge {state}: members known to this member, live or dead. */
  meshMembers: 'model_server_mesh_members',
  /** Gauge: bytes charged to loaded and loading models now. */
  meshMemoryUsedBytes: 'model_server_mesh_memory_used_bytes',
  /** Gauge: highest `meshMemoryUsedBytes` seen since start. */
  meshMemoryPeakBytes: 'model_server_mesh_memory_peak_bytes',
  /** Gauge: the memory budget (`--memory-budget-bytes`). */
  meshMemoryBudgetBytes: 'model_server_mesh_memory_budget_bytes',
  /** Histogram {model, step}: time in a transformer module's `preprocess` / `postprocess`. */
  transformerStepDurationSeconds: 'model_server_transformer_step_duration_seconds',
  /** Histogram {model, protocol}: calls a transformer or explainer makes to its predictor. */
  predictorRequestDurationSeconds: 'model_server_predictor_request_duration_seconds',
  /** Counter {model, method}: explanations computed. */
  explanationsTotal: 'model_server_explanations_total',
  /** Counter: payload-log events the sink accepted (2xx). */
  payloadLogEventsSentTotal: 'model_server_payload_log_events_sent_total',
  /** Counter {reason}: payload-log events dropped (queue_full, timeout, send_failed, rejected, unserializable, closed). */
  payloadLogEventsDroppedTotal: 'model_server_payload_log_events_dropped_total',
  /** Gauge: payload-log events queued or being sent (at most the queue size plus the senders). */
  payloadLogEventsPending: 'model_server_payload_log_events_pending',
};

/** Latency buckets (seconds) suited to inference: sub-millisecond to tens of seconds. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Routes of the explainer component (KServe V1 `:explain`, and a V2-style twin). */
export const EXPLAIN_PATHS = {
  v1Suffix: ':explain',
  v2Suffix: '/explain',
};

/** The `--explainer-method` values. */
export const EXPLAINER_METHODS = {
  kernelShap: 'kernel_shap',
  lime: 'lime',
};

/** Headers a transformer forwards to its predictor by default (`--propagate-headers`). */
export const DEFAULT_PROPAGATED_HEADERS = ['x-request-id', 'traceparent', 'tracestate', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled'];

// ---- controller (issue 14: src/controller) ----
// Names the controller, its admission webhooks and the `ModelServingController` install construct
// share. Each part adds its own keys inside this block.

/** API group and version of our custom resources (`ModelEndpoint`, `CanaryRollout`, `ModelMesh`). */
export const CRD_GROUP = LABEL_PREFIX;
export const CRD_VERSION = 'v1alpha1';
/** Kind and plural (the REST resource name) of each custom resource. */
export const CRD_KINDS = {
  modelEndpoint: { kind: 'ModelEndpoint', plural: 'modelendpoints', singular: 'modelendpoint', shortNames: ['me'] },
  canaryRollout: { kind: 'CanaryRollout', plural: 'canaryrollouts', singular: 'canaryrollout', shortNames: ['cr8'] },
  modelMesh: { kind: 'ModelMesh', plural: 'modelmeshes', singular: 'modelmesh', shortNames: ['mm'] },
};

/** Subcommands of the `cdk8s-model-serving` binary (the package's tool: controller, and later `kserve`). */
export const TOOL_COMMANDS = {
  controller: 'controller',
  /** `kserve import <file|dir|->`: KServe YAML to constructs (issue 16). */
  kserve: 'kserve',
};

/** Server-side apply field manager of every write the controller makes. */
export const CONTROLLER_FIELD_MANAGER = 'cdk8s-model-serving-controller';

/** Ports of the controller process: `/metrics`, `/healthz`, `/readyz` on one, the admission webhooks (TLS) on the other. */
export const CONTROLLER_PORTS = {
  metrics: 8080,
  webhook: 9443,
};

/** HTTP paths the controller serves. */
export const CONTROLLER_PATHS = {
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
  /** ValidatingAdmissionWebhook for our three kinds: the constructs' synth-time checks at admission. */
  validate: '/validate-serving-v1alpha1',
  /** MutatingAdmissionWebhook on Pods: storage initializer injection. */
  mutatePods: '/mutate-pods',
};

/** Default names of what `ModelServingController` installs (overridable there, passed to the process as flags). */
export const CONTROLLER_DEFAULTS = {
  namespace: 'cdk8s-model-serving-system',
  name: 'cdk8s-model-serving-controller',
  webhookService: 'cdk8s-model-serving-webhook',
  validatingWebhookConfiguration: 'cdk8s-model-serving-validation',
  mutatingWebhookConfiguration: 'cdk8s-model-serving-pod-injection',
  leaseName: 'cdk8s-model-serving-controller-leader',
  /** Secret holding the webhook serving certificate (and, when self-managed, the CA). */
  tlsSecret: 'cdk8s-model-serving-webhook-tls',
};

/** Pods our webhook mutates carry this label (the object selector) plus the storage annotations below. */
export const POD_INJECTION = {
  /** Label on the pod template: `"true"` asks the pod webhook for a storage initializer. */
  label: `${LABEL_PREFIX}/inject-storage-initializer`,
  /** Annotation: the storage URI the initializer downloads into the model volume. */
  storageUriAnnotation: `${LABEL_PREFIX}/storage-uri`,
};
/**
 * Flags of `cdk8s-model-serving controller` (each also read from the env var in CONTROLLER_ENV).
 * `ModelServingController` passes them to the Deployment; the process parses them (src/controller).
 */
export const CONTROLLER_FLAGS = {
  /** A kubeconfig file: run out of cluster (development); in-cluster config when absent. */
  kubeconfig: '--kubeconfig',
  /** Namespace the controller itself runs in (its Lease, TLS Secret, Events about itself). */
  namespace: '--namespace',
  /** Only reconcile custom resources in this namespace; empty: every namespace. */
  watchNamespace: '--watch-namespace',
  metricsPort: '--metrics-port',
  webhookPort: '--webhook-port',
  /** `true`: take part in leader election through a Lease; only the leader reconciles. */
  leaderElect: '--leader-elect',
  leaseName: '--lease-name',
  /** `self-signed` (the controller makes and rotates a CA, patches caBundle), `cert-manager`, or `none` (no webhooks). */
  webhookCertMode: '--webhook-cert-mode',
  webhookService: '--webhook-service',
  tlsSecret: '--tls-secret',
  validatingWebhookConfiguration: '--validating-webhook-configuration',
  mutatingWebhookConfiguration: '--mutating-webhook-configuration',
  /** Image of the storage-initializer init container the pod webhook injects (our server image). */
  storageInitializerImage: '--storage-initializer-image',
  /** Seconds between full resyncs of every custom resource (level-triggered safety net). */
  resyncSeconds: '--resync-seconds',
  logLevel: '--log-level',
};

/** Environment variables of the controller (same settings as CONTROLLER_FLAGS, plus the downward API). */
export const CONTROLLER_ENV = {
  kubeconfig: 'KUBECONFIG',
  namespace: 'POD_NAMESPACE',
  podName: 'POD_NAME',
  watchNamespace: 'WATCH_NAMESPACE',
  metricsPort: 'METRICS_PORT',
  webhookPort: 'WEBHOOK_PORT',
  leaderElect: 'LEADER_ELECT',
  leaseName: 'LEASE_NAME',
  webhookCertMode: 'WEBHOOK_CERT_MODE',
  webhookService: 'WEBHOOK_SERVICE',
  tlsSecret: 'TLS_SECRET',
  validatingWebhookConfiguration: 'VALIDATING_WEBHOOK_CONFIGURATION',
  mutatingWebhookConfiguration: 'MUTATING_WEBHOOK_CONFIGURATION',
  storageInitializerImage: 'STORAGE_INITIALIZER_IMAGE',
  resyncSeconds: 'RESYNC_SECONDS',
  logLevel: 'LOG_LEVEL',
};

/** Values of `--webhook-cert-mode`. */
export const WEBHOOK_CERT_MODES = {
  selfSigned: 'self-signed',
  certManager: 'cert-manager',
  none: 'none',
};
// ---- ctl-webhook (issue 14): the pod webhook's annotations, the webhook server's bounds and TLS ----

/**
 * Annotations that a pod carrying `POD_INJECTION.label` may have besides the storage URI: what the
 * injected storage initializer gets (the constructs set them when `storageInitializerWebhook` is on).
 */
export const POD_INJECTION_ANNOTATIONS = {
  /** A Secret in the pod's namespace with storage credentials, mounted read-only in the init container. */
  storageCredentialsSecret: `${LABEL_PREFIX}/storage-credentials-secret`,
  /** The initializer's `STORAGE_AUTH` (`secret`, `workload-identity`, `anonymous`). */
  storageAuth: `${LABEL_PREFIX}/storage-auth`,
  /** `sizeLimit` of the model volume (a quantity), also the initializer's write cap. */
  modelVolumeSizeLimit: `${LABEL_PREFIX}/model-volume-size-limit`,
};

/** The init container the pod webhook injects (the same one the constructs render where init containers are allowed). */
export const STORAGE_INITIALIZER_CONTAINER = 'storage-initializer';

/** The model volume's size limit when a pod does not set `POD_INJECTION_ANNOTATIONS.modelVolumeSizeLimit`. */
export const DEFAULT_MODEL_VOLUME_SIZE_LIMIT = '20Gi';

/** Flags of the controller's webhook server (each also read from CONTROLLER_WEBHOOK_ENV). */
export const CONTROLLER_WEBHOOK_FLAGS = {
  /**
   * Extra DNS names or IPs in the self-signed serving certificate (comma-separated), for webhooks
   * reached by URL: a controller run out of cluster, or the tests on loopback.
   */
  webhookCertHosts: '--webhook-cert-hosts',
  /** `cert-manager` mode: a directory where cert-manager's Secret is mounted (`tls.crt`, `tls.key`); read through the API when unset. */
  webhookCertDir: '--webhook-cert-dir',
  /** Largest AdmissionReview body the webhook reads; larger ones get 413. */
  webhookMaxBodyBytes: '--webhook-max-body-bytes',
  /** Seconds a client has to send a whole request (headers and body); slower ones are cut off. */
  webhookRequestTimeoutSeconds: '--webhook-request-timeout-seconds',
};

export const CONTROLLER_WEBHOOK_ENV = {
  webhookCertHosts: 'WEBHOOK_CERT_HOSTS',
  webhookCertDir: 'WEBHOOK_CERT_DIR',
  webhookMaxBodyBytes: 'WEBHOOK_MAX_BODY_BYTES',
  webhookRequestTimeoutSeconds: 'WEBHOOK_REQUEST_TIMEOUT_SECONDS',
  /**
   * TEST ONLY: the self-signed serving certificate's validity in seconds (the CA's is 10x), so a test
   * sees a rotation. Never set in an install: the default is a year.
   */
  testOnlyCertValiditySeconds: 'CDK8S_MODEL_SERVING_TEST_ONLY_WEBHOOK_CERT_VALIDITY_SECONDS',
};

/** Defaults of CONTROLLER_WEBHOOK_FLAGS. */
export const CONTROLLER_WEBHOOK_DEFAULTS = {
  /** 7 MiB: an object may be 1.5 MiB in etcd, and an update's review carries it twice (as controller-runtime bounds it). */
  maxBodyBytes: 7 * 1024 * 1024,
  /** The API server waits 10 s by default (at most 30 s) for an answer. */
  requestTimeoutSeconds: 10,
};
// ---- end of ctl-webhook ----
// ---- ctl-core (issue 14): the controller process's own flags, metric names and inventory keys ----
/** More flags of `cdk8s-model-serving controller` (leader election timing, workers, shutdown). */
export const CONTROLLER_CORE_FLAGS = {
  /** Seconds a Lease stays valid without renewal; a follower takes over after this. */
  leaseDurationSeconds: '--lease-duration-seconds',
  /** Seconds the leader keeps trying to renew before it gives leadership up (less than the lease duration). */
  renewDeadlineSeconds: '--renew-deadline-seconds',
  /** Seconds between a candidate's tries to acquire, and between the leader's renewals. */
  retryPeriodSeconds: '--retry-period-seconds',
  /** Custom resources reconciled at once (different keys; one key is never reconciled twice at once). */
  workers: '--workers',
  /** Seconds SIGTERM waits for in-flight reconciles before the process exits. */
  shutdownGraceSeconds: '--shutdown-grace-seconds',
  /** Address the metrics/health listener binds. */
  bindAddress: '--bind-address',
};
/** Environment variables of CONTROLLER_CORE_FLAGS. */
export const CONTROLLER_CORE_ENV = {
  leaseDurationSeconds: 'LEASE_DURATION_SECONDS',
  renewDeadlineSeconds: 'RENEW_DEADLINE_SECONDS',
  retryPeriodSeconds: 'RETRY_PERIOD_SECONDS',
  workers: 'WORKERS',
  shutdownGraceSeconds: 'SHUTDOWN_GRACE_SECONDS',
  bindAddress: 'BIND_ADDRESS',
};
/** Prometheus metrics of the controller (`/metrics` on CONTROLLER_PORTS.metrics). */
export const CONTROLLER_METRICS = {
  /** Counter {kind, result}: reconciles finished (result: success, error, invalid). */
  reconcileTotal: 'model_serving_controller_reconcile_total',
  /** Histogram {kind}: time one reconcile takes. */
  reconcileDurationSeconds: 'model_serving_controller_reconcile_duration_seconds',
  /** Counter {kind}: reconciles that failed (API errors and invalid specs). */
  reconcileErrorsTotal: 'model_serving_controller_reconcile_errors_total',
  /** Gauge {kind}: keys waiting in the work queue (including those waiting for a retry). */
  queueDepth: 'model_serving_controller_queue_depth',
  /** Counter {kind, verb}: writes the controller sent to the API server (apply, delete, status, event). */
  writesTotal: 'model_serving_controller_api_writes_total',
  /** Gauge: 1 while this replica holds the leader Lease. */
  leader: 'model_serving_controller_leader',
};
/**
 * The applyset inventory (kubectl ApplySets, KEP-3659): each custom resource is the parent of the
 * objects it renders. Children carry `partOf` = the parent's id; the parent carries the id label and
 * the group-kinds it contains, so pruning lists only those kinds.
 */
export const APPLYSET = {
  partOfLabel: 'applyset.kubernetes.io/part-of',
  idLabel: 'applyset.kubernetes.io/id',
  containsGroupKindsAnnotation: 'applyset.kubernetes.io/contains-group-kinds',
  toolingAnnotation: 'applyset.kubernetes.io/tooling',
  /** On a CRD: its objects may be applyset parents. */
  isParentTypeLabel: 'applyset.kubernetes.io/is-parent-type',
};
/** Annotation on each child: hash of the object the controller last applied (a change means: apply again). */
export const DESIRED_HASH_ANNOTATION = `${LABEL_PREFIX}/desired-hash`;
// ---- end of ctl-core ----
// ---- end of controller ----

// ---- KServe interop (issue 16): import KServe YAML into constructs, emit InferenceServices ----
/**
 * KServe's API as the import and the emit target read and write it. Facts from KServe's CRDs
 * (imports/kserve-inferenceservices.yaml, ../shared/reference/crds/kserve) and its docs
 * (kserve.github.io/website: "Deployment modes", "Autoscaling", "Stop InferenceService").
 */
export const KSERVE = {
  group: 'serving.kserve.io',
  /** InferenceService. */
  inferenceServiceApiVersion: 'serving.kserve.io/v1beta1',
  /** ServingRuntime, ClusterServingRuntime, TrainedModel, InferenceGraph. */
  alphaApiVersion: 'serving.kserve.io/v1alpha1',
  kinds: {
    inferenceService: 'InferenceService',
    servingRuntime: 'ServingRuntime',
    clusterServingRuntime: 'ClusterServingRuntime',
    trainedModel: 'TrainedModel',
    inferenceGraph: 'InferenceGraph',
  },
  annotations: {
    deploymentMode: 'serving.kserve.io/deploymentMode',
    autoscalerClass: 'serving.kserve.io/autoscalerClass',
    metric: 'serving.kserve.io/metric',
    targetUtilizationPercentage: 'serving.kserve.io/targetUtilizationPercentage',
    stop: 'serving.kserve.io/stop',
    enablePrometheusScraping: 'serving.kserve.io/enable-prometheus-scraping',
    visibility: 'networking.kserve.io/visibility',
  },
  /** `serving.kserve.io/deploymentMode` values: the old spellings first, then KServe 0.15's new ones. */
  deploymentModes: {
    serverless: ['Serverless', 'Knative'],
    raw: ['RawDeployment', 'Standard'],
    modelMesh: ['ModelMesh'],
  },
  /** `networking.kserve.io/visibility` value that keeps an InferenceService cluster-local. */
  clusterLocalVisibility: 'cluster-local',
  /** The components of an InferenceService, in spec order. */
  components: ['predictor', 'transformer', 'explainer'] as const,
};
// ---- end of KServe interop ----

// ---- KServe emit (issue 16): what the InferenceService target writes and selects ----
/**
 * Facts the KServe emit target needs beyond `KSERVE`, from kserve/kserve (commit aaac4e29,
 * pkg/constants/constants.go and pkg/controller/v1beta1/inferenceservice/components/predictor.go).
 */
export const KSERVE_EMIT = {
  /** The cdk8s context key whose value (`kserve` or `native`) is the app-wide default `target`. */
  targetContextKey: 'cdk8s-model-serving/target',
  /** Pod label KServe puts on every pod of an InferenceService (constants.InferenceServicePodLabelKey). */
  podLabel: 'serving.kserve.io/inferenceservice',
  /** Pod label naming the component (constants.KServiceComponentLabel): predictor, transformer, explainer. */
  componentLabel: 'component',
  /** The container KServe merges with the runtime's (constants.InferenceServiceContainerName). */
  containerName: 'kserve-container',
  /** Where KServe's storage initializer puts the model (constants.DefaultModelLocalMountPath). */
  modelMountPath: '/mnt/models',
  /** Env var that makes KServe download a custom container's model (constants.CustomSpecStorageUriEnvVarKey). */
  storageUriEnv: 'STORAGE_URI',
  /** Knative's HPA autoscaler class, which KServe passes through for cpu/memory scaling. */
  knativeHpaClass: 'hpa.autoscaling.knative.dev',
  /** KServe's template of the model name in runtime containers: the InferenceService's name. */
  nameTemplate: '{{.Name}}',
  /**
   * The args KServe appends to a transformer's or explainer's first container (CustomTransformer /
   * CustomExplainer GetContainer, pkg/apis/serving/v1beta1/transformer_custom.go and
   * explainer_custom.go; constants.ArgumentModelName ...), with the server flag each one means.
   * Our server accepts them; its own flag wins when both are given. `--workers` has no counterpart
   * (KServe adds it only with a containerConcurrency, which the emit does not set on components).
   */
  appendedComponentArgs: {
    '--model_name': '--model-name',
    '--predictor_host': '--predictor-host',
    '--http_port': '--http-port',
    '--workers': undefined,
  } as { readonly [kserveArg: string]: string | undefined },
};
// ---- end of KServe emit ----
// ---- rt-finish (issue 15): the serverless modelcar race ----
/**
 * `--model-dir-wait-seconds` the renderer gives our server next to a plain (serverless) modelcar
 * sidecar: the server waits this long, not ready, for the sidecar to link the model directory.
 * The same bound as the native sidecar's startup probe in raw mode (120 x 1 s).
 */
export const MODELCAR_MODEL_DIR_WAIT_SECONDS = 120;
// ---- end of rt-finish ----
// ---- progressive delivery (issue 17): a CanaryRollout's analysis ----
/** The annotation that pauses, resumes, aborts or promotes a rollout (`kubectl annotate canaryrollout x <key>=promote`). */
export const ROLLOUT_ACTION_ANNOTATION = `${LABEL_PREFIX}/rollout-action`;
/** Values of ROLLOUT_ACTION_ANNOTATION. `resume` (or removing it) undoes `pause`. */
export const ROLLOUT_ACTIONS = { pause: 'pause', resume: 'resume', abort: 'abort', promote: 'promote' } as const;
/** The controller's flag and variable for the Prometheus its rollout analyses query. */
export const CONTROLLER_ANALYSIS_FLAGS = { prometheusUrl: '--prometheus-url' };
export const CONTROLLER_ANALYSIS_ENV = { prometheusUrl: 'PROMETHEUS_URL' };
// ---- end of progressive delivery ----
// ---- inference graphs (issue 18 part 1): the router component and in-process graphs ----
/**
 * Our server in `--mode router` runs one inference graph (src/contract/graph-spec.ts is the graph's JSON
 * shape, KServe's InferenceGraph `spec.nodes` with the same field names). The renderer mounts the
 * spec from a ConfigMap at `GRAPH.specDir/GRAPH.specKey`. A step naming a `model` runs in the
 * router's own process against a model it loaded from `--model-dir` (no network hop).
 */
export const GRAPH = {
  /** `--mode` value (added to SERVER_MODES by the router). */
  routerMode: 'router',
  /** The server flag and variable naming the graph spec file (JSON). */
  specFlag: '--graph-spec',
  specEnv: 'GRAPH_SPEC',
  /** Where the rendered router mounts its ConfigMap, and the key holding the JSON. */
  specDir: '/etc/inference-graph',
  specKey: 'graph.json',
  /** The node every request enters, as in KServe. */
  rootNode: 'root',
  /** Where the router takes requests (KServe's router answers POST `/`). */
  path: '/',
  /** Response header listing the soft steps that failed (comma-separated step names). */
  failedStepsHeader: 'x-graph-failed-steps',
} as const;
// ---- end of inference graphs ----
// ---- agent (issue 18 part 3): our server as a sidecar in front of another runtime's container ----
/**
 * Our server in `--mode agent` listens on `AGENT.port` and forwards to the runtime container in the
 * same pod at `--agent-upstream`, adding batching, payload logging and request metrics. The port is
 * KServe's agent port (constants.InferenceServiceDefaultAgentPort), so KServe users find it where
 * they expect it.
 */
export const AGENT = {
  /** `--mode` value (added to SERVER_MODES by the agent). */
  mode: 'agent',
  port: 9081,
  /** The runtime container's base URL, in the same pod. */
  upstreamFlag: '--agent-upstream',
  upstreamEnv: 'AGENT_UPSTREAM',
  /** Longest time a request waits for a batch to fill (KServe batcher's maxLatency, in ms). */
  maxBatchLatencyFlag: '--max-batch-latency-ms',
  maxBatchLatencyEnv: 'MAX_BATCH_LATENCY_MS',
  /** The sidecar container's name in the pod. */
  containerName: 'agent',
  /** KServe batcher's defaults (docs/samples/batcher): 32 instances, 5000 ms. */
  defaultMaxBatchSize: 32,
  defaultMaxBatchLatencyMs: 5000,
  /** Histogram {model, protocol}: requests (V1 instances or V2 rows) per batch sent upstream. */
  batchSizeMetric: 'model_server_agent_batch_size',
  /** Counter {model, protocol}: batches sent upstream. */
  batchesMetric: 'model_server_agent_batches_total',
} as const;
// ---- end of agent ----
// ---- KEDA with Gateway API (issue 18 part 4 leftovers) ----
/**
 * The Gateway API ReferenceGrant (gateway.networking.k8s.io, imports/gateway-api-referencegrants.yaml)
 * that lets an endpoint's HTTPRoute name KEDA's interceptor Service in another namespace. v1beta1, not
 * v1: older Gateway API installs serve only v1beta1, and the vendored 1.6.1 CRD serves both and still
 * stores v1beta1.
 */
export const KEDA_REFERENCE_GRANT = { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant' } as const;
// ---- end of KEDA with Gateway API ----
// ---- graph router (issue 18 part 1, src/server/router) ----
/** Names the router's answers use next to GRAPH's. */
export const GRAPH_ROUTER = {
  /** Field added to a JSON-object answer when soft steps failed: `[{ node, step, status, reason }]`. */
  failedStepsField: 'failed_steps',
  /** The `protocol` label of the router's request metrics (model label: the graph, or `graph/step`). */
  metricProtocol: 'graph',
} as const;
// ---- end of graph router ----
// ---- inference graph construct (issue 18 part 1) ----
/** What the InferenceGraph construct puts on the router's objects. */
export const GRAPH_CONSTRUCT = {
  /**
   * Pod template annotation: the SHA-256 of the graph JSON, so a changed graph rolls the router
   * (the ConfigMap keeps its name, and neither Kubernetes nor Knative restarts pods for its content).
   */
  specHashAnnotation: `${LABEL_PREFIX}/graph-spec-sha256`,
} as const;
// ---- end of inference graph construct ----
