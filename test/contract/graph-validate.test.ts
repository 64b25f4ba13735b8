// validateGraphSpec: every problem of a graph spec as a sentence naming the node, the step and the fix.
import fc from 'fast-check';
import { GraphSpec, GraphStepSpec } from '../../src/contract/graph-spec';
import { validateGraphSpec } from '../../src/contract/graph-validate';
import { seeded } from '../seeded';

const url = 'http://model.default.svc/v1/models/m:predict';
const graph = (steps: GraphStepSpec[], routerType: GraphSpec['nodes'][string]['routerType'] = 'Sequence', extra: GraphSpec['nodes'] = {}): GraphSpec => ({
  nodes: { root: { routerType, steps }, ...extra },
});

test('a valid graph of every router kind has no errors', () => {
  const spec: GraphSpec = {
    timeoutMs: 5000,
    nodes: {
      root: { routerType: 'Sequence', steps: [{ name: 'pick', nodeName: 'pick' }, { name: 'all', nodeName: 'all', data: '$request' }] },
      pick: { routerType: 'Switch', steps: [{ name: 'cats', serviceUrl: url, condition: 'instances.#(kind=="cat")' }, { name: 'rest', nodeName: 'split', condition: 'instances' }] },
      split: { routerType: 'Splitter', steps: [{ name: 'a', model: 'iris', weight: 30 }, { name: 'b', serviceUrl: 'https://x.example/v2/models/m/infer', weight: 70, timeoutMs: 100 }] },
      all: { routerType: 'Ensemble', steps: [{ name: 'x', model: 'iris', dependency: 'Soft' }, { name: 'y', serviceUrl: url, dependency: 'Hard' }] },
    },
  };
  expect(validateGraphSpec(spec)).toEqual([]);
});

test.each<[string, GraphSpec, string]>([
  ['no root node', { nodes: { main: { routerType: 'Sequence', steps: [{ name: 'a', serviceUrl: url }] } } }, "no node named 'root'"],
  ['an unknown nodeName', graph([{ name: 'a', nodeName: 'nope' }]), "names nodeName 'nope', which is not a node of this graph"],
  ['a cycle', graph([{ name: 'a', nodeName: 'b' }], 'Sequence', { b: { routerType: 'Sequence', steps: [{ name: 'back', nodeName: 'root' }] } }), 'cycle: root -> b -> root'],
  ['a self loop', graph([{ name: 'a', nodeName: 'root' }]), 'cycle: root -> root'],
  ['a step with no target', graph([{ name: 'a' }]), "step 'a' sets none of serviceUrl, nodeName, model"],
  ['a step with two targets', graph([{ name: 'a', serviceUrl: url, model: 'iris' }]), "step 'a' sets serviceUrl and model; set exactly one"],
  ['weights not summing to 100', graph([{ name: 'a', serviceUrl: url, weight: 50 }, { name: 'b', serviceUrl: url, weight: 40 }], 'Splitter'), 'weights sum to 90; they must sum to 100'],
  ['a Splitter step without weight', graph([{ name: 'a', serviceUrl: url }, { name: 'b', serviceUrl: url, weight: 100 }], 'Splitter'), "step 'a' has weight undefined"],
  ['a Switch step without condition', graph([{ name: 'a', serviceUrl: url }], 'Switch'), "step 'a' has no condition"],
  ['a condition that does not parse', graph([{ name: 'a', serviceUrl: url, condition: 'a.#(b==' }], 'Switch'), "step 'a': condition 'a.#(b==' does not parse at position 7: expected a value after the operator"],
  ['a zero step timeout', graph([{ name: 'a', serviceUrl: url, timeoutMs: 0 }]), "step 'a' timeoutMs is 0; use a positive number"],
  ['a negative graph timeout', { ...graph([{ name: 'a', serviceUrl: url }]), timeoutMs: -5 }, 'graph timeoutMs is -5'],
  ['duplicate step names', graph([{ name: 'a', serviceUrl: url }, { name: 'a', serviceUrl: url }]), "step 'a': the name is used twice"],
  ['a relative URL', graph([{ name: 'a', serviceUrl: '/v1/models/m:predict' }]), "serviceUrl '/v1/models/m:predict'; use an absolute http:// or https:// URL"],
  ['a non-http URL', graph([{ name: 'a', serviceUrl: 'ftp://host/x' }]), "serviceUrl 'ftp://host/x'"],
  ['no steps', graph([]), "node 'root' has no steps"],
  ['an unknown router type', graph([{ name: 'a', serviceUrl: url }], 'Fanout' as never), "routerType 'Fanout'; use one of Sequence, Switch, Ensemble, Splitter"],
  ['a bad data value', graph([{ name: 'a', serviceUrl: url, data: '$input' as never }]), "data '$input'; use '$request' or '$response'"],
  ['a bad dependency', graph([{ name: 'a', serviceUrl: url, dependency: 'soft' as never }]), "dependency 'soft'; use 'Hard' or 'Soft'"],
  ['a step without name', graph([{ serviceUrl: url } as never]), 'step 0 has no name'],
  ['a bad model name', graph([{ name: 'a', model: '../iris' }]), "model '../iris'"],
])('%s is refused', (_what, spec, message) => {
  const errors = validateGraphSpec(spec);
  expect(errors.join('\n')).toContain(message);
});

test('every problem is reported, not only the first', () => {
  const errors = validateGraphSpec(graph([{ name: 'a' }, { name: 'a', serviceUrl: 'nope', timeoutMs: -1 }]));
  expect(errors).toHaveLength(4);
});

test('a value that is not a graph gets one clear error', () => {
  expect(validateGraphSpec({} as never)).toEqual(["the graph spec must be an object with 'nodes' (an object of node name to { routerType, steps })"]);
  expect(validateGraphSpec(null as never)).toHaveLength(1);
});

test('property: Splitter weights are accepted exactly when they sum to 100', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 1, maxLength: 6 }), (weights) => {
    const spec = graph(weights.map((weight, i) => ({ name: `s${i}`, serviceUrl: url, weight })), 'Splitter');
    const sum = weights.reduce((a, b) => a + b, 0);
    expect(validateGraphSpec(spec).length === 0).toBe(sum === 100);
  }), seeded({ seed: 1811, numRuns: 500 }));
});

test('property: a chain of nodes is valid, and closing it into a loop is a cycle', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.boolean(), (length, close) => {
    const nodes: Record<string, GraphSpec['nodes'][string]> = {};
    for (let i = 0; i < length; i++) {
      const name = i === 0 ? 'root' : `n${i}`;
      const next = i + 1 < length ? { name: 'next', nodeName: `n${i + 1}` } : close ? { name: 'back', nodeName: 'root' } : { name: 'leaf', serviceUrl: url };
      nodes[name] = { routerType: 'Sequence', steps: [next] };
    }
    const errors = validateGraphSpec({ nodes });
    expect(errors.some((e) => e.includes('cycle'))).toBe(close);
    expect(errors.length).toBe(close ? 1 : 0);
  }), seeded({ seed: 1812, numRuns: 100 }));
});
