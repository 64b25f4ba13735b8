/**
 * Offline, strict schema validation of synthesized Kubernetes objects, like `kubeconform -strict`.
 *
 * Schemas come only from the vendored files in `imports/`:
 * - built-in kinds: `kubernetes-<version>-definitions.json` (1.33 by default; 1.30 and 1.36, the ends of the
 *   supported range, on request), mapped by `x-kubernetes-group-version-kind`;
 * - custom resources: the `openAPIV3Schema` of the served version of each CRD in the CRD files below.
 *
 * Strictness: every object schema that lists `properties` is closed (`additionalProperties: false`) unless
 * it has `additionalProperties` or `x-kubernetes-preserve-unknown-fields`. For CRDs an object schema with no
 * `properties` at all is closed too, since the API server would prune (silently drop) anything written there.
 *
 * Kubernetes extensions and how they are treated:
 * - `x-kubernetes-int-or-string` and `format: int-or-string`: integer or string.
 * - `x-kubernetes-preserve-unknown-fields`: the object stays open (listed properties are still checked).
 * - `x-kubernetes-embedded-resource`: `apiVersion` and `kind` required, `metadata` checked as ObjectMeta.
 * - `nullable: true`: `null` allowed. Elsewhere `null` is rejected (the API server would prune or zero it;
 *   we never want to emit it). `metadata.creationTimestamp: null` is accepted, as kubectl emits it.
 * - Quantity (`io.k8s.apimachinery.pkg.api.resource.Quantity`): a number, or a string in quantity syntax.
 * - `format`: int32/int64/float/double/byte/date-time are checked by ajv-formats; any other format is
 *   registered as a no-op.
 * - `x-kubernetes-validations` (CEL rules): NOT evaluated (no CEL interpreter here). Neither are
 *   `x-kubernetes-list-type`/`x-kubernetes-list-map-keys` uniqueness rules.
 * - `pattern`s that JavaScript cannot compile (RE2-only syntax) are skipped.
 *
 * On top of the schema it checks the API server's own object-metadata rules: `metadata.name` syntax for
 * the kind (DNS-1035 label, DNS-1123 label or subdomain, RBAC path segment), label keys/values and
 * annotation keys; and for workloads: selector matches the pod template labels, container and volume names.
 */
import * as fs from 'fs';
import * as path from 'path';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import * as YAML from 'yaml';
import { arr, describe, groupOf, isObject, Manifest, pointerToPath, QUANTITY_PATTERN } from './_util';
// ---- real API server check (test/cluster): every object validated here is also sent to kube-apiserver ----
import { recordForApiServer } from '../cluster/api-server-queue';

/** The folder with the vendored upstream schemas. */
export const IMPORTS_DIR = path.join(__dirname, '..', '..', 'imports');
/**
 * The Kubernetes releases whose OpenAPI definitions are vendored (`imports/kubernetes-<v>-definitions.json`):
 * the oldest and newest of the supported range (README) and the one cdk8s-plus-33 targets, the default.
 * The newest release in the range, 1.37, is checked by the real API server of the test cluster.
 */
