/**
 * Reads the jsii assembly (`.jsii`, written by `npx projen compile`) and the assemblies it depends
 * on into the spec type model: every prop of the three custom resources' props types, with its
 * type, docs and literal default. A prop whose type has no JSON form here fails the generation,
 * unless it is in LEFT_OUT with the reason.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as cdk8s from 'cdk8s';
import * as plus from 'cdk8s-plus-33';
import { CodecName, SpecEnum, SpecFactory, SpecModel, SpecProp, SpecRoot, SpecStruct, SpecType, SpecUnion } from '../../src/render/controller/spec-model';
import * as lib from '../../src';

const ASSEMBLY = 'cdk8s-model-serving';
const ROOT = path.join(__dirname, '..', '..');

/** The custom resources: kind, construct, props, and the methods whose options are spec fields. */
export const ROOTS: SpecRoot[] = [
  {
    kind: 'ModelEndpoint',
    construct: 'ModelEndpoint',
    props: `${ASSEMBLY}.ModelEndpointProps`,
    description: 'A model-serving endpoint, the equivalent of a KServe InferenceService, reconciled by the cdk8s-model-serving controller with the ModelEndpoint construct.',
    methods: [
      { field: 'transformer', method: 'addTransformer', type: `${ASSEMBLY}.TransformerOptions`, description: 'A transformer in front of the predictor (ModelEndpoint.addTransformer()).' },
      { field: 'explainer', method: 'addExplainer', type: `${ASSEMBLY}.ExplainerOptions`, description: 'An explainer answering :explain (ModelEndpoint.addExplainer()).' },
    ],
  },
  {
    kind: 'CanaryRollout',
    construct: 'CanaryRollout',
    props: `${ASSEMBLY}.CanaryRolloutProps`,
    description: 'A stable and a canary version of a model behind one host, reconciled by the cdk8s-model-serving controller with the CanaryRollout construct.',
    methods: [],
  },
  {
    kind: 'ModelMesh',
    construct: 'ModelMesh',
    props: `${ASSEMBLY}.ModelMeshProps`,
    description: 'Many models on a shared pool of model servers, reconciled by the cdk8s-model-serving controller with the ModelMesh construct.',
    methods: [],
  },
];

/**
 * Props deliberately not in the spec, by `<declaring type fqn>.<prop>`, with the reason. A test
 * fails for any prop neither in the schema nor here.
 */
export const LEFT_OUT: { [prop: string]: string } = {
  [`${ASSEMBLY}.CommonEndpointOptions.namespace`]: "the custom resource's metadata.namespace is the namespace of every object",
  [`${ASSEMBLY}.ModelMeshProps.namespace`]: "the custom resource's metadata.namespace is the namespace of every object",
  [`${ASSEMBLY}.ModelEndpointProps.name`]: "the custom resource's metadata.name is the name, so object names are stable across reconciles",
  [`${ASSEMBLY}.CanaryRolloutProps.name`]: "the custom resource's metadata.name is the name, so object names are stable across reconciles",
  [`${ASSEMBLY}.ModelMeshProps.name`]: "the custom resource's metadata.name is the name, so object names are stable across reconciles",
  // kserve-emit (issue 16)
  [`${ASSEMBLY}.CommonEndpointOptions.target`]: 'the controller runs the endpoint itself; on a cluster with KServe, apply the InferenceService that `target: ServingTarget.KSERVE` synthesizes instead of a custom resource (the controller has no RBAC for InferenceServices)',
};

/** Factories of union-like classes left out, by `<class fqn>.<method>`, with the reason. */
export const LEFT_OUT_FACTORIES: { [factory: string]: string } = {
  [`${ASSEMBLY}.TransformerModule.fromFile`]: 'reads a file on the machine that synthesizes; a custom resource gives the code inline (`code`), a ConfigMap key or a path in the image',
};

