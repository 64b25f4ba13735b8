/** Names the generated code uses: variables from KServe names, never clashing. */

const RESERVED = new Set(['app', 'chart', 'this', 'new', 'default', 'delete', 'function', 'import', 'export', 'package', 'class', 'const', 'let', 'var', 'in', 'of']);

/** `sklearn-v2-iris` → `sklearnV2Iris`; a leading digit gets a prefix. */
export function camelCase(name: string, prefix = 'x'): string {
  const parts = name.split(/[^A-Za-z0-9]+/).filter(p => p.length > 0);
  let out = parts.map((p, i) => (i === 0 ? p.charAt(0).toLowerCase() + p.slice(1) : p.charAt(0).toUpperCase() + p.slice(1))).join('');
  if (out === '' || /^[0-9]/.test(out)) out = `${prefix}${out.charAt(0).toUpperCase()}${out.slice(1)}`;
  return RESERVED.has(out) ? `${out}_` : out;
}

/** Hands out variable names, adding a number on a clash. */
export class VariableNames {
  private readonly used = new Set<string>();

  public take(wanted: string): string {
    let name = wanted;
    for (let i = 2; this.used.has(name); i++) name = `${wanted}${i}`;
    this.used.add(name);
    return name;
  }
}
