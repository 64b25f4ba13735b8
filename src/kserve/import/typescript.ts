/**
 * An `ImportPlan` as a TypeScript cdk8s app a person would keep: one chart per namespace, runtimes as
 * named constants, props in the mapping's order (KServe's docs' order), no defaults the constructs
 * already have, and imports of only what the code uses. Printing is deterministic: the same input
 * gives the same text.
 */
import { Code, CodeModule, fromJson } from './code';
import { camelCase, VariableNames } from './names';
import { ImportPlan, NamespacePlan } from './plan';
import { isNotMapped } from './report';

/** Chart id (and `<id>.k8s.yaml`) of the objects without a namespace. */
export const NO_NAMESPACE_CHART = 'kserve';

const IMPORT_ORDER: CodeModule[] = ['cdk8s', 'cdk8s-plus-33', 'cdk8s-model-serving'];
const MAX_INLINE = 100;

/** The chart id of a namespace's plan; the CLI's `--synth` uses the same ids. */
export function chartIdOf(ns: NamespacePlan): string {
  return ns.namespace ?? NO_NAMESPACE_CHART;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const quote = (s: string) => `'${JSON.stringify(s).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
const key = (k: string) => (IDENTIFIER.test(k) ? k : quote(k));

class Printer {
  public readonly imports = new Map<CodeModule, Set<string>>();
  /** A variable's printed name, when the printer had to give it another one. */
  public readonly renamed = new Map<string, string>();

  constructor(private readonly scopeName: () => string) {}

  public use(module: CodeModule, symbol: string): string {
    if (!this.imports.has(module)) this.imports.set(module, new Set());
    this.imports.get(module)!.add(symbol);
    return symbol;
  }

  public print(code: Code, indent: string): string {
    switch (code.kind) {
      case 'literal': return typeof code.value === 'string' ? quote(code.value) : String(code.value);
      case 'member': return `${this.use(code.module, code.symbol)}.${code.member}`;
      case 'call': return `${this.use(code.module, code.symbol)}.${code.member}(${code.args.map(a => this.print(a, indent)).join(', ')})`;
      case 'method': return `${this.print(code.target, indent)}.${code.method}(${code.args.map(a => this.print(a, indent)).join(', ')})`;
      case 'scope': return this.scopeName();
      case 'variable': return this.renamed.get(code.name) ?? code.name;
      case 'array': {
        if (code.items.length === 0) return '[]';
        const inline = `[${code.items.map(i => this.print(i, indent)).join(', ')}]`;
        if (inline.length + indent.length <= MAX_INLINE && !inline.includes('\n')) return inline;
        const inner = `${indent}  `;
        return `[\n${code.items.map(i => `${inner}${this.print(i, inner)},\n`).join('')}${indent}]`;
      }
      case 'object': {
        if (code.entries.length === 0) return '{}';
        const inline = `{ ${code.entries.map(([k, v]) => `${key(k)}: ${this.print(v, indent)}`).join(', ')} }`;
        if (inline.length + indent.length <= MAX_INLINE && !inline.includes('\n')) return inline;
        const inner = `${indent}  `;
        return `{\n${code.entries.map(([k, v]) => `${inner}${key(k)}: ${this.print(v, inner)},\n`).join('')}${indent}}`;
      }
    }
  }
}

/** The TypeScript program of a plan. `sources` names the input files in the header. */
export function generateTypeScript(plan: ImportPlan, sources: readonly string[]): string {
  const names = new VariableNames();
  for (const r of plan.runtimes) names.take(r.variable);
  names.take('app');
  let currentScope = 'app';
  const p = new Printer(() => currentScope);
  const body: string[] = [];

  for (const r of plan.runtimes) {
    body.push(`// ${r.document}: ${r.runtimeName}`);
    // Exported: a runtime no endpoint here names is still one the cluster had (and other apps may use).
    body.push(`export const ${r.variable} = ${p.use('cdk8s-model-serving', 'ServingRuntime')}.custom(${p.print(r.options, '')});`, '');
  }
  body.push(`const app = new ${p.use('cdk8s', 'App')}();`);
  for (const ns of plan.namespaces) {
    const id = chartIdOf(ns);
    const chart = names.take(ns.namespace ? `${camelCase(ns.namespace, 'ns')}Chart` : 'chart');
    currentScope = chart;
    body.push('', `const ${chart} = new ${p.use('cdk8s', 'Chart')}(app, ${quote(id)}${ns.namespace ? `, { namespace: ${quote(ns.namespace)} }` : ''});`);
    // Endpoints a graph's steps name are kept in their variables.
    const referenced = JSON.stringify(ns.statements.filter(s => s.kind === 'graph'));
    for (const s of ns.statements) {
      if (s.kind === 'graph') {
        body.push(`// ${s.document}`);
        body.push(`new ${p.use('cdk8s-model-serving', 'InferenceGraph')}(${chart}, ${quote(s.id)}, ${p.print(s.props, '')});`);
        continue;
      }
      if (s.kind === 'api-object') {
        body.push(`// ${s.document}: kept as it is (see the report)`);
        body.push(`new ${p.use('cdk8s', 'ApiObject')}(${chart}, ${quote(s.id)}, ${p.print(fromJson(s.manifest), '')});`);
        continue;
      }
      const construct = p.use('cdk8s-model-serving', s.construct);
      const notes = plan.report.filter(e => e.document === s.document && isNotMapped(e));
      body.push(`// ${s.document}${notes.length > 0 ? `: ${notes.length} field(s) not mapped, see the report` : ''}`);
      const make = `new ${construct}(${chart}, ${quote(s.id)}, ${p.print(s.props, '')});`;
      if (!s.transformer && !s.explainer && !referenced.includes(`{"kind":"variable","name":"${s.variable}"}`)) {
        body.push(make);
        continue;
      }
      const v = names.take(s.variable);
      p.renamed.set(s.variable, v);
      body.push(`const ${v} = ${make}`);
      if (s.transformer) body.push(`${v}.addTransformer(${p.print(s.transformer, '')});`);
      if (s.explainer) body.push(`${v}.addExplainer(${p.print(s.explainer, '')});`);
    }
  }
  body.push('', 'app.synth();', '');

  const unmapped = plan.report.filter(isNotMapped).length;
  const header = [
    `// Generated by \`cdk8s-model-serving kserve import\` from ${sources.join(', ')}.`,
    unmapped > 0
      ? `// ${unmapped} field(s) were not mapped exactly: \`kserve import --json\` lists them with the reason.`
      : '// Every field was mapped.',
  ];
  const imports = IMPORT_ORDER.filter(m => p.imports.has(m)).map(m => `import { ${[...p.imports.get(m)!].sort().join(', ')} } from '${m}';`);
  return [...header, ...imports, '', ...body].join('\n');
}
