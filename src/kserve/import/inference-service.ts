/**
 * An InferenceService (v1beta1, both spellings) → a `ModelEndpoint` with its transformer and explainer,
 * or a `CanaryRollout` when a canary split is in progress. Defaults follow KServe's controller where the
 * two differ (protocol v1, unbounded serverless replicas), so the endpoint behaves as the InferenceService
 * did; fields without a counterpart go to the report.
 */
import { arr, call, Code, lib, lit, method, obj } from './code';
import { mapBatcher, mapContainer, mapEnv, mapImagePullSecrets, mapLogger, mapResources, mapScheduling, mapServiceAccount, UNMAPPED_COMPONENT_FIELDS } from './component';
import { FieldReader } from './fields';
import { mapKeda } from './keda';
import { camelCase, VariableNames } from './names';
import { ApiObjectStatement, EndpointStatement } from './plan';
import { durationCode, goDurationMillis } from './quantities';
import { RuntimeIndex } from './serving-runtime';
import { StorageUri } from '../../constructs/storage-uri';
import { KSERVE } from '../../contract';

/** The old per-framework predictor fields and the format each means (KServe CRD, PredictorSpec). */
const FRAMEWORK_FIELDS: { [field: string]: string } = {
  sklearn: 'sklearn',
  xgboost: 'xgboost',
  lightgbm: 'lightgbm',
  tensorflow: 'tensorflow',
  pytorch: 'pytorch',
  onnx: 'onnx',
  triton: 'triton',
  huggingface: 'huggingface',
  paddle: 'paddle',
  pmml: 'pmml',
};

/** Formats with a `ModelFormat` constant. */
const FORMAT_CONSTANTS: { [name: string]: string } = {
  onnx: 'ONNX',
  sklearn: 'SKLEARN',
  xgboost: 'XGBOOST',
  lightgbm: 'LIGHTGBM',
  tensorflow: 'TENSORFLOW',
  pytorch: 'PYTORCH',
  huggingface: 'HUGGINGFACE',
  mlflow: 'MLFLOW',
  tensorrt: 'TENSORRT',
  triton: 'TRITON',
};

/** Formats whose KServe runtime (Triton) speaks only the v2 protocol, so v2 is their default there. */
const V2_ONLY_FORMATS = new Set(['triton', 'tensorrt']);

const PROTOCOLS: { [v: string]: string } = { 'v1': 'V1', 'v2': 'V2', 'grpc-v2': 'GRPC_V2', 'grpc-v1': 'GRPC_V1' };
const SCALE_METRICS: { [v: string]: string } = { concurrency: 'CONCURRENCY', rps: 'RPS', cpu: 'CPU', memory: 'MEMORY' };

/** Fields of the model (or framework) spec beyond what the endpoint props hold. */
const UNMAPPED_MODEL_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['args', 'extra runtime arguments have no counterpart: define a ServingRuntime.custom with them'],
  ['command', 'a runtime command override has no counterpart: define a ServingRuntime.custom with it'],
  ['image', 'an image override of the runtime has no counterpart: define a ServingRuntime.custom with it'],
  ['runtimeVersion', 'a runtime image tag override has no counterpart: define a ServingRuntime.custom with it'],
  ['ports', 'ports come from the serving runtime'],
  ['volumeMounts', 'extra volume mounts have no counterpart'],
  ['readinessProbe', 'probes come from the serving runtime'],
  ['livenessProbe', 'probes come from the serving runtime'],
  ['startupProbe', 'the startup probe comes from the construct (startupTimeout)'],
  ['storage', 'a storage spec (storage-config secret key and path) has no counterpart: use storageUri with StorageAuth'],
  ['securityContext', 'the container security context is the construct\'s (Pod Security restricted)'],
  ['imagePullPolicy', 'no imagePullPolicy prop'],
  ['envFrom', 'envFrom has no counterpart: list the variables in env'],
];

/** Annotations the import reads (everything else under serving.kserve.io / autoscaling.knative.dev is reported). */
const KNATIVE_AUTOSCALING = 'autoscaling.knative.dev/';

export interface InferenceServiceContext {
  readonly runtimes: RuntimeIndex;
  readonly variables: VariableNames;
}

