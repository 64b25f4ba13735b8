/**
 * Every example under examples/ is synthesized with the real cdk8s CLI, as users run it, and its
 * YAML passes the same offline validation as the unit tests' output.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { findExampleYaml, validateYamlFiles } from '../scripts/validate-examples';

const EXAMPLES = path.join(__dirname, '..', 'examples');
const CDK8S = path.join(__dirname, '..', 'node_modules', '.bin', 'cdk8s');
const examples = fs.readdirSync(EXAMPLES).filter(d => fs.existsSync(path.join(EXAMPLES, d, 'cdk8s.yaml'))).sort();

/** `cdk8s synth` in examples/<example>, as users run it; resolves with the failure's message, or undefined. */
function synth(example: string): Promise<string | undefined> {
  const dir = path.join(EXAMPLES, example);
  fs.rmSync(path.join(dir, 'dist'), { recursive: true, force: true });
  return new Promise((resolve) => {
    execFile(CDK8S, ['synth', '--no-check-upgrade'], { cwd: dir, encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) => {
      resolve(error ? `cdk8s synth failed in examples/${example} (exit ${error.code}):\n${stdout}\n${stderr}` : undefined);
    });
  });
}

// ---- ci-time: each synth is a separate CLI and ts-node process that mostly compiles, so they run as many at a
// time as there are cores (two on CI) instead of one after another. ----
const synthesized = new Map<string, Promise<string | undefined>>();
beforeAll(async () => {
  const queue = [...examples];
  const lanes = Array.from({ length: Math.min(os.availableParallelism(), queue.length) }, async () => {
    for (let example = queue.shift(); example; example = queue.shift()) {
      const result = synth(example);
      synthesized.set(example, result);
      await result;
    }
  });
  await Promise.all(lanes);
}, 300_000);

test('there are examples to synthesize', () => {
  expect(examples).toContain('iris');
});

describe.each(examples)('examples/%s', (example) => {
  const dir = path.join(EXAMPLES, example);

  beforeAll(async () => {
    const failure = await synthesized.get(example);
    if (failure) throw new Error(failure);
  });

  test('synthesizes YAML that passes schema, Pod Security and Knative default-flag validation', () => {
    const files = findExampleYaml(EXAMPLES).filter(f => f.startsWith(dir + path.sep));
    expect(files.length).toBeGreaterThan(0);
    const reports = validateYamlFiles(files);
    for (const report of reports) {
      expect(report.objects).toBeGreaterThan(0);
      expect(report.errors).toEqual([]);
    }
  });
});
