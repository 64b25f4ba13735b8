/**
 * `ServingRuntime` / `ClusterServingRuntime` → `ServingRuntime.custom(...)`, and the index an
 * InferenceService's `runtime:` is resolved against (the input's runtimes, then the built-ins by name).
 */
import { arr, call, Code, lib, lit, obj, variable } from './code';
import { FieldReader } from './fields';
import { camelCase, VariableNames } from './names';
import { RuntimeStatement } from './plan';
import { KSERVE } from '../../contract';

/** KServe's runtime names of the built-ins (config/runtimes/*.yaml), and our model server's. */
const BUILT_IN_RUNTIMES: { [name: string]: string } = {
  'cdk8s-model-server': 'MODEL_SERVER',
  'kserve-mlserver': 'MLSERVER',
  'kserve-sklearnserver': 'SKLEARN_SERVER',
  'kserve-xgbserver': 'XGBOOST_SERVER',
  'kserve-lgbserver': 'LIGHTGBM_SERVER',
  'kserve-huggingfaceserver': 'HUGGINGFACE_SERVER',
  'kserve-tensorflow-serving': 'TENSORFLOW_SERVING',
  'kserve-torchserve': 'TORCHSERVE',
  'kserve-tritonserver': 'TRITON',
};

const PROTOCOLS: { [v: string]: string } = { 'v1': 'V1', 'v2': 'V2', 'grpc-v2': 'GRPC_V2', 'grpc-v1': 'GRPC_V1' };

/** KServe's Go-template placeholders in runtime args, and ours (ServingRuntime templates). */
const PLACEHOLDERS: { [kserve: string]: string } = { '{{.Name}}': '{{modelName}}' };

/** The runtimes an InferenceService may name. */
export class RuntimeIndex {
  private readonly namespaced = new Map<string, string>();
  private readonly cluster = new Map<string, string>();

  public add(name: string, namespace: string | undefined, clusterScoped: boolean, variableName: string): void {
    if (clusterScoped) this.cluster.set(name, variableName);
    else this.namespaced.set(`${namespace ?? ''}/${name}`, variableName);
  }

  /** KServe looks in the InferenceService's namespace first, then at cluster runtimes. */
  public lookup(name: string, namespace: string | undefined): Code | undefined {
    const found = this.namespaced.get(`${namespace ?? ''}/${name}`) ?? this.cluster.get(name);
    if (found !== undefined) return variable(found);
    return BUILT_IN_RUNTIMES[name] ? lib('ServingRuntime', BUILT_IN_RUNTIMES[name]) : undefined;
  }
}