export function deploymentModeOf(r: FieldReader): 'serverless' | 'raw' | 'modelmesh' {
  const path = `metadata.annotations[${KSERVE.annotations.deploymentMode}]`;
  const mode = r.peek(path);
  if (mode === undefined) return 'serverless';
  if (typeof mode !== 'string') throw r.error(path, `must be a string, got ${JSON.stringify(mode)}`);
  if (KSERVE.deploymentModes.serverless.includes(mode)) return 'serverless';
  if (KSERVE.deploymentModes.raw.includes(mode)) return 'raw';
  if (KSERVE.deploymentModes.modelMesh.includes(mode)) return 'modelmesh';
  const all = [...KSERVE.deploymentModes.serverless, ...KSERVE.deploymentModes.raw, ...KSERVE.deploymentModes.modelMesh];
  throw r.error(path, `must be one of ${all.join(', ')}, got '${mode}'`);
}

export function mapInferenceService(r: FieldReader, ctx: InferenceServiceContext): EndpointStatement | ApiObjectStatement {
  const name = r.string('metadata.name');
  if (name === undefined) throw r.error('metadata.name', 'is required');
  const namespace = r.string('metadata.namespace');
  const mode = deploymentModeOf(r);
  if (mode === 'modelmesh') {
    r.report('.', 'passed-through', 'ModelMesh InferenceServices run on KServe\'s ModelMesh controller; the ModelMesh construct places models itself and needs a memory estimate per model, which the InferenceService lacks: kept as a plain ApiObject');
    return { kind: 'api-object', document: r.document, id: name, manifest: r.doc.manifest };
  }
  const serverless = mode === 'serverless';
  const knativeFlags: string[] = [];
  const p = 'spec.predictor';
  if (r.map(p) === undefined) throw r.error(p, 'is required: an InferenceService needs a predictor');

  // ---- the model: new spelling (model.modelFormat), old spelling (one framework field), or a custom container
  const frameworks = Object.keys(FRAMEWORK_FIELDS).filter(f => r.has(`${p}.${f}`));
  const hasModel = r.has(`${p}.model`);
  const containers = r.list(`${p}.containers`) ?? [];
  const sources = [...(hasModel ? ['model'] : []), ...frameworks, ...(containers.length > 0 && !hasModel && frameworks.length === 0 ? ['containers'] : [])];
  if (sources.length === 0) throw r.error(p, `needs one of model, containers or a framework field (${Object.keys(FRAMEWORK_FIELDS).join(', ')})`);
  if (sources.length > 1) throw r.error(p, `has ${sources.join(' and ')}: a predictor takes exactly one model source`);
  const source = sources[0];

  let format: Code | undefined;
  let formatName: string | undefined;
  let protocol: string | undefined;
  let runtime: Code | undefined;
  let storageUri: Code | undefined;
  let container: Code | undefined;
  let env: Code | undefined;
  let resources: { resources?: Code; gpus?: Code } = {};
  if (source === 'containers') {
    const c = mapContainer(r, `${p}.containers.0`, name);
    container = c.container;
    env = c.env;
    resources = { resources: c.resources, gpus: c.gpus };
    if (c.grpc) protocol = 'grpc-v2';
    for (let i = 1; i < containers.length; i++) r.report(`${p}.containers.${i}`, 'unmapped', 'a second predictor container (a collocated transformer or sidecar) has no counterpart: use addTransformer({ collocated: true })');
    // KServe passes the model dir to custom containers only through storageUri on the component.
    storageUri = storageUriOf(r, `${p}.storageUri`);
  } else {
    const m = source === 'model' ? `${p}.model` : `${p}.${source}`;
    formatName = source === 'model' ? r.string(`${m}.modelFormat.name`) : FRAMEWORK_FIELDS[source];
    if (formatName === undefined) throw r.error(`${m}.modelFormat.name`, 'is required: the model format, such as sklearn or onnx');
    const version = source === 'model' ? r.string(`${m}.modelFormat.version`) : undefined;
    const base = FORMAT_CONSTANTS[formatName.toLowerCase()] ? lib('ModelFormat', FORMAT_CONSTANTS[formatName.toLowerCase()]) : undefined;
    format = base
      ? (version !== undefined ? method(base, 'withVersion', lit(version)) : base)
      : call('cdk8s-model-serving', 'ModelFormat', 'custom', lit(formatName), ...(version !== undefined ? [lit(version)] : []));
    protocol = r.string(`${m}.protocolVersion`);
    const runtimeName = source === 'model' ? r.string(`${m}.runtime`) : undefined;
    if (runtimeName !== undefined) {
      runtime = ctx.runtimes.lookup(runtimeName, namespace);
      if (runtime === undefined) r.report(`${m}.runtime`, 'unmapped', `runtime '${runtimeName}' is neither in the input nor a built-in: the endpoint picks a runtime by format; import its ServingRuntime too`);
    }
    storageUri = storageUriOf(r, `${m}.storageUri`);
    env = mapEnv(r, `${m}.env`, name);
    resources = mapResources(r, `${m}.resources`);
    r.mark(`${m}.name`);
    for (const [field, reason] of UNMAPPED_MODEL_FIELDS) r.unmapped(`${m}.${field}`, reason);
  }
  if (protocol !== undefined && !PROTOCOLS[protocol]) throw r.error(`${p}.model.protocolVersion`, `must be one of ${Object.keys(PROTOCOLS).join(', ')}, got '${protocol}'`);
  // KServe's default protocol is v1 (constants.ProtocolV1, InferenceService webhook defaults); the constructs' is v2.
  const protocolCode = protocol !== undefined
    ? (protocol === 'v2' ? undefined : lib('InferenceProtocol', PROTOCOLS[protocol]))
    : (formatName !== undefined && V2_ONLY_FORMATS.has(formatName) ? undefined : lib('InferenceProtocol', 'V1'));

  // ---- scaling: spec fields first, then KServe's and Knative's annotations (older manifests)
  const annotations = r.stringMap('metadata.annotations') ?? {};
  const labels = { ...(r.stringMap('metadata.labels') ?? {}) };
  const used = new Set<string>([KSERVE.annotations.deploymentMode]);
  const annotationPath = (key: string) => `metadata.annotations[${key}]`;
  const take = (key: string) => {
    if (annotations[key] === undefined) return undefined;
    used.add(key);
    return annotations[key];
  };
  const intAnnotation = (key: string) => {
    const v = take(key);
    if (v === undefined) return undefined;
    if (!/^[0-9]+$/.test(v)) throw r.error(annotationPath(key), `must be a whole number, got '${v}'`);
    return Number(v);
  };

  let minReplicas = r.number(`${p}.minReplicas`);
  const minAnnotation = intAnnotation(`${KNATIVE_AUTOSCALING}min-scale`) ?? intAnnotation(`${KNATIVE_AUTOSCALING}minScale`);
  minReplicas = minReplicas ?? minAnnotation;
  let maxReplicas = r.number(`${p}.maxReplicas`);
  maxReplicas = maxReplicas ?? intAnnotation(`${KNATIVE_AUTOSCALING}max-scale`) ?? intAnnotation(`${KNATIVE_AUTOSCALING}maxScale`);
  if (maxReplicas === undefined) {
    // KServe sets no max-scale in serverless mode: Knative's limit is unbounded (0 in the construct);
    // in raw mode its HPA gets maxReplicas = minReplicas when the spec has no larger one
    // (kserve pkg/controller/v1beta1/inferenceservice/reconcilers/hpa/hpa_reconciler.go).
    maxReplicas = serverless ? 0 : (minReplicas ?? 1);
  }
  let scaleMetric = r.string(`${p}.scaleMetric`) ?? take(KSERVE.annotations.metric) ?? take(`${KNATIVE_AUTOSCALING}metric`);
  if (scaleMetric !== undefined && !SCALE_METRICS[scaleMetric]) {
    r.report(`${p}.scaleMetric`, 'unmapped', `scale metric '${scaleMetric}' has no ScaleMetric (concurrency, rps, cpu, memory)`);
    scaleMetric = undefined;
  }
  const scaleTarget = r.number(`${p}.scaleTarget`) ?? intAnnotation(KSERVE.annotations.targetUtilizationPercentage) ?? intAnnotation(`${KNATIVE_AUTOSCALING}target`);
  const containerConcurrency = r.number(`${p}.containerConcurrency`);
  const timeout = r.number(`${p}.timeout`);
  const initialScale = intAnnotation(`${KNATIVE_AUTOSCALING}initial-scale`) ?? intAnnotation(`${KNATIVE_AUTOSCALING}initialScale`);
  const delay = take(`${KNATIVE_AUTOSCALING}scale-down-delay`);
  let scaleDownDelay: Code | undefined;
  if (delay !== undefined) {
    const ms = goDurationMillis(delay);
    if (ms === undefined) throw r.error(annotationPath(`${KNATIVE_AUTOSCALING}scale-down-delay`), `must be a duration such as '15m' or '90s', got '${delay}'`);
    scaleDownDelay = durationCode(ms);
  }
  const autoscalerClass = take(KSERVE.annotations.autoscalerClass);
  const keda = autoscalerClass === 'keda' && !serverless ? mapKeda(r, p, minReplicas, scaleMetric) : undefined;
  const kedaMapped = keda !== undefined && typeof keda !== 'string' ? keda : undefined;
  if (typeof keda === 'string') {
    r.report(annotationPath(KSERVE.annotations.autoscalerClass), 'unmapped', `autoscaler class 'keda' is not imported: ${keda}`);
  } else if (autoscalerClass !== undefined && !kedaMapped && !(autoscalerClass === 'hpa' && !serverless)) {
    r.report(annotationPath(KSERVE.annotations.autoscalerClass), 'unmapped', `autoscaler class '${autoscalerClass}' has no counterpart: ${serverless ? 'serverless endpoints scale with Knative\'s autoscaler' : 'raw endpoints scale with a HorizontalPodAutoscaler or KEDA'}`);
  }
  const stop = take(KSERVE.annotations.stop);
  if (stop !== undefined && stop !== 'true' && stop !== 'false') throw r.error(annotationPath(KSERVE.annotations.stop), `must be 'true' or 'false', got '${stop}'`);
  // networking.kserve.io/visibility is a label in KServe's docs; older manifests set it as an annotation.
  const visibility = labels[KSERVE.annotations.visibility] ?? take(KSERVE.annotations.visibility);
  delete labels[KSERVE.annotations.visibility];
  const clusterLocal = visibility === KSERVE.clusterLocalVisibility;
  if (visibility !== undefined && !clusterLocal) throw r.error(`metadata.labels[${KSERVE.annotations.visibility}]`, `must be '${KSERVE.clusterLocalVisibility}', got '${visibility}'`);
  if (take(KSERVE.annotations.enablePrometheusScraping) !== undefined) {
    r.report(annotationPath(KSERVE.annotations.enablePrometheusScraping), 'note', 'scraping is the endpoint\'s monitoring (a PodMonitor or ServiceMonitor), on by default with a built-in runtime');
  }
  // Annotations KServe reads itself have no meaning on our objects: report them; pass the rest on, as KServe does.
  const passed: { [k: string]: string } = {};
  for (const [k, v] of Object.entries(annotations)) {
    if (used.has(k)) continue;
    if (k === 'kubectl.kubernetes.io/last-applied-configuration') {
      r.report(annotationPath(k), 'note', 'kubectl bookkeeping, not carried over');
    } else if (k.startsWith(`${KSERVE.group}/`) || k.startsWith('serving.kserve.io/') || k.startsWith(KNATIVE_AUTOSCALING)) {
      r.report(annotationPath(k), 'unmapped', 'a KServe or Knative setting the import does not know');
    } else {
      passed[k] = v;
    }
  }
  for (const key of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'selfLink']) r.mark(`metadata.${key}`);
  r.unmapped('metadata.finalizers', 'finalizers belong to KServe\'s controller');
  r.unmapped('metadata.ownerReferences', 'owner references are not carried over');
  if (r.has('status')) r.report('status', 'note', 'status is written by the cluster, not imported');

  // ---- the predictor's pod
  const scheduling = mapScheduling(r, p);
  if (serverless) knativeFlags.push(...scheduling.flags);
  // An oci:// model runs as a modelcar sharing the pod's process namespace (in KServe as in our constructs),
  // a pod field a default Knative install refuses: the import declares the flag, as for node selection.
  if (serverless && isOciUri(storageUri)) knativeFlags.push('kubernetes.podspec-shareprocessnamespace');
  const serviceAccount = mapServiceAccount(r, p, name);
  const imagePullSecrets = mapImagePullSecrets(r, p, name);
  let canaryPercent = r.number(`${p}.canaryTrafficPercent`);
  // Payload logging and batching map to `logger` and `batcher` over REST: our model server does both itself,
  // and in front of a runtime or a custom container our agent sidecar does (it speaks REST only).
  const rest = protocol === undefined || !protocol.startsWith('grpc');
  const logger = rest ? mapLogger(r, p) : undefined;
  const batcher = rest ? mapBatcher(r, p) : undefined;
  if (kedaMapped) r.leftoversUnder(`${p}.autoScaling`, 'no counterpart with KEDA: our ScaledObject scales on our server\'s series');
  for (const [field, reason] of UNMAPPED_COMPONENT_FIELDS) {
    if (field === 'canaryTrafficPercent' || (field === 'logger' && logger) || (field === 'batcher' && batcher) || (kedaMapped && field === 'autoScaling')) continue;
    r.unmapped(`${p}.${field}`, reason);
  }

  const scaling: Array<readonly [string, Code | undefined]> = [
    ['minReplicas', minReplicas !== undefined && minReplicas !== 1 ? lit(minReplicas) : undefined],
    ['maxReplicas', lit(maxReplicas)],
    ['autoscaler', kedaMapped ? lib('Autoscaler', 'KEDA') : undefined],
    ['kedaPrometheusAddress', kedaMapped ? lit(kedaMapped.prometheusAddress) : undefined],
  ];
  const placement: Array<readonly [string, Code | undefined]> = [
    ['mode', serverless ? undefined : lib('DeploymentMode', 'RAW')],
    ['protocol', protocolCode],
  ];
  const common: Array<readonly [string, Code | undefined]> = [
    ['containerConcurrency', containerConcurrency !== undefined && containerConcurrency !== 0 ? lit(containerConcurrency) : undefined],
    ['scaleMetric', scaleMetric !== undefined ? lib('ScaleMetric', SCALE_METRICS[scaleMetric]) : undefined],
    ['scaleTarget', scaleTarget !== undefined ? lit(scaleTarget) : undefined],
    ['scaleDownDelay', scaleDownDelay],
    ['serviceAccount', serviceAccount],
    ['imagePullSecrets', imagePullSecrets],
    ...scheduling.entries,
    ['labels', Object.keys(labels).length > 0 ? obj(Object.entries(labels).map(([k, v]) => [k, lit(v)] as const)) : undefined],
    ['annotations', Object.keys(passed).length > 0 ? obj(Object.entries(passed).map(([k, v]) => [k, lit(v)] as const)) : undefined],
    ['knativeFeatures', knativeFlags.length > 0 ? arr(knativeFlags.map(flagCode)) : undefined],
    ['logger', logger],
    ['batcher', batcher],
  ];
  // KServe's pod webhook adds the storage initializer to each pod, so KServe needs no Knative init-container
  // flag; the ModelServingController's pod webhook does the same for our endpoints. Our model server
  // downloads ONNX models itself and needs neither.
  const ownServer = container === undefined && runtime === undefined && formatName?.toLowerCase() === 'onnx';
  const webhook = serverless && storageUri !== undefined && !ownServer;
  if (webhook) {
    r.report(source === 'containers' ? `${p}.storageUri` : `${p}.${source === 'model' ? 'model' : source}.storageUri`, 'note',
      'the storage initializer is injected by the ModelServingController\'s pod webhook (storageInitializerWebhook), as KServe\'s webhook does: install ModelServingController in the cluster');
  }
  const tail: Array<readonly [string, Code | undefined]> = [
    ['initialScale', initialScale !== undefined ? lit(initialScale) : undefined],
    ['timeout', timeout !== undefined ? call('cdk8s', 'Duration', 'seconds', lit(timeout)) : undefined],
    ['stopped', stop === 'true' ? lit(true) : undefined],
    ['ingress', clusterLocal ? call('cdk8s-model-serving', 'EndpointIngress', 'none') : undefined],
    ['storageInitializerWebhook', webhook ? lit(true) : undefined],
  ];
  const variable = ctx.variables.take(camelCase(name, 'isvc'));

  // ---- canary: KServe splits between the previous rolled-out revision and this spec; only this spec is here.
  if (canaryPercent === 100) {
    r.report(`${p}.canaryTrafficPercent`, 'note', 'all traffic goes to this spec, as a ModelEndpoint');
    canaryPercent = undefined;
  }
  if (canaryPercent !== undefined && !serverless) {
    r.report(`${p}.canaryTrafficPercent`, 'unmapped', 'KServe ignores canaryTrafficPercent outside serverless mode; so does the import');
    canaryPercent = undefined;
  }
  const transformer = mapTransformer(r, name);
  const explainer = mapExplainer(r, name);
  if (canaryPercent !== undefined) {
    r.report(`${p}.canaryTrafficPercent`, 'unmapped', `KServe sends ${canaryPercent}% to this spec and ${100 - canaryPercent}% to the previous rolled-out revision, which the YAML does not hold: this spec is the rollout's stable version; add the previous one (or the next one) as \`canary\` with trafficPercent`);
    if (transformer) r.report('spec.transformer', 'unmapped', 'a CanaryRollout has no transformer');
    if (explainer) r.report('spec.explainer', 'unmapped', 'a CanaryRollout has no explainer');
    const stable = obj([
      ['version', lit('current')],
      ['storageUri', storageUri], ['format', format], ['runtime', runtime], ['container', container],
      ['resources', resources.resources], ['gpus', resources.gpus], ['env', env], ...scaling,
    ]);
    const props = obj([['name', lit(name)], ['modelName', lit(name)], ...placement, ['stable', stable], ...common, ...tail]);
    return { kind: 'endpoint', document: r.document, construct: 'CanaryRollout', id: name, variable, props, knativeFlags };
  }
  const props = obj([
    ['name', lit(name)], ['modelName', lit(name)], ...placement,
    ['format', format], ['runtime', runtime], ['storageUri', storageUri], ['container', container],
    ['resources', resources.resources], ['gpus', resources.gpus], ['env', env],
    ...scaling, ...common, ...tail,
  ]);
  return { kind: 'endpoint', document: r.document, construct: 'ModelEndpoint', id: name, variable, props, transformer, explainer, knativeFlags };
}

