// Static checks of the model-server Dockerfile (no Docker engine needed).
import { readFileSync } from 'node:fs';
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

describe('Dockerfile', () => {
  test('is multi-stage on a pinned Node 24 LTS release (node:24.x.y-bookworm-slim), never latest', () => {
    const froms = ALL.filter((i) => i.op === 'FROM').map((i) => expand(i.args.split(/\s+/)[0]));
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
    expect(expand(ALL.find((i) => i.op === 'FROM')!.args.split(/\s+/)[0])).toBe(`node:${NODE24_VERSION}-bookworm-slim`);
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
});
