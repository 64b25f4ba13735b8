/**
 * Seeded property tests (test/seeded.ts) of the spec decoding: whatever JSON a custom resource
 * carries, rendering returns objects or throws a SpecError naming a field of the resource, never
 * another error (the controller and the webhook rely on it); durations and quantities decode to
 * the values they spell.
 */
import fc from 'fast-check';
import { durationString } from '../../../scripts/crd/read-assembly';
import { renderCustomResource, SpecError } from '../../../src/controller/spec';
import { decodeCpu, decodeDuration, decodeSize } from '../../../src/controller/spec/codecs';
import { SPEC_MODEL } from '../../../src/render/controller/spec-model.generated';
import { seeded } from '../../seeded';

const API_VERSION = 'serving.cdk8s-model-serving.io/v1alpha1';
const VALID: { [kind: string]: { [k: string]: unknown } } = {
  ModelEndpoint: { modelName: 'iris', storageUri: 's3://models/iris', transformer: { module: { code: { code: 'exports.preprocess = (x) => x;' } } } },
  CanaryRollout: { modelName: 'iris', stable: { version: 'v1', storageUri: 's3://m/v1' }, canary: { version: 'v2', storageUri: 's3://m/v2' } },
  ModelMesh: { memoryPerServer: '1Gi', models: [{ name: 'iris', storageUri: 's3://m/iris', memoryEstimate: '64Mi' }] },
};

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
