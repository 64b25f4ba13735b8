/**
 * The spec type model -> the `openAPIV3Schema` of each custom resource's `spec` (structural, as
 * the API server requires): types, enums, descriptions, literal defaults, and CEL rules
 * (`x-kubernetes-validations`) where one fits.
 */
import { CodecName, SpecModel, SpecProp, SpecRoot, SpecStruct, SpecType } from '../../src/render/controller/spec-model';

export type Schema = { [key: string]: unknown };

/** A CEL rule on a struct, kept only while every prop it names exists (a renamed prop fails the generation). */
interface StructRule {
  readonly props: string[];
  readonly rule: string;
  readonly message: string;
}

const ASSEMBLY = 'cdk8s-model-serving';

/**
 * Rules for particular props types, in the constructs' own words. Pairs of replica bounds are
 * found generically (`minReplicas`/`maxReplicas`, `replicas`/`maxReplicas`).
 */
const STRUCT_RULES: { [fqn: string]: StructRule[] } = {
  [`${ASSEMBLY}.CanaryRolloutProps`]: [
    { props: ['trafficPercent', 'canary'], rule: '!has(self.trafficPercent) || has(self.canary)', message: "'trafficPercent' is set, but there is no 'canary' to send it to; set 'canary', or leave 'trafficPercent' unset" },
    { props: ['trafficPercent'], rule: '!has(self.trafficPercent) || (self.trafficPercent >= 0 && self.trafficPercent <= 100)', message: "'trafficPercent' must be an integer between 0 and 100" },
    { props: ['shadow', 'canary'], rule: '!has(self.shadow) || !self.shadow || has(self.canary)', message: "'shadow' needs a 'canary' to mirror traffic to" },
    { props: ['stable', 'canary'], rule: '!has(self.canary) || self.canary.version != self.stable.version', message: "'canary' and 'stable' have the same 'version': a canary must be a new version" },
  ],
  [`${ASSEMBLY}.TransformerOptions`]: [
    { props: ['module', 'container'], rule: 'has(self.module) != has(self.container)', message: "set exactly one of 'module' (our model server runs it) and 'container' (your own transformer image)" },
    { props: ['inProcess', 'container'], rule: '!has(self.inProcess) || !self.inProcess || !has(self.container)', message: "'inProcess' runs 'module' in our model server; it cannot be combined with 'container'" },
  ],
  [`${ASSEMBLY}.ExplainerOptions`]: [
    { props: ['inProcess', 'container'], rule: '!has(self.inProcess) || !self.inProcess || !has(self.container)', message: "'inProcess' runs our explainer in the predictor; it cannot be combined with 'container'" },
  ],
};

/**
 * Arrays and maps whose entries carry CEL rules are bounded: the API server refuses a CRD whose
 * rules' estimated cost (entries times rule cost) exceeds its budget, and an unbounded map is
 * estimated from the largest request (env maps were 2.9 times over).
 */
const MAX_RULED_ENTRIES = 256;

const hasRules = (schema: Schema): boolean => JSON.stringify(schema).includes('"x-kubernetes-validations"');

const REPLICA_PAIRS: Array<[string, string]> = [['minReplicas', 'maxReplicas'], ['replicas', 'maxReplicas']];

/** Quantities as the API server takes them: an integer or a string. */
const intOrString = (pattern: string, description: string): Schema => ({
  'anyOf': [{ type: 'integer' }, { type: 'string' }],
  'x-kubernetes-int-or-string': true,
  pattern,
  description,
});
const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const keyRef = (what: string): Schema => ({
  type: 'object',
  required: ['name', 'key'],
  properties: {
    name: { type: 'string', description: `The ${what}'s name.`, pattern: NAME_PATTERN, maxLength: 253 },
    key: { type: 'string', description: `The key in the ${what}.` },
  },
});

/** The JSON form of the types with a fixed one (decoded by src/controller/spec/codecs.ts). */
export const CODEC_SCHEMAS: { [codec in CodecName]: Schema } = {
  duration: { type: 'string', pattern: '^([0-9]+(ms|s|m|h|d))+$', description: 'A duration such as 30s, 5m, 1h30m or 500ms.' },
  size: intOrString('^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$', 'A quantity of bytes such as 512Mi or 2Gi.'),
  cpu: intOrString('^([0-9]+(\\.[0-9]+)?|[0-9]+m)$', 'A CPU quantity such as 500m or 2.'),
  envValue: {
    'type': 'object',
    'description': 'The value: exactly one of value, secretKeyRef, configMapKeyRef and fieldPath.',
    'properties': {
      value: { type: 'string', description: 'A literal value.' },
      secretKeyRef: { ...keyRef('Secret'), description: 'A key of a Secret in the namespace.' },
      configMapKeyRef: { ...keyRef('ConfigMap'), description: 'A key of a ConfigMap in the namespace.' },
      fieldPath: { type: 'string', description: 'A field of the pod (downward API), such as metadata.name.' },
    },
    'x-kubernetes-validations': [{
      rule: '[has(self.value), has(self.secretKeyRef), has(self.configMapKeyRef), has(self.fieldPath)].exists_one(x, x)',
      message: 'set exactly one of value, secretKeyRef, configMapKeyRef and fieldPath',
    }],
  },
  storageUri: { type: 'string', pattern: '^[a-z0-9]+://[^/]+(/.*)?$', description: 'A storage URI: s3://bucket/path, gs://bucket/path, https://host/path, http://host/path or pvc://claim/path.' },
  modelFormat: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]*(:[A-Za-z0-9._-]+)?$', description: 'A model format such as onnx or sklearn, with an optional version after a colon (sklearn:1.3).' },
  modelCopies: intOrString('^all$', 'How many members hold the model: a positive integer, or all.'),
  serviceAccountName: { type: 'string', pattern: NAME_PATTERN, maxLength: 253, description: 'The name of a ServiceAccount in the namespace.' },
  secretName: { type: 'string', pattern: NAME_PATTERN, maxLength: 253, description: 'The name of a Secret in the namespace.' },
  configMapName: { type: 'string', pattern: NAME_PATTERN, maxLength: 253, description: 'The name of a ConfigMap in the namespace.' },
};

