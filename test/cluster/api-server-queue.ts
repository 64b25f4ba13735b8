/**
 * The objects this test file asked the offline validator about, or synthesized, queued for the real API
 * server check that runs after the file's tests (test/cluster/jest-setup.ts). A module of its own, without
 * imports, so the offline validator can feed it without an import cycle. Jest gives each test file its own
 * module registry, so the queue is per file.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = { [key: string]: any };

const queued = new Map<string, Obj>();

/** Queues objects (plain JSON); the same object twice is checked once. Non-objects are ignored. */
export function recordForApiServer(objs: readonly unknown[]): void {
  for (const obj of objs) {
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) continue;
    const key = JSON.stringify(obj);
    if (key !== undefined && !queued.has(key)) queued.set(key, JSON.parse(key));
  }
}

/** The queued objects, in the order first seen; empties the queue. */
export function takeRecorded(): Obj[] {
  const objs = [...queued.values()];
  queued.clear();
  return objs;
}
