import { ApiObject, Chart, Duration, JsonPatch, Names } from 'cdk8s';
import { ContainerResources } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { CommonEndpointOptions } from './common-endpoint-options';
import { EndpointIngress } from './endpoint-ingress';
import { DeploymentMode, InferenceProtocol } from './endpoint-options';
import { GraphNode, GraphRouterType, GraphStep } from './inference-graph-options';
import { IModelEndpoint, ModelEndpoint } from './model-endpoint';
import { MonitoringOptions } from './monitoring-options';
import { ServingTarget } from './serving-target';
import * as contract from '../contract';
import { GraphNodeSpec, GraphSpec, GraphStepSpec } from '../contract/graph-spec';
import { validateGraphSpec } from '../contract/graph-validate';
import { componentResources, predictorHost, predictorProtocols } from '../render/component';
import { recordCaller } from '../render/endpoint-callers';
import { RouterModel, synthesizeRouter } from '../render/graph/router';
import { KServeGraphStep, synthesizeKServeGraph } from '../render/kserve/inference-graph';
import { resolveTarget } from '../render/kserve/target';
import { resolveMonitoring } from '../render/monitoring/resolve';
import { selectorLabels } from '../render/pod-template';
import { assertDerivedLength, assertDns1035Label, assertDns1123Label, assertDns1123Subdomain } from '../render/resolve/names';
import { resolveEndpoint } from '../render/resolve/resolve-endpoint';
import { ResolvedEndpoint } from '../render/resolve/resolved-endpoint';

/**
 * Properties of an `InferenceGraph`: its nodes, and the router's deployment, which takes the
 * endpoint-level settings of `CommonEndpointOptions` (namespace, mode, scaling, security,
 * scheduling) with the same meanings.
 */
export interface InferenceGraphProps extends CommonEndpointOptions {
  /** The node every request enters (KServe's `root`). */
  readonly root: GraphNode;

  /**
   * The other nodes, by name; `GraphStep.node(name)` runs one.
   *
   * @default - none: the graph is its root node
   */
  readonly nodes?: { [name: string]: GraphNode };

  /**
   * The longest a request may take through the whole graph.
   *
   * @default - serverless: Knative's cluster default, 300 seconds; raw: no limit
   */
  readonly timeout?: Duration;

  /**
   * Runs the graph inside one server: the router loads every step's model itself and calls
   * none over the network. Only for a graph that is one Sequence whose steps are all
   * `GraphStep.model()` or endpoints our model server serves from a downloaded `storageUri`.
   * The router's `storageCredentials` and `storageAuth` fetch the models.
   *
   * @default false
   */
  readonly inProcess?: boolean;

  /**
   * The name of the router's Knative Service or Deployment, and the first label of the host.
   *
   * @default - a name cdk8s derives from the construct path
   */
  readonly name?: string;

  /**
   * The model-server image that runs the router.
   *
   * @default - the model-server image released with this library
   */
  readonly serverImage?: string;

  /**
   * CPU and memory requests and limits of the router container.
   *
   * @default - requests 100m CPU and 256Mi memory, limits 1 CPU and 512Mi memory; in process,
   * the endpoint defaults (500m/512Mi requested, 1 CPU/1Gi limits)
   */
  readonly resources?: ContainerResources;

  /**
   * The fewest router replicas (0 scales to zero, serverless only).
   *
   * @default 1
   */
  readonly minReplicas?: number;

  /**
   * The most router replicas.
   *
   * @default - the larger of 3 and `minReplicas`
   */
  readonly maxReplicas?: number;

  /**
   * How traffic from outside the cluster reaches the router (every path of the host).
   *
   * @default - serverless: `EndpointIngress.istio()`; raw: `EndpointIngress.none()`
   */
  readonly ingress?: EndpointIngress;

  /**
   * Prometheus scraping of the router's `/metrics` (a PodMonitor in serverless mode, a
   * ServiceMonitor in raw mode; series labelled `component="router"`). Needs the Prometheus
   * operator's CRDs. Alert rules and dashboards are the endpoints' (`monitoring` there).
   *
   * @default - scraping on, with the defaults of `MonitoringOptions`
   */
  readonly monitoring?: MonitoringOptions;

  /**
   * Namespaces allowed to reach the router, besides its own pods.
   *
   * @default - serverless: istio-system and knative-serving; raw: istio-system, or
   * ingress-nginx for a Kubernetes Ingress, or none without ingress
   */
  readonly allowedNamespaces?: string[];
}

