/**
 * Fields an InferenceService component shares with a Kubernetes container or pod (resources, env, a custom
 * container, node selection), mapped to the constructs' prop types.
 */
import { arr, call, Code, lib, lit, obj, SCOPE } from './code';
import { FieldReader } from './fields';
import { cpuCode, sizeCode } from './quantities';

/** A GPU resource name the constructs express as `gpus` (request and limit). */
const GPU = 'nvidia.com/gpu';

/** `resources` of a container: `ContainerResources` and `gpus`. */
export function mapResources(r: FieldReader, path: string): { resources?: Code; gpus?: Code } {
  const res = r.map(path);
  if (res === undefined) return {};
  const one = (kind: 'requests' | 'limits', name: 'cpu' | 'memory'): Code | undefined => {
    const p = `${path}.${kind}.${name}`;
    const v = r.peek(p);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' && typeof v !== 'number') throw r.error(p, `must be a quantity such as ${name === 'cpu' ? "'500m'" : "'1Gi'"}, got ${JSON.stringify(v)}`);
    const q = name === 'cpu' ? cpuCode(v) : sizeCode(v);
    if (q === undefined) throw r.error(p, `must be a Kubernetes quantity such as ${name === 'cpu' ? "'500m' or '2'" : "'512Mi' or '4Gi'"}, got '${v}'`);
    if (q.rounded) r.report(p, 'approximated', `'${v}' is rounded up to the next ${name === 'cpu' ? 'millicore' : 'kibibyte'} (cdk8s Size and Cpu hold whole units)`);
    else r.mark(p);
    return q.code;
  };
  const pair = (name: 'cpu' | 'memory') => {
    const request = one('requests', name);
    const limit = one('limits', name);
    return request || limit ? obj([['request', request], ['limit', limit]]) : undefined;
  };
  const cpu = pair('cpu');
  const memory = pair('memory');
  let gpus: Code | undefined;
  const gpuLimit = r.peek(`${path}.limits[${GPU}]`) ?? r.peek(`${path}.requests[${GPU}]`);
  if (gpuLimit !== undefined) {
    const n = Number(gpuLimit);
    if (!Number.isInteger(n) || n < 0) throw r.error(`${path}.limits[${GPU}]`, `must be a whole number of GPUs, got ${JSON.stringify(gpuLimit)}`);
    r.mark(`${path}.limits[${GPU}]`);
    r.mark(`${path}.requests[${GPU}]`);
    gpus = lit(n);
  }
  return { resources: cpu || memory ? obj([['cpu', cpu], ['memory', memory]]) : undefined, gpus };
}

/**
 * `env` of a container: values as `EnvValue.fromValue`, secret and ConfigMap keys as `EnvValue.fromSecretValue`
 * / `fromConfigMap` of the named object (imported by name, ids prefixed with `idPrefix`); other references
 * (fieldRef, resourceFieldRef) are reported.
 */
export function mapEnv(r: FieldReader, path: string, idPrefix: string): Code | undefined {
  const list = r.list(path);
  if (list === undefined) return undefined;
  const entries: Array<readonly [string, Code]> = [];
  list.forEach((_, i) => {
    const p = `${path}.${i}`;
    const name = r.string(`${p}.name`);
    if (name === undefined) throw r.error(`${p}.name`, 'is required');
    const ref = (kind: 'secretKeyRef' | 'configMapKeyRef') => {
      const refName = r.string(`${p}.valueFrom.${kind}.name`);
      const key = r.string(`${p}.valueFrom.${kind}.key`);
      if (refName === undefined || key === undefined) throw r.error(`${p}.valueFrom.${kind}`, 'needs name and key');
      r.unmapped(`${p}.valueFrom.${kind}.optional`, 'optional references have no counterpart: the variable is required');
      return { refName, key };
    };
    if (r.has(`${p}.valueFrom.secretKeyRef`)) {
      const { refName, key } = ref('secretKeyRef');
      const secret = call('cdk8s-plus-33', 'Secret', 'fromSecretName', SCOPE, lit(`${idPrefix}-${name}-secret`), lit(refName));
      entries.push([name, call('cdk8s-plus-33', 'EnvValue', 'fromSecretValue', obj([['secret', secret], ['key', lit(key)]]))]);
    } else if (r.has(`${p}.valueFrom.configMapKeyRef`)) {
      const { refName, key } = ref('configMapKeyRef');
      const configMap = call('cdk8s-plus-33', 'ConfigMap', 'fromConfigMapName', SCOPE, lit(`${idPrefix}-${name}-config-map`), lit(refName));
      entries.push([name, call('cdk8s-plus-33', 'EnvValue', 'fromConfigMap', configMap, lit(key))]);
    } else if (r.has(`${p}.valueFrom`)) {
      r.report(`${p}.valueFrom`, 'unmapped', `environment variable '${name}' from a field or resource reference: add it with EnvValue.fromFieldRef/fromResource in the generated code`);
    } else {
      entries.push([name, call('cdk8s-plus-33', 'EnvValue', 'fromValue', lit(r.string(`${p}.value`) ?? ''))]);
    }
  });
  return entries.length > 0 ? obj(entries) : undefined;
}

