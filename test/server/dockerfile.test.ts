// Static checks of the model-server Dockerfile (no Docker engine needed), and its prune step run
// against a copy (hard links) of this repo's onnxruntime-node install.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GRPC_PORT, HTTP_PORT, MODEL_DIR } from '../../src/contract';

const ROOT = path.join(__dirname, '..', '..');
const DOCKERFILE = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const DOCKERIGNORE = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8');

interface Instruction { readonly op: string; readonly args: string }

/** Instructions with line continuations joined and comments dropped. */
function parse(text: string): Instruction[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined.split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l)!;
      return { op: m[1].toUpperCase(), args: m[2].trim() };
    });
}

const ALL = parse(DOCKERFILE);
const ARGS = Object.fromEntries(ALL.filter((i) => i.op === 'ARG' && i.args.includes('='))
  .map((i) => i.args.split('=', 2) as [string, string]));
/** Instructions of the last stage (the image that ships). */
const FINAL = ALL.slice(ALL.map((i) => i.op).lastIndexOf('FROM'));
const expand = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => ARGS[a ?? b] ?? `\${${a ?? b}}`);
/** The image of a FROM instruction (after flags such as --platform). */
const fromImage = (i: Instruction) => expand(i.args.split(/\s+/).find((w) => !w.startsWith('--'))!);
/** Instructions of the stage named `name` (`FROM ... AS name`). */
function stage(name: string): Instruction[] {
  const start = ALL.findIndex((i) => i.op === 'FROM' && new RegExp(`\\sAS\\s+${name}$`, 'i').test(i.args));
  const next = ALL.findIndex((i, n) => n > start && i.op === 'FROM');
  return ALL.slice(start, next < 0 ? undefined : next);
}