/**
 * An inference graph, as KServe's `InferenceGraph`: a router that sends each request through
 * nodes of steps (Sequence, Switch, Ensemble, Splitter) calling model endpoints, URLs or, with
 * `inProcess`, models it holds itself.
 *
 * Synthesizes the graph's JSON in a `ConfigMap` (id `Spec`) and the router, our model server
 * in `--mode router`: a Knative `Service` (serverless, id `Resource`) or a `Deployment` (id
 * `Resource`), `Service` and `HorizontalPodAutoscaler` (raw), labelled
 * `app.kubernetes.io/component: router`, with a `NetworkPolicy` and the chosen ingress (every
 * path of `host`). Endpoints with a NetworkPolicy admit the router's pods. With
 * `target: ServingTarget.KSERVE` it synthesizes KServe's own `InferenceGraph` (id `Resource`)
 * instead, whose steps name this app's KServe endpoints by `serviceName`. Every problem of the
 * graph (an unknown node, a cycle, Splitter weights not summing to 100, a condition that does
 * not parse, a step of another app) fails at synth time.
 *
 * @example
 * new InferenceGraph(chart, 'graph', {
 *   root: GraphNode.sequence([
 *     GraphStep.endpoint(preprocess),
 *     GraphStep.endpoint(classifier),
 *   ]),
 * });
 */
export class InferenceGraph extends Construct {
  /** The router's Knative Service or Deployment name. */
  public readonly name: string;
  /** The namespace, if one was set. */
  public readonly namespace?: string;
  /** The host clients call. */
  public readonly host: string;
  /** How the router is deployed. */
  public readonly mode: DeploymentMode;
  /** Whether the graph runs in one server process. */
  public readonly inProcess: boolean;
  /**
   * The Istio principal of the router's pods (`cluster.local/ns/<namespace>/sa/<service account>`).
   * Every `EndpointSecurity` of a step's endpoint in this app admits it; list it in the
   * `allowedPrincipals` of policies made outside the app.
   */
  public readonly principal: string;
  /** The PodMonitor (serverless) or ServiceMonitor (raw) that scrapes the router; undefined with monitoring off. */
  public readonly monitor?: ApiObject;

  private readonly graphSpec: GraphSpec;

  constructor(scope: Construct, id: string, props: InferenceGraphProps) {
    super(scope, id);
    this.mode = props.mode ?? DeploymentMode.SERVERLESS;
    this.namespace = props.namespace ?? Chart.of(this).namespace;
    this.inProcess = props.inProcess ?? false;
    refuseEndpointOnlyProps(this, props);
    const serverless = this.mode === DeploymentMode.SERVERLESS;
    const derivedSuffix = serverless ? '-00001-private' : '';
    this.name = props.name ?? Names.toDnsLabel(this, { maxLen: 63 - derivedSuffix.length });
    assertDns1035Label('name', this.name);
    assertDerivedLength('name', this.name, `${this.name}${derivedSuffix}`);
    if (this.namespace !== undefined) assertDns1123Label('namespace', this.namespace);
    this.host = props.host ?? `${this.name}.${this.namespace ?? 'default'}.${props.domain ?? 'example.com'}`;
    assertDns1123Subdomain(props.host !== undefined ? 'host' : 'domain', this.host);

    const kserve = resolveTarget(this, props.target) === ServingTarget.KSERVE;
    const resolved = resolveEndpoint({
      node: this.node,
      construct: this,
      mode: this.mode,
      protocol: InferenceProtocol.V2,
      name: this.name,
      modelName: this.name,
      namespace: this.namespace,
      host: this.host,
    }, {
      ...props,
      target: ServingTarget.NATIVE,
      // Our server in router mode: no model of its own to fetch, so no storageUri.
      container: { image: props.serverImage ?? contract.DEFAULT_SERVER_IMAGE, port: contract.HTTP_PORT },
    });

    this.principal = `cluster.local/ns/${this.namespace ?? 'default'}/sa/${resolved.serviceAccountName ?? 'default'}`;
    const nodes: { [name: string]: GraphNode } = { [contract.GRAPH.rootNode]: props.root };
    for (const [nodeName, node] of Object.entries(props.nodes ?? {})) {
      if (nodeName === contract.GRAPH.rootNode) throw new Error(`inference graph '${this.name}': 'nodes' must not contain '${contract.GRAPH.rootNode}'; that node is 'root'`);
      nodes[nodeName] = node;
    }
    const models: RouterModel[] = this.inProcess ? inProcessModels(this.name, nodes) : [];
    this.graphSpec = {
      nodes: Object.fromEntries(Object.entries(nodes).map(([nodeName, node]) => [nodeName, this.nodeSpec(nodeName, node)])),
      ...(props.timeout !== undefined ? { timeoutMs: props.timeout.toMilliseconds() } : {}),
    };
    const problems = validateGraphSpec(this.graphSpec);
    if (problems.length > 0) {
      throw new Error(`inference graph '${this.name}' is invalid: ${problems.join('; ')}`);
    }

    if (kserve) {
      synthesizeKServeGraph(this, {
        resolved: { ...resolved, kserve: true },
        nodes: Object.fromEntries(Object.entries(nodes).map(([nodeName, node]) => [nodeName, this.kserveNodeSpec(nodeName, node)])),
        resources: componentResources('resources', props.resources),
      });
      return;
    }
    this.monitor = synthesizeRouter(this, {
      resolved,
      spec: this.graphSpec,
      image: props.serverImage ?? contract.DEFAULT_SERVER_IMAGE,
      resources: this.inProcess ? resolved.resources : componentResources('resources', props.resources),
      models,
      monitoring: resolveMonitoring(props.monitoring, false, this.namespace),
    });
    if (!this.inProcess) this.admitRouterToEndpoints(nodes, resolved);
  }

