import { Duration } from 'cdk8s';
import { InferenceProtocol } from './endpoint-options';
import type { IModelEndpoint } from './model-endpoint';
import { StorageUri } from './storage-uri';

/**
 * Whether a step's failure fails the whole graph (KServe's `dependency`).
 *
 * @see https://kserve.github.io/website/latest/modelserving/inference_graph/
 */
export enum GraphDependency {
  /** The step's failure fails the graph. */
  HARD = 'Hard',
  /** The graph answers without the step; the answer names it in the `x-graph-failed-steps` header. */
  SOFT = 'Soft',
}

/** What a Sequence step receives (KServe's `data`). */
export enum GraphStepData {
  /** The graph's original request (what a step without `data` gets, as in KServe). */
  REQUEST = '$request',
  /** The previous step's answer (the first step gets the request). */
  RESPONSE = '$response',
}

/** How a node picks and combines its steps (KServe's `routerType`). */
export enum GraphRouterType {
  /** Steps in order; each gets the previous answer or the original request. */
  SEQUENCE = 'Sequence',
  /** The first step whose `condition` matches the request. */
  SWITCH = 'Switch',
  /** Every step in parallel; the answers merged under the step names. */
  ENSEMBLE = 'Ensemble',
  /** One step picked at random by `weight`. */
  SPLITTER = 'Splitter',
}

/**
 * The settings every step can have. Which ones apply depends on the node's router type:
 * `data` in a Sequence, `condition` in a Switch, `weight` in a Splitter.
 */
export interface GraphStepOptions {
  /**
   * The step's name: keys an Ensemble's merged answer and names the step in errors.
   * Unique within its node.
   *
   * @default - the endpoint's or in-process model's `modelName`, or the node's name
   */
  readonly name?: string;

  /**
   * Sequence only: what the step receives. Chain steps with `GraphStepData.RESPONSE`.
   *
   * @default GraphStepData.REQUEST - the graph's request, as KServe's router does
   */
  readonly data?: GraphStepData;

  /**
   * Switch only: a condition on the request in KServe's GJSON query syntax, e.g.
   * `instances.#(intent=="sales")`; the step matches when the path finds a value in the
   * request. The first step whose condition matches runs.
   *
   * @default - none: required in a Switch
   */
  readonly condition?: string;

  /**
   * Splitter only: the percentage of requests the step gets; a Splitter's weights sum to 100.
   *
   * @default - none: required in a Splitter
   */
  readonly weight?: number;

  /**
   * Whether the step's failure fails the graph.
   *
   * @default GraphDependency.HARD
   */
  readonly dependency?: GraphDependency;

  /**
   * The longest the step may take; past it the step fails (softly with `GraphDependency.SOFT`).
   *
   * @default - bounded only by the graph's `timeout`
   */
  readonly timeout?: Duration;
}

/** Options of a step that calls a model endpoint. */
export interface GraphEndpointStepOptions extends GraphStepOptions {
  /**
   * The REST protocol the router calls the endpoint with: V1 (`:predict`) or V2 (`/infer`).
   *
   * @default - the endpoint's own protocol when it is REST, else V2 (our server's REST port);
   * V2 for an endpoint imported with `ModelEndpoint.fromEndpointName`
   */
  readonly protocol?: InferenceProtocol;
}

/** What a step calls. */
type GraphStepTarget = 'endpoint' | 'url' | 'node' | 'model';

/**
 * One step of a graph node: an endpoint of the same app, a URL, another node of the graph,
 * or a model the router holds itself.
 */
export class GraphStep {
  /**
   * Calls a model endpoint of the same app at its in-cluster URL and model path
   * (`/v1/models/<name>:predict` or `/v2/models/<name>/infer`).
   */
  public static endpoint(endpoint: IModelEndpoint, options: GraphEndpointStepOptions = {}): GraphStep {
    return new GraphStep('endpoint', options.name ?? endpoint.modelName, options, { endpoint, protocol: options.protocol });
  }

  /**
   * POSTs the step's input to a full URL (path included), e.g. a service outside this app.
   *
   * @param stepName the step's name (unique within its node)
   */
  public static url(stepName: string, url: string, options: GraphStepOptions = {}): GraphStep {
    if (!/^https?:\/\/[^\s/]+/.test(url)) {
      throw new Error(`GraphStep.url() needs an http:// or https:// URL, got '${url}'`);
    }
    return new GraphStep('url', options.name ?? stepName, options, { url });
  }

  /** Runs another node of the same graph. */
  public static node(nodeName: string, options: GraphStepOptions = {}): GraphStep {
    return new GraphStep('node', options.name ?? nodeName, options, { nodeName });
  }

  /**
   * A model the router loads and runs in its own process (no network hop): only in a graph
   * with `inProcess: true`.
   *
   * @param modelName the model's name (a DNS-1123 label); its folder in the router's model directory
   * @param storageUri where the model is stored (fetched by a storage initializer)
   */
  public static model(modelName: string, storageUri: StorageUri, options: GraphStepOptions = {}): GraphStep {
    return new GraphStep('model', options.name ?? modelName, options, { modelName, storageUri });
  }

  /** @internal */
  public readonly _target: GraphStepTarget;
  /** @internal */
  public readonly _name: string;
  /** @internal */
  public readonly _options: GraphStepOptions;
  /** @internal */
  public readonly _endpoint?: IModelEndpoint;
  /** @internal */
  public readonly _protocol?: InferenceProtocol;
  /** @internal */
  public readonly _url?: string;
  /** @internal */
  public readonly _nodeName?: string;
  /** @internal */
  public readonly _modelName?: string;
  /** @internal */
  public readonly _storageUri?: StorageUri;

  private constructor(target: GraphStepTarget, name: string, options: GraphStepOptions, what: {
    endpoint?: IModelEndpoint; protocol?: InferenceProtocol; url?: string; nodeName?: string; modelName?: string; storageUri?: StorageUri;
  }) {
    this._target = target;
    this._name = name;
    this._options = options;
    this._endpoint = what.endpoint;
    this._protocol = what.protocol;
    this._url = what.url;
    this._nodeName = what.nodeName;
    this._modelName = what.modelName;
    this._storageUri = what.storageUri;
  }
}

/**
 * One node of an inference graph: a router over its steps, of one of KServe's four kinds.
 *
 * @see https://kserve.github.io/website/latest/modelserving/inference_graph/
 */
export class GraphNode {
  /** Runs the steps in order; each gets the graph's request, or the previous step's answer with `data: GraphStepData.RESPONSE`. */
  public static sequence(steps: GraphStep[]): GraphNode {
    return new GraphNode(GraphRouterType.SEQUENCE, steps);
  }

  /** Runs the first step whose `condition` matches the request. */
  public static switchOn(steps: GraphStep[]): GraphNode {
    return new GraphNode(GraphRouterType.SWITCH, steps);
  }

  /** Runs every step in parallel and merges the answers under the step names. */
  public static ensemble(steps: GraphStep[]): GraphNode {
    return new GraphNode(GraphRouterType.ENSEMBLE, steps);
  }

  /** Sends each request to one step, picked at random by the steps' `weight` (summing to 100). */
  public static splitter(steps: GraphStep[]): GraphNode {
    return new GraphNode(GraphRouterType.SPLITTER, steps);
  }

  /** The router type. */
  public readonly routerType: GraphRouterType;
  /** @internal */
  public readonly _steps: GraphStep[];

  private constructor(routerType: GraphRouterType, steps: GraphStep[]) {
    this.routerType = routerType;
    this._steps = [...steps];
  }
}
