// The suite's randomized tests are seeded: properties without a seed of their own get the
// default one from jest's setup, `seeded()` lets FC_SEED replace a test's seed, and a seed fixes
// the values a property sees.
import fc from 'fast-check';
import { DEFAULT_SEED, seeded } from './seeded';

const withEnv = <T>(env: Record<string, string | undefined>, fn: () => T): T => {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
};

test('properties without a seed of their own run with the default seed (or FC_SEED)', () => {
  const want = process.env.FC_SEED ? Number(process.env.FC_SEED) : DEFAULT_SEED;
  expect(fc.readConfigureGlobal().seed).toBe(want);
});

test('the same seed gives the same values, another seed other values', () => {
  const sample = (seed: number) => fc.sample(fc.array(fc.integer(), { minLength: 5, maxLength: 5 }), { seed, numRuns: 3 });
  expect(sample(1)).toEqual(sample(1));
  expect(sample(1)).not.toEqual(sample(2));
});

test("seeded() keeps a test's seed, and FC_SEED / FC_PATH replace it to explore or replay", () => {
  withEnv({ FC_SEED: undefined, FC_PATH: undefined }, () => expect(seeded({ numRuns: 10, seed: 7 })).toEqual({ numRuns: 10, seed: 7 }));
  withEnv({ FC_SEED: '99', FC_PATH: '3:1' }, () => expect(seeded({ numRuns: 10, seed: 7 })).toEqual({ numRuns: 10, seed: 99, path: '3:1' }));
  withEnv({ FC_SEED: 'abc' }, () => expect(() => seeded({ numRuns: 10, seed: 7 })).toThrow("FC_SEED must be an integer, got 'abc'"));
});

test('a failing property reports its seed and path, so the failure can be replayed', () => {
  const failing = () => fc.assert(fc.property(fc.integer({ min: 0, max: 100 }), (n) => n < 50), seeded({ numRuns: 100, seed: 5 }));
  expect(failing).toThrow(/seed: 5, path: "[\d:]+"/);
});