function flagCode(flag: string): Code {
  const members: { [flag: string]: string } = {
    'kubernetes.podspec-nodeselector': 'NODE_SELECTOR',
    'kubernetes.podspec-tolerations': 'TOLERATIONS',
    'kubernetes.podspec-affinity': 'AFFINITY',
    'kubernetes.podspec-shareprocessnamespace': 'SHARE_PROCESS_NAMESPACE',
  };
  return lib('KnativeFeature', members[flag]);
}

function storageUriOf(r: FieldReader, path: string): Code | undefined {
  const uri = r.string(path);
  if (uri === undefined) return undefined;
  try {
    StorageUri.fromUri(uri);
  } catch (e) {
    r.report(path, 'unmapped', (e as Error).message);
    return undefined;
  }
  return call('cdk8s-model-serving', 'StorageUri', 'fromUri', lit(uri));
}

/** Is this `StorageUri.fromUri(...)` code an OCI model image? */
function isOciUri(code: Code | undefined): boolean {
  if (code?.kind !== 'call') return false;
  const [uri] = code.args;
  return uri?.kind === 'literal' && typeof uri.value === 'string' && uri.value.startsWith('oci://');
}

/** Scaling and resources every extra component carries. */
function componentScaling(r: FieldReader, c: string): Array<readonly [string, Code | undefined]> {
  const min = r.number(`${c}.minReplicas`);
  const max = r.number(`${c}.maxReplicas`);
  const metric = r.string(`${c}.scaleMetric`);
  if (metric !== undefined && !SCALE_METRICS[metric]) throw r.error(`${c}.scaleMetric`, `must be one of ${Object.keys(SCALE_METRICS).join(', ')}, got '${metric}'`);
  return [
    ['minReplicas', min !== undefined && min !== 1 ? lit(min) : undefined],
    ['maxReplicas', max !== undefined ? lit(max) : undefined],
    ['scaleMetric', metric !== undefined ? lib('ScaleMetric', SCALE_METRICS[metric]) : undefined],
    ['scaleTarget', r.has(`${c}.scaleTarget`) ? lit(r.number(`${c}.scaleTarget`)!) : undefined],
  ];
}

