// The cloud SDKs are bundled into chunks of their own (assets/server/storage-s3.js,
// storage-gcs.js) beside the server bundle (server.js, loaded by the cli.js launcher) that the
// server requires only for s3:// and gs:// URIs: `serve` for any other scheme never reads them.
// A preloaded hook records every file Node loads from assets/server.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runCli, tempDir } from '../attacks/storage-helpers';
import { CLI, MODELS, startServer } from '../server-harness';

const ASSETS = path.dirname(CLI);
let hook: string;

beforeAll(() => {
  hook = path.join(tempDir('hook'), 'record-loads.js');
  writeFileSync(hook, `
    const Module = require('module');
    const fs = require('fs');
    const load = Module._load;
    Module._load = function (request, parent, isMain) {
      const file = Module._resolveFilename(request, parent, isMain);
      if (typeof file === 'string' && file.startsWith(${JSON.stringify(ASSETS)})) fs.appendFileSync(process.env.LOADS_FILE, file + '\\n');
      return load.apply(this, arguments);
    };`);
});

function loads(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((f) => path.basename(f));
  } catch {
    return [];
  }
}

test('the chunks exist beside server.js, and server.js holds neither SDK', () => {
  const server = path.join(ASSETS, 'server.js');
  const cli = readFileSync(server, 'utf8');
  expect(cli).not.toContain('fromNodeProviderChain');
  expect(cli).not.toContain('GoogleAuthExceptionMessages');
  expect(readFileSync(path.join(ASSETS, 'storage-s3.js'), 'utf8')).toContain('fromNodeProviderChain');
  expect(readFileSync(path.join(ASSETS, 'storage-gcs.js'), 'utf8')).toContain('GoogleAuthExceptionMessages');
  // Generous bound: server.js stays near its size before the SDKs (about 1.1 MB minified).
  expect(statSync(server).size).toBeLessThan(1.5 * 1024 * 1024);
});

test('serve with a local model directory reaches ready without loading either chunk', async () => {
  const loadsFile = path.join(tempDir('loads-serve'), 'loads.txt');
  const server = await startServer(['--model-dir', path.join(MODELS), '--mode', 'multi'], { NODE_OPTIONS: `--require ${hook}`, LOADS_FILE: loadsFile });
  try {
    expect(loads(loadsFile)).toEqual(expect.arrayContaining(['cli.js', 'server.js']));
    expect(loads(loadsFile).filter((f) => f.startsWith('storage-'))).toEqual([]);
  } finally {
    await server.stop();
  }
});

test('an s3:// fetch loads storage-s3.js only; a gs:// fetch storage-gcs.js only', async () => {
  const s3Loads = path.join(tempDir('loads-s3'), 'loads.txt');
  // No store listens on port 9: the fetch fails fast, after the chunk is loaded.
  await runCli(['storage-initializer', 's3://bucket/model.onnx', tempDir('s3-dest'), '--storage-auth', 'anonymous', '--storage-max-attempts', '1'],
    { NODE_OPTIONS: `--require ${hook}`, LOADS_FILE: s3Loads, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' });
  expect(loads(s3Loads).filter((f) => f.startsWith('storage-'))).toEqual(['storage-s3.js']);
  const gsLoads = path.join(tempDir('loads-gs'), 'loads.txt');
  await runCli(['storage-initializer', 'gs://bucket/model.onnx', tempDir('gs-dest'), '--storage-auth', 'anonymous', '--storage-max-attempts', '1'],
    { NODE_OPTIONS: `--require ${hook}`, LOADS_FILE: gsLoads, STORAGE_EMULATOR_HOST: 'http://127.0.0.1:9' });
  expect(loads(gsLoads).filter((f) => f.startsWith('storage-'))).toEqual(['storage-gcs.js']);
});
