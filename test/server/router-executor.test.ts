// The graph executor alone (src/server/router/executor.ts), with a FAKE step target that answers
// from a table in memory: the Splitter's draw with a seeded RNG and the routing rules. The real
// router and model servers on loopback are in router.test.ts.
import fc from 'fast-check';
import { GraphSpec, GraphStepSpec } from '../../src/contract/graph-spec';
import { Prng } from '../../src/server/explainer/prng';
import { Answer, StepFailure } from '../../src/server/router/answers';
import { GraphExecutor, StepTarget } from '../../src/server/router/executor';
import { seeded } from '../seeded';

/** FAKE target: `serviceUrl` is `fake://<name>`; answers `{ "from": name, "got": <input> }`, or what `special` says. */
class FakeStepTarget implements StepTarget {
  public readonly calls: string[] = [];
  constructor(private readonly special: Record<string, Answer | StepFailure> = {}) {}
  public async call(step: GraphStepSpec, body: Buffer): Promise<Answer> {
    this.calls.push(step.name);
    const s = this.special[step.name];
    if (s instanceof StepFailure) throw s;
    if (s) return s;
    return { status: 200, body: Buffer.from(JSON.stringify({ from: step.name, got: JSON.parse(body.toString() || 'null') })) };
  }
}

const url = (name: string) => `http://fake.invalid/${name}`;
const run = async (spec: GraphSpec, target: StepTarget, body: unknown, random = () => 0.5) => {
  const result = await new GraphExecutor({ spec, target, random, defaultTimeoutMs: 0 }).run(Buffer.from(JSON.stringify(body)), 'application/json', {});
  return { status: result.answer.status, body: JSON.parse(result.answer.body.toString()), failed: result.failedSteps };
};

test('Splitter with a seeded RNG: each step gets its weight share of 10000 draws (within 2 points)', async () => {
  const seed = 1821;
  console.log(`Splitter draw seed ${seed}`);
  const prng = new Prng(seed);
  const spec: GraphSpec = { nodes: { root: { routerType: 'Splitter', steps: [{ name: 'a', serviceUrl: url('a'), weight: 20 }, { name: 'b', serviceUrl: url('b'), weight: 80 }, { name: 'never', serviceUrl: url('n'), weight: 0 }] } } };
  const target = new FakeStepTarget();
  const executor = new GraphExecutor({ spec, target, random: () => prng.next(), defaultTimeoutMs: 0 });
  for (let i = 0; i < 10_000; i++) await executor.run(Buffer.from('{}'), 'application/json', {});
  const share = (n: string) => target.calls.filter((c) => c === n).length / 100;
  expect(Math.abs(share('a') - 20)).toBeLessThan(2);
  expect(Math.abs(share('b') - 80)).toBeLessThan(2);
  expect(share('never')).toBe(0);
});

test('property: a Splitter draw r picks the step whose cumulative weight range holds floor(100 r)', async () => {
  const weightLists = fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 5 });
  await fc.assert(fc.asyncProperty(weightLists, fc.double({ min: 0, max: 0.999999, noNaN: true }), async (raw, r) => {
    const weights = [...raw, 0];
    const total = raw.reduce((a, b) => a + b, 0);
    if (total > 100) return;
    weights[weights.length - 1] = 100 - total;
    const steps = weights.map((weight, i) => ({ name: `s${i}`, serviceUrl: url(`s${i}`), weight }));
    const target = new FakeStepTarget();
    await run({ nodes: { root: { routerType: 'Splitter', steps } } }, target, {}, () => r);
    const point = Math.floor(r * 100);
    let end = 0;
    const want = weights.findIndex((w) => (end += w) > point);
    expect(target.calls).toEqual([`s${want}`]);
  }), seeded({ seed: 1822, numRuns: 300 }));
});

