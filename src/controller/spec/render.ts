/**
 * A custom resource -> the objects our constructs synthesize for it, in memory (a cdk8s `App`
 * with no output folder; the cdk8s-operator pattern). Pure: no Kubernetes client, no files.
 *
 * Names are stable across reconciles: the CR name is the construct's `name` prop (and the chart's
 * id), so objects cdk8s names from the construct path get the same hash every time.
 */
import { App, Chart } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import { construct, DecodeContext } from './codecs';
import { decodeStruct } from './decode';
import { SpecError } from './spec-error';
import { CRD_GROUP, CRD_VERSION } from '../../contract';
import { CanaryRollout, CanaryRolloutProps, ModelEndpoint, ModelEndpointProps, ModelMesh, ModelMeshProps } from '../../index';
import { resolveAnalysis, ResolvedAnalysis } from '../../render/analysis/resolve';
import { SpecProp, SpecRoot } from '../../render/controller/spec-model';
import { SPEC_MODEL } from '../../render/controller/spec-model.generated';

/** A custom resource as the API server returns it (only the fields rendering reads). */
export interface CustomResource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly uid?: string; readonly generation?: number };
  readonly spec?: unknown;
}

/** A synthesized Kubernetes object. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

/** The props of each kind and the construct that takes them. */
export type DecodedSpec =
  | { readonly kind: 'ModelEndpoint'; readonly props: ModelEndpointProps; readonly methods: { readonly [field: string]: unknown } }
  | { readonly kind: 'CanaryRollout'; readonly props: CanaryRolloutProps; readonly methods: { readonly [field: string]: unknown } }
  | { readonly kind: 'ModelMesh'; readonly props: ModelMeshProps; readonly methods: { readonly [field: string]: unknown } };

const API_VERSION = `${CRD_GROUP}/${CRD_VERSION}`;
const CONSTRUCTS: { [kind: string]: new (scope: Construct, id: string, props: any) => IConstruct } = {
  ModelEndpoint,
  CanaryRollout,
  ModelMesh,
};
/** Props that come from the CR's metadata, not its spec. */
const FROM_METADATA: { [prop: string]: string } = { name: 'metadata.name', namespace: 'metadata.namespace' };

function rootOf(resource: CustomResource): SpecRoot {
  if (resource.apiVersion !== API_VERSION) {
    throw new SpecError('apiVersion', `must be ${API_VERSION}, got ${JSON.stringify(resource.apiVersion)}`);
  }
  const root = SPEC_MODEL.roots.find(r => r.kind === resource.kind);
  if (!root) throw new SpecError('kind', `must be one of ${SPEC_MODEL.roots.map(r => r.kind).join(', ')}, got ${JSON.stringify(resource.kind)}`);
  return root;
}

/**
 * The construct props of a custom resource (plus the options of `addTransformer`/`addExplainer`),
 * without rendering: JSON types, unknown and required fields are checked here; the construct's
 * own rules run when it is built (`renderCustomResource`, `validateCustomResource`).
 *
 * @param scope where imported references (Secrets, ServiceAccounts, ConfigMaps) are created
 */
export function specToProps(resource: CustomResource, scope: Construct): DecodedSpec {
  const root = rootOf(resource);
  const ctx: DecodeContext = { references: new Construct(scope, 'References') };
  const methodProps: SpecProp[] = root.methods.map(m => ({ name: m.field, type: { struct: m.type }, optional: true, description: '' }));
  const decoded = decodeStruct(resource.spec ?? {}, [...SPEC_MODEL.structs[root.props].props, ...methodProps], 'spec', ctx);
  const methods: { [field: string]: unknown } = {};
  for (const m of root.methods) {
    if (decoded[m.field] !== undefined) methods[m.field] = decoded[m.field];
    delete decoded[m.field];
  }
  const props = { ...decoded, name: resource.metadata.name, namespace: resource.metadata.namespace };
  return { kind: root.kind, props, methods } as DecodedSpec;
}

/**
 * The traffic a CanaryRollout's analysis has reached: rendered instead of the spec's own split,
 * so the committed spec stays the desired end state while the children carry the step in force.
 */
export interface RolloutTraffic {
  /** The canary's share of users' requests. */
  readonly weight: number;
  /** Share copied to the canary (mirror phase); undefined: no mirroring. */
  readonly mirrorPercent?: number;
  /** Promotion done: the canary is rendered as the only (stable) version. */
  readonly promoted: boolean;
}

/** What a rollout analysis runs on. */
export interface RolloutPlanOf {
  readonly analysis: ResolvedAnalysis;
  readonly stableVersion: string;
  readonly canaryVersion: string;
}

/** A CanaryRollout's resolved analysis and versions, or undefined when it has none; throws SpecError. */
export function rolloutAnalysisOf(resource: CustomResource): RolloutPlanOf | undefined {
  if (resource.kind !== 'CanaryRollout' || !(resource.spec as { analysis?: unknown } | undefined)?.analysis) return undefined;
  const decoded = specToProps(resource, new Chart(new App(), 'analysis'));
  if (decoded.kind !== 'CanaryRollout' || !decoded.props.analysis || !decoded.props.canary) return undefined;
  try {
    const analysis = resolveAnalysis(decoded.props.analysis);
    return { analysis, stableVersion: decoded.props.stable.version, canaryVersion: decoded.props.canary.version };
  } catch (e) {
    throw asSpecError(e, m => fieldInMessage('spec', m, rootOf(resource), resource.metadata));
  }
}