export const KUBERNETES_VERSIONS = { oldest: '1.30.0', target: '1.33.0', newest: '1.36.0' } as const;
export type KubernetesVersion = typeof KUBERNETES_VERSIONS[keyof typeof KUBERNETES_VERSIONS];
const definitionsFile = (version: KubernetesVersion) => `kubernetes-${version}-definitions.json`;
const CRD_FILES = [
  'knative-serving.yaml',
  'istio.yaml',
  'gateway-api-httproutes.yaml',
  'prometheus-operator.yaml',
  'kserve-inferenceservices.yaml',
];
const K8S_SCHEMA_ID = 'k8s';
const OBJECT_META_REF = `${K8S_SCHEMA_ID}#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta`;
/** Formats ajv-formats checks for real; every other `format` is registered as a no-op. */
const CHECKED_FORMATS = ['int32', 'int64', 'float', 'double', 'byte', 'date-time'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Schema = { [key: string]: any };

interface TransformContext {
  readonly crd: boolean;
  readonly formats: Set<string>;
  readonly skippedPatterns: string[];
}

/**
 * Rewrites one Kubernetes/OpenAPI schema node into a strict JSON schema that ajv understands.
 * `structural` is false inside anyOf/oneOf/allOf/not: those branches may only repeat properties of the
 * structural schema, so closing them would wrongly reject the parent's fields.
 */
function transform(node: unknown, ctx: TransformContext, structural = true): unknown {
  if (Array.isArray(node)) return node.map((n) => transform(n, ctx, structural));
  if (!isObject(node)) return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith('x-kubernetes-') || key === 'description' || key === 'example' || key === 'nullable') continue;
    if (key === 'properties' || key === 'definitions' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, transform(v, ctx, true)]));
    } else if (key === 'default' || key === 'enum' || key === 'const' || key === 'required') {
      out[key] = value;
    } else if (key === 'anyOf' || key === 'oneOf' || key === 'allOf' || key === 'not') {
      out[key] = transform(value, ctx, false);
    } else if (key === 'pattern') {
      try {
        new RegExp(value as string);
        out[key] = value;
      } catch {
        ctx.skippedPatterns.push(String(value));
      }
    } else {
      out[key] = transform(value, ctx, structural);
    }
  }

  const preserveUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  const embedded = node['x-kubernetes-embedded-resource'] === true;

  if (node['x-kubernetes-int-or-string'] === true || node.format === 'int-or-string') {
    delete out.type;
    delete out.format;
    if (!out.anyOf && !out.oneOf) out.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (typeof out.format === 'string') ctx.formats.add(out.format);

  if (embedded) {
    out.type = 'object';
    out.properties = {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      ...(out.properties ?? {}),
      metadata: { $ref: OBJECT_META_REF },
    };
    out.required = [...new Set([...(out.required ?? []), 'apiVersion', 'kind'])];
  }

  if (node.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }

  if (structural && !preserveUnknown && out.additionalProperties === undefined) {
    const hasProps = isObject(out.properties);
    // CRD objects without properties are pruned to {} by the API server: close them so we notice.
    if (hasProps || (ctx.crd && out.type === 'object' && !out.patternProperties)) out.additionalProperties = false;
  }
  return out;
}

interface CrdEntry {
  readonly schema: Schema;
  readonly served: boolean;
  readonly file: string;
}

/** Name syntax the API server enforces on `metadata.name`, per kind. */
type NameRule = 'dns1035-label' | 'dns1123-label' | 'dns1123-subdomain' | 'path-segment';

const NAME_RULES: Record<string, NameRule> = {
  '/Service': 'dns1035-label',
  '/Namespace': 'dns1123-label',
  'serving.knative.dev/Service': 'dns1035-label',
  'serving.knative.dev/Route': 'dns1035-label',
  'serving.knative.dev/Configuration': 'dns1035-label',
  'serving.kserve.io/InferenceService': 'dns1035-label',
  'rbac.authorization.k8s.io/Role': 'path-segment',
  'rbac.authorization.k8s.io/ClusterRole': 'path-segment',
  'rbac.authorization.k8s.io/RoleBinding': 'path-segment',
  'rbac.authorization.k8s.io/ClusterRoleBinding': 'path-segment',
};

/** Extra length limits that come from labels the controllers derive from the name. */
const NAME_MAX_LENGTH: Record<string, [number, string]> = {
  'batch/CronJob': [52, 'the CronJob controller appends an 11-character suffix to name its Jobs'],
  'batch/Job': [63, 'the Job controller copies the name into the job-name pod label'],
  'apps/StatefulSet': [52, 'the controller-revision-hash pod label is "<name>-<10-char hash>" and must be ≤ 63'],
};

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** Errors for `value` as a DNS-1123 label (≤ 63, lowercase alphanumerics and '-'). */
export function checkDns1123Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push(`must be no more than 63 characters (got ${value.length})`);
  if (!DNS1123_LABEL.test(value)) errs.push('must be a DNS-1123 label: lowercase alphanumerics or \'-\', starting and ending with an alphanumeric');
  return errs;
}