/** The probe's HTTP path, when the probe is an httpGet; its timings are reported. */
function probePath(r: FieldReader, path: string): string | undefined {
  if (!r.has(path)) return undefined;
  const p = r.string(`${path}.httpGet.path`);
  if (p === undefined) {
    r.report(path, 'unmapped', 'only an httpGet probe path maps (ModelContainer.readinessPath/livenessPath)');
    return undefined;
  }
  r.mark(`${path}.httpGet.port`);
  for (const timing of ['initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'failureThreshold', 'successThreshold']) {
    r.unmapped(`${path}.${timing}`, 'probe timings come from the construct (startupTimeout, livenessPeriod)');
  }
  return p;
}

export interface MappedContainer {
  readonly container: Code;
  /** A port named h2c: the container serves gRPC. */
  readonly grpc: boolean;
  readonly env?: Code;
  readonly resources?: Code;
  readonly gpus?: Code;
}

/** A custom container (`containers[i]`): `ModelContainer`, and the protocol its port implies. */
export function mapContainer(r: FieldReader, path: string, idPrefix: string): MappedContainer {
  const image = r.string(`${path}.image`);
  if (image === undefined) throw r.error(`${path}.image`, 'is required: a custom container needs an image');
  r.mark(`${path}.name`); // KServe names it kserve-container; the construct names its own.
  const command = r.list(`${path}.command`);
  const args = r.list(`${path}.args`);
  const strings = (p: string, l: unknown[] | undefined) => l?.map((_, i) => lit(r.string(`${p}.${i}`)!));
  const ports = r.list(`${path}.ports`) ?? [];
  let port: number | undefined;
  let grpc = false;
  if (ports.length > 0) {
    port = r.number(`${path}.ports.0.containerPort`);
    // KServe: a port named h2c serves gRPC (pkg/constants: the custom container's gRPC convention).
    grpc = r.string(`${path}.ports.0.name`) === 'h2c';
    r.mark(`${path}.ports.0.protocol`);
    for (let i = 1; i < ports.length; i++) r.report(`${path}.ports.${i}`, 'unmapped', 'a ModelContainer serves one port');
  }
  const readinessPath = probePath(r, `${path}.readinessProbe`);
  const livenessPath = probePath(r, `${path}.livenessProbe`);
  const container = obj([
    ['image', lit(image)],
    ['command', command ? arr(strings(`${path}.command`, command)!) : undefined],
    ['args', args ? arr(strings(`${path}.args`, args)!) : undefined],
    // 8080 is both KServe's and the construct's default port.
    ['port', port !== undefined && port !== 8080 ? lit(port) : undefined],
    ['readinessPath', readinessPath !== undefined ? lit(readinessPath) : undefined],
    ['livenessPath', livenessPath !== undefined ? lit(livenessPath) : undefined],
  ]);
  return { container, grpc, env: mapEnv(r, `${path}.env`, idPrefix), ...mapResources(r, `${path}.resources`) };
}

/** Node selection of a component: `nodeSelector`, `tolerations`, `nodeAffinity`, and the Knative flags they need. */
export function mapScheduling(r: FieldReader, path: string): { entries: Array<readonly [string, Code | undefined]>; flags: string[] } {
  const flags: string[] = [];
  const nodeSelector = r.stringMap(`${path}.nodeSelector`);
  if (nodeSelector) flags.push('kubernetes.podspec-nodeselector');
  const tolerations = (r.list(`${path}.tolerations`) ?? []).map((_, i) => {
    const p = `${path}.tolerations.${i}`;
    const op = r.string(`${p}.operator`);
    const effect = r.string(`${p}.effect`);
    const enumOf = (sym: string, v: string | undefined, allowed: string[], field: string) => {
      if (v === undefined || v === '') return undefined;
      if (!allowed.includes(v)) throw r.error(`${p}.${field}`, `must be one of ${allowed.join(', ')}, got '${v}'`);
      return lib(sym, v.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase());
    };
    r.unmapped(`${p}.tolerationSeconds`, 'the Toleration type has no tolerationSeconds');
    return obj([
      ['key', r.has(`${p}.key`) ? lit(r.string(`${p}.key`)!) : undefined],
      ['operator', enumOf('TolerationOperator', op, ['Equal', 'Exists'], 'operator')],
      ['value', r.has(`${p}.value`) ? lit(r.string(`${p}.value`)!) : undefined],
      ['effect', enumOf('TaintEffect', effect, ['NoSchedule', 'PreferNoSchedule', 'NoExecute'], 'effect')],
    ]);
  });
  if (tolerations.length > 0) flags.push('kubernetes.podspec-tolerations');
  const rules: Code[] = [];
  const expressions = (p: string, weight?: number) => {
    (r.list(`${p}.matchExpressions`) ?? []).forEach((_, i) => {
      const e = `${p}.matchExpressions.${i}`;
      const key = r.string(`${e}.key`);
      const op = r.string(`${e}.operator`);
      const ops: { [k: string]: string } = { In: 'IN', NotIn: 'NOT_IN', Exists: 'EXISTS', DoesNotExist: 'DOES_NOT_EXIST' };
      if (key === undefined || op === undefined) throw r.error(e, 'needs key and operator');
      if (!ops[op]) {
        r.report(e, 'unmapped', `node affinity operator '${op}' has no NodeAffinityOperator`);
        return;
      }
      const values = r.list(`${e}.values`)?.map((_v, j) => lit(r.string(`${e}.values.${j}`)!));
      rules.push(obj([['key', lit(key)], ['operator', lib('NodeAffinityOperator', ops[op])], ['values', values ? arr(values) : undefined], ['preferredWeight', weight !== undefined ? lit(weight) : undefined]]));
    });
    r.unmapped(`${p}.matchFields`, 'NodeAffinityRule matches node labels only');
  };
  const na = `${path}.affinity.nodeAffinity`;
  (r.list(`${na}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`) ?? []).forEach((_, i, all) => {
    // Terms are ORed; the rules of one term are ANDed, which is all NodeAffinityRule can say.
    if (i > 0 || all.length > 1) r.unmapped(`${na}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.${i}`, 'several nodeSelectorTerms (ORed) have no counterpart: the rules are ANDed');
    if (i === 0) expressions(`${na}.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms.0`);
  });
  (r.list(`${na}.preferredDuringSchedulingIgnoredDuringExecution`) ?? []).forEach((_, i) => {
    const p = `${na}.preferredDuringSchedulingIgnoredDuringExecution.${i}`;
    expressions(`${p}.preference`, r.number(`${p}.weight`));
  });
  r.unmapped(`${path}.affinity.podAffinity`, 'no pod affinity in the constructs');
  r.unmapped(`${path}.affinity.podAntiAffinity`, 'no pod anti-affinity in the constructs (raw mode adds a PodDisruptionBudget instead)');
  if (rules.length > 0) flags.push('kubernetes.podspec-affinity');
  return {
    entries: [
      ['nodeSelector', nodeSelector ? obj(Object.entries(nodeSelector).map(([k, v]) => [k, lit(v)] as const)) : undefined],
      ['tolerations', tolerations.length > 0 ? arr(tolerations) : undefined],
      ['nodeAffinity', rules.length > 0 ? arr(rules) : undefined],
    ],
    flags,
  };
}

/** `serviceAccountName` as `ServiceAccount.fromServiceAccountName(scope, id, name)`. */
export function mapServiceAccount(r: FieldReader, path: string, idPrefix: string): Code | undefined {
  const name = r.string(`${path}.serviceAccountName`) ?? r.string(`${path}.serviceAccount`);
  return name === undefined ? undefined : call('cdk8s-plus-33', 'ServiceAccount', 'fromServiceAccountName', SCOPE, lit(`${idPrefix}-service-account`), lit(name));
}

/** `imagePullSecrets` (`[{ name }]`) as `Secret.fromSecretName(scope, id, name)` each. */
export function mapImagePullSecrets(r: FieldReader, path: string, idPrefix: string): Code | undefined {
  const items = r.list(`${path}.imagePullSecrets`);
  if (items === undefined || items.length === 0) return undefined;
  const secrets = items.map((_, i) => {
    const name = r.string(`${path}.imagePullSecrets.${i}.name`);
    if (name === undefined) throw r.error(`${path}.imagePullSecrets.${i}.name`, 'each image pull secret needs its Secret name');
    return call('cdk8s-plus-33', 'Secret', 'fromSecretName', SCOPE, lit(`${idPrefix}-pull-secret${items.length > 1 ? `-${i + 1}` : ''}`), lit(name));
  });
  r.mark(`${path}.imagePullSecrets`);
  return arr(secrets);
}

/** KServe's `logger` values (v1beta1 `LoggerType`) as `LoggerMode` members. */
const LOGGER_MODES: Record<string, string> = { all: 'ALL', request: 'REQUEST', response: 'RESPONSE' };

/**
 * `logger: {mode, url}` as the `logger` prop (`PayloadLogging`); undefined without a `logger.url`.
 * KServe's default mode is `all` (v1beta1 LoggerSpec).
 */
export function mapLogger(r: FieldReader, path: string): Code | undefined {
  const url = r.string(`${path}.logger.url`);
  if (url === undefined) return undefined;
  const mode = r.string(`${path}.logger.mode`);
  if (mode !== undefined && !LOGGER_MODES[mode]) throw r.error(`${path}.logger.mode`, `must be all, request or response, got '${mode}'`);
  for (const key of ['logger.storage', 'logger.metadataHeaders', 'logger.metadataAnnotations']) {
    if (r.has(`${path}.${key}`)) r.unmapped(`${path}.${key}`, 'only logger.url and logger.mode have a counterpart (PayloadLogging)');
  }
  r.mark(`${path}.logger`);
  return obj([
    ['url', lit(url)],
    ['mode', mode !== undefined && mode !== 'all' ? lib('LoggerMode', LOGGER_MODES[mode]) : undefined],
  ]);
}

/**
 * `batcher: {maxBatchSize, maxLatency}` (maxLatency in ms) as the `batcher` prop; KServe's
 * defaults (32, 5000) are the prop's, so only values given are written.
 */
export function mapBatcher(r: FieldReader, path: string): Code | undefined {
  if (!r.has(`${path}.batcher`)) return undefined;
  const maxBatchSize = r.number(`${path}.batcher.maxBatchSize`);
  const maxLatency = r.number(`${path}.batcher.maxLatency`);
  if (r.has(`${path}.batcher.timeout`)) r.unmapped(`${path}.batcher.timeout`, "the batcher's own upstream timeout has no counterpart: the endpoint's 'timeout' applies to the runtime's answers");
  r.mark(`${path}.batcher`);
  return obj([
    ['maxBatchSize', maxBatchSize !== undefined ? lit(maxBatchSize) : undefined],
    ['maxLatency', maxLatency !== undefined ? call('cdk8s', 'Duration', 'millis', lit(maxLatency)) : undefined],
  ]);
}

/** Pod and component fields that have no counterpart, with the reason each is reported. */
export const UNMAPPED_COMPONENT_FIELDS: ReadonlyArray<readonly [string, string]> = [
  ['logger', 'payload logging (KServe logger) maps to the logger prop on a REST predictor only (our server or the agent sidecar logs); transformers, explainers and gRPC predictors are not covered'],
  ['batcher', 'the KServe batcher maps to the batcher prop on a REST predictor only (our server or the agent sidecar batches)'],
  ['autoScaling', 'autoScaling.metrics (KEDA/HPA metric specs) has no counterpart: use scaleMetric/scaleTarget'],
  ['storageUris', 'several storage URIs per component have no counterpart: one storageUri per endpoint'],
  ['deploymentStrategy', 'raw-mode deploymentStrategy is not imported yet: set DeploymentStrategy in the generated code'],
  ['volumes', 'extra volumes have no counterpart'],
  ['initContainers', 'extra init containers have no counterpart'],
  ['securityContext', 'the pod security context is the construct\'s (Pod Security restricted)'],
  ['annotations', 'component annotations: set annotations on the endpoint instead'],
  ['labels', 'component labels: set labels on the endpoint instead'],
  ['priorityClassName', 'no priorityClassName prop'],
  ['topologySpreadConstraints', 'no topologySpreadConstraints prop'],
  ['workerSpec', 'multi-node (worker) serving has no counterpart'],
  ['canaryTrafficPercent', 'a canary split on this component has no counterpart'],
];
