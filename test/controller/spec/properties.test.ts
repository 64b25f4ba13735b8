/**
 * Seeded property tests (test/seeded.ts) of the spec decoding: whatever JSON a custom resource
 * carries, rendering returns objects or throws a SpecError naming a field of the resource, never
 * another error (the controller and the webhook rely on it); durations and quantities decode to
 * the values they spell.
 */
import fc from 'fast-check';
import { durationString } from '../../../scripts/crd/read-assembly';
import { renderCustomResource, SpecError, validateCustomResource } from '../../../src/controller/spec';
import { decodeCpu, decodeDuration, decodeSize } from '../../../src/controller/spec/codecs';
import { SpecProp, SpecType } from '../../../src/render/controller/spec-model';
import { SPEC_MODEL } from '../../../src/render/controller/spec-model.generated';
import { seeded } from '../../seeded';

const API_VERSION = 'serving.cdk8s-model-serving.io/v1alpha1';
const VALID: { [kind: string]: { [k: string]: unknown } } = {
  ModelEndpoint: { modelName: 'iris', storageUri: 's3://models/iris', transformer: { module: { code: { code: 'exports.preprocess = (x) => x;' } } } },
  CanaryRollout: { modelName: 'iris', stable: { version: 'v1', storageUri: 's3://m/v1' }, canary: { version: 'v2', storageUri: 's3://m/v2' } },
  ModelMesh: { memoryPerServer: '1Gi', models: [{ name: 'iris', storageUri: 's3://m/iris', memoryEstimate: '64Mi' }] },
};

/**
 * Values of the right JSON type for a spec type, including ones the constructs refuse (negative
 * replicas, tiny sizes, odd names): these reach the constructs' own checks instead of the decoder's.
 */
function typed(type: SpecType, depth = 0): fc.Arbitrary<unknown> {
  if ('primitive' in type) {
    if (type.primitive === 'integer') return fc.integer({ min: -2, max: 120 });
    if (type.primitive === 'number') return fc.double({ min: -1, max: 3, noNaN: true });
    if (type.primitive === 'boolean') return fc.boolean();
    return fc.constantFrom('iris', 'Iris', '', 'a-b', 'x'.repeat(70), 'models/iris', 'ns1');
  }
  if ('array' in type) return depth > 2 ? fc.constant([]) : fc.array(typed(type.array, depth + 1), { maxLength: 2 });
  if ('map' in type) {
    return depth > 2 ? fc.constant({}) : fc.dictionary(fc.constantFrom('A', 'b', 'MODE', 'x-y'), typed(type.map, depth + 1), { maxKeys: 2 });
  }
  if ('enum' in type) return fc.constantFrom(...SPEC_MODEL.enums[type.enum].members.map(m => m.value));
  if ('codec' in type) {
    const codecs: { [c: string]: fc.Arbitrary<unknown> } = {
      duration: fc.constantFrom('1s', '30s', '500ms', '5m', '1h30m', '0s'),
      size: fc.constantFrom('1Ki', '64Mi', '1Gi', '16Mi', 1024),
      cpu: fc.constantFrom('100m', '1', '2', '0'),
      envValue: fc.constantFrom({ value: 'v' }, { secretKeyRef: { name: 's', key: 'k' } }, { fieldPath: 'metadata.name' }),
      storageUri: fc.constantFrom('s3://m/iris', 'pvc://claim/iris', 'https://example.com/m.onnx', 'gs://b/p'),
      modelFormat: fc.constantFrom('onnx', 'sklearn', 'custom:1'),
      modelCopies: fc.constantFrom('all', 1, 2, 5),
    };
    return codecs[type.codec] ?? fc.constantFrom('name-a', 'name-b');
  }
  if (depth > 2) return fc.constant({});
  if ('struct' in type) {
    const props = SPEC_MODEL.structs[type.struct].props;
    return objectOf(props, depth);
  }
  const factories = SPEC_MODEL.unions[type.union].factories;
  return fc.constantFrom(...factories).chain(f => objectOf(f.params, depth).map(body => ({ [f.key]: body })));
}

function objectOf(props: SpecProp[], depth: number): fc.Arbitrary<unknown> {
  const fields = Object.fromEntries(props.map(p => [p.name, typed(p.type, depth + 1)]));
  return fc.record(fields, { requiredKeys: props.filter(p => !p.optional).map(p => p.name) });
}

/** A top-level field of some kind (a prop, or an add* field) and a value of its type. */
const typedMutation = fc.constantFrom(...SPEC_MODEL.roots).chain(root => {
  const fields: SpecProp[] = [
    ...SPEC_MODEL.structs[root.props].props,
    ...root.methods.map(m => ({ name: m.field, type: { struct: m.type }, optional: true, description: '' })),
  ];
  return fc.constantFrom(...fields).chain(p => typed(p.type).map(value => ({ kind: root.kind, field: p.name, value })));
});

