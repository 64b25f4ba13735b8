/**
 * Builds an `ImportPlan` with the real constructs: evaluates each statement's code (code.ts) into prop
 * values and creates the `ModelEndpoint`s, `CanaryRollout`s and `ApiObject`s in a scope. The code
 * generator prints the same statements, so generated code and this build make the same objects.
 */
import * as cdk8s from 'cdk8s';
import * as plus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { Code, CodeModule } from './code';
import { NamespacePlan, RuntimeStatement } from './plan';
import { CanaryRollout } from '../../constructs/canary-rollout';
import { EndpointIngress } from '../../constructs/endpoint-ingress';
import { Autoscaler, DeploymentMode, InferenceProtocol, ScaleMetric } from '../../constructs/endpoint-options';
import { InferenceGraph } from '../../constructs/inference-graph';
import { GraphDependency, GraphNode, GraphStep, GraphStepData } from '../../constructs/inference-graph-options';
import { KnativeFeature } from '../../constructs/knative-features';
import { ModelEndpoint } from '../../constructs/model-endpoint';
import { ModelFormat } from '../../constructs/model-format';
import { LoggerMode } from '../../constructs/payload-logging';
import { NodeAffinityOperator, TaintEffect, TolerationOperator } from '../../constructs/scheduling';
import { ServingRuntime } from '../../constructs/serving-runtime';
import { StorageUri } from '../../constructs/storage-uri';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyValue = any;

/** The symbols generated code may name, per package. */
const SYMBOLS: { [module in CodeModule]: { [symbol: string]: AnyValue } } = {
  'cdk8s-model-serving': {
    StorageUri,
    ModelFormat,
    ServingRuntime,
    InferenceProtocol,
    DeploymentMode,
    Autoscaler,
    ScaleMetric,
    LoggerMode,
    KnativeFeature,
    EndpointIngress,
    TolerationOperator,
    TaintEffect,
    NodeAffinityOperator,
    GraphNode,
    GraphStep,
    GraphStepData,
    GraphDependency,
    ModelEndpoint,
  },
  'cdk8s': { Duration: cdk8s.Duration, Size: cdk8s.Size },
  'cdk8s-plus-33': {
    Cpu: plus.Cpu, EnvValue: plus.EnvValue, ServiceAccount: plus.ServiceAccount, Secret: plus.Secret, ConfigMap: plus.ConfigMap,
  },
};

function symbolOf(module: CodeModule, symbol: string): AnyValue {
  const found = SYMBOLS[module][symbol];
  if (found === undefined) throw new Error(`internal: the import named ${module}.${symbol}, which the builder does not know`);
  return found;
}

/** The value of a code tree. */
export function evaluate(code: Code, scope: Construct, variables: ReadonlyMap<string, unknown>): AnyValue {
  switch (code.kind) {
    case 'literal': return code.value;
    case 'array': return code.items.map(i => evaluate(i, scope, variables));
    case 'object': return Object.fromEntries(code.entries.map(([k, v]) => [k, evaluate(v, scope, variables)]));
    case 'member': return symbolOf(code.module, code.symbol)[code.member];
    case 'call': return symbolOf(code.module, code.symbol)[code.member](...code.args.map(a => evaluate(a, scope, variables)));
    case 'method': {
      const target = evaluate(code.target, scope, variables);
      return target[code.method](...code.args.map(a => evaluate(a, scope, variables)));
    }
    case 'scope': return scope;
    case 'variable': {
      if (!variables.has(code.name)) throw new Error(`internal: variable '${code.name}' is used before it is defined`);
      return variables.get(code.name);
    }
  }
}

/** The serving runtimes, by variable name. */
export function buildRuntimes(runtimes: readonly RuntimeStatement[], scope: Construct): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const r of runtimes) values.set(r.variable, ServingRuntime.custom(evaluate(r.options, scope, values)));
  return values;
}

/**
 * The constructs of one namespace, in `scope`. The generated code puts each namespace in a chart of its
 * own; `namespaceProp` instead sets the namespace on each endpoint (the runtime API, in the caller's chart).
 */
export function buildNamespace(plan: NamespacePlan, scope: Construct, runtimes: ReadonlyMap<string, unknown>, namespaceProp = false): Construct[] {
  const built: Construct[] = [];
  // Runtimes, then the endpoints a graph's steps name.
  const variables = new Map<string, unknown>(runtimes);
  for (const s of plan.statements) {
    if (s.kind === 'api-object') {
      built.push(new cdk8s.ApiObject(scope, s.id, s.manifest as AnyValue));
      continue;
    }
    const props = { ...evaluate(s.props, scope, variables), ...(namespaceProp && plan.namespace !== undefined ? { namespace: plan.namespace } : {}) };
    if (s.kind === 'graph') {
      built.push(new InferenceGraph(scope, s.id, props));
      continue;
    }
    if (s.construct === 'CanaryRollout') {
      const rollout = new CanaryRollout(scope, s.id, props);
      variables.set(s.variable, rollout);
      built.push(rollout);
      continue;
    }
    const endpoint = new ModelEndpoint(scope, s.id, props);
    variables.set(s.variable, endpoint);
    if (s.transformer) endpoint.addTransformer(evaluate(s.transformer, scope, runtimes));
    if (s.explainer) endpoint.addExplainer(evaluate(s.explainer, scope, runtimes));
    built.push(endpoint);
  }
  return built;
}
