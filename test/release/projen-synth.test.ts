/**
 * The files projen generates (.github/workflows/release.yml, package.json, .projen/tasks.json, ...)
 * are what .projenrc.ts and projenrc/ make of them: projen runs in a copy of the repo's files (with
 * this repo's packages linked, post-synth install off) and every generated file must come out
 * byte for byte as committed. A stale file means: run `npx projen` and commit the result.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const ROOT = path.join(__dirname, '..', '..');

/** Files projen writes, as listed in .projen/files.json, plus the ones it edits in place. */
function generatedFiles(root: string): string[] {
  const listed = JSON.parse(fs.readFileSync(path.join(root, '.projen', 'files.json'), 'utf8')).files as string[];
  return [...new Set([...listed, 'package.json', '.projen/files.json'])].sort();
}

describe('projen-generated files', () => {
  let copy: string;
  beforeAll(() => {
    copy = fs.mkdtempSync(path.join(os.tmpdir(), 'projen-synth-'));
    // The repo's files as git sees them (committed or not, minus ignored ones), without node_modules.
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
    for (const f of files) {
      if (!fs.existsSync(path.join(ROOT, f))) continue; // deleted, not yet committed
      fs.mkdirSync(path.dirname(path.join(copy, f)), { recursive: true });
      fs.copyFileSync(path.join(ROOT, f), path.join(copy, f));
    }
    // node_modules of links to the repo's packages, never a link to the folder itself: should projen
    // ever install there (npm_config_dry_run below also stops that), the repo's install stays as it is.
    fs.mkdirSync(path.join(copy, 'node_modules'));
    for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
      fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(copy, 'node_modules', entry));
    }
  });
  afterAll(() => fs.rmSync(copy, { recursive: true, force: true }));

  test('come out of `npx projen` exactly as committed', () => {
    const result = spawnSync(path.join(ROOT, 'node_modules', '.bin', 'projen'), [], {
      cwd: copy,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, PROJEN_DISABLE_POST: '1', CI: 'true', npm_config_dry_run: 'true' },
    });
    if (result.status !== 0) throw new Error(`projen failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
    const stale = generatedFiles(copy).filter((f) => {
      const [want, got] = [path.join(copy, f), path.join(ROOT, f)];
      if (!fs.existsSync(want) || !fs.existsSync(got)) return fs.existsSync(want) !== fs.existsSync(got);
      return !fs.readFileSync(want).equals(fs.readFileSync(got));
    });
    expect(stale).toEqual([]);
    // The list itself matches the repo's (projen added or dropped no file).
    expect(generatedFiles(copy)).toEqual(generatedFiles(ROOT));
    expect(generatedFiles(ROOT)).toContain('.github/workflows/release.yml');
  });
});