describe('Dockerfile', () => {
  test('is multi-stage on a pinned Node 24 LTS release (node:24.x.y-bookworm-slim), never latest', () => {
    const froms = ALL.filter((i) => i.op === 'FROM').map(fromImage);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const image of froms) {
      expect(image).toMatch(/^[\w./-]+:[\w.-]+$/); // has a tag
      expect(image).not.toMatch(/:latest$/);
      expect(image).toMatch(/^node:24\.\d+\.\d+-bookworm-slim$/);
    }
  });

  test('runs the Node release the server test suites run on in CI (scripts/node24.js)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { NODE24_VERSION } = require('../../scripts/node24');
    expect(fromImage(ALL.find((i) => i.op === 'FROM')!)).toBe(`node:${NODE24_VERSION}-bookworm-slim`);
  });

  test('the final stage runs as a numeric non-root user matching the constructs (1000)', () => {
    const users = FINAL.filter((i) => i.op === 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0].args.split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBe(1000);
    expect(gid).toBe('1000');
    // After USER, only the compile-cache priming runs (as that user, so Node files it under uid 1000).
    expect(FINAL.slice(FINAL.indexOf(users[0])).filter((i) => i.op === 'RUN').map((i) => i.args)).toEqual(['node /app/cli.js --version']);
  });

  test('entrypoint runs the bundle where the bundle script writes it', () => {
    // scripts/bundle-server.js writes assets/server/cli.js; the final stage copies that folder to /app/.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { outdir } = require('../../scripts/bundle-server');
    expect(path.relative(ROOT, outdir)).toBe(path.join('assets', 'server'));
    const copy = FINAL.find((i) => i.op === 'COPY' && /assets\/server\/?\s/.test(`${i.args} `));
    expect(copy?.args).toMatch(/--from=build\s+\/src\/assets\/server\/\s+\/app\/$/);
    const entrypoint = FINAL.find((i) => i.op === 'ENTRYPOINT')!;
    expect(JSON.parse(entrypoint.args)).toEqual(['node', '/app/cli.js']);
    expect(JSON.parse(FINAL.find((i) => i.op === 'CMD')!.args)).toEqual(['serve']);
    // The build stage actually runs the bundle script.
    expect(ALL.some((i) => i.op === 'RUN' && i.args.includes('node scripts/bundle-server.js'))).toBe(true);
  });

  test('ships a compile cache primed by uid 1000 in the folder the launcher reads', () => {
    const runs = FINAL.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /mkdir -p .*\/app\/compile-cache/.test(r) && /chown 1000:1000 .*\/app\/compile-cache/.test(r))).toBe(true);
    const launcher = readFileSync(path.join(ROOT, 'src', 'server', 'launcher.ts'), 'utf8');
    expect(launcher).toContain("path.join(__dirname, 'compile-cache')");
  });

  test('exposes the ports of the serving contract', () => {
    const ports = FINAL.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => Number(p.split('/')[0]));
    expect(ports.sort()).toEqual([HTTP_PORT, GRPC_PORT].sort());
  });

  test('works with a read-only root filesystem: HOME and TMPDIR under /tmp, models in MODEL_DIR', () => {
    const env = FINAL.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    expect(env).toMatch(/\bHOME=\/tmp\b/);
    expect(env).toMatch(/\bTMPDIR=\/tmp\b/);
    expect(env).toContain(`MODEL_DIR=${MODEL_DIR}`);
    expect(FINAL.some((i) => i.op === 'RUN' && i.args.includes(`chown 1000:1000 ${MODEL_DIR}`))).toBe(true);
  });

  test('installs onnxruntime-node without its download step, production only', () => {
    const envs = ALL.filter((i) => i.op === 'ENV').map((i) => i.args);
    expect(envs.filter((e) => e.includes('ONNXRUNTIME_NODE_INSTALL=skip')).length).toBeGreaterThanOrEqual(2);
    expect(ALL.some((i) => i.op === 'RUN' && /npm install --omit=dev/.test(i.args))).toBe(true);
    // The final stage takes node_modules only from the production-deps stage.
    const copies = FINAL.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies.filter((c) => c.includes('node_modules'))).toEqual(['--from=deps /deps/node_modules/ /app/node_modules/']);
  });

  test('.dockerignore keeps the context to what the build reads', () => {
    const lines = DOCKERIGNORE.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    expect(lines[0]).toBe('*');
    for (const needed of ['package.json', 'package-lock.json', 'scripts/', 'src/']) {
      expect(lines).toContain(`!${needed}`);
    }
    expect(lines.some((l) => l.includes('node_modules') && l.startsWith('!'))).toBe(false);
  });

  // ---- release (issue 19) ----
  test('the build and deps stages run on the builder\'s platform; only the final stage is per architecture', () => {
    for (const name of ['build', 'deps']) expect(stage(name)[0].args).toMatch(/^--platform=\$BUILDPLATFORM\s/);
    expect(FINAL[0].args).not.toContain('--platform');
  });

  test('a release build stamps PACKAGE_VERSION into package.json before bundling (the bundle reports it)', () => {
    const build = stage('build');
    expect(build.some((i) => i.op === 'ARG' && i.args === 'PACKAGE_VERSION')).toBe(true);
    const bundle = build.find((i) => i.op === 'RUN' && i.args.includes('node scripts/bundle-server.js'))!;
    expect(bundle.args.indexOf('npm pkg set version="$PACKAGE_VERSION"')).toBeGreaterThanOrEqual(0);
    expect(bundle.args.indexOf('npm pkg set version')).toBeLessThan(bundle.args.indexOf('node scripts/bundle-server.js'));
    // bundle-server.js stamps src/package-version.ts from package.json.
    expect(readFileSync(path.join(ROOT, 'scripts', 'bundle-server.js'), 'utf8')).toContain('stampVersion();');
  });

  test('the deps stage prunes node_modules for TARGETARCH with scripts/prune-runtime.js', () => {
    const deps = stage('deps');
    expect(deps.some((i) => i.op === 'ARG' && i.args === 'TARGETARCH')).toBe(true);
    expect(deps.some((i) => i.op === 'COPY' && i.args === 'scripts/prune-runtime.js /prune-runtime.js')).toBe(true);
    const install = deps.find((i) => i.op === 'RUN' && i.args.includes('npm install'))!;
    expect(install.args).toContain('node /prune-runtime.js node_modules "$TARGETARCH"');
  });

  test('the usage comment runs multi mode without --model-name and asks for a model that the mounted folder holds', () => {
    const comment = DOCKERFILE.split('\n').filter((l) => l.startsWith('#')).map((l) => l.slice(1)).join('\n').replace(/\\\n/g, ' ');
    const run = /docker run (.*)/.exec(comment)![1];
    expect(run).toContain('serve --mode multi');
    expect(run).not.toContain('--model-name');
    const mount = /-v \$PWD\/(\S+):\/mnt\/models/.exec(run)![1];
    const model = /curl \S+\/v2\/models\/([\w.-]+)\/ready/.exec(comment)![1];
    // Multi mode serves <dir>/<name>.onnx and <dir>/<name>/ as the model <name>.
    expect(existsSync(path.join(ROOT, mount, `${model}.onnx`)) || existsSync(path.join(ROOT, mount, model))).toBe(true);
  });
});

