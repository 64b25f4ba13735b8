/**
 * Seeds for the suite's randomized tests. Every fast-check property runs with a fixed seed, so a
 * run is reproducible; on failure fast-check prints `{ seed, path }` with the counterexample.
 *
 *   FC_SEED=<seed> npx jest <file> -t '<test name>'                  # run a property with another seed
 *   FC_SEED=<seed> FC_PATH=<path> npx jest <file> -t '<test name>'   # replay a printed failure
 *
 * `seeded()` wraps a test's own fast-check parameters; properties without it still get the
 * default seed from jest's setup (test/fast-check-setup.js).
 */
import type { Parameters } from 'fast-check';

/** The seed of properties that name none (test/fast-check-setup.js); FC_SEED replaces it. */
export const DEFAULT_SEED = 20261207;

/** `params` with FC_SEED (and FC_PATH) from the environment taking precedence over its seed. */
export function seeded<T = unknown>(params: Parameters<T> & { seed: number; numRuns: number }): Parameters<T> {
  const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : params.seed;
  if (!Number.isSafeInteger(seed)) throw new Error(`FC_SEED must be an integer, got '${process.env.FC_SEED}'`);
  return { ...params, seed, ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}) };
}