/** Types with a fixed JSON form (see src/controller/spec/codecs.ts for the decoding). */
const CODECS: { [fqn: string]: CodecName } = {
  'cdk8s.Duration': 'duration',
  'cdk8s.Size': 'size',
  'cdk8s-plus-33.Cpu': 'cpu',
  'cdk8s-plus-33.EnvValue': 'envValue',
  'cdk8s-plus-33.IServiceAccount': 'serviceAccountName',
  'cdk8s-plus-33.ISecret': 'secretName',
  'cdk8s-plus-33.IConfigMap': 'configMapName',
  [`${ASSEMBLY}.StorageUri`]: 'storageUri',
  [`${ASSEMBLY}.ModelFormat`]: 'modelFormat',
  [`${ASSEMBLY}.ModelCopies`]: 'modelCopies',
};

interface JsiiTypeRef {
  primitive?: string;
  fqn?: string;
  collection?: { kind: 'array' | 'map'; elementtype: JsiiTypeRef };
  union?: unknown;
}
interface JsiiDocs { summary?: string; remarks?: string; default?: string; custom?: { [tag: string]: string } }
interface JsiiProperty { name: string; type: JsiiTypeRef; optional?: boolean; docs?: JsiiDocs; static?: boolean }
interface JsiiParameter { name: string; type: JsiiTypeRef; optional?: boolean; docs?: JsiiDocs }
interface JsiiMethod { name: string; static?: boolean; parameters?: JsiiParameter[]; returns?: { type: JsiiTypeRef }; docs?: JsiiDocs }
interface JsiiType {
  fqn: string;
  kind: 'class' | 'interface' | 'enum';
  datatype?: boolean;
  docs?: JsiiDocs;
  interfaces?: string[];
  properties?: JsiiProperty[];
  methods?: JsiiMethod[];
  members?: Array<{ name: string; docs?: JsiiDocs }>;
}

/** Every type of our assembly and of the jsii assemblies it depends on, by fqn. */
export function loadTypes(root = ROOT): Map<string, JsiiType> {
  const types = new Map<string, JsiiType>();
  const read = (file: string) => {
    const assembly = JSON.parse(fs.readFileSync(file, 'utf8'));
    for (const [fqn, t] of Object.entries(assembly.types as { [fqn: string]: JsiiType })) types.set(fqn, t);
    return assembly;
  };
  const ours = path.join(root, '.jsii');
  if (!fs.existsSync(ours)) throw new Error(`${ours} is missing: run 'npx projen compile' first`);
  const assembly = read(ours);
  for (const dep of Object.keys(assembly.dependencyClosure ?? {})) {
    read(path.join(path.dirname(require.resolve(`${dep}/package.json`, { paths: [root] })), '.jsii'));
  }
  return types;
}

/** The runtime class or enum object of a jsii fqn (for enum values and literal defaults). */
function runtimeOf(fqn: string): any {
  const [assembly, name] = fqn.split('.');
  const mod: any = assembly === ASSEMBLY ? lib : assembly === 'cdk8s' ? cdk8s : assembly === 'cdk8s-plus-33' ? plus : undefined;
  const value = mod?.[name];
  if (value === undefined) throw new Error(`no runtime value for ${fqn}`);
  return value;
}

/** Summary, remarks and, unless it is a literal the schema carries, the default in words. */
function describe(docs: JsiiDocs | undefined, literalDefault: boolean): string {
  const parts = [docs?.summary, docs?.remarks].filter((p): p is string => !!p);
  if (docs?.default && !literalDefault) parts.push(`Default: ${docs.default.replace(/^- /, '')}.`);
  return parts.join('\n\n').replace(/\.\.$/, '.');
}