/** The `spec` schema of one custom resource. */
export function specSchema(model: SpecModel, root: SpecRoot): Schema {
  const props: SpecProp[] = [
    ...model.structs[root.props].props,
    ...root.methods.map(m => ({ name: m.field, type: { struct: m.type }, optional: true, description: m.description })),
  ];
  return { ...structSchema(model, { fqn: root.props, props }), description: root.description };
}

function structSchema(model: SpecModel, struct: SpecStruct): Schema {
  const properties: { [name: string]: Schema } = {};
  for (const p of struct.props) properties[p.name] = propSchema(model, p);
  const required = struct.props.filter(p => !p.optional).map(p => p.name);
  const rules = rulesOf(struct);
  return {
    type: 'object',
    ...(required.length > 0 ? { required } : {}),
    properties,
    ...(rules.length > 0 ? { 'x-kubernetes-validations': rules } : {}),
  };
}

function rulesOf(struct: SpecStruct): Schema[] {
  const names = new Set(struct.props.map(p => p.name));
  const rules: Schema[] = [];
  for (const [low, high] of REPLICA_PAIRS) {
    if (names.has(low) && names.has(high)) {
      rules.push({ rule: `!has(self.${low}) || !has(self.${high}) || self.${low} <= self.${high}`, message: `'${high}' must not be below '${low}'`, fieldPath: `.${high}` });
    }
  }
  for (const r of STRUCT_RULES[struct.fqn] ?? []) {
    const missing = r.props.filter(p => !names.has(p));
    if (missing.length > 0) throw new Error(`the CEL rule '${r.rule}' of ${struct.fqn} names ${missing.join(', ')}, which the props no longer have; update scripts/crd/schema.ts`);
    rules.push({ rule: r.rule, message: r.message, fieldPath: `.${r.props[0]}` });
  }
  return rules;
}

function propSchema(model: SpecModel, p: SpecProp): Schema {
  const schema = typeSchema(model, p.type);
  const description = [p.description, schema.description].filter(Boolean).join('\n\n');
  return {
    ...schema,
    ...(description ? { description } : {}),
    ...(p.default !== undefined ? { default: p.default } : {}),
  };
}

export function typeSchema(model: SpecModel, type: SpecType): Schema {
  if ('primitive' in type) return { type: type.primitive };
  if ('array' in type) {
    const items = typeSchema(model, type.array);
    return { type: 'array', items, ...(hasRules(items) ? { maxItems: MAX_RULED_ENTRIES } : {}) };
  }
  if ('map' in type) {
    const values = typeSchema(model, type.map);
    return { type: 'object', additionalProperties: values, ...(hasRules(values) ? { maxProperties: MAX_RULED_ENTRIES } : {}) };
  }
  if ('codec' in type) return { ...CODEC_SCHEMAS[type.codec] };
  if ('enum' in type) {
    const e = model.enums[type.enum];
    const members = e.members.map(m => `${m.value}: ${m.description}`).join('\n');
    return { type: 'string', enum: e.members.map(m => m.value), description: [e.description, members].filter(Boolean).join('\n\n') };
  }
  if ('struct' in type) {
    const s = model.structs[type.struct];
    if (!s) throw new Error(`struct ${type.struct} is not in the model`);
    return structSchema(model, s);
  }
  const u = model.unions[type.union];
  const properties: { [key: string]: Schema } = {};
  for (const f of u.factories) {
    const body = structSchema(model, { fqn: `${u.fqn}.${f.method}`, props: f.params });
    properties[f.key] = { ...body, description: f.description };
  }
  const keys = u.factories.map(f => f.key);
  return {
    'type': 'object',
    'description': `${u.description}\n\nSet exactly one of: ${keys.join(', ')}.`,
    properties,
    'x-kubernetes-validations': [{
      rule: `[${keys.map(k => `has(self.${k})`).join(', ')}].exists_one(x, x)`,
      message: `set exactly one of ${keys.join(', ')}`,
    }],
  };
}