function reportComponentPod(r: FieldReader, c: string): void {
  const kind = c.split('.').pop();
  for (const [field, reason] of UNMAPPED_COMPONENT_FIELDS) {
    // A component's own logger exists (addTransformer/addExplainer({ logger })), but only for our transformer or
    // explainer: an imported component is a container of the user's, which cannot send payload events.
    r.unmapped(`${c}.${field}`, field === 'logger'
      ? `the ${kind}'s logger maps to the ${kind}'s own 'logger' only where our ${kind} runs; an imported ${kind} is your container, which cannot send payload events (KServe's agent did)`
      : reason);
  }
  for (const field of ['nodeSelector', 'tolerations', 'affinity', 'serviceAccountName', 'serviceAccount', 'imagePullSecrets', 'containerConcurrency', 'timeout']) {
    r.unmapped(`${c}.${field}`, `the ${c.split('.').pop()} takes the endpoint's ${field === 'serviceAccountName' ? 'serviceAccount' : field}: set it on the predictor`);
  }
}

function mapTransformer(r: FieldReader, name: string): Code | undefined {
  const c = 'spec.transformer';
  if (r.map(c) === undefined) return undefined;
  const containers = r.list(`${c}.containers`) ?? [];
  if (containers.length === 0) throw r.error(`${c}.containers`, 'is required: a transformer is a container');
  const mapped = mapContainer(r, `${c}.containers.0`, `${name}-transformer`);
  for (let i = 1; i < containers.length; i++) r.report(`${c}.containers.${i}`, 'unmapped', 'a transformer runs one container');
  // KServe appends --model_name, --predictor_host and --http_port to a transformer's args
  // (pkg/controller/v1beta1/inferenceservice/components/transformer.go); the construct passes the
  // predictor's address in the PREDICTOR_HOST environment variable instead.
  r.report(`${c}.containers.0`, 'approximated', 'KServe appends --predictor_host and --model_name to the transformer\'s args; the construct sets the PREDICTOR_HOST environment variable instead: make the image read it (or add the args)');
  const scaling = componentScaling(r, c);
  reportComponentPod(r, c);
  return obj([['container', mapped.container], ['resources', mapped.resources], ...scaling, ['env', mapped.env]]);
}

