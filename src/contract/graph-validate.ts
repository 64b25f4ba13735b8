/**
 * Checks one inference graph spec, returning every problem found as a sentence that names the node,
 * the step and the fix. The construct runs it at synth time and `--mode router` at start, so a graph
 * is refused with the same words in both places.
 */
import { conditionError } from './graph-condition';
import { GraphSpec, GraphStepSpec } from './graph-spec';

const ROOT = 'root'; // GRAPH.rootNode; kept local so this file stays free of the contract's other imports
const ROUTER_TYPES = ['Sequence', 'Switch', 'Ensemble', 'Splitter'];

/** All problems of `spec` (empty when it is valid). */
export function validateGraphSpec(spec: GraphSpec): string[] {
  const errors: string[] = [];
  if (spec === null || typeof spec !== 'object' || spec.nodes === null || typeof spec.nodes !== 'object' || Array.isArray(spec.nodes)) {
    return ["the graph spec must be an object with 'nodes' (an object of node name to { routerType, steps })"];
  }
  checkTimeout(spec.timeoutMs, 'graph timeoutMs', errors);
  const names = Object.keys(spec.nodes);
  if (!names.includes(ROOT)) {
    errors.push(`the graph has no node named '${ROOT}' (requests enter there); nodes are: ${names.length ? names.join(', ') : 'none'}`);
  }
  for (const nodeName of names) {
    const node = spec.nodes[nodeName];
    const where = `node '${nodeName}'`;
    if (node === null || typeof node !== 'object') {
      errors.push(`${where} must be an object { routerType, steps }`);
      continue;
    }
    if (!ROUTER_TYPES.includes(node.routerType)) {
      errors.push(`${where} has routerType '${String(node.routerType)}'; use one of ${ROUTER_TYPES.join(', ')}`);
    }
    if (!Array.isArray(node.steps) || node.steps.length === 0) {
      errors.push(`${where} has no steps; give it at least one`);
      continue;
    }
    const seen = new Set<string>();
    node.steps.forEach((step, i) => {
      checkStep(spec, nodeName, node.routerType, step, i, seen, errors);
    });
    if (node.routerType === 'Splitter') {
      const total = node.steps.reduce((sum, s) => sum + (typeof s?.weight === 'number' ? s.weight : 0), 0);
      if (total !== 100) errors.push(`${where}: Splitter weights sum to ${total}; they must sum to 100`);
    }
  }
  const cycle = findCycle(spec);
  if (cycle) errors.push(`the graph has a cycle: ${cycle.join(' -> ')}; a node may not reach itself through nodeName steps`);
  return errors;
}

function checkStep(
  spec: GraphSpec, nodeName: string, routerType: string, step: GraphStepSpec, i: number, seen: Set<string>, errors: string[],
): void {
  if (step === null || typeof step !== 'object') {
    errors.push(`node '${nodeName}' step ${i} must be an object`);
    return;
  }
  const where = `node '${nodeName}' step '${typeof step.name === 'string' && step.name ? step.name : i}'`;
  if (typeof step.name !== 'string' || step.name === '') {
    errors.push(`node '${nodeName}' step ${i} has no name; give every step a name (it keys Ensemble answers and errors)`);
  } else if (seen.has(step.name)) {
    errors.push(`${where}: the name is used twice in this node; step names must be unique within a node`);
  } else {
    seen.add(step.name);
  }
  const targets = (['serviceUrl', 'nodeName', 'model'] as const).filter((k) => step[k] !== undefined);
  if (targets.length !== 1) {
    errors.push(`${where} sets ${targets.length ? targets.join(' and ') : 'none of serviceUrl, nodeName, model'}; set exactly one of serviceUrl, nodeName, model`);
  }
  if (step.serviceUrl !== undefined) checkUrl(step.serviceUrl, where, errors);
  if (step.nodeName !== undefined && !Object.prototype.hasOwnProperty.call(spec.nodes, step.nodeName)) {
    errors.push(`${where} names nodeName '${step.nodeName}', which is not a node of this graph; nodes are: ${Object.keys(spec.nodes).join(', ')}`);
  }
  if (step.model !== undefined && (typeof step.model !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(step.model))) {
    errors.push(`${where} has model '${String(step.model)}'; a model name is letters, digits, '_', '.', '-'`);
  }
  if (step.data !== undefined && step.data !== '$request' && step.data !== '$response') {
    errors.push(`${where} has data '${String(step.data)}'; use '$request' or '$response'`);
  }
  if (step.dependency !== undefined && step.dependency !== 'Hard' && step.dependency !== 'Soft') {
    errors.push(`${where} has dependency '${String(step.dependency)}'; use 'Hard' or 'Soft'`);
  }
  checkTimeout(step.timeoutMs, `${where} timeoutMs`, errors);
  if (routerType === 'Switch') {
    if (typeof step.condition !== 'string' || step.condition.trim() === '') {
      errors.push(`${where} has no condition; every Switch step needs a GJSON condition on the request, e.g. 'instances.0.kind'`);
    }
  }
  if (step.condition !== undefined) {
    const problem = typeof step.condition === 'string' ? conditionError(step.condition) : 'the condition must be a string';
    if (problem) errors.push(`${where}: ${problem}`);
  }
  if (routerType === 'Splitter') {
    if (typeof step.weight !== 'number' || !Number.isInteger(step.weight) || step.weight < 0 || step.weight > 100) {
      errors.push(`${where} has weight ${String(step.weight)}; a Splitter step needs an integer weight from 0 to 100`);
    }
  }
}

function checkTimeout(value: unknown, what: string, errors: string[]): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    errors.push(`${what} is ${String(value)}; use a positive number of milliseconds or leave it out`);
  }
}

function checkUrl(url: unknown, where: string, errors: string[]): void {
  let parsed: URL | undefined;
  try {
    parsed = typeof url === 'string' ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.hostname === '') {
    errors.push(`${where} has serviceUrl '${String(url)}'; use an absolute http:// or https:// URL with a host, e.g. http://model.ns.svc/v1/models/m:predict`);
  }
}

/** The first cycle through nodeName steps (as the list of node names), or undefined. */
function findCycle(spec: GraphSpec): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const mark = state.get(name);
    if (mark === 'done') return undefined;
    if (mark === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    const node = spec.nodes[name];
    if (!node || !Array.isArray(node.steps)) return undefined;
    state.set(name, 'visiting');
    stack.push(name);
    for (const step of node.steps) {
      if (step && typeof step.nodeName === 'string' && Object.prototype.hasOwnProperty.call(spec.nodes, step.nodeName)) {
        const found = visit(step.nodeName);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const name of Object.keys(spec.nodes)) {
    const found = visit(name);
    if (found) return found;
  }
  return undefined;
}