/** Errors for `value` as a DNS-1035 label (a DNS-1123 label that starts with a letter). */
export function checkDns1035Label(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push(`must be no more than 63 characters (got ${value.length})`);
  if (!DNS1035_LABEL.test(value)) errs.push('must be a DNS-1035 label: lowercase alphanumerics or \'-\', starting with a letter and ending with an alphanumeric');
  return errs;
}

/** Errors for `value` as a DNS-1123 subdomain (≤ 253, dot-separated DNS-1123 labels). */
export function checkDns1123Subdomain(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 253) errs.push(`must be no more than 253 characters (got ${value.length})`);
  if (!DNS1123_SUBDOMAIN.test(value)) errs.push('must be a DNS-1123 subdomain: lowercase alphanumerics, \'-\' or \'.\', starting and ending with an alphanumeric');
  return errs;
}

/** Errors for a label or annotation key (`[prefix/]name`, as Kubernetes IsQualifiedName). */
export function checkQualifiedName(key: string): string[] {
  const parts = key.split('/');
  if (parts.length > 2) return ['must be a qualified name: an optional DNS subdomain prefix and \'/\', then a name'];
  const [prefix, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  const errs: string[] = [];
  if (prefix !== undefined) {
    if (!prefix) errs.push('prefix part must be non-empty');
    else errs.push(...checkDns1123Subdomain(prefix).map((e) => `prefix part ${e}`));
  }
  if (!name) {errs.push('name part must be non-empty');} else {
    if (name.length > 63) errs.push(`name part must be no more than 63 characters (got ${name.length})`);
    if (!QUALIFIED_NAME.test(name)) errs.push('name part must consist of alphanumerics, \'-\', \'_\' or \'.\', and start and end with an alphanumeric');
  }
  return errs;
}

/** Errors for a label value (≤ 63, empty or alphanumerics with '-', '_', '.' inside). */
export function checkLabelValue(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push(`must be no more than 63 characters (got ${value.length})`);
  if (value !== '' && !QUALIFIED_NAME.test(value)) errs.push('must be empty or consist of alphanumerics, \'-\', \'_\' or \'.\', and start and end with an alphanumeric');
  return errs;
}

function checkLabels(labels: unknown, where: string): string[] {
  if (!isObject(labels)) return [];
  const errs: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    errs.push(...checkQualifiedName(k).map((e) => `${where}: label key "${k}" ${e}`));
    if (typeof v === 'string') errs.push(...checkLabelValue(v).map((e) => `${where}["${k}"]: label value "${v}" ${e}`));
  }
  return errs;
}

function checkAnnotations(annotations: unknown, where: string): string[] {
  if (!isObject(annotations)) return [];
  const errs: string[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    errs.push(...checkQualifiedName(k).map((e) => `${where}: annotation key "${k}" ${e}`));
    size += k.length + (typeof v === 'string' ? v.length : 0);
  }
  if (size > 256 * 1024) errs.push(`${where}: annotations must total no more than 256 KiB (got ${size} bytes)`);
  return errs;
}

function checkName(obj: Manifest): string[] {
  const meta = obj.metadata;
  if (!isObject(meta)) return ['metadata: required'];
  const name = meta.name;
  if (name === undefined) return typeof meta.generateName === 'string' ? [] : ['metadata.name: required'];
  if (typeof name !== 'string') return []; // the schema reports the type
  if (name === '') return ['metadata.name: must not be empty'];
  const key = `${groupOf(String(obj.apiVersion))}/${obj.kind}`;
  const rule = NAME_RULES[key] ?? 'dns1123-subdomain';
  let errs: string[];
  switch (rule) {
    case 'dns1035-label': errs = checkDns1035Label(name); break;
    case 'dns1123-label': errs = checkDns1123Label(name); break;
    case 'path-segment':
      errs = name === '.' || name === '..' || /[/%]/.test(name) ? ['must be a valid path segment: not "." or "..", no "/" or "%"'] : [];
      break;
    default: errs = checkDns1123Subdomain(name);
  }
  const limit = NAME_MAX_LENGTH[key];
  if (limit && name.length > limit[0]) errs.push(`must be no more than ${limit[0]} characters for a ${obj.kind} (got ${name.length}): ${limit[1]}`);
  return errs.map((e) => `metadata.name "${name}" ${e}`);
}

