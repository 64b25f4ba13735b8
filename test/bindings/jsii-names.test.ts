/**
 * The public API as jsii hands it to Python, Go and Java (the .jsii assembly that `npx projen compile` writes):
 * no name that those languages would have to escape (jsii-pacmak turns a Python keyword into `name_`), no union
 * types (an untyped `object` in Java and `interface{}` in Go), and `any` only where a parsed manifest is the point.
 */
import * as fs from 'fs';
import * as path from 'path';

const ASSEMBLY = path.join(__dirname, '..', '..', '.jsii');

// Lower-case words that a parameter, property or method name would turn into (Python uses snake_case).
const PYTHON = ['False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def',
  'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal',
  'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield', 'self', 'cls'];
const GO = ['break', 'case', 'chan', 'const', 'continue', 'default', 'defer', 'else', 'fallthrough', 'for', 'func', 'go',
  'goto', 'if', 'import', 'interface', 'map', 'package', 'range', 'return', 'select', 'struct', 'switch', 'type', 'var'];
const JAVA = ['abstract', 'assert', 'boolean', 'break', 'byte', 'case', 'catch', 'char', 'class', 'const', 'continue',
  'default', 'do', 'double', 'else', 'enum', 'extends', 'final', 'finally', 'float', 'for', 'goto', 'if', 'implements',
  'import', 'instanceof', 'int', 'interface', 'long', 'native', 'new', 'package', 'private', 'protected', 'public',
  'return', 'short', 'static', 'strictfp', 'super', 'switch', 'synchronized', 'this', 'throw', 'throws', 'transient',
  'try', 'void', 'volatile', 'while', 'var', 'yield', 'record'];
const RESERVED = new Map<string, string[]>();
for (const [lang, words] of [['Python', PYTHON], ['Go', GO], ['Java', JAVA]] as const) {
  for (const w of words) RESERVED.set(w, [...(RESERVED.get(w) ?? []), lang]);
}

/** `any` is accepted here only: a manifest someone already parsed (fromYaml takes the text). */
const ANY_ALLOWED = ['KServeImport.fromInferenceService(manifest)'];

interface TypeRef { primitive?: string; fqn?: string; union?: { types: TypeRef[] }; collection?: { elementtype: TypeRef } }
interface Param { name: string; type: TypeRef }
interface JsiiType {
  name: string;
  kind: string;
  properties?: Param[];
  methods?: { name: string; parameters?: Param[]; returns?: { type: TypeRef } }[];
  initializer?: { parameters?: Param[] };
  members?: { name: string }[];
}

function loadTypes(): JsiiType[] {
  if (!fs.existsSync(ASSEMBLY)) throw new Error(`${ASSEMBLY} is missing: run \`npx projen compile\` first`);
  return Object.values(JSON.parse(fs.readFileSync(ASSEMBLY, 'utf8')).types as Record<string, JsiiType>);
}

const snake = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
const typeHas = (t: TypeRef | undefined, test: (t: TypeRef) => boolean): boolean =>
  t != null && (test(t) || (t.union?.types ?? []).some(u => typeHas(u, test)) || typeHas(t.collection?.elementtype, test));

/** Every public name and type use: [where, name, type]. */
function publicNames(types: JsiiType[]): Array<[string, string, TypeRef | undefined]> {
  const out: Array<[string, string, TypeRef | undefined]> = [];
  for (const t of types) {
    for (const p of t.properties ?? []) out.push([`${t.name}.${p.name}`, p.name, p.type]);
    for (const p of t.initializer?.parameters ?? []) out.push([`new ${t.name}(${p.name})`, p.name, p.type]);
    for (const m of t.methods ?? []) {
      out.push([`${t.name}.${m.name}()`, m.name, m.returns?.type]);
      for (const p of m.parameters ?? []) out.push([`${t.name}.${m.name}(${p.name})`, p.name, p.type]);
    }
  }
  return out;
}

test('the assembly has the constructs the bindings are proven with', () => {
  const names = loadTypes().map(t => t.name);
  expect(names).toEqual(expect.arrayContaining(['ModelEndpoint', 'StorageUri', 'EndpointIngress', 'InferenceProtocol']));
});

test('no public name is a Python, Go or Java keyword', () => {
  const clashes = publicNames(loadTypes())
    .filter(([, name]) => RESERVED.has(name) || RESERVED.has(snake(name)))
    .map(([where, name]) => `${where}: ${RESERVED.get(name) ?? RESERVED.get(snake(name))}`);
  expect(clashes).toEqual([]);
});

test('no public type is a union (Object in Java, interface{} in Go)', () => {
  const unions = publicNames(loadTypes()).filter(([, , type]) => typeHas(type, t => t.union != null)).map(([where]) => where);
  expect(unions).toEqual([]);
});

test('`any` appears only where a parsed manifest is taken', () => {
  const anys = publicNames(loadTypes()).filter(([, , type]) => typeHas(type, t => t.primitive === 'any')).map(([where]) => where);
  expect(anys).toEqual(ANY_ALLOWED);
});
