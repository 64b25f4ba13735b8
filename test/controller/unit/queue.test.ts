/**
 * The work queue (src/controller/queue.ts), in process: dedup, one worker per key, re-queue of a
 * key that changed during its reconcile, backoff with jitter (seeded random source), shutdown.
 */
import * as fc from 'fast-check';
import { WorkQueue } from '../../../src/controller/queue';
import { seeded } from '../../seeded';

const queue = (random = () => 0.5) => new WorkQueue({ baseDelayMs: 100, maxDelayMs: 10_000, random });

afterEach(() => jest.useRealTimers());

describe('WorkQueue', () => {
  test('a key added several times before it is taken is handed out once', async () => {
    const q = queue();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('a');
    expect(q.depth).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.depth).toBe(0);
  });

  test('a key being reconciled is not handed to a second worker; an event meanwhile queues it once more after done', async () => {
    const q = queue();
    q.add('a');
    const first = await q.get();
    q.add('a');
    q.add('a');
    const second = q.get();
    let handed = false;
    void second.then(() => { handed = true; });
    await Promise.resolve();
    expect(handed).toBe(false);
    q.done(first!);
    expect(await second).toBe('a');
  });

  test('a waiting worker gets a key as soon as it is added', async () => {
    const q = queue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
  });

  test('retry delays double from the base up to the cap, with jitter between 0.5x and 1.5x, until forget', () => {
    const low = queue(() => 0);
    expect([1, 2, 3, 4].map(() => low.nextDelay('k'))).toEqual([50, 100, 200, 400]);
    const high = queue(() => 0.999999);
    const delays = Array.from({ length: 12 }, () => high.nextDelay('k'));
    expect(delays.slice(0, 3)).toEqual([150, 300, 600]);
    expect(delays[11]).toBe(10_000); // the cap holds after jitter too
    expect(high.retries('k')).toBe(12);
    high.forget('k');
    expect(high.retries('k')).toBe(0);
    expect(high.nextDelay('k')).toBe(150);
  });

  test('every delay stays within [0.5, 1.5) of the capped exponential and never above the cap (seeded property)', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 0.999999, noNaN: true }), { minLength: 1, maxLength: 40 }), (randoms) => {
      let i = 0;
      const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 5000, random: () => randoms[i] });
      for (i = 0; i < randoms.length; i++) {
        const d = q.nextDelay('k');
        const exp = Math.min(5000, 10 * 2 ** i);
        expect(d).toBeGreaterThanOrEqual(Math.floor(exp * 0.5));
        expect(d).toBeLessThanOrEqual(Math.min(5000, Math.ceil(exp * 1.5)));
      }
    }), seeded({ seed: 1414, numRuns: 200 }));
  });

  test('a rate-limited key comes back after its delay; an event before then runs it at once, and only once', async () => {
    jest.useFakeTimers();
    const q = queue(() => 0.5);
    expect(q.addRateLimited('k')).toBe(100);
    expect(q.depth).toBe(1);
    q.add('k'); // an event beats the pending retry
    expect(await q.get()).toBe('k');
    q.done('k');
    jest.advanceTimersByTime(1000);
    expect(q.depth).toBe(0);

    q.addRateLimited('j');
    const next = q.get();
    jest.advanceTimersByTime(100); // the first failure of 'j' waits 100 ms
    expect(await next).toBe('j');
  });

  test('shutdown releases waiting workers with undefined and drops pending retries', async () => {
    jest.useFakeTimers();
    const q = queue();
    const waiting = q.get();
    q.addRateLimited('k');
    q.shutDown();
    expect(await waiting).toBeUndefined();
    expect(q.depth).toBe(0);
    q.add('z');
    expect(await q.get()).toBeUndefined();
  });

  test('the depth callback follows adds, takes and retries', async () => {
    const depths: number[] = [];
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 100, random: () => 0.5, onDepthChange: (d) => depths.push(d) });
    q.add('a');
    q.add('b');
    await q.get();
    q.addRateLimited('c');
    q.shutDown();
    expect(depths).toEqual([1, 2, 1, 2, 0]);
  });
});
