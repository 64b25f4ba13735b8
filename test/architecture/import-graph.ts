/**
 * The import graph of `src/`, read with the TypeScript parser: every `import`, `import type`,
 * `export ... from`, `require()` and `import()` of a relative path, resolved to a file. Type-only
 * imports count as edges too: a cycle through types still ties the files together.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

/** Files (paths relative to `root`, with `/`) mapped to the files they import. */
export type ImportGraph = Map<string, string[]>;

/** Every `.ts` file under `dir` (relative to `root`), skipping `.d.ts` and the folders in `skip`. */
export function sourceFiles(root: string, dir: string, skip: string[] = []): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    if (skip.includes(rel)) return;
    for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(child);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(child);
    }
  };
  walk(dir);
  return out.sort();
}

/** The relative module specifiers `source` imports (values and types). */
export function importedSpecifiers(source: string): string[] {
  const info = ts.preProcessFile(source, true, true);
  return info.importedFiles.map(f => f.fileName).filter(s => s.startsWith('.'));
}

/** Resolves `specifier` imported by `from` to a file relative to `root`, as TypeScript would. */
export function resolveImport(root: string, from: string, specifier: string): string {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
  for (const candidate of [`${base}.ts`, `${base}/index.ts`, base]) {
    if (fs.existsSync(path.join(root, candidate)) && fs.statSync(path.join(root, candidate)).isFile()) return candidate;
  }
  throw new Error(`${from}: cannot resolve import '${specifier}'`);
}

/** The import graph of `files`, each read from `root`. */
export function importGraph(root: string, files: string[]): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of files) {
    const source = fs.readFileSync(path.join(root, file), 'utf8');
    graph.set(file, [...new Set(importedSpecifiers(source).map(s => resolveImport(root, file, s)))].sort());
  }
  return graph;
}

/**
 * The strongly connected components with more than one file, or a file importing itself
 * (Tarjan's algorithm): each is a set of files that import each other in a circle.
 */
export function importCycles(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue; // outside the files under check
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

/** One import that breaks a layering rule. */
export interface ForbiddenImport {
  readonly from: string;
  readonly to: string;
  readonly rule: string;
}

/** A layering rule: files under `from` must not import files under `to`. */
export interface LayerRule {
  readonly from: string;
  readonly to: string;
  readonly why: string;
  /** Files or folders under `to` that `from` may import all the same. */
  readonly except?: string[];
}

/** The imports in `graph` that break one of `rules` (folders or files, relative to the root), once each. */
export function forbiddenImports(graph: ImportGraph, rules: LayerRule[]): ForbiddenImport[] {
  const under = (file: string, prefix: string) => file === prefix || file.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
  const found: ForbiddenImport[] = [];
  for (const [from, targets] of graph) {
    for (const to of targets) {
      // One finding per import: the first rule it breaks (a narrow rule before a broad allow-list).
      const rule = rules.find(r => under(from, r.from) && under(to, r.to) && !(r.except ?? []).some(e => under(to, e)));
      if (rule) found.push({ from, to, rule: `${rule.from} must not import ${rule.to}: ${rule.why}` });
    }
  }
  return found;
}

/** Whether `source` declares a class that extends `Construct` (a construct, not an option type). */
export function declaresConstruct(source: string): boolean {
  const file = ts.createSourceFile('x.ts', source, ts.ScriptTarget.Latest, false);
  return file.statements.some(s => ts.isClassDeclaration(s) && (s.heritageClauses ?? []).some(h =>
    h.token === ts.SyntaxKind.ExtendsKeyword && h.types.some(t => t.expression.getText(file) === 'Construct')));
}
