/**
 * Switch conditions: the subset of GJSON path syntax (github.com/tidwall/gjson, SYNTAX.md) that
 * KServe's router evaluates with `gjson.GetBytes(request, condition).Exists()`. A step matches when
 * the path finds a value in the request (a JSON `null` counts as found, as in GJSON).
 *
 * Supported (everything else is a parse error naming the position):
 * - keys separated by `.`: `instances.0.kind`; `\` escapes the next character (`a\.b` is one key);
 *   `*` (any run) and `?` (one character) in a key match the first key that fits;
 * - a number on an array is an index: `instances.0`;
 * - `#` on an array is its length; `#.rest` collects `rest` from every element;
 * - queries on arrays: `#(path op value)` is the first element that matches, `#(...)#` all of them;
 *   `op` is `==` (or `=`), `!=`, `<`, `<=`, `>`, `>=`, `%` (glob match), `!%` (glob mismatch); an empty
 *   path compares the element itself (`#(=="x")`); `#(path)` without an operator matches when the
 *   path exists; the value is a JSON string (`"x"`) or bare text up to `)` (`#(kind==ALL)`);
 * - `@this` is the current value, and a leading multipath `[p1,p2,...]` makes an array of the paths
 *   that exist, so KServe's documented `[@this].#(decision_picker==ALL)` works.
 * Not supported: pipes `|`, modifiers other than `@this`, literals `!true`, nested multipaths.
 */

/** A condition that did not parse: `position` is the 0-based offset into the condition text. */
export class ConditionParseError extends Error {
  public constructor(
    public readonly condition: string,
    public readonly position: number,
    public readonly expected: string,
  ) {
    super(`condition '${condition}' does not parse at position ${position}: expected ${expected}`);
    this.name = 'ConditionParseError';
  }
}

type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | '%' | '!%';

type Segment =
  | { readonly kind: 'key'; readonly key: string; readonly pattern: boolean }
  | { readonly kind: 'count' }
  | { readonly kind: 'this' }
  | { readonly kind: 'query'; readonly path: readonly Segment[]; readonly op?: CompareOp; readonly value?: string; readonly all: boolean };

/** A parsed condition: evaluate it with `matches`. */
export interface ParsedCondition {
  readonly source: string;
  /** Present when the condition starts with a multipath `[a,b]`. */
  readonly multipath?: readonly (readonly Segment[])[];
  readonly path: readonly Segment[];
}

const OP_CHARS = '=!<>%';

class Parser {
  private pos = 0;
  public constructor(private readonly text: string) {}

  public parse(): ParsedCondition {
    if (this.text.trim() === '') throw this.fail('a path such as `instances.0.kind`');
    let multipath: Segment[][] | undefined;
    if (this.peek() === '[') {
      this.pos++;
      multipath = [];
      for (;;) {
        multipath.push(this.parsePath(',]', false));
        const c = this.peek();
        if (c === ',') { this.pos++; continue; }
        if (c === ']') { this.pos++; break; }
        throw this.fail("',' or ']' to close the multipath");
      }
      if (this.pos === this.text.length) return { source: this.text, multipath, path: [] };
      if (this.peek() !== '.') throw this.fail("'.' after the multipath");
      this.pos++;
    }
    const path = this.parsePath('', false);
    if (this.pos !== this.text.length) throw this.fail("end of the condition or '.'");
    return { source: this.text, multipath, path };
  }

  /** Segments up to one of `stops` (not consumed) or the end. In a query, operator chars also stop a key. */
  private parsePath(stops: string, inQuery: boolean): Segment[] {
    const segments: Segment[] = [];
    if (inQuery && (this.atStop(stops) || OP_CHARS.includes(this.peek()))) return segments; // the element itself
    for (;;) {
      segments.push(this.parseSegment(stops, inQuery));
      if (this.peek() === '.') { this.pos++; continue; }
      return segments;
    }
  }