/** Top-level fields of each kind (props plus add* fields), to set to random values. */
const FIELDS = Object.fromEntries(SPEC_MODEL.roots.map(r => [
  r.kind,
  [...SPEC_MODEL.structs[r.props].props.map(p => p.name), ...r.methods.map(m => m.field)],
]));

test('any JSON in any top-level spec field renders, or throws a SpecError naming a field under spec', () => {
  const kind = fc.constantFrom(...Object.keys(VALID));
  const mutation = kind.chain(k => fc.record({
    kind: fc.constant(k),
    field: fc.constantFrom(...FIELDS[k]),
    value: fc.jsonValue({ maxDepth: 3 }),
  }));
  fc.assert(fc.property(mutation, ({ kind: k, field, value }) => {
    const resource = { apiVersion: API_VERSION, kind: k, metadata: { name: 'prop', namespace: 'models' }, spec: { ...VALID[k], [field]: value } };
    try {
      const objects = renderCustomResource(resource);
      return objects.length > 0 && objects.every(o => o.metadata.namespace !== undefined);
    } catch (e) {
      if (!(e instanceof SpecError)) throw new Error(`not a SpecError for spec.${field} = ${JSON.stringify(value)}: ${(e as Error).stack}`);
      return e.field.startsWith('spec') && e.message.startsWith(`${e.field}: `);
    }
  }), seeded({ numRuns: 300, seed: 1407 }));
});

test('any JSON as a whole spec renders or throws a SpecError', () => {
  fc.assert(fc.property(fc.constantFrom(...Object.keys(VALID)), fc.jsonValue({ maxDepth: 3 }), (k, spec) => {
    try {
      renderCustomResource({ apiVersion: API_VERSION, kind: k, metadata: { name: 'prop', namespace: 'models' }, spec });
      return true;
    } catch (e) {
      return e instanceof SpecError && e.field.startsWith('spec');
    }
  }), seeded({ numRuns: 200, seed: 1408 }));
});

test('durations decode to the milliseconds they spell, in the largest whole unit the generator writes', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 10 ** 10 }), (ms) => decodeDuration(durationString(ms), 'd').toMilliseconds() === ms),
    seeded({ numRuns: 500, seed: 1409 }));
  expect(decodeDuration('1h30m', 'd').toMinutes()).toBe(90);
});

test('byte quantities and CPU quantities decode to their value', () => {
  const units: Array<[string, number]> = [['', 1024], ['Ki', 1024], ['Mi', 2 ** 20], ['Gi', 2 ** 30], ['k', 1024 * 1000], ['M', 1e6 * 1024]];
  fc.assert(fc.property(fc.integer({ min: 1, max: 4096 }), fc.constantFrom(...units), (n, [unit, factor]) => {
    // Whole KiB only (Size counts KiB): scale plain and decimal units to multiples of 1024 bytes.
    const amount = unit === '' || unit === 'k' || unit === 'M' ? n * 1024 : n;
    const bytes = unit === '' ? amount : unit === 'k' ? amount * 1000 : unit === 'M' ? amount * 1e6 : amount * factor;
    return decodeSize(`${amount}${unit}`, 's').toKibibytes() * 1024 === bytes;
  }), seeded({ numRuns: 300, seed: 1410 }));
  fc.assert(fc.property(fc.integer({ min: 1, max: 64_000 }), (m) => decodeCpu(`${m}m`, 'c').amount === `${m}m`), seeded({ numRuns: 200, seed: 1411 }));
});

test('values of the right JSON type in any field render, or throw a SpecError (never a TypeError from the constructs)', () => {
  fc.assert(fc.property(typedMutation, ({ kind: k, field, value }) => {
    const resource = { apiVersion: API_VERSION, kind: k, metadata: { name: 'prop', namespace: 'models' }, spec: { ...VALID[k], [field]: value } };
    try {
      renderCustomResource(resource);
      return true;
    } catch (e) {
      if (!(e instanceof SpecError)) throw new Error(`not a SpecError for spec.${field} = ${JSON.stringify(value)}: ${(e as Error).stack}`);
      return e.field.startsWith('spec') || e.field.startsWith('metadata');
    }
  }), seeded({ numRuns: 600, seed: 1413 }));
});

test('the admission check (no serialization) refuses exactly what rendering refuses, with the same message', () => {
  // Values of the right JSON type reach the constructs' own checks (and their lazy parts).
  let rendered = 0;
  const outcome = (f: () => unknown) => {
    try {
      f();
      return 'ok';
    } catch (e) {
      return (e as Error).message;
    }
  };
  fc.assert(fc.property(typedMutation, ({ kind: k, field, value }) => {
    const resource = { apiVersion: API_VERSION, kind: k, metadata: { name: 'prop', namespace: 'models' }, spec: { ...VALID[k], [field]: value } };
    const result = outcome(() => renderCustomResource(resource));
    if (result === 'ok') rendered++;
    return outcome(() => validateCustomResource(resource)) === result;
  }), seeded({ numRuns: 400, seed: 1412 }));
  // Both outcomes were exercised.
  expect(rendered).toBeGreaterThan(40);
  expect(rendered).toBeLessThan(400);
});
