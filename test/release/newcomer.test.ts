/**
 * The README's newcomer path, run as written: the package's tarball as `npx projen package:js` makes
 * it (`npm pack`, then scripts/declare-optional-peers.js, the same two steps), an empty app folder with the
 * cdk8s.yaml, tsconfig.json and main.ts of the README's "Use it in your cdk8s app" section, an offline
 * install (the tarball; the peers and tools linked from this repo's node_modules, the same versions
 * the README pins), then the cdk8s CLI's `synth --no-check-upgrade`, which type-checks main.ts with
 * ts-node. Needs lib/ (`npx projen compile`; the build compiles before it tests).
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseAllDocuments } from 'yaml';

const ROOT = path.join(__dirname, '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const NODE_MODULES = path.join(ROOT, 'node_modules');
/** What the README's install commands name, besides the package itself. */
const LINKED = ['cdk8s', 'cdk8s-plus-33', 'constructs', 'cdk8s-cli', 'typescript', 'ts-node', '@types/node'];

/** `{ file: text }` for every code block of a README section preceded by a line "`file`:". */
function filesOfSection(heading: string): Record<string, string> {
  const start = README.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no section '## ${heading}'`);
  const end = README.indexOf('\n## ', start + 1);
  const section = README.slice(start, end < 0 ? undefined : end);
  const files: Record<string, string> = {};
  for (const m of section.matchAll(/^`([\w.-]+)`:\n\n```\w*\n([\s\S]*?)```$/gm)) files[m[1]] = m[2];
  return files;
}

/** A clean environment: no npm registry reachable, no cdk8s-cli version cache. */
function offlineEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, npm_config_registry: 'http://127.0.0.1:9/', npm_config_offline: 'true', npm_config_update_notifier: 'false' };
}

describe('README: use it in your cdk8s app', () => {
  let tmp: string;
  let tarball: string;
  beforeAll(() => {
    if (!fs.existsSync(path.join(ROOT, 'lib', 'index.js'))) throw new Error('lib/ is missing: run `npx projen compile` first (the tarball packs lib/)');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'newcomer-'));
    const name = execFileSync('npm', ['pack', '--ignore-scripts', '--loglevel=error', '--pack-destination', tmp], { cwd: ROOT, encoding: 'utf8', env: offlineEnv(tmp), stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop()!;
    tarball = path.join(tmp, name);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('../../scripts/declare-optional-peers').declareOptionalPeers(tarball);
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test('the section gives the three files of the smallest app', () => {
    expect(Object.keys(filesOfSection('Use it in your cdk8s app')).sort()).toEqual(['cdk8s.yaml', 'main.ts', 'tsconfig.json']);
  });

  test('an empty app with the README\'s files, installed offline from the tarball, synthesizes the endpoint (type-checked by ts-node)', () => {
    const app = path.join(tmp, 'my-infra');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'my-infra', private: true }));
    for (const [file, text] of Object.entries(filesOfSection('Use it in your cdk8s app'))) fs.writeFileSync(path.join(app, file), text);
    const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', tarball, ...LINKED.map((p) => path.join(NODE_MODULES, p))], {
      cwd: app, encoding: 'utf8', env: offlineEnv(tmp),
    });
    if (install.status !== 0) throw new Error(`npm install failed:\n${install.stdout}\n${install.stderr}`);
    // The versions the README pins are the ones installed.
    const version = (p: string) => JSON.parse(fs.readFileSync(path.join(app, 'node_modules', p, 'package.json'), 'utf8')).version;
    expect(version('typescript')).toMatch(/^6\.0\./);
    expect(version('ts-node')).toBe('10.9.2');
    expect(README).toContain(`ts-node@${version('ts-node')}`);
    // onnxruntime-node is an optional peer: npm installs none of its 113 MB for users of the constructs.
    expect(fs.existsSync(path.join(app, 'node_modules', 'onnxruntime-node'))).toBe(false);

    const synth = spawnSync(path.join(app, 'node_modules', '.bin', 'cdk8s'), ['synth', '--no-check-upgrade'], { cwd: app, encoding: 'utf8', env: offlineEnv(tmp), timeout: 120_000 });
    if (synth.status !== 0) throw new Error(`cdk8s synth failed (exit ${synth.status}):\n${synth.stdout}\n${synth.stderr}`);
    expect(synth.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const docs = parseAllDocuments(fs.readFileSync(path.join(app, 'dist', 'models.k8s.yaml'), 'utf8')).map((d) => d.toJS());
    const service = docs.find((d) => d.kind === 'Service' && d.apiVersion === 'serving.knative.dev/v1');
    expect(service.metadata).toMatchObject({ name: 'iris', namespace: 'models' });
    // The default image is the package's own version (package.json, stamped into src/package-version.ts at build).
    const { version: packageVersion } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    expect(JSON.stringify(service)).toContain(`ghcr.io/cdk8s-model-serving/model-server:${packageVersion}`);
  });

  test('the published package declares onnxruntime-node as an optional peer (package:js rewrites the tarball)', () => {
    const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
    const ort = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).devDependencies['onnxruntime-node'];
    expect(manifest.peerDependencies['onnxruntime-node']).toBe(`^${ort}`);
    expect(manifest.peerDependenciesMeta['onnxruntime-node']).toEqual({ optional: true });
    // The jsii peers stay as they were, and the tarball still holds the package.
    expect(Object.keys(manifest.peerDependencies)).toEqual(expect.arrayContaining(['cdk8s', 'cdk8s-plus-33', 'constructs']));
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
    expect(listing).toContain('package/lib/index.js');
    expect(listing).toContain('package/assets/server/cli.js');
  });
});

test('the README\'s first command turns the cdk8s CLI\'s update check off, and so does every example\'s', () => {
  const first = /```sh\n(.*)\n/.exec(README)![1];
  expect(first).toMatch(/\(cd examples\/iris && npx cdk8s synth --no-check-upgrade\)/);
  for (const m of README.matchAll(/npx cdk8s synth(?! --no-check-upgrade)/g)) {
    throw new Error(`README.md: 'npx cdk8s synth' without --no-check-upgrade at offset ${m.index}`);
  }
  const examples = path.join(ROOT, 'examples');
  for (const example of fs.readdirSync(examples).filter((d) => fs.existsSync(path.join(examples, d, 'main.ts')))) {
    expect(`${example}: ${fs.readFileSync(path.join(examples, example, 'main.ts'), 'utf8')}`).not.toMatch(/npx cdk8s synth(?! --no-check-upgrade)/);
  }
});

test.each([
  ['--no-check-upgrade', ['--no-check-upgrade'], {}],
  ['CDK8S_CHECK_UPGRADE=false', [], { CDK8S_CHECK_UPGRADE: 'false' }],
])('with %s the cdk8s CLI goes straight to synthesis: no update check, so no stack trace where the registry is out of reach', (_, args, env) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdk8s-check-'));
  try {
    // An app that writes nothing: the CLI starts, skips the check, runs it, and reports the missing output.
    fs.writeFileSync(path.join(dir, 'cdk8s.yaml'), 'app: node -e 1\n');
    const r = spawnSync(path.join(NODE_MODULES, '.bin', 'cdk8s'), ['synth', ...args], { cwd: dir, encoding: 'utf8', env: { ...offlineEnv(dir), ...env }, timeout: 60_000 });
    const out = `${r.stdout}${r.stderr}`;
    expect(out).toContain('Synthesizing application');
    expect(out).not.toMatch(/http error|_loadurl|\n\s+at /);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