/** Builds the spec model of ROOTS from the assembly. */
export function readSpecModel(types = loadTypes()): SpecModel {
  const structs: { [fqn: string]: SpecStruct } = {};
  const unions: { [fqn: string]: SpecUnion } = {};
  const enums: { [fqn: string]: SpecEnum } = {};

  const typeOf = (ref: JsiiTypeRef, where: string, docs?: JsiiDocs): SpecType => {
    if (ref.primitive) {
      if (ref.primitive === 'string' || ref.primitive === 'boolean') return { primitive: ref.primitive };
      if (ref.primitive === 'number') return { primitive: isFractional(docs) ? 'number' : 'integer' };
      throw new Error(`${where}: no JSON form for primitive '${ref.primitive}'; add it to LEFT_OUT with the reason, or map it in scripts/crd/read-assembly.ts`);
    }
    if (ref.collection) {
      const element = typeOf(ref.collection.elementtype, `${where}[]`, docs);
      return ref.collection.kind === 'array' ? { array: element } : { map: element };
    }
    if (!ref.fqn) throw new Error(`${where}: a union type has no JSON form; add it to LEFT_OUT with the reason`);
    const codec = CODECS[ref.fqn];
    if (codec) return { codec };
    const t = types.get(ref.fqn);
    if (!t) throw new Error(`${where}: type ${ref.fqn} is not in the assemblies`);
    if (t.kind === 'enum') {
      if (!enums[t.fqn]) {
        const runtime = runtimeOf(t.fqn);
        enums[t.fqn] = {
          fqn: t.fqn,
          description: describe(t.docs, true),
          members: (t.members ?? []).map(m => ({ name: m.name, value: String(runtime[m.name]), description: m.docs?.summary ?? '' })),
        };
      }
      return { enum: t.fqn };
    }
    if (t.kind === 'interface' && t.datatype) {
      if (!structs[t.fqn]) {
        structs[t.fqn] = { fqn: t.fqn, props: [] }; // placeholder against recursion
        structs[t.fqn] = { fqn: t.fqn, props: propsOf(t.fqn) };
      }
      return { struct: t.fqn };
    }
    if (t.kind === 'class' && factoriesOf(t).length > 0) {
      if (!unions[t.fqn]) {
        unions[t.fqn] = { fqn: t.fqn, description: describe(t.docs, true), factories: [] };
        unions[t.fqn] = { fqn: t.fqn, description: describe(t.docs, true), factories: factoriesOf(t).map(m => factory(t, m)) };
      }
      return { union: t.fqn };
    }
    throw new Error(`${where}: type ${ref.fqn} has no JSON form; add the prop to LEFT_OUT with the reason, or map the type in scripts/crd/read-assembly.ts`);
  };

  const prop = (p: JsiiProperty | JsiiParameter, where: string): SpecProp => {
    const type = typeOf(p.type, where, p.docs);
    // `@noSchemaDefault <why>`: the API server would fill the default into every CR, but the construct
    // reads the prop's presence (e.g. it only tunes another prop and is refused without it).
    const schemaDefault = p.docs?.default !== undefined && p.docs.custom?.noSchemaDefault === undefined;
    const literal = schemaDefault ? parseDefault(p.docs!.default!, type, types) : undefined;
    return {
      name: p.name,
      type,
      optional: !!p.optional,
      description: describe(p.docs, literal !== undefined),
      ...(literal !== undefined ? { default: literal } : {}),
    };
  };

  const propsOf = (fqn: string): SpecProp[] => {
    const out: SpecProp[] = [];
    for (const [declaring, p] of ownAndInheritedProps(types, fqn)) {
      if (LEFT_OUT[`${declaring}.${p.name}`] !== undefined) continue;
      out.push(prop(p, `${declaring}.${p.name}`));
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  };

  const factory = (t: JsiiType, m: JsiiMethod): SpecFactory => {
    const params = m.parameters ?? [];
    const only = params.length === 1 ? types.get(params[0].type.fqn ?? '') : undefined;
    const flattened = !!(only && only.kind === 'interface' && only.datatype && !CODECS[only.fqn]);
    return {
      key: factoryKey(m.name),
      method: m.name,
      description: describe(m.docs, true),
      params: flattened ? propsOf(only!.fqn) : params.map(p => prop(p, `${t.fqn}.${m.name}(${p.name})`)),
      flattened,
    };
  };

  const factoriesOf = (t: JsiiType): JsiiMethod[] =>
    (t.methods ?? []).filter(m => m.static && m.returns?.type.fqn === t.fqn && LEFT_OUT_FACTORIES[`${t.fqn}.${m.name}`] === undefined)
      .sort((a, b) => a.name.localeCompare(b.name));

  for (const root of ROOTS) {
    typeOf({ fqn: root.props }, root.props);
    for (const m of root.methods) typeOf({ fqn: m.type }, `${root.kind}.${m.field}`);
  }
  return { roots: ROOTS, structs: sortKeys(structs), unions: sortKeys(unions), enums: sortKeys(enums) };
}

/** Own props first, then inherited ones (jsii lists only own props), each with its declaring type. */
export function ownAndInheritedProps(types: Map<string, JsiiType>, fqn: string): Array<[string, JsiiProperty]> {
  const t = types.get(fqn);
  if (!t) throw new Error(`type ${fqn} is not in the assemblies`);
  const seen = new Set<string>();
  const out: Array<[string, JsiiProperty]> = [];
  for (const p of t.properties ?? []) {
    if (p.static) continue;
    seen.add(p.name);
    out.push([fqn, p]);
  }
  for (const parent of t.interfaces ?? []) {
    for (const [declaring, p] of ownAndInheritedProps(types, parent)) {
      if (!seen.has(p.name)) {
        seen.add(p.name);
        out.push([declaring, p]);
      }
    }
  }
  return out;
}

/** `fromModelDir` -> `modelDir`, `istio` -> `istio`. */
export function factoryKey(method: string): string {
  const m = /^from([A-Z].*)$/.exec(method);
  return m ? m[1][0].toLowerCase() + m[1].slice(1) : method;
}

/** Numbers are integers unless their docs speak of a fraction or factor, or the default has a decimal point. */
function isFractional(docs?: JsiiDocs): boolean {
  const text = `${docs?.summary ?? ''} ${docs?.remarks ?? ''}`;
  return /\bfraction\b|\bfactor\b/i.test(text) || /^\d+\.\d+$/.test(docs?.default ?? '');
}

function sortKeys<T>(o: { [k: string]: T }): { [k: string]: T } {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}

// ---- literal defaults ----

/**
 * The JSON form of a `@default` that is a literal (`1`, `true`, `'x'`, `['a']`,
 * `Enum.MEMBER`, `Duration.minutes(10)`, `EndpointIngress.istio()`); undefined for defaults
 * that describe behaviour (`- the chart's namespace`) or carry words after the value.
 */
export function parseDefault(text: string, type: SpecType, types: Map<string, JsiiType>): unknown {
  const t = text.trim();
  if (t.startsWith('-')) return undefined;
  const literal = parseLiteral(t);
  if (literal.ok) return fits(literal.value, type) ? literal.value : undefined;
  const call = /^([A-Z][A-Za-z0-9]*)\.([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?$/.exec(t);
  if (!call) return undefined;
  const [, cls, member, argText] = call;
  const args = argText === undefined ? undefined : parseArgs(argText);
  if (args === undefined && argText !== undefined) return undefined;
  if ('enum' in type) {
    const fqn = type.enum;
    if (!fqn.endsWith(`.${cls}`) || argText !== undefined) return undefined;
    const value = runtimeOf(fqn)[member];
    return value === undefined ? undefined : String(value);
  }
  if ('union' in type) {
    if (!type.union.endsWith(`.${cls}`) || args === undefined) return undefined;
    const u = types.get(type.union)!;
    const m = (u.methods ?? []).find(x => x.name === member && x.static);
    if (!m) return undefined;
    const params = m.parameters ?? [];
    const only = params.length === 1 ? types.get(params[0].type.fqn ?? '') : undefined;
    if (only && only.kind === 'interface' && only.datatype) return { [factoryKey(member)]: args[0] ?? {} };
    const body: { [k: string]: unknown } = {};
    params.forEach((p, i) => { if (args[i] !== undefined) body[p.name] = args[i]; });
    return { [factoryKey(member)]: body };
  }
  if ('codec' in type) {
    const owner = Object.entries(CODECS).find(([, c]) => c === type.codec)?.[0];
    if (!owner || !owner.endsWith(`.${cls}`)) return undefined;
    const runtime = runtimeOf(owner);
    const value = args === undefined ? runtime[member] : runtime[member](...args);
    return encodeCodec(type.codec, value);
  }
  return undefined;
}

/** The JSON form of a runtime value of a codec type (for defaults). */
function encodeCodec(codec: CodecName, value: any): unknown {
  switch (codec) {
    case 'duration': return durationString(value.toMilliseconds());
    case 'size': return sizeQuantity(value.toKibibytes() * 1024);
    case 'cpu': return value.amount;
    case 'modelFormat': return value.version ? `${value.name}:${value.version}` : value.name;
    case 'modelCopies': return value.everyMember ? 'all' : value.copies;
    case 'storageUri': return value.uri;
    default: return undefined;
  }
}

/** `600000` ms -> `10m`: the largest unit that divides the duration. */
export function durationString(ms: number): string {
  const units: Array<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  for (const [suffix, factor] of units) if (ms > 0 && ms % factor === 0) return `${ms / factor}${suffix}`;
  return `${ms}ms`;
}

function sizeQuantity(bytes: number): string {
  const units: Array<[string, number]> = [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]];
  for (const [suffix, factor] of units) if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${suffix}`;
  return `${bytes}`;
}

function fits(value: unknown, type: SpecType): boolean {
  if ('primitive' in type) {
    if (type.primitive === 'integer') return Number.isInteger(value);
    if (type.primitive === 'number') return typeof value === 'number';
    return typeof value === type.primitive;
  }
  if ('array' in type) return Array.isArray(value) && value.every(v => fits(v, type.array));
  if ('map' in type) return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every(v => fits(v, type.map));
  return false;
}

/** A JSON-ish literal as TypeScript writes it: single quotes, bare keys. */
function parseLiteral(text: string): { ok: true; value: unknown } | { ok: false } {
  if (!/^(-?\d+(\.\d+)?|true|false|'[^']*'|\[.*\]|\{.*\})$/s.test(text)) return { ok: false };
  const json = text
    .replace(/'([^']*)'/g, (_, s: string) => JSON.stringify(s))
    .replace(/([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:/g, '$1"$2":');
  try {
    return { ok: true, value: JSON.parse(json) };
  } catch {
    return { ok: false };
  }
}

function parseArgs(text: string): unknown[] | undefined {
  if (text.trim() === '') return [];
  const parsed = parseLiteral(`[${text}]`);
  return parsed.ok ? (parsed.value as unknown[]) : undefined;
}

/**
 * Props of the structs the model holds (own and inherited, as the assembly declares them) that are
 * neither in the model nor in LEFT_OUT, as `<declaring fqn>.<prop>`; also union factories that
 * are neither in the model nor in LEFT_OUT_FACTORIES.
 */
export function missingProps(types: Map<string, JsiiType>, model: SpecModel): string[] {
  const missing: string[] = [];
  for (const struct of Object.values(model.structs)) {
    const present = new Set(struct.props.map(p => p.name));
    for (const [declaring, p] of ownAndInheritedProps(types, struct.fqn)) {
      if (!present.has(p.name) && LEFT_OUT[`${declaring}.${p.name}`] === undefined) missing.push(`${declaring}.${p.name}`);
    }
  }
  for (const union of Object.values(model.unions)) {
    const present = new Set(union.factories.map(f => f.method));
    for (const m of types.get(union.fqn)?.methods ?? []) {
      if (m.static && m.returns?.type.fqn === union.fqn && !present.has(m.name) && LEFT_OUT_FACTORIES[`${union.fqn}.${m.name}`] === undefined) {
        missing.push(`${union.fqn}.${m.name}()`);
      }
    }
  }
  return missing.sort();
}
