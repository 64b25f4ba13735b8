/**
 * One version everywhere: package.json's version is stamped into src/package-version.ts at build
 * (scripts/stamp-version.js); the default image's tag and the server's `--version` and GET /v2
 * carry it. Under jest, src/package-version.ts is replaced by test/release/test-version.ts (moduleNameMapper)
 * so snapshots keep one tag when the release bumps package.json; these tests read the real one.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as esbuild from 'esbuild';
import * as contract from '../../src/contract';

const ROOT = path.join(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { versionModule } = require('../../scripts/stamp-version');

/** Evaluates `<root>/src/contract.ts` bundled with esbuild: the real src/package-version.ts, not jest's stand-in. */
function realContract(root: string): typeof contract {
  const { outputFiles } = esbuild.buildSync({ entryPoints: [path.join(root, 'src', 'contract.ts')], bundle: true, platform: 'node', format: 'cjs', write: false, logLevel: 'silent' });
  const mod = { exports: {} as typeof contract };
  new Function('module', 'exports', 'require', outputFiles[0].text)(mod, mod.exports, require);
  return mod.exports;
}

test('src/package-version.ts is what scripts/stamp-version.js writes from package.json (committed up to date)', () => {
  expect(fs.readFileSync(path.join(ROOT, 'src', 'package-version.ts'), 'utf8')).toBe(versionModule(pkg.version));
});

test('the default image tag is package.json\'s version', () => {
  const real = realContract(ROOT);
  expect(real.PACKAGE_VERSION).toBe(pkg.version);
  expect(real.DEFAULT_SERVER_IMAGE).toBe(`${real.SERVER_IMAGE_REPOSITORY}:${pkg.version}`);
  expect(real.SERVER_IMAGE_REPOSITORY).toBe('ghcr.io/cdk8s-model-serving/model-server');
});

test('under jest the constructs see the stand-in version, so snapshots do not change with a release', () => {
  expect(contract.PACKAGE_VERSION).toBe('0.0.0-test');
  expect(contract.DEFAULT_SERVER_IMAGE).toBe('ghcr.io/cdk8s-model-serving/model-server:0.0.0-test');
});

test('the bundle in assets/server/ reports package.json\'s version in --version', () => {
  const out = execFileSync(process.execPath, [path.join(ROOT, 'assets', 'server', 'cli.js'), '--version'], { encoding: 'utf8' });
  expect(out).toMatch(new RegExp(`^cdk8s-model-server ${pkg.version.replace(/\./g, '\\.')} \\(`));
});

test('projen stamps first at build and again after the release resets package.json (its git diff check stays clean)', () => {
  const tasks = JSON.parse(fs.readFileSync(path.join(ROOT, '.projen', 'tasks.json'), 'utf8')).tasks;
  expect(tasks['version:stamp'].steps).toEqual([{ exec: 'node scripts/stamp-version.js' }]);
  expect(tasks['pre-compile'].steps[0]).toEqual({ spawn: 'version:stamp' });
  expect(tasks.unbump.steps.map((s: { builtin?: string; spawn?: string }) => s.builtin ?? s.spawn)).toEqual(['release/reset-version', 'version:stamp']);
  const release = tasks.release.steps.map((s: { spawn?: string; exec?: string }) => s.spawn ?? s.exec);
  expect(release.indexOf('unbump')).toBeLessThan(release.indexOf('git diff --ignore-space-at-eol --exit-code'));
});

describe('a bumped version (what projen\'s release does to package.json before it builds), in a copy of the repo', () => {
  const BUMPED = '9.8.7-rc.1';
  let copy: string;
  beforeAll(() => {
    copy = fs.mkdtempSync(path.join(os.tmpdir(), 'version-stamp-'));
    for (const entry of ['package.json', 'tsconfig.json', 'scripts', 'src']) {
      fs.cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true, filter: (src) => !src.includes(`${path.sep}imports${path.sep}`) });
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'));
    const manifest = JSON.parse(fs.readFileSync(path.join(copy, 'package.json'), 'utf8'));
    fs.writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ ...manifest, version: BUMPED }, null, 2));
    execFileSync(process.execPath, ['-e', "require('./scripts/bundle-server').bundleServer()"], { cwd: copy, stdio: 'ignore' });
  });
  afterAll(() => fs.rmSync(copy, { recursive: true, force: true }));

  test('bundling stamps it into src/package-version.ts, the server\'s --version and the default image tag', () => {
    expect(fs.readFileSync(path.join(copy, 'src', 'package-version.ts'), 'utf8')).toContain(`PACKAGE_VERSION = '${BUMPED}'`);
    const out = execFileSync(process.execPath, [path.join(copy, 'assets', 'server', 'cli.js'), '--version'], { encoding: 'utf8' });
    expect(out.startsWith(`cdk8s-model-server ${BUMPED} (`)).toBe(true);
    expect(realContract(copy).DEFAULT_SERVER_IMAGE).toBe(`ghcr.io/cdk8s-model-serving/model-server:${BUMPED}`);
  });

  test('a version that is not semantic is a clear error naming package.json', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(copy, 'package.json'), 'utf8'));
    fs.writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ ...manifest, version: 'latest' }));
    expect(() => execFileSync(process.execPath, [path.join(copy, 'scripts', 'stamp-version.js')], { stdio: 'pipe' }))
      .toThrow(/package\.json: version must be a semantic version \(x\.y\.z\), got "latest"/);
  });
});