/** The pod templates of a workload, with their field paths. Shared with the pod-security checks. */
export function podTemplates(obj: Manifest): { path: string; metadata?: Manifest; spec: Manifest }[] {
  const kind = obj.kind;
  const group = groupOf(String(obj.apiVersion ?? ''));
  const spec = obj.spec;
  if (!isObject(spec)) return [];
  const out: { path: string; metadata?: Manifest; spec: Manifest }[] = [];
  const tpl = (t: unknown, p: string) => {
    if (isObject(t) && isObject(t.spec)) out.push({ path: `${p}.spec`, metadata: isObject(t.metadata) ? t.metadata : undefined, spec: t.spec });
  };
  if (group === '' && kind === 'Pod') {out.push({ path: 'spec', metadata: obj.metadata, spec });} else if (group === '' && kind === 'PodTemplate') {tpl(obj.template, 'template');} else if ((group === 'apps' && ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(kind))
    || (group === '' && kind === 'ReplicationController') || (group === 'batch' && kind === 'Job')
    || (group === 'serving.knative.dev' && (kind === 'Service' || kind === 'Configuration'))) {tpl(spec.template, 'spec.template');} else if (group === 'batch' && kind === 'CronJob' && isObject(spec.jobTemplate) && isObject(spec.jobTemplate.spec)) {
    tpl(spec.jobTemplate.spec.template, 'spec.jobTemplate.spec.template');
  } else if (group === 'serving.knative.dev' && kind === 'Revision') {out.push({ path: 'spec', metadata: obj.metadata, spec });} else if (group === 'serving.kserve.io' && kind === 'InferenceService') {
    for (const c of ['predictor', 'transformer', 'explainer']) if (isObject(spec[c])) out.push({ path: `spec.${c}`, spec: spec[c] });
  }
  return out;
}

