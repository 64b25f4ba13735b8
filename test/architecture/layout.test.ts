/**
 * The layout's rules, read from the import graph of `src/` (type-only imports included):
 * no import cycle outside `src/imports/`; the server and the constructs share only
 * `src/contract.ts`; the renderers never import a construct class; `src/index.ts` only
 * re-exports the public constructs. Each rule is also shown failing on a small tree that
 * breaks it, written to a temp directory.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { declaresConstruct, forbiddenImports, importCycles, importGraph, ImportGraph, LayerRule, sourceFiles } from './import-graph';

const ROOT = path.join(__dirname, '..', '..');

/** Folders (and files) that must not import each other, with the reason shown on failure. */
const LAYER_RULES: LayerRule[] = [
  { from: 'src/server', to: 'src/constructs', why: 'the model server shares only src/contract.ts with the constructs' },
  { from: 'src/server', to: 'src/render', why: 'the model server shares only src/contract.ts with the constructs' },
  { from: 'src/server', to: 'src/index.ts', why: 'the model server shares only src/contract.ts with the constructs' },
  { from: 'src/constructs', to: 'src/server', why: 'the constructs share only src/contract.ts with the server' },
  { from: 'src/render', to: 'src/server', why: 'the renderers share only src/contract.ts with the server' },
  // An allow-list, so a new shared folder cannot slip past the rules above: the server imports its own files and the contract.
  { from: 'src/server', to: 'src', why: 'the model server shares only the contract (src/contract.ts, src/contract/) with the rest', except: ['src/server', 'src/contract.ts', 'src/contract'] },
  // src/package-version.ts is generated from package.json (scripts/stamp-version.js) and imports nothing.
  { from: 'src/contract.ts', to: 'src', why: 'the contract is the one module every part imports, so it imports none but the generated version', except: ['src/package-version.ts', 'src/contract'] },
  { from: 'src/contract', to: 'src', why: 'the contract\'s graph part imports only the contract', except: ['src/contract.ts', 'src/contract', 'src/package-version.ts'] },
];

/** Imports from `src/render/` of a file that declares a construct class. */
function renderImportsOfConstructs(root: string, graph: ImportGraph): string[] {
  const found: string[] = [];
  for (const [from, targets] of graph) {
    if (!from.startsWith('src/render/')) continue;
    for (const to of targets) {
      if (to.startsWith('src/constructs/') && declaresConstruct(fs.readFileSync(path.join(root, to), 'utf8'))) found.push(`${from} -> ${to}`);
    }
  }
  return found;
}

describe('src/', () => {
  const files = sourceFiles(ROOT, 'src', ['src/imports']);
  const graph = importGraph(ROOT, files);

  test('the graph covers every part (a guard against an empty or partial read)', () => {
    for (const part of ['src/index.ts', 'src/contract.ts', 'src/constructs/', 'src/render/', 'src/server/']) {
      expect(files.some(f => f.startsWith(part))).toBe(true);
    }
    expect(graph.get('src/constructs/model-endpoint.ts')).toContain('src/render/resolve/resolve-endpoint.ts');
    expect(graph.get('src/server/config.ts')).toContain('src/contract.ts');
  });

  test('no import cycle between files outside src/imports/, counting type-only imports', () => {
    expect(importCycles(graph)).toEqual([]);
  });

  test('the server and the constructs (and renderers) import each other nowhere; the contract imports only the generated version', () => {
    expect(forbiddenImports(graph, LAYER_RULES)).toEqual([]);
  });

  test('the renderers never import a file that declares a construct class', () => {
    expect(renderImportsOfConstructs(ROOT, graph)).toEqual([]);
  });

  test('src/index.ts only re-exports files of src/constructs/, and every one of them', () => {
    const lines = fs.readFileSync(path.join(ROOT, 'src', 'index.ts'), 'utf8').trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^export \* from '\.\/constructs\/[a-z0-9-]+';$/);
    const exported = lines.map(l => `src/${l.slice("export * from './".length, -2)}.ts`).sort();
    expect(exported).toEqual(files.filter(f => f.startsWith('src/constructs/')));
  });
});