function mapExplainer(r: FieldReader, name: string): Code | undefined {
  const c = 'spec.explainer';
  if (r.map(c) === undefined) return undefined;
  if (r.has(`${c}.art`)) {
    r.report(`${c}.art`, 'unmapped', 'the ART (adversarial robustness) explainer has no counterpart: the constructs explain with KernelSHAP or LIME (addExplainer)');
    reportComponentPod(r, c);
    for (const f of ['minReplicas', 'maxReplicas', 'scaleMetric', 'scaleTarget', 'containers', 'resources']) r.unmapped(`${c}.${f}`, 'part of the explainer that is not imported');
    return undefined;
  }
  const containers = r.list(`${c}.containers`) ?? [];
  if (containers.length === 0) throw r.error(`${c}.containers`, 'is required: an explainer needs art or a container');
  const mapped = mapContainer(r, `${c}.containers.0`, `${name}-explainer`);
  for (let i = 1; i < containers.length; i++) r.report(`${c}.containers.${i}`, 'unmapped', 'an explainer runs one container');
  const scaling = componentScaling(r, c).filter(([k]) => k === 'minReplicas' || k === 'maxReplicas');
  r.unmapped(`${c}.scaleMetric`, 'the explainer scales on the endpoint\'s metric');
  r.unmapped(`${c}.scaleTarget`, 'the explainer scales on the endpoint\'s target');
  reportComponentPod(r, c);
  return obj([['container', mapped.container], ['resources', mapped.resources], ...scaling, ['env', mapped.env]]);
}