function checkWorkload(obj: Manifest): string[] {
  const errs: string[] = [];
  const group = groupOf(String(obj.apiVersion ?? ''));
  const spec = isObject(obj.spec) ? obj.spec : {};
  for (const t of podTemplates(obj)) {
    if (t.metadata && t.path !== 'spec') {
      const metaPath = t.path.replace(/\.spec$/, '.metadata');
      errs.push(...checkLabels(t.metadata.labels, `${metaPath}.labels`));
      errs.push(...checkAnnotations(t.metadata.annotations, `${metaPath}.annotations`));
    }
    const ps = t.spec;
    const containerNames = new Set<string>();
    const groups: [string, Manifest[]][] = [['containers', arr(ps.containers)], ['initContainers', arr(ps.initContainers)]];
    for (const [field, list] of groups) {
      list.forEach((c, i) => {
        const where = `${t.path}.${field}[${i}]`;
        if (typeof c.name === 'string') {
          errs.push(...checkDns1123Label(c.name).map((e) => `${where}.name "${c.name}" ${e}`));
          if (containerNames.has(c.name)) errs.push(`${where}.name: duplicate container name "${c.name}"`);
          containerNames.add(c.name);
        }
        const portNames = new Set<string>();
        arr(c.ports).forEach((p, j) => {
          if (typeof p.name !== 'string') return;
          const pw = `${where}.ports[${j}].name "${p.name}"`;
          if (p.name.length > 15 || !IANA_SVC_NAME.test(p.name) || !/[a-z]/.test(p.name) || p.name.includes('--')) {
            errs.push(`${pw} must be an IANA service name: ≤ 15 lowercase alphanumerics or '-', at least one letter, no '--'`);
          }
          if (portNames.has(p.name)) errs.push(`${pw}: duplicate port name`);
          portNames.add(p.name);
        });
      });
    }
    const volumeNames = new Set<string>();
    arr(ps.volumes).forEach((v, i) => {
      if (typeof v.name !== 'string') return;
      errs.push(...checkDns1123Label(v.name).map((e) => `${t.path}.volumes[${i}].name "${v.name}" ${e}`));
      if (volumeNames.has(v.name)) errs.push(`${t.path}.volumes[${i}].name: duplicate volume name "${v.name}"`);
      volumeNames.add(v.name);
    });
    for (const [field, list] of groups) {
      list.forEach((c, i) => arr(c.volumeMounts).forEach((m, j) => {
        if (typeof m.name === 'string' && !volumeNames.has(m.name)) {
          errs.push(`${t.path}.${field}[${i}].volumeMounts[${j}].name: volume "${m.name}" is not defined in ${t.path}.volumes`);
        }
      }));
    }
  }
  // apps/v1 workloads: the selector is required and must match the template labels.
  if (group === 'apps' && ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet'].includes(obj.kind)) {
    const sel = spec.selector;
    const labels = isObject(spec.template) && isObject(spec.template.metadata) && isObject(spec.template.metadata.labels)
      ? spec.template.metadata.labels : {};
    if (!isObject(sel)) {errs.push('spec.selector: required');} else {
      errs.push(...checkLabels(sel.matchLabels, 'spec.selector.matchLabels'));
      const matchLabels = isObject(sel.matchLabels) ? sel.matchLabels : {};
      if (Object.keys(matchLabels).length === 0 && arr(sel.matchExpressions).length === 0) errs.push('spec.selector: must not be empty');
      for (const [k, v] of Object.entries(matchLabels)) {
        if (labels[k] !== v) errs.push(`spec.selector.matchLabels["${k}"]: "${v}" does not match spec.template.metadata.labels (selector does not match template labels)`);
      }
    }
  }
  return errs;
}

function checkMetadata(obj: Manifest): string[] {
  const errs = checkName(obj);
  if (isObject(obj.metadata)) {
    errs.push(...checkLabels(obj.metadata.labels, 'metadata.labels'));
    errs.push(...checkAnnotations(obj.metadata.annotations, 'metadata.annotations'));
    if (typeof obj.metadata.namespace === 'string') {
      errs.push(...checkDns1123Label(obj.metadata.namespace).map((e) => `metadata.namespace "${obj.metadata.namespace}" ${e}`));
    }
  }
  return errs;
}

/** Describes one failed branch of an anyOf/oneOf in a few words. */
function branchText(e: ErrorObject): string {
  if (e.keyword === 'type') return String(e.params.type);
  if (e.keyword === 'pattern') {
    return e.params.pattern === QUANTITY_PATTERN ? 'a quantity string (like "500m" or "1Gi")' : `a string matching "${e.params.pattern}"`;
  }
  return String(e.message);
}

/** Formats ajv errors as `path: message`, folding the failed branches of an anyOf/oneOf into one line. */
function formatErrors(errors: ErrorObject[]): string[] {
  const folded = new Set<ErrorObject>();
  const out: string[] = [];
  for (const u of errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf')) {
    const children = errors.filter((e) => e !== u && e.instancePath === u.instancePath && e.schemaPath.startsWith(u.schemaPath + '/'));
    children.forEach((c) => folded.add(c));
    out.push(children.length > 0
      ? `${pointerToPath(u.instancePath)}: must be ${[...new Set(children.map(branchText))].join(' or ')}`
      : `${pointerToPath(u.instancePath)}: ${u.message}`);
  }
  for (const e of errors) {
    if (folded.has(e) || e.keyword === 'anyOf' || e.keyword === 'oneOf') continue;
    const p = pointerToPath(e.instancePath);
    switch (e.keyword) {
      case 'additionalProperties': out.push(`${p}: unknown field "${e.params.additionalProperty}"`); break;
      case 'enum': out.push(`${p}: ${e.message}: ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`); break;
      case 'required': out.push(`${p}: missing required field "${e.params.missingProperty}"`); break;
      default: out.push(`${p}: ${e.message}`);
    }
  }
  return [...new Set(out)];
}

