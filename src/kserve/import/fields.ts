/**
 * Typed, tracked reads of one manifest. Every read marks its path as consumed and checks the value's
 * type (a wrong type is bad input, naming the field); whatever is never read is listed in the report
 * at the end (`leftovers`), so no field is dropped without a line saying so.
 */
import { documentName, InputDocument, KServeInputError } from './documents';
import { ReportEntry, ReportOutcome } from './report';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** The keys of a dotted path; a key with dots in it is written in brackets: `limits[nvidia.com/gpu]`. */
export function pathKeys(path: string): string[] {
  return [...path.matchAll(/\[([^\]]+)\]|([^.[\]]+)/g)].map(m => m[1] ?? m[2]);
}

/** The path of a key under `path`. */
export function childPath(path: string, key: string): string {
  const k = key.includes('.') ? `[${key}]` : key;
  return path === '' ? k : key.includes('.') ? `${path}${k}` : `${path}.${k}`;
}

const isUnder = (candidate: string, path: string) => candidate.startsWith(`${path}.`) || candidate.startsWith(`${path}[`);

const typeName = (v: unknown) => (Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v === 'object' ? 'a map' : `${typeof v} ${JSON.stringify(v)}`);

export class FieldReader {
  public readonly document: string;
  public readonly object: string;
  public readonly entries: ReportEntry[] = [];
  private readonly consumed = new Set<string>();

  constructor(public readonly doc: InputDocument) {
    this.document = documentName(doc);
    const m = doc.manifest as Json;
    this.object = `${m.kind}/${m.metadata?.name ?? '?'}`;
  }

  /** The raw value at a dotted path, without marking it. */
  public peek(path: string): unknown {
    let v: unknown = this.doc.manifest;
    for (const part of pathKeys(path)) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Json)[part];
    }
    return v;
  }

  public has(path: string): boolean {
    return this.peek(path) !== undefined;
  }

  public string(path: string): string | undefined {
    const v = this.take(path);
    if (v === undefined) return undefined;
    // YAML reads `version: 1` as a number; the API server refuses that for a string field, so we do too.
    if (typeof v !== 'string') throw this.wrongType(path, 'a string', v);
    return v;
  }

  public number(path: string, integer = true): number | undefined {
    const v = this.take(path);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || (integer && !Number.isInteger(v))) throw this.wrongType(path, integer ? 'an integer' : 'a number', v);
    return v;
  }

  public boolean(path: string): boolean | undefined {
    const v = this.take(path);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw this.wrongType(path, 'true or false', v);
    return v;
  }

  /** A map, checked but not consumed: its fields are read one by one. */
  public map(path: string): { [key: string]: unknown } | undefined {
    const v = this.peek(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw this.wrongType(path, 'a map', v);
    return v as { [key: string]: unknown };
  }

  /** A map of strings (labels, nodeSelector), consumed whole. */
  public stringMap(path: string): { [key: string]: string } | undefined {
    const m = this.map(path);
    if (m === undefined) return undefined;
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'string') throw this.wrongType(childPath(path, k), 'a string', v);
    }
    this.mark(path);
    return m as { [key: string]: string };
  }

  /** A list, checked but not consumed. */
  public list(path: string): unknown[] | undefined {
    const v = this.peek(path);
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) throw this.wrongType(path, 'a list', v);
    return v;
  }

  /** Marks a path as read (its whole subtree). */
  public mark(path: string): void {
    this.consumed.add(path);
  }

  /** Adds a report line for a path and marks it read. */
  public report(path: string, outcome: ReportOutcome, reason: string): void {
    this.mark(path);
    this.entries.push({ document: this.document, object: this.object, path, outcome, reason });
  }

  /** Reports a present field as unmapped; no-op when absent. */
  public unmapped(path: string, reason: string): void {
    if (this.has(path)) this.report(path, 'unmapped', reason);
  }

  public error(path: string | undefined, detail: string): KServeInputError {
    return new KServeInputError(this.document, path, detail);
  }

  /** Reports whatever under `path` was not read; marks `path` read. */
  public leftoversUnder(path: string, reason: string): void {
    const value = this.peek(path);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const k of Object.keys(value)) {
        const sub = childPath(path, k);
        if (!this.isConsumed(sub) && ![...this.consumed].some(c => isUnder(c, sub))) this.report(sub, 'unmapped', reason);
      }
    }
    this.mark(path);
  }

  /** Fields never read: one report line each (the shallowest path that holds nothing read). */
  public leftovers(reason: string): void {
    const walk = (value: unknown, path: string) => {
      if (path !== '' && this.isConsumed(path)) return;
      const inside = [...this.consumed].some(c => path === '' || isUnder(c, path));
      if (path !== '' && !inside) {
        this.report(path, 'unmapped', reason);
        return;
      }
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        for (const [k, v] of Object.entries(value)) walk(v, childPath(path, k));
      }
    };
    walk(this.doc.manifest, '');
  }

  private isConsumed(path: string): boolean {
    for (const c of this.consumed) if (path === c || isUnder(path, c)) return true;
    return false;
  }

  private take(path: string): unknown {
    const v = this.peek(path);
    if (v !== undefined) this.mark(path);
    return v;
  }

  private wrongType(path: string, want: string, got: unknown): KServeInputError {
    return this.error(path, `must be ${want}, got ${typeName(got)}`);
  }
}