  /** The URL inside the cluster (the router answers POST `/`). */
  public get url(): string {
    return `http://${this.name}.${this.namespace ?? 'default'}.svc.cluster.local`;
  }

  /** The router's Knative Service (serverless) or Deployment (raw). */
  public get apiObject(): ApiObject {
    return ApiObject.of(this);
  }

  /** The graph's JSON, as the router reads it from its ConfigMap. */
  public get specJson(): string {
    return JSON.stringify(this.graphSpec, undefined, 2);
  }

  private nodeSpec(nodeName: string, node: GraphNode): GraphNodeSpec {
    return { routerType: node.routerType, steps: node._steps.map((step) => this.stepSpec(nodeName, step)) };
  }

  /** A node as KServe writes it: endpoints emitted as InferenceServices by `serviceName`; no step timeouts. */
  private kserveNodeSpec(nodeName: string, node: GraphNode): { routerType: string; steps: KServeGraphStep[] } {
    return {
      routerType: node.routerType,
      steps: node._steps.map((step) => {
        const { timeoutMs, serviceUrl, ...rest } = this.stepSpec(nodeName, step);
        if (timeoutMs !== undefined) {
          throw new Error(`inference graph '${this.name}' node '${nodeName}' step '${step._name}': KServe's InferenceGraph has no per-step 'timeout'; `
            + "remove it (the graph's 'timeout' bounds every step), or use 'target: ServingTarget.NATIVE'");
        }
        const endpoint = step._endpoint;
        // An endpoint emitted as an InferenceService, or one imported by name (taken to be one): by serviceName.
        const isInferenceService = endpoint !== undefined && (!(endpoint instanceof ModelEndpoint) || endpoint._resolved.kserve);
        if (isInferenceService) return { ...rest, serviceName: endpoint.name };
        return serviceUrl !== undefined ? { ...rest, serviceUrl } : rest;
      }),
    };
  }

  private stepSpec(nodeName: string, step: GraphStep): GraphStepSpec {
    const o = step._options;
    const where = `inference graph '${this.name}' node '${nodeName}' step '${step._name}'`;
    let timeoutMs: number | undefined;
    if (o.timeout !== undefined) {
      timeoutMs = o.timeout.toMilliseconds();
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1) throw new Error(`${where}: 'timeout' must be at least 1 millisecond, got ${timeoutMs}`);
    }
    const common: GraphStepSpec = {
      name: step._name,
      ...(o.data !== undefined ? { data: o.data } : {}),
      ...(o.condition !== undefined ? { condition: o.condition } : {}),
      ...(o.weight !== undefined ? { weight: o.weight } : {}),
      ...(o.dependency !== undefined ? { dependency: o.dependency } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    };
    switch (step._target) {
      case 'node':
        return { ...common, nodeName: step._nodeName };
      case 'url':
        return { ...common, serviceUrl: step._url };
      case 'model':
        if (!this.inProcess) {
          throw new Error(`${where}: GraphStep.model() runs in the router's own process, which needs 'inProcess: true'; set it, or call a ModelEndpoint with GraphStep.endpoint()`);
        }
        return { ...common, model: step._modelName };
      case 'endpoint': {
        const endpoint = step._endpoint!;
        if (endpoint.node.root !== this.node.root) {
          throw new Error(`${where}: endpoint '${endpoint.node.path}' belongs to another App; a graph calls endpoints of its own App (use GraphStep.url() for a service deployed elsewhere)`);
        }
        if (this.inProcess) return { ...common, model: endpoint.modelName };
        return { ...common, serviceUrl: endpointUrl(where, endpoint, step._protocol) };
      }
      default:
        throw new Error(`${where}: unknown step kind`);
    }
  }