  private parseSegment(stops: string, inQuery: boolean): Segment {
    const start = this.pos;
    if (this.text.startsWith('#(', this.pos)) {
      this.pos += 2;
      this.skipSpaces();
      const path = this.parsePath(')', true);
      this.skipSpaces();
      let op: CompareOp | undefined;
      let value: string | undefined;
      if (this.peek() !== ')') {
        op = this.parseOp();
        this.skipSpaces();
        value = this.parseValue();
        this.skipSpaces();
      }
      if (this.peek() !== ')') throw this.fail("')' to close the query opened at position " + start);
      this.pos++;
      const all = this.peek() === '#';
      if (all) this.pos++;
      return { kind: 'query', path, op, value, all };
    }
    if (this.peek() === '#' && this.segmentEndsAt(this.pos + 1, stops, inQuery)) {
      this.pos++;
      return { kind: 'count' };
    }
    if (this.text.startsWith('@this', this.pos) && this.segmentEndsAt(this.pos + 5, stops, inQuery)) {
      this.pos += 5;
      return { kind: 'this' };
    }
    if (this.peek() === '@') throw this.fail("a key (the only modifier supported is '@this')");
    let key = '';
    let pattern = false;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === '.' || stops.includes(c) || (inQuery && OP_CHARS.includes(c))) break;
      if (c === '|') throw this.fail("a key ('|' pipes are not supported)");
      if (c === ' ' && inQuery) break;
      if (c === '\\') {
        if (this.pos + 1 >= this.text.length) throw this.fail('a character after the escape \\');
        key += '\\' + this.text[this.pos + 1];
        this.pos += 2;
        continue;
      }
      if (c === '*' || c === '?') pattern = true;
      if (c === '(' || c === ')' || c === '[' || c === ']' || c === ',') throw this.fail(`a key character (escape '${c}' with \\)`);
      key += c;
      this.pos++;
    }
    if (key === '') throw this.fail('a key');
    return { kind: 'key', key, pattern };
  }

  private parseOp(): CompareOp {
    for (const op of ['==', '!=', '<=', '>=', '!%', '=', '<', '>', '%']) {
      if (this.text.startsWith(op, this.pos)) {
        this.pos += op.length;
        return (op === '==' ? '=' : op) as CompareOp;
      }
    }
    throw this.fail("an operator (==, !=, <, <=, >, >=, %, !%) or ')'");
  }

  private parseValue(): string {
    if (this.peek() === '"') {
      const start = this.pos;
      this.pos++;
      while (this.pos < this.text.length && this.text[this.pos] !== '"') {
        this.pos += this.text[this.pos] === '\\' ? 2 : 1;
      }
      if (this.pos >= this.text.length) throw this.fail('a closing \'"\' for the string opened at position ' + start);
      this.pos++;
      try {
        return JSON.parse(this.text.slice(start, this.pos)) as string;
      } catch {
        throw new ConditionParseError(this.text, start, 'a JSON string');
      }
    }
    const start = this.pos;
    let depth = 0;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos];
      if (c === '(') depth++;
      if (c === ')') { if (depth === 0) break; depth--; }
      this.pos++;
    }
    const value = this.text.slice(start, this.pos).trim();
    if (value === '') throw new ConditionParseError(this.text, start, 'a value after the operator');
    return value;
  }

  private segmentEndsAt(at: number, stops: string, inQuery: boolean): boolean {
    if (at >= this.text.length) return true;
    const c = this.text[at];
    return c === '.' || stops.includes(c) || (inQuery && (OP_CHARS.includes(c) || c === ' '));
  }

  private atStop(stops: string): boolean {
    return this.pos >= this.text.length || stops.includes(this.text[this.pos]);
  }

  private peek(): string {
    return this.text[this.pos] ?? '';
  }

  private skipSpaces(): void {
    while (this.text[this.pos] === ' ') this.pos++;
  }

  private fail(expected: string): ConditionParseError {
    return new ConditionParseError(this.text, this.pos, expected);
  }
}

/** Parses `condition`, throwing a ConditionParseError (position and what was expected) if it does not. */
export function parseCondition(condition: string): ParsedCondition {
  return new Parser(condition).parse();
}

