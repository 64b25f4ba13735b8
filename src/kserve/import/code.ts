/**
 * The mapping's output, as code: a small expression tree that the runtime API evaluates into real
 * prop values (evaluate.ts) and the code generator prints as TypeScript (typescript.ts). One tree for
 * both is what keeps `kserve import` and `KServeImport.fromYaml` from drifting apart.
 */

/** The packages a generated program imports from. */
export type CodeModule = 'cdk8s-model-serving' | 'cdk8s' | 'cdk8s-plus-33';

/** A value expression. */
export type Code =
  | { readonly kind: 'literal'; readonly value: string | number | boolean }
  | { readonly kind: 'array'; readonly items: readonly Code[] }
  /** An object literal; entry order is the order the code is printed in. */
  | { readonly kind: 'object'; readonly entries: ReadonlyArray<readonly [string, Code]> }
  /** `Symbol.member` (an enum member or a static constant). */
  | { readonly kind: 'member'; readonly module: CodeModule; readonly symbol: string; readonly member: string }
  /** `Symbol.member(args)` (a static factory). */
  | { readonly kind: 'call'; readonly module: CodeModule; readonly symbol: string; readonly member: string; readonly args: readonly Code[] }
  /** `target.method(args)` (e.g. `ModelFormat.SKLEARN.withVersion('1')`). */
  | { readonly kind: 'method'; readonly target: Code; readonly method: string; readonly args: readonly Code[] }
  /** The construct scope the statements are built in (the chart). */
  | { readonly kind: 'scope' }
  /** A variable an earlier statement defined. */
  | { readonly kind: 'variable'; readonly name: string };

export const lit = (value: string | number | boolean): Code => ({ kind: 'literal', value });
export const arr = (items: readonly Code[]): Code => ({ kind: 'array', items });
export const obj = (entries: ReadonlyArray<readonly [string, Code | undefined]>): Code => ({
  kind: 'object',
  entries: entries.filter((e): e is readonly [string, Code] => e[1] !== undefined),
});
export const lib = (symbol: string, member: string): Code => ({ kind: 'member', module: 'cdk8s-model-serving', symbol, member });
export const call = (module: CodeModule, symbol: string, member: string, ...args: Code[]): Code => ({ kind: 'call', module, symbol, member, args });
export const method = (target: Code, name: string, ...args: Code[]): Code => ({ kind: 'method', target, method: name, args });
export const SCOPE: Code = { kind: 'scope' };
export const variable = (name: string): Code => ({ kind: 'variable', name });

/** Plain JSON data (a passed-through manifest) as code. */
export function fromJson(value: unknown): Code {
  if (Array.isArray(value)) return arr(value.map(fromJson));
  if (value !== null && typeof value === 'object') return obj(Object.entries(value).map(([k, v]) => [k, fromJson(v)] as const));
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return lit(value);
  return lit(String(value));
}

/** An object literal's entry, or undefined when the code is not an object or lacks it. */
export function entryOf(code: Code | undefined, key: string): Code | undefined {
  return code?.kind === 'object' ? code.entries.find(([k]) => k === key)?.[1] : undefined;
}
