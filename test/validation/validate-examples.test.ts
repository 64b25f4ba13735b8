import { execFileSync } from 'child_process';
import * as path from 'path';
import { findExampleYaml, validateYamlFiles } from '../../scripts/validate-examples';

const FIXTURES = path.join(__dirname, 'fixtures', 'examples');
const REPO = path.join(__dirname, '..', '..');

test('finds the dist YAML of every example', () => {
  expect(findExampleYaml(FIXTURES).map((f) => path.relative(FIXTURES, f))).toEqual([
    path.join('broken', 'dist', 'broken.k8s.yaml'),
    path.join('good', 'dist', 'good.k8s.yaml'),
  ]);
  expect(findExampleYaml(path.join(FIXTURES, 'does-not-exist'))).toEqual([]);
});

test('validates every object of a multi-document file', () => {
  const [broken, good] = validateYamlFiles(findExampleYaml(FIXTURES));
  expect(good).toEqual({ file: expect.stringMatching(/good.k8s.yaml$/), objects: 2, errors: [] });
  expect(broken.objects).toBe(2);
  expect(broken.errors).toEqual([
    'Deployment/model-server: spec.replicas: must be integer',
    'Deployment/model-server: spec.template.spec.containers[0]: unknown field "imagePullPolicyy"',
    'Service/iris: spec.template.spec.nodeSelector: needs Knative feature flag "kubernetes.podspec-nodeselector", which is "disabled" by default',
  ]);
});

describe('the script', () => {
  const run = (...args: string[]) => {
    try {
      return { code: 0, out: execFileSync('npx', ['ts-node', '-T', '--project', 'tsconfig.server.json', 'scripts/validate-examples.ts', ...args], { cwd: REPO, encoding: 'utf8' }) };
    } catch (e) {
      const err = e as { status: number; stdout: string };
      return { code: err.status, out: err.stdout };
    }
  };

  test('exits 0 with a message when there are no examples', () => {
    const r = run('--root', path.join(FIXTURES, 'does-not-exist'));
    expect(r).toEqual({ code: 0, out: expect.stringContaining('no examples to validate') });
  });

  test('exits 1 and names file, object and message on errors', () => {
    const r = run('--root', FIXTURES);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/ok {4}.*good.k8s.yaml \(2 objects\)/);
    expect(r.out).toMatch(/broken.k8s.yaml: Deployment\/model-server: spec.replicas: must be integer/);
    expect(r.out).toMatch(/3 error\(s\)/);
  });
});
