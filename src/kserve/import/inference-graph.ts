/**
 * A KServe `InferenceGraph` (serving.kserve.io/v1alpha1) as an `InferenceGraph` construct: each node
 * as `GraphNode.sequence|switchOn|ensemble|splitter`, each step as `GraphStep.endpoint` (an
 * InferenceService of the same input and namespace by its variable, any other by
 * `ModelEndpoint.fromEndpointName`), `GraphStep.url` or `GraphStep.node`, with the step's
 * `name`, `data`, `condition`, `weight` and `dependency`; the router's replicas, scaling, resources
 * and timeout. Field names from kserve/kserve aaac4e29 (config/crd/full/serving.kserve.io_inferencegraphs.yaml).
 */
import { Code, SCOPE, arr, call, lib, lit, obj, variable } from './code';
import { mapResources } from './component';
import { FieldReader } from './fields';
import { deploymentModeOf } from './inference-service';
import { GraphStatement } from './plan';
import { GRAPH } from '../../contract';

const NODE_FACTORIES: { [routerType: string]: string } = {
  Sequence: 'sequence',
  Switch: 'switchOn',
  Ensemble: 'ensemble',
  Splitter: 'splitter',
};
const SCALE_METRICS: { [metric: string]: string } = { cpu: 'CPU', memory: 'MEMORY', concurrency: 'CONCURRENCY', rps: 'RPS' };

export interface InferenceGraphContext {
  /** InferenceService name → the variable of its endpoint, for the graph's namespace. */
  readonly endpoints: ReadonlyMap<string, string>;
}

export function mapInferenceGraph(r: FieldReader, ctx: InferenceGraphContext): GraphStatement {
  const name = r.string('metadata.name');
  if (name === undefined) throw r.error('metadata.name', 'is required');
  const namespace = r.string('metadata.namespace');
  const mode = deploymentModeOf(r);
  if (mode === 'modelmesh') throw r.error('metadata.annotations[serving.kserve.io/deploymentMode]', 'ModelMesh is not a deployment mode of an InferenceGraph');
  r.mark('metadata.annotations[serving.kserve.io/deploymentMode]');
  const nodes = r.map('spec.nodes');
  if (nodes === undefined) throw r.error('spec.nodes', 'is required: an InferenceGraph needs its nodes');
  if (!(GRAPH.rootNode in nodes)) throw r.error('spec.nodes', `needs a node named '${GRAPH.rootNode}', where requests enter`);
  const nodeCode = (nodeName: string): Code => {
    const p = `spec.nodes.${nodeName}`;
    const routerType = r.string(`${p}.routerType`);
    const factory = routerType === undefined ? undefined : NODE_FACTORIES[routerType];
    if (factory === undefined) throw r.error(`${p}.routerType`, `must be one of ${Object.keys(NODE_FACTORIES).join(', ')}, got '${routerType}'`);
    const steps = r.list(`${p}.steps`) ?? [];
    return call('cdk8s-model-serving', 'GraphNode', factory, arr(steps.map((_, i) => stepCode(r, `${p}.steps.${i}`, i, name, namespace, ctx))));
  };
  const others = Object.keys(nodes).filter(n => n !== GRAPH.rootNode);
  const timeout = r.number('spec.timeout');
  const scaleMetric = r.string('spec.scaleMetric');
  if (scaleMetric !== undefined && SCALE_METRICS[scaleMetric] === undefined) {
    throw r.error('spec.scaleMetric', `must be one of ${Object.keys(SCALE_METRICS).join(', ')}, got '${scaleMetric}'`);
  }
  const resources = mapResources(r, 'spec.resources');
  if (resources.gpus !== undefined) r.report('spec.resources', 'unmapped', 'GPUs for the router: it runs no model; dropped');
  const props = obj([
    ['name', lit(name)],
    ['mode', mode === 'raw' ? lib('DeploymentMode', 'RAW') : undefined],
    // KServe's graph timeout is whole seconds for the whole graph; so is the construct's.
    ['timeout', timeout === undefined ? undefined : call('cdk8s', 'Duration', 'seconds', lit(timeout))],
    ['minReplicas', optionalNumber(r, 'spec.minReplicas')],
    ['maxReplicas', optionalNumber(r, 'spec.maxReplicas')],
    ['scaleMetric', scaleMetric === undefined ? undefined : lib('ScaleMetric', SCALE_METRICS[scaleMetric])],
    ['scaleTarget', optionalNumber(r, 'spec.scaleTarget')],
    ['resources', resources.resources],
    ['root', nodeCode(GRAPH.rootNode)],
    ['nodes', others.length > 0 ? obj(others.map(n => [n, nodeCode(n)] as const)) : undefined],
  ]);
  return { kind: 'graph', document: r.document, id: name, props };
}

