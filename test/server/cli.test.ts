// The `cdk8s-model-server` binary as users run it: the bundled CLI (assets/server/cli.js, the
// launcher, and server.js) in real processes.
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, modelDir, SERVER_NODE, startServer } from './server-harness';
import { SERVER_COMMANDS, SERVER_ENV, SERVER_FLAGS } from '../../src/contract';
import { SERVE_FLAG_DOCS } from '../../src/server/cli-help';
import { DEFAULTS } from '../../src/server/config';

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs `cli` (default: the bundle) with `args`; `env` replaces the environment when given. */
function runCli(args: string[], options: { cli?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(SERVER_NODE, [options.cli ?? CLI, ...args], { env: options.env ?? process.env, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'cli-test-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('help', () => {
  test('serve --help lists every flag of SERVER_FLAGS with its variable and default, and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout } = await runCli([SERVER_COMMANDS.serve, flag]);
      expect(code).toBe(0);
      for (const [key, name] of Object.entries(SERVER_FLAGS)) {
        const line = stdout.split('\n').find((l) => l.trimStart().startsWith(`${name} `) || l.trim() === name);
        expect({ flag: name, line }).toEqual({ flag: name, line: expect.stringContaining(name) });
        const variable = (SERVER_ENV as Record<string, string>)[key];
        if (variable) expect(line).toContain(`env ${variable}`);
        expect(line).toContain(`default: ${SERVE_FLAG_DOCS[key as keyof typeof SERVER_FLAGS].default}`);
      }
    }
  });

  test('every flag has a description and a default in the help table', () => {
    expect(Object.keys(SERVE_FLAG_DOCS).sort()).toEqual(Object.keys(SERVER_FLAGS).sort());
    for (const doc of Object.values(SERVE_FLAG_DOCS)) {
      expect(doc.description.length).toBeGreaterThan(10);
      expect(doc.default.length).toBeGreaterThan(0);
    }
  });

  test('the defaults in the help are the ones the server uses', () => {
    expect(SERVE_FLAG_DOCS.modelName.default).toBe(DEFAULTS.modelName);
    expect(SERVE_FLAG_DOCS.modelDir.default).toBe(DEFAULTS.modelDir);
    expect(SERVE_FLAG_DOCS.httpPort.default).toBe(String(DEFAULTS.httpPort));
    expect(SERVE_FLAG_DOCS.grpcPort.default).toBe(String(DEFAULTS.grpcPort));
    expect(SERVE_FLAG_DOCS.maxBodyBytes.default).toMatch(new RegExp(`^${DEFAULTS.maxBodyBytes}\\b`));
    expect(SERVE_FLAG_DOCS.requestTimeoutMs.default).toBe(String(DEFAULTS.requestTimeoutMs));
    expect(SERVE_FLAG_DOCS.logLevel.default).toBe(DEFAULTS.logLevel);
  });

  test('storage-initializer --help prints its usage and exits 0', async () => {
    const { code, stdout } = await runCli([SERVER_COMMANDS.storageInitializer, '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain(`usage: cdk8s-model-server ${SERVER_COMMANDS.storageInitializer}`);
    expect(stdout).toContain(SERVER_ENV.s3Endpoint);
  });

  test('--help and -h list the commands and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const { code, stdout } = await runCli([flag]);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^usage: cdk8s-model-server <command>/);
      for (const command of Object.values(SERVER_COMMANDS)) expect(stdout).toContain(`  ${command} `);
    }
  });

  test('--version prints the version, the onnxruntime-node and the Node version, and exits 0', async () => {
    const { code, stdout } = await runCli(['--version']);
    expect(code).toBe(0);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require('../../package.json');
    expect(stdout.trim()).toBe(`cdk8s-model-server ${pkg.version} (onnxruntime-node ${pkg.devDependencies['onnxruntime-node']}, node ${await nodeVersion()})`);
  });
});