test('Sequence: $response feeds the previous answer; no data (as in KServe) the original request', async () => {
  const spec: GraphSpec = { nodes: { root: { routerType: 'Sequence', steps: [{ name: 'one', serviceUrl: url('one') }, { name: 'two', serviceUrl: url('two'), data: '$response' }, { name: 'three', serviceUrl: url('three') }] } } };
  const target = new FakeStepTarget();
  const out = await run(spec, target, { q: 1 });
  expect(out.body).toEqual({ from: 'three', got: { q: 1 } });
  const two = await run({ nodes: { root: { routerType: 'Sequence', steps: spec.nodes.root.steps.slice(0, 2) } } }, target, { q: 1 });
  expect(two.body).toEqual({ from: 'two', got: { from: 'one', got: { q: 1 } } });
});

test('Sequence: a step whose condition finds nothing in the previous answer stops the sequence with that answer', async () => {
  const spec: GraphSpec = { nodes: { root: { routerType: 'Sequence', steps: [{ name: 'one', serviceUrl: url('one') }, { name: 'two', serviceUrl: url('two'), data: '$response', condition: 'got.missing' }] } } };
  const target = new FakeStepTarget();
  const out = await run(spec, target, { q: 1 });
  expect(out).toMatchObject({ status: 200, body: { from: 'one' } });
  expect(target.calls).toEqual(['one']);
});

test('Switch: the first matching step runs; none matching is KServe\'s 404', async () => {
  const spec: GraphSpec = { nodes: { root: { routerType: 'Switch', steps: [{ name: 'cats', serviceUrl: url('c'), condition: 'kind.#(=="cat")' }, { name: 'any', serviceUrl: url('a'), condition: 'kind' }, { name: 'late', serviceUrl: url('l'), condition: 'kind' }] } } };
  expect((await run(spec, new FakeStepTarget(), { kind: ['dog', 'cat'] })).body.from).toBe('cats');
  expect((await run(spec, new FakeStepTarget(), { kind: 'dog' })).body.from).toBe('any');
  const none = await run(spec, new FakeStepTarget(), { other: 1 });
  expect(none).toMatchObject({ status: 404, body: { error: 'Failed to process request', cause: 'None of the routes matched with the switch condition', node: 'root' } });
});

test('Ensemble: answers merged by step name; a soft failure is left out and reported', async () => {
  const spec: GraphSpec = { nodes: { root: { routerType: 'Ensemble', steps: [{ name: 'a', serviceUrl: url('a') }, { name: 'b', serviceUrl: url('b'), dependency: 'Soft' }, { name: 'c', serviceUrl: url('c') }] } } };
  const target = new FakeStepTarget({ b: { status: 500, body: Buffer.from('{"error":"boom"}') } });
  const out = await run(spec, target, { q: 1 });
  expect(out.status).toBe(200);
  expect(Object.keys(out.body)).toEqual(['a', 'c']);
  expect(out.failed).toEqual([{ node: 'root', step: 'b', status: 500, reason: "step 'b' of node 'root' answered 500" }]);
});

test('a hard failure names the node, the step and the upstream status; the first hard failure in step order wins', async () => {
  const spec: GraphSpec = { nodes: { root: { routerType: 'Ensemble', steps: [{ name: 'a', serviceUrl: url('a') }, { name: 'b', serviceUrl: url('b') }, { name: 'c', serviceUrl: url('c') }] } } };
  const target = new FakeStepTarget({ b: { status: 429, body: Buffer.from('slow down') }, c: new StepFailure('unreachable', 502, 'refused') });
  const out = await run(spec, target, {});
  expect(out).toMatchObject({ status: 429, body: { node: 'root', step: 'b', status: 429, cause: 'slow down' } });
});

test('a soft nested node that fails does not fail its parent', async () => {
  const spec: GraphSpec = {
    nodes: {
      root: { routerType: 'Sequence', steps: [{ name: 'first', serviceUrl: url('first') }, { name: 'inner', nodeName: 'inner', dependency: 'Soft' }] },
      inner: { routerType: 'Sequence', steps: [{ name: 'broken', serviceUrl: url('broken') }] },
    },
  };
  const out = await run(spec, new FakeStepTarget({ broken: { status: 503, body: Buffer.from('{}') } }), { q: 1 });
  expect(out.status).toBe(200);
  expect(out.body.from).toBe('first');
  expect(out.failed.map((f) => f.step)).toEqual(['inner']);
});