/** Loads the vendored schemas on first use and compiles one validator per apiVersion/kind, cached. */
class SchemaRegistry {
  private readonly ajv: Ajv;
  private readonly core = new Map<string, string>();
  private readonly crds = new Map<string, CrdEntry>();
  private readonly loadedFiles = new Set<string>();
  private readonly crdTexts = new Map<string, string>();
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly formats = new Set<string>();
  /** Patterns dropped because JavaScript cannot compile them (RE2-only syntax). */
  public readonly skippedPatterns: string[] = [];

  constructor(public readonly kubernetesVersion: KubernetesVersion = KUBERNETES_VERSIONS.target) {
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true, unicodeRegExp: false, logger: false, code: { optimize: false } });
    addFormats(this.ajv, CHECKED_FORMATS as never);
    const raw = JSON.parse(fs.readFileSync(path.join(IMPORTS_DIR, definitionsFile(kubernetesVersion)), 'utf8')).definitions as Schema;
    const ctx = this.context(false);
    const defs: Schema = {};
    for (const [name, def] of Object.entries(raw)) {
      for (const gvk of arr(def['x-kubernetes-group-version-kind'])) {
        const key = gvkKey(gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version, gvk.kind);
        // A few shared types (DeleteOptions, WatchEvent) list every group; a kind's own definition wins.
        if (!this.core.has(key) || arr(def['x-kubernetes-group-version-kind']).length === 1) this.core.set(key, name);
      }
      defs[name] = transform(def, ctx);
    }
    defs['io.k8s.apimachinery.pkg.api.resource.Quantity'] = { anyOf: [{ type: 'string', pattern: QUANTITY_PATTERN }, { type: 'number' }] };
    // kubectl and some generators emit `creationTimestamp: null`; the API server ignores it.
    defs['io.k8s.apimachinery.pkg.apis.meta.v1.Time'] = { type: ['string', 'null'], format: 'date-time' };
    this.registerFormats();
    this.ajv.addSchema({ $id: K8S_SCHEMA_ID, definitions: defs });
  }

  /** Every apiVersion/kind this registry knows (loads every CRD file). */
  public knownKinds(): string[] {
    for (const f of CRD_FILES) this.loadFile(f);
    return [...this.core.keys(), ...[...this.crds.entries()].filter(([, e]) => e.served).map(([k]) => k)].sort();
  }

  /** The compiled validator for an apiVersion/kind, or an error message. */
  public validatorFor(apiVersion: string, kind: string): ValidateFunction | string {
    const key = gvkKey(apiVersion, kind);
    const cached = this.validators.get(key);
    if (cached) return cached;
    let schema: Schema;
    const coreDef = this.core.get(key);
    if (coreDef) {
      schema = { $ref: `${K8S_SCHEMA_ID}#/definitions/${coreDef}` };
    } else {
      const group = groupOf(apiVersion);
      if (group) for (const f of CRD_FILES) if (this.fileMentionsGroup(f, group)) this.loadFile(f);
      const crd = this.crds.get(key);
      if (!crd) return `unknown apiVersion/kind "${apiVersion}" "${kind}": no schema for it in imports/ (Kubernetes ${this.kubernetesVersion} definitions or the vendored CRDs)`;
      if (!crd.served) return `apiVersion "${apiVersion}" of kind "${kind}" is not served by the CRD in imports/${crd.file}`;
      schema = crd.schema;
    }
    try {
      const fn = this.ajv.compile(schema);
      this.validators.set(key, fn);
      return fn;
    } catch (e) {
      return `the schema for "${apiVersion}" "${kind}" failed to compile: ${(e as Error).message}`;
    }
  }

  private context(crd: boolean): TransformContext {
    return { crd, formats: this.formats, skippedPatterns: this.skippedPatterns };
  }

  private registerFormats() {
    for (const f of this.formats) {
      if (!CHECKED_FORMATS.includes(f) && !this.ajv.formats[f]) this.ajv.addFormat(f, true);
    }
  }

  private fileMentionsGroup(file: string, group: string): boolean {
    if (this.loadedFiles.has(file)) return false;
    let text = this.crdTexts.get(file);
    if (text === undefined) {
      text = fs.readFileSync(path.join(IMPORTS_DIR, file), 'utf8');
      this.crdTexts.set(file, text);
    }
    return text.includes(`group: ${group}\n`) || text.includes(`group: ${group}\r\n`);
  }

  private loadFile(file: string) {
    if (this.loadedFiles.has(file)) return;
    this.loadedFiles.add(file);
    const text = this.crdTexts.get(file) ?? fs.readFileSync(path.join(IMPORTS_DIR, file), 'utf8');
    this.crdTexts.delete(file);
    const ctx = this.context(true);
    for (const doc of YAML.parseAllDocuments(text)) {
      const crd = doc.toJS() as Manifest | null;
      if (!isObject(crd) || crd.kind !== 'CustomResourceDefinition') continue;
      const { group, names } = crd.spec;
      for (const v of arr(crd.spec.versions)) {
        const raw = v.schema?.openAPIV3Schema;
        if (!isObject(raw)) continue;
        const schema = transform(raw, ctx) as Schema;
        // The API server validates these for every custom resource, whatever the CRD says.
        schema.properties = {
          ...(schema.properties ?? {}),
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          metadata: { $ref: OBJECT_META_REF },
        };
        if (raw['x-kubernetes-preserve-unknown-fields'] === true) delete schema.additionalProperties;
        else schema.additionalProperties = false;
        this.crds.set(gvkKey(`${group}/${v.name}`, names.kind), { schema, served: v.served !== false, file });
      }
    }
    this.registerFormats();
  }
}

