// Retries: exponential backoff with jitter (seeded here, and the seed printed), Retry-After
// honoured for 429 and 503, and which failures are retried at all, against a real loopback server.
import * as fc from 'fast-check';
import { fetchModel } from '../../../src/server/storage';
import { Deadline } from '../../../src/server/storage/limits';
import { backoffMs, parseRetryAfter } from '../../../src/server/storage/retry';
import { LoopbackServer, startServer, tempDir } from '../attacks/storage-helpers';

const SEED = 20261207;
const MODEL = Buffer.from('model');

/** mulberry32: a seeded jitter source, so a failure replays. */
function seeded(seed: number): () => number {
  let a = seed >>> 0; // eslint-disable-line no-bitwise
  return () => {
    /* eslint-disable no-bitwise */
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    /* eslint-enable no-bitwise */
  };
}

let server: LoopbackServer;

beforeAll(async () => {
  server = await startServer((req, res) => {
    const n = server.hits[req.url ?? ''];
    const ok = () => {
      res.writeHead(200, { 'content-length': MODEL.length });
      res.end(MODEL);
    };
    switch (req.url) {
      case '/429-retry-after/model.onnx':
        if (n === 1) {
          res.writeHead(429, { 'retry-after': '1' });
          return res.end('slow down');
        }
        return ok();
      case '/503-date/model.onnx':
        if (n === 1) {
          res.writeHead(503, { 'retry-after': new Date(Date.now() + 2000).toUTCString() });
          return res.end('maintenance');
        }
        return ok();
      case '/503-forever/model.onnx':
        res.writeHead(503, { 'retry-after': '3600' });
        return res.end('come back in an hour');
      case '/400/model.onnx':
        res.writeHead(400);
        return res.end('bad');
      case '/reset/model.onnx':
        if (n <= 2) return req.socket.destroy();
        return ok();
      default:
        res.writeHead(404);
        return res.end();
    }
  });
});

afterAll(() => server.close());

test(`backoff doubles per attempt up to its ceiling, with jitter in its upper half (fast-check seed ${SEED})`, () => {
  const jitter = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
  fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 60_000 }), jitter,
    (attempt, baseMs, maxMs, r) => {
      const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
      const d = backoffMs(attempt, { baseMs, maxMs, random: () => r });
      return d >= ceiling / 2 && d < ceiling + 1e-9;
    }), { seed: SEED, verbose: true });
});

test('the jitter source decides the delays: the same seed gives the same schedule', () => {
  const schedule = (seed: number) => [1, 2, 3, 4].map((a) => backoffMs(a, { baseMs: 250, maxMs: 10_000, random: seeded(seed) }));
  expect(schedule(SEED)).toEqual(schedule(SEED));
  expect(schedule(SEED)).not.toEqual(schedule(SEED + 1));
});

test('Retry-After: delta-seconds and HTTP-dates', () => {
  const now = Date.parse('2026-12-07T00:00:00Z');
  expect(parseRetryAfter('3', now)).toBe(3000);
  expect(parseRetryAfter('Mon, 07 Dec 2026 00:00:10 GMT', now)).toBe(10_000);
  expect(parseRetryAfter('Sun, 06 Dec 2026 23:00:00 GMT', now)).toBe(0);
  expect(parseRetryAfter('soon', now)).toBeUndefined();
  expect(parseRetryAfter(undefined, now)).toBeUndefined();
});

test('429 with Retry-After is retried after the time the server asked for', async () => {
  const log: string[] = [];
  await fetchModel(`${server.base}/429-retry-after/model.onnx`, tempDir('429'), { random: seeded(SEED), log: (m) => log.push(m) });
  expect(server.hits['/429-retry-after/model.onnx']).toBe(2);
  expect(log.join('\n')).toMatch(/HTTP 429.*attempt 2\/5 in 1000 ms \(Retry-After\)/);
});

test('503 with an HTTP-date Retry-After is retried too', async () => {
  const log: string[] = [];
  await fetchModel(`${server.base}/503-date/model.onnx`, tempDir('503'), { random: seeded(SEED), log: (m) => log.push(m) });
  expect(server.hits['/503-date/model.onnx']).toBe(2);
  expect(log.join('\n')).toMatch(/HTTP 503.*attempt 2\/5 in \d+ ms \(Retry-After\)/);
});

test('a Retry-After beyond five minutes is reported instead of waited for', async () => {
  const err = await fetchModel(`${server.base}/503-forever/model.onnx`, tempDir('503-forever'), { random: seeded(SEED) }).catch((e) => e);
  expect(err).toMatchObject({ code: 'HTTP', status: 503 });
  expect(err.message).toMatch(/the server asked to retry after 3600 s; not waiting that long/);
  expect(server.hits['/503-forever/model.onnx']).toBe(1);
});

test('connection resets are retried with backoff; a 400 is not retried', async () => {
  const log: string[] = [];
  await fetchModel(`${server.base}/reset/model.onnx`, tempDir('reset'), { retryBaseMs: 5, random: seeded(SEED), log: (m) => log.push(m) });
  expect(server.hits['/reset/model.onnx']).toBe(3);
  expect(log.filter((m) => /ECONNRESET|socket hang up/.test(m))).toHaveLength(2);
  const bad = await fetchModel(`${server.base}/400/model.onnx`, tempDir('400'), { retryBaseMs: 5 }).catch((e) => e);
  expect(bad).toMatchObject({ code: 'HTTP', status: 400 });
  expect(server.hits['/400/model.onnx']).toBe(1);
});

test('a deadline is never negative and runs from its start', () => {
  const d = new Deadline(1000, Date.now() - 5000);
  expect(d.remainingMs()).toBe(0);
  expect(d.error('GET x').message).toMatch(/GET x: the fetch did not finish within its deadline of 1000 ms; raise --storage-deadline-ms \(STORAGE_DEADLINE_MS\)/);
});