function optionalNumber(r: FieldReader, path: string): Code | undefined {
  const n = r.number(path);
  return n === undefined ? undefined : lit(n);
}

function stepCode(r: FieldReader, p: string, index: number, graph: string, namespace: string | undefined, ctx: InferenceGraphContext): Code {
  const stepName = r.string(`${p}.name`);
  const data = r.string(`${p}.data`);
  if (data !== undefined && data !== '$request' && data !== '$response') throw r.error(`${p}.data`, `must be '$request' or '$response', got '${data}'`);
  const dependency = r.string(`${p}.dependency`);
  if (dependency !== undefined && dependency !== 'Hard' && dependency !== 'Soft') throw r.error(`${p}.dependency`, `must be 'Hard' or 'Soft', got '${dependency}'`);
  const options = (withName: boolean): Code => obj([
    ['name', withName && stepName !== undefined ? lit(stepName) : undefined],
    ['data', data === undefined ? undefined : lib('GraphStepData', data === '$request' ? 'REQUEST' : 'RESPONSE')],
    ['condition', optionalString(r, `${p}.condition`)],
    ['weight', optionalNumber(r, `${p}.weight`)],
    ['dependency', dependency === undefined ? undefined : lib('GraphDependency', dependency === 'Soft' ? 'SOFT' : 'HARD')],
  ]);
  const args = (code: Code): Code[] => (code.kind === 'object' && code.entries.length === 0 ? [] : [code]);
  const serviceName = r.string(`${p}.serviceName`);
  const serviceUrl = r.string(`${p}.serviceUrl`);
  const nodeName = r.string(`${p}.nodeName`);
  const targets = [serviceName, serviceUrl, nodeName].filter(t => t !== undefined).length;
  if (targets !== 1) throw r.error(p, 'needs exactly one of serviceName, serviceUrl and nodeName');
  if (serviceName !== undefined) {
    const known = ctx.endpoints.get(serviceName);
    const endpoint = known !== undefined
      ? variable(known)
      : call('cdk8s-model-serving', 'ModelEndpoint', 'fromEndpointName', SCOPE, lit(`${graph}-${serviceName}`), lit(serviceName), lit(serviceName), ...(namespace ? [lit(namespace)] : []));
    if (known === undefined) {
      r.report(`${p}.serviceName`, 'note', `InferenceService '${serviceName}' is not in the input: referred to with ModelEndpoint.fromEndpointName and called over V2 (set the step's 'protocol' for V1)`);
    }
    return call('cdk8s-model-serving', 'GraphStep', 'endpoint', endpoint, ...args(options(true)));
  }
  if (serviceUrl !== undefined) {
    // GraphStep.url() needs a step name; KServe's is optional.
    if (stepName === undefined) r.report(`${p}.name`, 'note', `no name: the step is named 'step-${index}'`);
    return call('cdk8s-model-serving', 'GraphStep', 'url', lit(stepName ?? `step-${index}`), lit(serviceUrl), ...args(options(false)));
  }
  return call('cdk8s-model-serving', 'GraphStep', 'node', lit(nodeName!), ...args(options(true)));
}

function optionalString(r: FieldReader, path: string): Code | undefined {
  const s = r.string(path);
  return s === undefined ? undefined : lit(s);
}