describe('the checks fail on a tree that breaks the rules (temp directory)', () => {
  let root: string;
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text);
  };
  const graphOf = () => importGraph(root, sourceFiles(root, 'src', ['src/imports']));

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'layout-'));
    write('src/contract.ts', 'export const HTTP_PORT = 8080;\n');
    write('src/constructs/endpoint.ts', "import { Construct } from 'constructs';\nimport { build } from '../render/build';\nexport class Endpoint extends Construct {}\nexport { build };\n");
    write('src/constructs/endpoint-options.ts', 'export interface EndpointOptions { readonly port?: number }\n');
    write('src/render/build.ts', "import { EndpointOptions } from '../constructs/endpoint-options';\nimport { HTTP_PORT } from '../contract';\nexport function build(o: EndpointOptions) { return o.port ?? HTTP_PORT; }\n");
    write('src/server/main.ts', "import { HTTP_PORT } from '../contract';\nexport const port = HTTP_PORT;\n");
    write('src/imports/k8s.ts', "import './k8s';\n");
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  test('the well-formed tree passes every check', () => {
    const graph = graphOf();
    expect(importCycles(graph)).toEqual([]);
    expect(forbiddenImports(graph, LAYER_RULES)).toEqual([]);
    expect(renderImportsOfConstructs(root, graph)).toEqual([]);
  });

  test('a cycle made only of type imports is found', () => {
    write('src/render/build.ts', "import type { Endpoint } from '../constructs/endpoint';\nexport function build(e?: Endpoint) { return e; }\n");
    expect(importCycles(graphOf())).toEqual([['src/constructs/endpoint.ts', 'src/render/build.ts']]);
  });

  test('a file that imports itself is a cycle', () => {
    write('src/render/self.ts', "export * from './self';\n");
    expect(importCycles(graphOf())).toEqual([['src/render/self.ts']]);
  });

  test('the server importing a renderer, and a construct importing the server, are both reported', () => {
    write('src/server/main.ts', "import { build } from '../render/build';\nexport const port = build({});\n");
    write('src/constructs/endpoint-options.ts', "import { port } from '../server/main';\nexport interface EndpointOptions { readonly port?: typeof port }\n");
    expect(forbiddenImports(graphOf(), LAYER_RULES).map(f => `${f.from} -> ${f.to}`)).toEqual([
      'src/constructs/endpoint-options.ts -> src/server/main.ts',
      'src/server/main.ts -> src/render/build.ts',
    ]);
  });

  test('a require() of the constructs from the server is reported too', () => {
    write('src/server/late.ts', "export const load = () => require('../constructs/endpoint');\n");
    expect(forbiddenImports(graphOf(), LAYER_RULES).map(f => f.rule)).toEqual([
      'src/server must not import src/constructs: the model server shares only src/contract.ts with the constructs',
    ]);
  });

  test('the server importing a new shared folder is reported (the server\'s rule is an allow-list); the contract\'s own folder is not', () => {
    write('src/shared/spec.ts', 'export interface Spec { readonly name: string }\n');
    write('src/contract/graph-spec.ts', "import { HTTP_PORT } from '../contract';\nexport const GRAPH_PORT = HTTP_PORT;\n");
    write('src/server/router.ts', "import type { Spec } from '../shared/spec';\nimport { GRAPH_PORT } from '../contract/graph-spec';\nexport const s: Spec | number = GRAPH_PORT;\n");
    expect(forbiddenImports(graphOf(), LAYER_RULES).map(f => `${f.from} -> ${f.to}: ${f.rule}`)).toEqual([
      'src/server/router.ts -> src/shared/spec.ts: src/server must not import src: the model server shares only the contract (src/contract.ts, src/contract/) with the rest',
    ]);
  });

  test('a renderer importing a construct class file is reported', () => {
    write('src/render/monitor.ts', "import { Endpoint } from '../constructs/endpoint';\nexport const kind = Endpoint.name;\n");
    expect(renderImportsOfConstructs(root, graphOf())).toEqual(['src/render/monitor.ts -> src/constructs/endpoint.ts']);
  });

  test('an import that resolves to no file fails the read, naming the importer', () => {
    write('src/render/broken.ts', "import { gone } from './gone';\nexport const x = gone;\n");
    expect(graphOf).toThrow(/src\/render\/broken.ts: cannot resolve import '.\/gone'/);
  });
});