  /**
   * Endpoints with a NetworkPolicy admit the router's pods (the router calls them directly in raw mode),
   * and those behind an EndpointSecurity its principal.
   */
  private admitRouterToEndpoints(nodes: { [name: string]: GraphNode }, router: ResolvedEndpoint): void {
    const seen = new Set<IModelEndpoint>();
    for (const node of Object.values(nodes)) {
      for (const step of node._steps) {
        // A ModelEndpoint's or CanaryRollout's own policy; an imported endpoint has none here.
        if (step._endpoint === undefined || seen.has(step._endpoint)) continue;
        seen.add(step._endpoint);
        // Its EndpointSecurity, made before or after this graph, admits the router's principal.
        recordCaller(step._endpoint, this.principal);
        const policy = step._endpoint.node.tryFindChild('NetworkPolicy');
        if (!policy) continue;
        const peer: Record<string, unknown> = { podSelector: { matchLabels: selectorLabels(router, 'router') } };
        if ((step._endpoint.namespace ?? 'default') !== (this.namespace ?? 'default')) {
          peer.namespaceSelector = { matchLabels: { 'kubernetes.io/metadata.name': this.namespace ?? 'default' } };
        }
        ApiObject.of(policy).addJsonPatch(JsonPatch.add('/spec/ingress/-', { from: [peer] }));
      }
    }
  }
}

/** ModelEndpointProps settings that mean nothing for a router, refused instead of ignored. */
function refuseEndpointOnlyProps(graph: Construct, props: InferenceGraphProps): void {
  if (props.protocol !== undefined && props.protocol !== InferenceProtocol.V2) {
    throw new Error(`'protocol' is ${props.protocol}, but the router takes requests as JSON over HTTP POST at '/' (as KServe's router does); remove 'protocol'`);
  }
  if (resolveTarget(graph, props.target) === ServingTarget.KSERVE) {
    // KServe's controller runs its own router: what only ours has is refused, naming the way out.
    const way = "or use 'target: ServingTarget.NATIVE' (our router)";
    if (props.inProcess) throw new Error(`'inProcess' runs the graph in our server; KServe's InferenceGraph has no in-process steps: drop 'inProcess', ${way}`);
    if (props.ingress !== undefined) throw new Error(`'ingress' is not expressible on KServe's InferenceGraph (KServe routes it itself): remove 'ingress', ${way}`);
    if (props.monitoring !== undefined) throw new Error(`'monitoring' scrapes our router; KServe's router is not ours: remove 'monitoring', ${way}`);
  }
  if (props.logger !== undefined) throw new Error("'logger' is not supported on an InferenceGraph yet; set it on the endpoints the graph calls");
  for (const prop of ['scaleDownDelay', 'startupTimeout'] as const) {
    // The router's workload (shared with transformers and explainers) has neither setting.
    if (props[prop] !== undefined) throw new Error(`'${prop}' is not supported on an InferenceGraph's router; remove it`);
  }
  if (props.storageInitializerWebhook) throw new Error("'storageInitializerWebhook' does not apply to an InferenceGraph; use 'mode: DeploymentMode.RAW' or 'knativeFeatures: [KnativeFeature.INIT_CONTAINERS]' for 'inProcess'");
}