export function mapServingRuntime(r: FieldReader, variables: VariableNames, index: RuntimeIndex): RuntimeStatement {
  const kind = r.string('kind')!;
  const name = r.string('metadata.name');
  if (name === undefined) throw r.error('metadata.name', 'is required');
  const namespace = r.string('metadata.namespace');
  const s = 'spec';
  const containers = r.list(`${s}.containers`) ?? [];
  if (containers.length === 0) throw r.error(`${s}.containers`, 'is required: a serving runtime is a container');
  const c = `${s}.containers.0`;
  const image = r.string(`${c}.image`);
  if (image === undefined) throw r.error(`${c}.image`, 'is required');
  r.mark(`${c}.name`);
  const template = (p: string) => {
    let text = r.string(p) ?? '';
    for (const [from, to] of Object.entries(PLACEHOLDERS)) text = text.split(from).join(to);
    if (/\{\{\s*\./.test(text)) {
      r.report(p, 'approximated', `a KServe template other than {{.Name}} is kept as written: '${text}'`);
    }
    return lit(text);
  };
  const strings = (p: string) => r.list(p)?.map((_, i) => template(`${p}.${i}`));
  const command = strings(`${c}.command`);
  const args = strings(`${c}.args`);
  const envEntries: Array<readonly [string, Code]> = [];
  (r.list(`${c}.env`) ?? []).forEach((_, i) => {
    const e = `${c}.env.${i}`;
    const envName = r.string(`${e}.name`);
    if (envName === undefined) throw r.error(`${e}.name`, 'is required');
    if (r.has(`${e}.valueFrom`)) {
      r.report(`${e}.valueFrom`, 'unmapped', `runtime environment variable '${envName}' from a reference: ServingRuntime env takes values`);
      return;
    }
    envEntries.push([envName, template(`${e}.value`)]);
  });
  let httpPort: number | undefined;
  let grpcPort: number | undefined;
  (r.list(`${c}.ports`) ?? []).forEach((_, i) => {
    const port = r.number(`${c}.ports.${i}.containerPort`);
    const portName = r.string(`${c}.ports.${i}.name`);
    r.mark(`${c}.ports.${i}.protocol`);
    // KServe: a port named h2c (or grpc-*) serves gRPC; the first other port serves HTTP.
    if (portName === 'h2c' || portName?.startsWith('grpc')) grpcPort = grpcPort ?? port;
    else httpPort = httpPort ?? port;
  });
  const protocols = (r.list(`${s}.protocolVersions`) ?? ['v1']).map((_, i) => {
    const v = r.has(`${s}.protocolVersions`) ? r.string(`${s}.protocolVersions.${i}`)! : 'v1';
    if (!PROTOCOLS[v]) throw r.error(`${s}.protocolVersions.${i}`, `must be one of ${Object.keys(PROTOCOLS).join(', ')}, got '${v}'`);
    return lib('InferenceProtocol', PROTOCOLS[v]);
  });
  // A runtime without ports serves HTTP on 8080, KServe's default (constants.InferenceServiceDefaultHttpPort).
  if (httpPort === undefined && protocols.some(code => code.kind === 'member' && (code.member === 'V1' || code.member === 'V2'))) httpPort = 8080;
  if (grpcPort === undefined && protocols.some(code => code.kind === 'member' && code.member.startsWith('GRPC'))) {
    throw r.error(`${c}.ports`, 'a runtime that speaks gRPC needs a port named h2c or grpc');
  }
  const formats = (r.list(`${s}.supportedModelFormats`) ?? []).map((_, i) => {
    const f = `${s}.supportedModelFormats.${i}`;
    const formatName = r.string(`${f}.name`);
    if (formatName === undefined) throw r.error(`${f}.name`, 'is required');
    const version = r.string(`${f}.version`);
    const autoSelect = r.boolean(`${f}.autoSelect`);
    const priority = r.number(`${f}.priority`);
    return obj([
      ['format', call('cdk8s-model-serving', 'ModelFormat', 'custom', lit(formatName), ...(version !== undefined ? [lit(version)] : []))],
      // KServe's autoSelect defaults to false; the construct's to true.
      ['autoSelect', autoSelect === true ? undefined : lit(false)],
      ['priority', priority !== undefined ? lit(priority) : undefined],
    ]);
  });
  if (formats.length === 0) throw r.error(`${s}.supportedModelFormats`, 'is required: the formats the runtime serves');
  const readinessPath = r.string(`${c}.readinessProbe.httpGet.path`);
  const livenessPath = r.string(`${c}.livenessProbe.httpGet.path`);
  for (const probe of ['readinessProbe', 'livenessProbe']) {
    if (r.has(`${c}.${probe}`)) {
      r.mark(`${c}.${probe}.httpGet.port`);
      r.leftoversUnder(`${c}.${probe}`, 'probe timings come from the construct');
    }
  }
  // KServe reads the metrics port and path from these pod annotations (pkg/constants PrometheusPortAnnotationKey).
  const annotations = r.stringMap(`${s}.annotations`) ?? {};
  const promPort = annotations['prometheus.kserve.io/port'];
  const promPath = annotations['prometheus.kserve.io/path'];
  for (const k of Object.keys(annotations)) {
    if (k !== 'prometheus.kserve.io/port' && k !== 'prometheus.kserve.io/path') r.report(`${s}.annotations[${k}]`, 'unmapped', 'runtime pod annotations have no counterpart');
  }
  r.unmapped(`${c}.resources`, 'a runtime\'s resources are the endpoint\'s `resources` (or RuntimeCatalog resources)');
  const multiModel = r.boolean(`${s}.multiModel`);
  r.unmapped(`${s}.disabled`, 'a disabled runtime: leave it out of the endpoint');
  for (const f of ['grpcEndpoint', 'grpcDataEndpoint', 'builtInAdapter', 'storageHelper', 'replicas']) r.unmapped(`${s}.${f}`, 'a ModelMesh runtime setting: ModelMesh runs our model server');
  for (const f of ['nodeSelector', 'tolerations', 'affinity', 'volumes', 'imagePullSecrets']) r.unmapped(`${s}.${f}`, 'runtime pod settings are the endpoint\'s (nodeSelector, tolerations, nodeAffinity)');
  for (let i = 1; i < containers.length; i++) r.report(`${s}.containers.${i}`, 'unmapped', 'a serving runtime runs one container');
  for (const key of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'annotations', 'labels']) r.mark(`metadata.${key}`);

  const options = obj([
    ['name', lit(name)],
    ['image', lit(image)],
    ['command', command ? arr(command) : undefined],
    ['args', args ? arr(args) : undefined],
    ['env', envEntries.length > 0 ? obj(envEntries) : undefined],
    ['httpPort', httpPort !== undefined ? lit(httpPort) : undefined],
    ['grpcPort', grpcPort !== undefined ? lit(grpcPort) : undefined],
    ['protocols', arr(protocols)],
    ['formats', arr(formats)],
    ['readinessPath', readinessPath !== undefined ? lit(readinessPath) : undefined],
    ['livenessPath', livenessPath !== undefined ? lit(livenessPath) : undefined],
    ['metrics', promPort !== undefined ? obj([['port', lit(Number(promPort))], ['path', promPath !== undefined ? lit(promPath) : undefined]]) : undefined],
    ['multiModel', multiModel ? lit(true) : undefined],
  ]);
  const variableName = variables.take(camelCase(name, 'runtime'));
  index.add(name, namespace, kind === KSERVE.kinds.clusterServingRuntime, variableName);
  return { kind: 'runtime', document: r.document, runtimeName: name, variable: variableName, options };
}