describe('no command', () => {
  test('fails with the usage on stderr and exit 2 instead of starting a server', async () => {
    const { code, stdout, stderr } = await runCli([]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(/^usage: cdk8s-model-server <command>/);
  });

  test('fails with exit 2 for an unknown command, naming it', async () => {
    const { code, stderr } = await runCli(['--model-dir', '/mnt/models']);
    expect(code).toBe(2);
    expect(stderr).toContain("unknown command '--model-dir'");
  });
});

describe('without onnxruntime-node (a copy of the bundle with no node_modules above it)', () => {
  let bare: string;
  beforeAll(() => {
    bare = mkdtempSync(path.join(os.tmpdir(), 'cli-bare-'));
    for (const f of readdirSync(path.dirname(CLI))) {
      if (f.endsWith('.js') || f.endsWith('.proto')) copyFileSync(path.join(path.dirname(CLI), f), path.join(bare, f));
    }
    // The copy must not find onnxruntime-node anywhere up the tree or on NODE_PATH.
    for (let d = bare; ; d = path.dirname(d)) {
      expect(existsSync(path.join(d, 'node_modules', 'onnxruntime-node'))).toBe(false);
      if (path.dirname(d) === d) break;
    }
  });
  afterAll(() => rmSync(bare, { recursive: true, force: true }));
  const env = () => ({ PATH: process.env.PATH, TMPDIR: tmp });

  test('--help, serve --help, storage-initializer --help and --version work', async () => {
    const cli = path.join(bare, 'cli.js');
    for (const args of [['--help'], [SERVER_COMMANDS.serve, '--help'], [SERVER_COMMANDS.storageInitializer, '--help'], ['--version']]) {
      const run = await runCli(args, { cli, env: env() });
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
    }
  });

  test('serve fails with exit 2 and says how to install onnxruntime-node', async () => {
    const { code, stderr } = await runCli([SERVER_COMMANDS.serve, '--model-dir', tmp], { cli: path.join(bare, 'cli.js'), env: env() });
    expect(code).toBe(2);
    expect(stderr).toMatch(/onnxruntime-node is not installed; run npm install onnxruntime-node@\d+\.\d+\.\d+/);
  });
});

describe('start-up', () => {
  test('serve logs where its start-up time went, in order, once ready', async () => {
    const server = await startServer(['--model-dir', modelDir({ 'iris.onnx': 'iris-logreg.onnx' }), '--model-name', 'iris']);
    try {
      const startup = server.logs.find((l) => l.event === 'startup');
      const marks = startup?.marks as Record<string, number>;
      expect(Object.keys(marks)).toEqual(expect.arrayContaining(['launch', 'serve', 'appBuilt', 'httpListening', 'grpcListening', 'ready']));
      expect(marks.launch).toBeLessThanOrEqual(marks.serve);
      expect(marks.serve).toBeLessThanOrEqual(marks.appBuilt);
      expect(marks.appBuilt).toBeLessThanOrEqual(marks.httpListening);
      expect(Math.max(marks.httpListening, marks.grpcListening)).toBeLessThanOrEqual(marks.ready);
      expect(startup?.cpuMs).toEqual(expect.any(Number));
    } finally {
      await server.stop();
    }
  });

  test('the launcher keeps a compile cache in TMPDIR on a Node that has one (none on older Node)', async () => {
    const dir = mkdtempSync(path.join(tmp, 'cache-'));
    const { code } = await runCli(['--version'], { env: { PATH: process.env.PATH, TMPDIR: dir } });
    expect(code).toBe(0);
    const cache = path.join(dir, 'cdk8s-model-server-compile-cache');
    const [major, minor] = (await nodeVersion()).slice(1).split('.').map(Number);
    const hasCompileCache = major > 22 || (major === 22 && minor >= 8);
    expect(existsSync(cache)).toBe(hasCompileCache);
    if (hasCompileCache) {
      // One folder per Node version and uid, holding an entry for the server bundle.
      const [sub] = readdirSync(cache);
      expect(readdirSync(path.join(cache, sub)).length).toBeGreaterThan(0);
    }
  });
});

let cachedVersion: string | undefined;
async function nodeVersion(): Promise<string> {
  if (!cachedVersion) {
    cachedVersion = await new Promise<string>((resolve, reject) => execFile(SERVER_NODE, ['--version'], (err, out) => (err ? reject(err) : resolve(out.trim()))));
  }
  return cachedVersion;
}