/** The props rendered at the analysis's traffic instead of the spec's split. */
function atTraffic(props: CanaryRolloutProps, traffic: RolloutTraffic): CanaryRolloutProps {
  const { analysis: _analysis, trafficPercent: _percent, shadow: _shadow, ...rest } = props;
  if (traffic.promoted) return { ...rest, stable: props.canary ?? props.stable, canary: undefined };
  if (traffic.mirrorPercent !== undefined) return { ...rest, trafficPercent: traffic.mirrorPercent, shadow: true };
  return { ...rest, trafficPercent: traffic.weight };
}

/** Builds the constructs of a custom resource in a fresh in-memory app; throws SpecError. */
function build(resource: CustomResource, traffic?: RolloutTraffic): { chart: Chart; root: SpecRoot } {
  const { name, namespace } = resource.metadata ?? {};
  if (typeof name !== 'string' || name === '') throw new SpecError('metadata.name', 'is required');
  if (typeof namespace !== 'string' || namespace === '') throw new SpecError('metadata.namespace', 'is required: our custom resources are namespaced');
  const root = rootOf(resource);
  const app = new App();
  const chart = construct('metadata.name', () => new Chart(app, name, { namespace }));
  const decoded = specToProps(resource, chart);
  const fieldOf = (base: string, message: string) => fieldInMessage(base, message, root, resource.metadata);
  let instance: IConstruct;
  try {
    const props = traffic && decoded.kind === 'CanaryRollout' ? atTraffic(decoded.props, traffic) : decoded.props;
    instance = new CONSTRUCTS[root.construct](chart, root.kind, props);
  } catch (e) {
    throw asSpecError(e, m => fieldOf('spec', m));
  }
  for (const m of root.methods) {
    const options = decoded.methods[m.field];
    if (options === undefined) continue;
    try {
      (instance as any)[m.method](options);
    } catch (e) {
      throw asSpecError(e, msg => fieldOf(`spec.${m.field}`, msg));
    }
  }
  return { chart, root };
}

/**
 * The objects the constructs synthesize for a custom resource, each with `metadata.namespace`.
 * Runs the constructs' synth-time validations as `cdk8s synth` does.
 *
 * @throws SpecError naming the field at fault, with the construct's message
 */
export function renderCustomResource(resource: CustomResource, traffic?: RolloutTraffic): KubeObject[] {
  const { chart, root } = build(resource, traffic);
  validateTree(chart, root, resource.metadata);
  let objects: KubeObject[];
  try {
    objects = chart.toJson() as KubeObject[];
  } catch (e) {
    throw asSpecError(e, () => 'spec');
  }
  for (const o of objects) o.metadata.namespace ??= resource.metadata.namespace;
  return objects;
}

/**
 * The admission check: everything `renderCustomResource` checks, without serializing the objects.
 *
 * @throws SpecError
 */
export function validateCustomResource(resource: CustomResource): void {
  const { chart, root } = build(resource);
  validateTree(chart, root, resource.metadata);
}

/** The validations `app.synth()` runs (construct-path-prefixed, in cdk8s's own wording). */
function validateTree(chart: Chart, root: SpecRoot, metadata: CustomResource['metadata']): void {
  const errors: string[] = [];
  for (const c of chart.node.findAll()) {
    for (const message of c.node.validate()) errors.push(`[${c.node.path}] ${message}`);
  }
  if (errors.length > 0) {
    const text = `Validation failed with the following errors:\n  ${errors.join('\n  ')}`;
    throw new SpecError(fieldInMessage('spec', errors.join('\n'), root, metadata), text);
  }
}

/**
 * The constructs throw plain `Error`s with the message `cdk8s synth` prints; anything else (a
 * TypeError from a bug) is not the spec's fault and is rethrown as it is.
 */
function asSpecError(e: unknown, fieldFor: (message: string) => string): Error {
  if (e instanceof SpecError) return e;
  if (!(e instanceof Error) || e.constructor !== Error) return e instanceof Error ? e : new Error(String(e));
  const message = (e as Error).message ?? String(e);
  return new SpecError(fieldFor(message), message);
}

/**
 * The field a construct's message is about: the first quoted prop (`'minReplicas'`, or a nested
 * `'retries.attempts'`) that exists under `base`; `'name'`/`'namespace'` with the CR's own value
 * point to its metadata; a message about one of a mesh's models (`model 'iris' ...`) to
 * `spec.models`; `base` itself when nothing matches.
 */
function fieldInMessage(base: string, message: string, root: SpecRoot, metadata: CustomResource['metadata']): string {
  if (base === 'spec' && /^model '[^']*' /.test(message) && SPEC_MODEL.structs[root.props].props.some(p => p.name === 'models')) return 'spec.models';
  const structFqn = base === 'spec' ? root.props : root.methods.find(m => `spec.${m.field}` === base)?.type;
  const props = new Set([
    ...(structFqn ? SPEC_MODEL.structs[structFqn].props.map(p => p.name) : []),
    ...(base === 'spec' ? root.methods.map(m => m.field) : []),
  ]);
  for (const [, quoted] of message.matchAll(/'([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)'/g)) {
    const head = quoted.split('.')[0];
    const own = head === 'name' ? metadata.name : head === 'namespace' ? metadata.namespace : undefined;
    if (base === 'spec' && FROM_METADATA[head] && own !== undefined && message.includes(`'${own}'`)) return FROM_METADATA[head];
    if (props.has(head)) return `${base}.${quoted}`;
  }
  // A prop of the items of a list field (a mesh model's 'name').
  if (structFqn) {
    for (const [, quoted] of message.matchAll(/'([A-Za-z][A-Za-z0-9]*)'/g)) {
      const list = SPEC_MODEL.structs[structFqn].props.find(p => 'array' in p.type && 'struct' in p.type.array
        && SPEC_MODEL.structs[p.type.array.struct].props.some(q => q.name === quoted));
      if (list) return `${base}.${list.name}`;
    }
  }
  return base;
}
