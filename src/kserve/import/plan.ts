/**
 * What the import builds, per namespace: statements in order (runtimes first, then endpoints, then
 * passed-through objects), each with the props as code (code.ts) and the document it came from.
 */
import { Code } from './code';
import { ReportEntry } from './report';

/** `const <variable> = ServingRuntime.custom(<options>)`. */
export interface RuntimeStatement {
  readonly kind: 'runtime';
  readonly document: string;
  /** The KServe name (`ServingRuntime` or `ClusterServingRuntime` metadata.name). */
  readonly runtimeName: string;
  readonly variable: string;
  readonly options: Code;
}

/** `const <variable> = new ModelEndpoint|CanaryRollout(scope, <id>, <props>)`, then its components. */
export interface EndpointStatement {
  readonly kind: 'endpoint';
  readonly document: string;
  readonly construct: 'ModelEndpoint' | 'CanaryRollout';
  readonly id: string;
  readonly variable: string;
  readonly props: Code;
  /** `<variable>.addTransformer(<options>)` (ModelEndpoint only). */
  readonly transformer?: Code;
  /** `<variable>.addExplainer(<options>)` (ModelEndpoint only). */
  readonly explainer?: Code;
  /** Knative feature flags the props need (the cluster needs them for KServe too). */
  readonly knativeFlags: readonly string[];
}

/** `new ApiObject(scope, <id>, <manifest>)`: an object kept as it is. */
export interface ApiObjectStatement {
  readonly kind: 'api-object';
  readonly document: string;
  readonly id: string;
  readonly manifest: { readonly [key: string]: unknown };
}

/** `new InferenceGraph(scope, <id>, <props>)`, after the endpoints its steps name. */
export interface GraphStatement {
  readonly kind: 'graph';
  readonly document: string;
  readonly id: string;
  readonly props: Code;
}

/** A statement inside a chart. */
export type Statement = EndpointStatement | ApiObjectStatement | GraphStatement;

/** The statements of one namespace (one chart in the generated code). */
export interface NamespacePlan {
  /** undefined: objects without a namespace. */
  readonly namespace?: string;
  readonly statements: Statement[];
}

/** The whole import: what to build, and the report. */
export interface ImportPlan {
  /** Serving runtimes: values, not constructs, defined before every chart (a ClusterServingRuntime serves all). */
  readonly runtimes: RuntimeStatement[];
  readonly namespaces: NamespacePlan[];
  readonly report: ReportEntry[];
}
