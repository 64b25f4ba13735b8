/**
 * scripts/compare-synth.js, the judge of `npx projen bindings:check`: the Python, Go and Java apps must
 * synthesize the same objects as the TypeScript example. It runs here as the check runs it (a node process).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'compare-synth.js');
let dir: string;

beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compare-synth-')); });
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function compare(...files: string[]) {
  const result = spawnSync(process.execPath, [SCRIPT, ...files], { encoding: 'utf8' });
  return { status: result.status, out: result.stdout + result.stderr };
}

const REFERENCE = [
  'apiVersion: v1\nkind: Service\nmetadata:\n  name: iris\n  namespace: models\nspec:\n  ports:\n    - port: 80\n      targetPort: 8080\n',
  'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: iris\n  namespace: models\nspec:\n  replicas: 2\n',
].join('---\n');

test('the same bytes are equal and say so', () => {
  const ref = write('ref.yaml', REFERENCE);
  const same = write('same.yaml', REFERENCE);
  const r = compare(ref, same);
  expect(r.status).toBe(0);
  expect(r.out).toContain('2 objects equal');
  expect(r.out).toContain('byte-identical');
});

test('other key order, quoting and document order are still the same objects', () => {
  const ref = write('ref.yaml', REFERENCE);
  const reordered = write('reordered.yaml', [
    'kind: Deployment\napiVersion: "apps/v1"\nspec: { replicas: 2 }\nmetadata: { namespace: models, name: iris }\n',
    'metadata:\n  namespace: models\n  name: iris\nkind: Service\napiVersion: v1\nspec:\n  ports: [{ targetPort: 8080, port: 80 }]\n',
  ].join('---\n'));
  const r = compare(ref, reordered);
  expect(r.status).toBe(0);
  expect(r.out).not.toContain('byte-identical');
});

test('a changed field fails and names the object', () => {
  const ref = write('ref.yaml', REFERENCE);
  const changed = write('changed.yaml', REFERENCE.replace('replicas: 2', 'replicas: 3'));
  const r = compare(ref, changed);
  expect(r.status).toBe(1);
  expect(r.out).toContain('differs apps/v1/Deployment models/iris');
});

test('a missing or an extra object fails and names it', () => {
  const ref = write('ref.yaml', REFERENCE);
  const [service] = REFERENCE.split('---\n');
  const missing = write('missing.yaml', service);
  expect(compare(ref, missing).out).toContain('missing apps/v1/Deployment models/iris');
  const extra = write('extra.yaml', REFERENCE + '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n');
  const r = compare(ref, extra);
  expect(r.status).toBe(1);
  expect(r.out).toContain('extra v1/ConfigMap /extra');
});

test('without a candidate it prints its usage and exits 2', () => {
  const r = compare(write('ref.yaml', REFERENCE));
  expect(r.status).toBe(2);
  expect(r.out).toContain('usage');
});