/** The in-cluster URL and model path a step calls an endpoint at. */
function endpointUrl(where: string, endpoint: IModelEndpoint, asked?: InferenceProtocol): string {
  let base: string;
  let protocol: InferenceProtocol;
  if (endpoint instanceof ModelEndpoint) {
    const resolved = endpoint._resolved;
    const served = predictorProtocols(resolved);
    const rest = (p: InferenceProtocol) => p === InferenceProtocol.V1 || p === InferenceProtocol.V2;
    protocol = asked ?? (rest(resolved.protocol) ? resolved.protocol : InferenceProtocol.V2);
    if (!rest(protocol)) throw new Error(`${where}: the router calls steps over REST, so 'protocol' must be InferenceProtocol.V1 or V2, got ${protocol}`);
    const transformer = endpoint.transformer;
    if (transformer && !transformer.inProcess && !transformer.collocated) {
      // The endpoint's routes send the model's paths to its transformer; so does the graph.
      base = `http://${transformer.name}.${resolved.namespace ?? 'default'}.svc.cluster.local`;
    } else {
      if (!served.includes(protocol)) {
        throw new Error(`${where}: endpoint '${endpoint.name}' does not serve ${protocol} over REST (it serves ${served.join(', ')}); set the step's 'protocol' to one it serves, or change the endpoint's 'protocol' (in serverless mode a gRPC endpoint has no REST port)`);
      }
      base = `http://${predictorHost(resolved, protocol)}`;
    }
  } else {
    // A CanaryRollout speaks its `protocol`; an imported endpoint is taken to speak V2.
    const own = (endpoint as { protocol?: InferenceProtocol }).protocol;
    protocol = asked ?? (own === InferenceProtocol.V1 ? InferenceProtocol.V1 : InferenceProtocol.V2);
    if (protocol !== InferenceProtocol.V1 && protocol !== InferenceProtocol.V2) {
      throw new Error(`${where}: the router calls steps over REST, so 'protocol' must be InferenceProtocol.V1 or V2, got ${protocol}`);
    }
    base = endpoint.url;
  }
  return protocol === InferenceProtocol.V1
    ? `${base}/v1/models/${endpoint.modelName}:predict`
    : `${base}/v2/models/${endpoint.modelName}/infer`;
}

/**
 * The models an in-process graph loads, from its one Sequence's steps; throws naming the first
 * step that cannot run in-process and why.
 */
function inProcessModels(graphName: string, nodes: { [name: string]: GraphNode }): RouterModel[] {
  const fix = "or drop 'inProcess' to call the steps over the network";
  const others = Object.keys(nodes).filter(n => n !== contract.GRAPH.rootNode);
  if (others.length > 0) {
    throw new Error(`inference graph '${graphName}': 'inProcess' runs one Sequence, but the graph also has node(s) ${others.join(', ')}; put every step in the root Sequence, ${fix}`);
  }
  const root = nodes[contract.GRAPH.rootNode];
  if (root.routerType !== GraphRouterType.SEQUENCE) {
    throw new Error(`inference graph '${graphName}': 'inProcess' runs one Sequence, but the root node is a ${root.routerType}; use GraphNode.sequence(), ${fix}`);
  }
  const models = new Map<string, RouterModel>();
  for (const step of root._steps) {
    const where = `inference graph '${graphName}' node 'root' step '${step._name}' cannot run in-process`;
    let model: RouterModel;
    if (step._target === 'model') {
      assertDns1123Label('GraphStep.model() modelName', step._modelName!);
      model = { name: step._modelName!, storageUri: step._storageUri! };
    } else if (step._target === 'endpoint') {
      const endpoint = step._endpoint!;
      if (!(endpoint instanceof ModelEndpoint)) {
        throw new Error(`${where}: '${endpoint.node.path}' is not a ModelEndpoint of this app (an imported endpoint or a CanaryRollout), so its model is unknown; use GraphStep.model() with its storageUri, ${fix}`);
      }
      const r = endpoint._resolved;
      if (r.container.custom || r.container.runtime) {
        throw new Error(`${where}: endpoint '${endpoint.name}' runs ${r.container.runtime ? `the runtime ${r.servingRuntime?.name ?? ''}`.trim() : "a custom 'container'"}, not our model server; ${fix}`);
      }
      if (!r.storageUri) throw new Error(`${where}: endpoint '${endpoint.name}' has no 'storageUri'; ${fix}`);
      if (endpoint.transformer) {
        throw new Error(`${where}: endpoint '${endpoint.name}' has a transformer, which the router would skip; ${fix}`);
      }
      model = { name: endpoint.modelName, storageUri: r.storageUri };
    } else {
      throw new Error(`${where}: it is a ${step._target} step, and only GraphStep.model() and GraphStep.endpoint() steps run in-process; ${fix}`);
    }
    if (model.storageUri.isMounted) {
      throw new Error(`${where}: its 'storageUri' ${model.storageUri.uri} is a mounted volume, and the in-process router fetches each model into its own folder; use an s3://, gs:// or https:// storageUri, ${fix}`);
    }
    const earlier = models.get(model.name);
    if (earlier && earlier.storageUri.uri !== model.storageUri.uri) {
      throw new Error(`${where}: model '${model.name}' is already loaded from ${earlier.storageUri.uri}, and two models cannot share a name in one server; rename one, ${fix}`);
    }
    models.set(model.name, model);
  }
  return [...models.values()];
}