describe('scripts/prune-runtime.js on a copy of this repo\'s onnxruntime-node install', () => {
  const NODE_MODULES = path.join(ROOT, 'node_modules');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { pruneRuntime, INSTALL_ONLY } = require('../../scripts/prune-runtime');
  let tmp: string;

  /** What `npm install onnxruntime-node` puts in node_modules: its dependency closure, hard-linked (cp -r across devices). */
  function copyInstall(dest: string): string[] {
    const names: string[] = [];
    const queue = ['onnxruntime-node'];
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (names.includes(name) || !existsSync(path.join(NODE_MODULES, name, 'package.json'))) continue;
      names.push(name);
      const manifest = JSON.parse(readFileSync(path.join(NODE_MODULES, name, 'package.json'), 'utf8'));
      queue.push(...Object.keys(manifest.dependencies ?? {}));
      linkTree(path.join(NODE_MODULES, name), path.join(dest, name));
    }
    return names;
  }
  function linkTree(from: string, to: string): void {
    mkdirSync(to, { recursive: true });
    for (const entry of readdirSync(from)) {
      const [src, dst] = [path.join(from, entry), path.join(to, entry)];
      if (statSync(src).isDirectory()) {linkTree(src, dst);} else {
        try {
          linkSync(src, dst);
        } catch {
          cpSync(src, dst);
        }
      }
    }
  }
  const files = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(path.join(dir, f)).isFile());

  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'prune-runtime-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  test.each([['amd64', 'x64', 'arm64'], ['arm64', 'arm64', 'x64']])('TARGETARCH=%s keeps linux/%s binaries only, and no install-only package', (targetArch, keep, drop) => {
    const installed = copyInstall(tmp);
    expect(installed).toEqual(expect.arrayContaining(['onnxruntime-node', 'onnxruntime-common', ...INSTALL_ONLY]));
    const { kept, removed } = pruneRuntime(tmp, targetArch);
    expect(kept).toEqual(['onnxruntime-common', 'onnxruntime-node']);
    expect(removed).toEqual(expect.arrayContaining(INSTALL_ONLY));
    expect(readdirSync(tmp).sort()).toEqual(['onnxruntime-common', 'onnxruntime-node']);
    const binaries = files(path.join(tmp, 'onnxruntime-node', 'bin'));
    expect(binaries.length).toBeGreaterThan(0);
    for (const f of binaries) expect(f).toMatch(new RegExp(`^napi-v\\d+/linux/${keep}/`));
    expect(binaries.some((f) => f.includes(`/${drop}/`))).toBe(false);
    expect(existsSync(path.join(tmp, 'onnxruntime-node', 'script'))).toBe(false);
  });

  test('the pruned install still loads onnxruntime on this machine\'s architecture (a real inference session of iris-logreg)', () => {
    // A node_modules of its own, so that require() finds the pruned copy and not the repo's.
    const nodeModules = path.join(tmp, 'node_modules');
    copyInstall(nodeModules);
    pruneRuntime(nodeModules, process.arch === 'x64' ? 'amd64' : 'arm64');
    const model = path.join(ROOT, 'test', 'fixtures', 'models', 'iris-logreg.onnx');
    const script = `require('onnxruntime-node').InferenceSession.create(${JSON.stringify(model)})
      .then((s) => process.stdout.write(require.resolve('onnxruntime-node') + ' ' + s.inputNames.length))`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: tmp, env: { PATH: process.env.PATH }, encoding: 'utf8' });
    expect(out).toBe(`${path.join(nodeModules, 'onnxruntime-node', 'dist', 'index.js')} 1`);
  });

  test('an unknown TARGETARCH is an error that names the choices', () => {
    copyInstall(tmp);
    expect(() => pruneRuntime(tmp, 'riscv64')).toThrow("TARGETARCH must be one of amd64, arm64, got 'riscv64'");
  });
});
