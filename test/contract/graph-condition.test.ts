// Switch conditions: the GJSON subset KServe's router evaluates with Get(request, condition).Exists().
// Expected answers follow GJSON's documented behaviour (tidwall/gjson SYNTAX.md).
import fc from 'fast-check';
import { ConditionParseError, conditionError, conditionMatches, parseCondition, select } from '../../src/contract/graph-condition';
import { seeded } from '../seeded';

const doc = {
  'name': { first: 'Tom', last: 'Anderson' },
  'age': 37,
  'children': ['Sara', 'Alex', 'Jack'],
  'fav.movie': 'Deer Hunter',
  'nothing': null,
  'friends': [
    { first: 'Dale', last: 'Murphy', age: 44, nets: ['ig', 'fb', 'tw'] },
    { first: 'Roger', last: 'Craig', age: 68, nets: ['fb', 'tw'] },
    { first: 'Jane', last: 'Murphy', age: 47, nets: ['ig', 'tw'] },
  ],
  'decision_picker': 'ALL',
  'ok': true,
};

const get = (c: string) => select(parseCondition(c), doc);
const exists = (c: string) => conditionMatches(parseCondition(c), doc);

describe('selecting values', () => {
  test.each([
    ['name.last', 'Anderson'],
    ['age', 37],
    ['children.#', 3],
    ['children.1', 'Alex'],
    ['child*.2', 'Jack'],
    ['c?ildren.0', 'Sara'],
    ['fav\\.movie', 'Deer Hunter'],
    ['friends.#.first', ['Dale', 'Roger', 'Jane']],
    ['friends.1.last', 'Craig'],
    ['friends.#(last=="Murphy").first', 'Dale'],
    ['friends.#(last=="Murphy")#.first', ['Dale', 'Jane']],
    ['friends.#(age>45)#.last', ['Craig', 'Murphy']],
    ['friends.#(first%"D*").last', 'Murphy'],
    ['friends.#(first!%"D*").last', 'Craig'],
    ['friends.#(nets.#(=="fb"))#.first', ['Dale', 'Roger']],
    ['friends.#(age<=44).first', 'Dale'],
    ['friends.#(age >= 68).first', 'Roger'],
    ['friends.#(last!=Murphy).first', 'Roger'],
    ['friends.#(nets).first', 'Dale'],
    ['@this.age', 37],
    ['[@this].#(decision_picker==ALL).age', 37],
    ['[age,name.first]', [37, 'Tom']],
    ['[age,missing]', [37]],
  ])('%s selects %j', (c, want) => {
    expect(get(c)).toEqual(want);
  });

  test.each([
    'missing', 'name.middle', 'children.3', 'children.x', 'age.0', 'friends.#(last=="Nobody")',
    'friends.#(age>100).first', 'name.#', '[@this].#(decision_picker==NONE)',
    'ok.x',
  ])('%s finds nothing', (c) => {
    expect(exists(c)).toBe(false);
  });

  test('a JSON null exists, as in GJSON', () => {
    expect(exists('nothing')).toBe(true);
  });

  test('an all-matches query with no hit is an empty array, which exists (GJSON returns [])', () => {
    expect(get('friends.#(age>100)#')).toEqual([]);
    expect(exists('friends.#(age>100)#')).toBe(true);
  });

  test('booleans compare with true/false', () => {
    expect(exists('[@this].#(ok==true)')).toBe(true);
    expect(exists('[@this].#(ok==false)')).toBe(false);
  });

  test('KServe V1 request: a Switch on an instance field', () => {
    const request = { instances: [{ kind: 'cat', score: 0.9 }] };
    expect(conditionMatches(parseCondition('instances.#(kind=="cat")'), request)).toBe(true);
    expect(conditionMatches(parseCondition('instances.#(kind=="dog")'), request)).toBe(false);
    expect(conditionMatches(parseCondition('instances.#(score>0.5)'), request)).toBe(true);
  });
});

describe('parse errors name the position and what was expected', () => {
  test.each([
    ['', 0, 'a path'],
    ['a..b', 2, 'a key'],
    ['a.#(b==', 7, 'a value after the operator'],
    ['a.#(b==1', 8, "')' to close the query opened at position 2"],
    ['a.#(b 1)', 6, 'an operator'],
    ['a|b', 1, "'|' pipes are not supported"],
    ['a.@reverse', 2, "'@this'"],
    ['[a,b', 4, "',' or ']'"],
    ['[a]b', 3, "'.' after the multipath"],
    ['a(b', 1, 'escape'],
    ['a.#(b=="x)', 10, "closing '\"' for the string opened at position 7"],
    ['a\\', 1, 'a character after the escape'],
  ])('%j fails at %d expecting %s', (c, position, expected) => {
    let error: unknown;
    try {
      parseCondition(c);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConditionParseError);
    const parseError = error as ConditionParseError;
    expect(parseError.position).toBe(position);
    expect(parseError.expected).toContain(expected);
    expect(parseError.message).toContain(`position ${position}`);
    expect(conditionError(c)).toBe(parseError.message);
  });

  test('a valid condition has no error', () => {
    expect(conditionError('instances.#(kind=="cat")')).toBeUndefined();
  });
});

describe('properties', () => {
  const plainKey = fc.stringMatching(/^[a-z_][a-z0-9_]{0,7}$/);

  test('a dotted path of plain keys selects exactly the nested value', () => {
    fc.assert(fc.property(fc.array(plainKey, { minLength: 1, maxLength: 5 }), fc.jsonValue(), (keys, leaf) => {
      let document: unknown = leaf;
      for (const k of [...keys].reverse()) document = { [k]: document };
      expect(select(parseCondition(keys.join('.')), document)).toEqual(leaf);
    }), seeded({ seed: 1801, numRuns: 300 }));
  });

  test('escaping every dot in a key finds that key', () => {
    fc.assert(fc.property(fc.array(plainKey, { minLength: 2, maxLength: 4 }), fc.integer(), (parts, n) => {
      const key = parts.join('.');
      expect(select(parseCondition(parts.join('\\.')), { [key]: n })).toBe(n);
    }), seeded({ seed: 1802, numRuns: 200 }));
  });

  test('a numeric query matches what a filter on the array finds', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: -50, max: 50 }), { maxLength: 8 }), fc.integer({ min: -50, max: 50 }), (xs, pivot) => {
      const items = xs.map((v) => ({ v }));
      expect(select(parseCondition(`#(v>${pivot})#`), items)).toEqual(items.filter((i) => i.v > pivot));
      expect(conditionMatches(parseCondition(`#(v==${pivot})`), items)).toBe(xs.includes(pivot));
    }), seeded({ seed: 1803, numRuns: 300 }));
  });

  test('any text either parses or fails with a ConditionParseError inside the text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 24 }), (text) => {
      try {
        const parsed = parseCondition(text);
        select(parsed, doc);
      } catch (e) {
        expect(e).toBeInstanceOf(ConditionParseError);
        const p = (e as ConditionParseError).position;
        expect(p).toBeGreaterThanOrEqual(0);
        expect(p).toBeLessThanOrEqual(text.length);
      }
    }), seeded({ seed: 1804, numRuns: 2000 }));
  });
});
