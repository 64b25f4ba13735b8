/**
 * The JSON shape of one inference graph: what the `InferenceGraph` construct writes into the router's
 * ConfigMap and what `--mode router` reads. Field names follow KServe's InferenceGraph `spec.nodes`
 * (kserve/kserve pkg/apis/serving/v1alpha1/inference_graph.go), so a KServe graph maps one to one;
 * the additions (`model`, `timeoutMs`) are marked.
 */

/** How a node picks and combines its steps. */
export type GraphRouterType = 'Sequence' | 'Switch' | 'Ensemble' | 'Splitter';

/** One step of a node. Exactly one of `serviceUrl`, `nodeName` and `model` says what it calls. */
export interface GraphStepSpec {
  /** The step's name: keys an Ensemble's merged answer and names the step in errors. */
  readonly name: string;
  /** A networked step: the full URL (path included) the step's input is POSTed to. */
  readonly serviceUrl?: string;
  /** Another node of this graph. */
  readonly nodeName?: string;
  /** Ours: a model the router process holds itself (loaded from `--model-dir`), run in-process. */
  readonly model?: string;
  /**
   * Sequence: `$response` feeds the previous step's answer; `$request`, or no `data`, the original request
   * (KServe's router sends the request unless a step says `$response`).
   */
  readonly data?: '$request' | '$response';
  /** Switch: a condition on the request (KServe's GJSON query syntax); the first matching step runs. */
  readonly condition?: string;
  /** Splitter: the percentage of requests this step gets; a node's weights sum to 100. */
  readonly weight?: number;
  /** `Hard` (default): the step's failure fails the graph. `Soft`: the graph answers without it. */
  readonly dependency?: 'Hard' | 'Soft';
  /** Ours: longest time this step may take, in milliseconds. */
  readonly timeoutMs?: number;
}

/** One node: a router over its steps. */
export interface GraphNodeSpec {
  readonly routerType: GraphRouterType;
  readonly steps: readonly GraphStepSpec[];
}

/** A whole graph. Requests enter at the node named `root` (GRAPH.rootNode). */
export interface GraphSpec {
  readonly nodes: { readonly [nodeName: string]: GraphNodeSpec };
  /** Ours: longest time the whole graph may take per request, in milliseconds. */
  readonly timeoutMs?: number;
}
