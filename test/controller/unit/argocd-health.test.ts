/**
 * examples/gitops/argocd-health.lua (the Argo CD health check the README tells users to add),
 * run by a real Lua 5.1 interpreter (Argo CD's gopher-lua speaks 5.1; Debian's `lua5.1`, which
 * .ci/run installs) over statuses our controller computes (src/controller/status.ts), the way
 * Argo CD runs it: a global `obj` holding the resource, the script's `return hs` read back.
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { LABELS } from '../../../src/contract';
import { computeStatus } from '../../../src/controller/status';

const ROOT = path.join(__dirname, '..', '..', '..');
const SCRIPT = fs.readFileSync(path.join(ROOT, 'examples', 'gitops', 'argocd-health.lua'), 'utf8');
const NOW = new Date('2026-12-07T10:00:00.000Z');

/** A JSON value as a Lua table constructor (arrays 1-based, as gopher-lua converts them). */
function luaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(luaLiteral).join(', ')}}`;
  return `{${Object.entries(value as object).map(([k, v]) => `[${JSON.stringify(k)}] = ${luaLiteral(v)}`).join(', ')}}`;
}

/** Argo CD's view of the object: [health status, message]. */
function argoHealth(obj: object): [string, string] {
  const program = `obj = ${luaLiteral(obj)}\nlocal function health()\n${SCRIPT}\nend\nlocal hs = health()\nio.write(hs.status, "\\n", hs.message)`;
  const [status, ...message] = execFileSync('lua5.1', ['-'], { input: program, encoding: 'utf8' }).split('\n');
  return [status, message.join('\n')];
}

const endpoint = (generation: number, status?: object) => ({
  apiVersion: 'serving.cdk8s-model-serving.io/v1alpha1', kind: 'ModelEndpoint', metadata: { name: 'iris', namespace: 'prod', generation }, ...(status ? { status } : {}),
});
const deployment = (available: number, observed = 1) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'iris', namespace: 'prod', generation: 1, labels: { [LABELS.component]: 'predictor' } },
  spec: { replicas: 2 },
  status: {
    observedGeneration: observed,
    availableReplicas: available,
    conditions: [{ type: 'Available', status: available > 0 ? 'True' : 'False', reason: 'MinimumReplicas' }],
  },
});
/** The resource as the controller leaves it after a reconcile of generation `generation` with these children. */
const reconciled = (generation: number, children: object[], failure?: { reason: string; message: string }) => {
  const outcome = failure ? { failure, children: 0 } : { children: 3 };
  return endpoint(generation, computeStatus(endpoint(generation) as never, children as never, outcome, NOW, undefined));
};

describe('Argo CD health script (examples/gitops/argocd-health.lua, real lua5.1)', () => {
  test('every component available: Healthy, with the controller\'s message', () => {
    expect(argoHealth(reconciled(3, [deployment(2)]))).toEqual(['Healthy', 'every component is ready']);
  });

  test('a spec the constructs refuse: Degraded, with the message naming the field', () => {
    const [health, message] = argoHealth(reconciled(3, [], { reason: 'InvalidSpec', message: 'spec.minReplicas must be at most spec.maxReplicas' }));
    expect(health).toBe('Degraded');
    expect(message).toBe('spec.minReplicas must be at most spec.maxReplicas');
  });

  test('a workload that has no available replica after its rollout: Degraded', () => {
    expect(argoHealth(reconciled(3, [deployment(0)]))[0]).toBe('Degraded');
  });

  test('a Deployment not rolled out yet (Ready Unknown): Progressing', () => {
    expect(argoHealth(reconciled(3, [{ ...deployment(0, 0), metadata: { ...deployment(0).metadata, generation: 2 } }]))[0]).toBe('Progressing');
  });

  test('a new generation the controller has not reconciled: Progressing even though the old status said Ready', () => {
    const stale = { ...reconciled(3, [deployment(2)]), metadata: { name: 'iris', namespace: 'prod', generation: 4 } };
    expect(argoHealth(stale)).toEqual(['Progressing', 'waiting for the controller to reconcile the latest spec']);
  });

  test('no status at all (the controller is not running): Progressing', () => {
    expect(argoHealth(endpoint(1))[0]).toBe('Progressing');
  });

  test('the README carries the script verbatim, so a user pasting it gets the tested one', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const indented = SCRIPT.trimEnd().split('\n').map((line) => (line ? `        ${line}` : '')).join('\n');
    expect(readme).toContain(indented);
  });
});
