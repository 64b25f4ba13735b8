/**
 * Every example under examples/ is synthesized with the real cdk8s CLI, as users run it, and its
 * YAML passes the same offline validation as the unit tests' output.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { findExampleYaml, validateYamlFiles } from '../scripts/validate-examples';

const EXAMPLES = path.join(__dirname, '..', 'examples');
const CDK8S = path.join(__dirname, '..', 'node_modules', '.bin', 'cdk8s');
const examples = fs.readdirSync(EXAMPLES).filter(d => fs.existsSync(path.join(EXAMPLES, d, 'cdk8s.yaml'))).sort();

test('there are examples to synthesize', () => {
  expect(examples).toContain('iris');
});

describe.each(examples)('examples/%s', (example) => {
  const dir = path.join(EXAMPLES, example);

  beforeAll(() => {
    fs.rmSync(path.join(dir, 'dist'), { recursive: true, force: true });
    const result = spawnSync(CDK8S, ['synth', '--no-check-upgrade'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    if (result.status !== 0) {
      throw new Error(`cdk8s synth failed in examples/${example} (exit ${result.status}):\n${result.stdout}\n${result.stderr}`);
    }
  }, 120_000);

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
