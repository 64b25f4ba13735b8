/**
 * The hot-path request metrics (src/server/hot-metrics.ts) must expose exactly what prom-client's
 * own Counter, Gauge and Histogram expose for the same recordings: the exposition text is
 * compared line for line, for random recordings.
 */
import fc from 'fast-check';
import * as client from 'prom-client';
import { LATENCY_BUCKETS_SECONDS } from '../../src/contract';
import { HotCounter, HotGauge, HotHistogram } from '../../src/server/hot-metrics';
import { seeded } from '../seeded';

const LABELS = fc.record({ model: fc.constantFrom('iris', 'mlp', 'a"b\\c\nd'), protocol: fc.constantFrom('v1', 'v2', 'grpc') });

test('property: counter, gauge and histogram text is the same as prom-client\'s', async () => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ labels: LABELS, code: fc.constantFrom('200', '404', '0'), seconds: fc.double({ min: 0, max: 60, noNaN: true }), delta: fc.integer({ min: -3, max: 3 }) }), { maxLength: 60 }),
    async (events) => {
      const ours = new client.Registry();
      const theirs = new client.Registry();
      const counter = new HotCounter('requests_total', 'Requests.', ours);
      const gauge = new HotGauge('in_flight', 'In flight.', ours);
      const histogram = new HotHistogram('duration_seconds', 'Duration.', LATENCY_BUCKETS_SECONDS, ours);
      const pCounter = new client.Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['model', 'protocol', 'code'], registers: [theirs] });
      const pGauge = new client.Gauge({ name: 'in_flight', help: 'In flight.', labelNames: ['protocol'], registers: [theirs] });
      const pHistogram = new client.Histogram({ name: 'duration_seconds', help: 'Duration.', labelNames: ['model', 'protocol'], buckets: LATENCY_BUCKETS_SECONDS, registers: [theirs] });
      for (const e of events) {
        counter.child({ ...e.labels, code: e.code }).value++;
        pCounter.inc({ ...e.labels, code: e.code });
        gauge.child({ protocol: e.labels.protocol }).value += e.delta;
        pGauge.inc({ protocol: e.labels.protocol }, e.delta);
        histogram.child(e.labels).observe(e.seconds);
        pHistogram.observe(e.labels, e.seconds);
      }
      expect(await ours.metrics()).toBe(await theirs.metrics());
    },
  ), seeded({ numRuns: 100, seed: 3 }));
});

test('a value on a bucket bound counts in that bucket (le is "less or equal")', async () => {
  const registry = new client.Registry();
  const h = new HotHistogram('d', 'D.', [0.1, 1], registry);
  const s = h.child({ m: 'x' });
  s.observe(0.1);
  s.observe(1);
  s.observe(2);
  const text = await registry.metrics();
  expect(text).toContain('d_bucket{le="0.1",m="x"} 1');
  expect(text).toContain('d_bucket{le="1",m="x"} 2');
  expect(text).toContain('d_bucket{le="+Inf",m="x"} 3');
  expect(text).toContain('d_sum{m="x"} 3.1');
  expect(text).toContain('d_count{m="x"} 3');
});

test('the same labels in another order are the same series; reset zeroes series callers hold', async () => {
  const registry = new client.Registry();
  const c = new HotCounter('c', 'C.', registry);
  const held = c.child({ a: '1', b: '2' });
  held.value++;
  c.child({ b: '2', a: '1' }).value++;
  expect(await registry.metrics()).toContain('c{a="1",b="2"} 2');
  registry.resetMetrics();
  held.value++;
  expect(await registry.metrics()).toContain('c{a="1",b="2"} 1');
});