/** The parse error message of `condition`, or undefined when it parses. */
export function conditionError(condition: string): string | undefined {
  try {
    parseCondition(condition);
    return undefined;
  } catch (e) {
    if (e instanceof ConditionParseError) return e.message;
    throw e;
  }
}

/** GJSON's `Get(document, condition).Exists()` on an already parsed JSON document. */
export function conditionMatches(condition: ParsedCondition, document: unknown): boolean {
  return select(condition, document) !== undefined;
}

/** The value the condition selects in `document`, or undefined when it finds nothing. */
export function select(condition: ParsedCondition, document: unknown): unknown {
  let start = document;
  if (condition.multipath) {
    start = condition.multipath.map((p) => walk(p, 0, document)).filter((v) => v !== undefined);
  }
  return walk(condition.path, 0, start);
}

function walk(path: readonly Segment[], index: number, value: unknown): unknown {
  if (value === undefined) return undefined;
  if (index === path.length) return value;
  const segment = path[index];
  switch (segment.kind) {
    case 'this':
      return walk(path, index + 1, value);
    case 'count':
      if (!Array.isArray(value)) return undefined;
      if (index + 1 === path.length) return value.length;
      // `#.rest`: the rest of the path on every element, keeping the ones that exist.
      return value.map((v) => walk(path, index + 1, v)).filter((v) => v !== undefined);
    case 'query': {
      if (!Array.isArray(value)) return undefined;
      if (segment.all) {
        const hits = value.filter((v) => queryMatches(segment, v));
        if (index + 1 === path.length) return hits;
        return hits.map((v) => walk(path, index + 1, v)).filter((v) => v !== undefined);
      }
      const hit = value.find((v) => queryMatches(segment, v));
      return hit === undefined ? undefined : walk(path, index + 1, hit);
    }
    case 'key':
      return walk(path, index + 1, child(value, segment));
  }
}

function child(value: unknown, segment: { key: string; pattern: boolean }): unknown {
  if (Array.isArray(value)) {
    if (!/^\d+$/.test(segment.key)) return undefined;
    return value[Number(segment.key)];
  }
  if (value === null || typeof value !== 'object') return undefined;
  const record = value as Record<string, unknown>;
  if (!segment.pattern) {
    const key = unescape(segment.key);
    return Object.prototype.hasOwnProperty.call(record, key) ? record[key] : undefined;
  }
  const found = Object.keys(record).find((k) => globMatch(k, segment.key));
  return found === undefined ? undefined : record[found];
}

function queryMatches(query: { path: readonly Segment[]; op?: CompareOp; value?: string }, element: unknown): boolean {
  const left = walk(query.path, 0, element);
  if (left === undefined) return false;
  if (query.op === undefined) return true;
  const right = query.value ?? '';
  const op = query.op;
  if (typeof left === 'string') {
    if (op === '%') return globMatch(left, right, false);
    if (op === '!%') return !globMatch(left, right, false);
    return compare(left, right, op);
  }
  if (typeof left === 'number') {
    const n = Number(right);
    if (right.trim() === '' || Number.isNaN(n)) return false; // GJSON parses the bare text as a number
    return op === '%' || op === '!%' ? false : compare(left, n, op);
  }
  if (typeof left === 'boolean') {
    if (op === '=') return String(left) === right;
    if (op === '!=') return String(left) !== right;
    return false;
  }
  return false;
}

function compare<T extends string | number>(a: T, b: T, op: CompareOp): boolean {
  switch (op) {
    case '=': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
    default: return false;
  }
}

function unescape(key: string): string {
  return key.replace(/\\(.)/g, '$1');
}

/** `*` any run, `?` one character; `\` makes the next character literal (in keys). */
function globMatch(text: string, pattern: string, escapes = true): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (escapes && c === '\\' && i + 1 < pattern.length) {
      re += escapeRegExp(pattern[++i]);
    } else if (c === '*') {
      re += '[\\s\\S]*';
    } else if (c === '?') {
      re += '[\\s\\S]';
    } else {
      re += escapeRegExp(c);
    }
  }
  return new RegExp(re + '$').test(text);
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