function gvkKey(apiVersion: string, kind: string): string {
  return `${apiVersion}|${kind}`;
}

const registries = new Map<KubernetesVersion, SchemaRegistry>();

/** The process-wide schema registry of one Kubernetes release (created on first use; validators are cached). */
export function schemaRegistry(version: KubernetesVersion = KUBERNETES_VERSIONS.target): SchemaRegistry {
  let registry = registries.get(version);
  if (!registry) {
    registry = new SchemaRegistry(version);
    registries.set(version, registry);
  }
  return registry;
}

/**
 * Validates one synthesized object against the schema for its apiVersion/kind and Kubernetes' metadata rules.
 *
 * @returns the errors (`field.path: message`), empty when the object is valid
 */
export function validateManifest(obj: unknown, version: KubernetesVersion = KUBERNETES_VERSIONS.target): string[] {
  // ---- real API server check: queued here, checked after the test file (test/cluster/jest-setup.ts) ----
  recordForApiServer([obj]);
  return offlineManifestErrors(obj, version);
}

/** `validateManifest` without queuing the object for the real API server check (which uses this). */
export function offlineManifestErrors(obj: unknown, version: KubernetesVersion = KUBERNETES_VERSIONS.target): string[] {
  if (!isObject(obj)) return ['object: must be a JSON object'];
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string' || !apiVersion) return ['apiVersion: required'];
  if (typeof kind !== 'string' || !kind) return ['kind: required'];
  const validator = schemaRegistry(version).validatorFor(apiVersion, kind);
  if (typeof validator === 'string') return [validator];
  const errs = validator(obj) ? [] : formatErrors(validator.errors ?? []);
  errs.push(...checkMetadata(obj));
  errs.push(...checkWorkload(obj));
  return errs;
}

/**
 * Validates many objects (for example the output of `Testing.synth(chart)`).
 *
 * @returns one `Kind/name: field.path: message` line per error, empty when every object is valid
 */
export function validateManifests(objs: readonly unknown[], version: KubernetesVersion = KUBERNETES_VERSIONS.target): string[] {
  return objs.flatMap((o) => validateManifest(o, version).map((e) => `${describe(o)}: ${e}`));
}
