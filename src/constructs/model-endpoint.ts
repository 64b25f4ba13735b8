import { ApiObject, Chart, Duration, Names } from 'cdk8s';
import { ContainerResources, EnvValue, k8s } from 'cdk8s-plus-33';
import { Construct, IConstruct } from 'constructs';
import { CommonEndpointOptions } from './common-endpoint-options';
import { EndpointIngress } from './endpoint-ingress';
import { EndpointMonitoring } from './endpoint-monitoring';
import { Autoscaler, DeploymentMode, InferenceProtocol, ModelContainer } from './endpoint-options';
import { ExplainerBackground, ExplainerMethod, ExplainerOptions } from './explainer-options';
import { KnativeFeature } from './knative-features';
import { ModelFormat } from './model-format';
import { MonitoringOptions } from './monitoring-options';
import { ServingRuntime } from './serving-runtime';
import { ServingTarget } from './serving-target';
import { ModelImageMount, StorageUri } from './storage-uri';
import { TransformerOptions } from './transformer-options';
import * as contract from '../contract';
import { addAgentSidecar } from '../render/agent-sidecar';
import { assertCollocatable, collocatedTransformerOf, collocateTransformer } from '../render/collocated-transformer';
import { componentLogger, componentName, patchPredictor, predictorHost, predictorProtocols, routeExplainTo, routeModelPathsTo, synthesizeComponentFromOptions } from '../render/component';
import { synthesizeKServeEndpoint } from '../render/kserve/endpoint';
import { assertComponentExpressible } from '../render/kserve/refusals';
import { resolveTarget } from '../render/kserve/target';
import { metricsPort } from '../render/monitoring/monitor';
import { resolveMonitoring } from '../render/monitoring/resolve';
import { admitMetricsScrapes } from '../render/network-policy';
import { payloadLogArgs } from '../render/payload-log-args';
import { MODEL_VOLUME, mountedModelVolume, objectLabels, PodVolume, storageCredentialsVolume } from '../render/pod-template';
import { synthesizeRaw } from '../render/raw';
import { registerEndpoint } from '../render/resolve/endpoint-registry';
import { requireKnativeFeature } from '../render/resolve/knative';
import { assertDerivedLength, assertDns1035Label, assertDns1123Label, assertDns1123Subdomain } from '../render/resolve/names';
import { assertEnvVarName, resolveEndpoint } from '../render/resolve/resolve-endpoint';
import { ResolvedEndpoint } from '../render/resolve/resolved-endpoint';
import { synthesizeServerless } from '../render/serverless';

/**
 * Properties of a `ModelEndpoint`: the model, its container and replicas, and the
 * endpoint-level settings of `CommonEndpointOptions`.
 */
export interface ModelEndpointProps extends CommonEndpointOptions {
  /**
   * The model name clients use in `/v1/models/<name>` and `/v2/models/<name>`.
   *
   * Must be a DNS-1123 label.
   */
  readonly modelName: string;

  /**
   * Where the model is stored.
   *
   * Required with our model server; optional with a custom `container` whose image has
   * the model baked in (or that serves many models it loads itself).
   *
   * @default - none: only valid with a custom `container`
   * @see https://kserve.github.io/website/latest/modelserving/storage/
   */
  readonly storageUri?: StorageUri;

  /**
   * The model format.
   *
   * @default ModelFormat.ONNX
   */
  readonly format?: ModelFormat;

  /**
   * The serving runtime that runs the model (KServe's `runtime`).
   *
   * @default - the first runtime of the scope's `RuntimeCatalog` (or of the built-ins) that
   * serves `format` over `protocol`: our model server for ONNX
   */
  readonly runtime?: ServingRuntime;

  /**
   * The name of the Knative Service or Deployment, and the first label of the host.
   *
   * @default - a name cdk8s derives from the construct path
   */
  readonly name?: string;

  /**
   * A container of your own instead of our model server.
   *
   * @default - our model server, which serves ONNX models
   */
  readonly container?: ModelContainer;

  /**
   * The model-server image, to pin another version or a mirror.
   *
   * @default - the model-server image released with this library
   */
  readonly serverImage?: string;

  /**
   * CPU and memory requests and limits of the model container.
   *
   * @default - requests 500m CPU and 512Mi memory; limits 1 CPU and 1Gi memory
   */
  readonly resources?: ContainerResources;

  /**
   * NVIDIA GPUs per replica (`nvidia.com/gpu`, set as request and limit).
   *
   * @default 0
   */
  readonly gpus?: number;

  /**
   * How long a request may take before it fails.
   *
   * @default - serverless: Knative's cluster default, 300 seconds; raw: no route timeout
   * @see https://knative.dev/docs/serving/services/configure-requests-limits-services/
   */
  readonly timeout?: Duration;

  /**
   * The fewest replicas. 0 enables scale to zero (serverless only); the default keeps one
   * replica warm, because cold starts are slow for models.
   *
   * @default 1
   */
  readonly minReplicas?: number;

  /**
   * The most replicas.
   *
   * 0 means no limit, as in KServe: serverless only (the revision gets `max-scale: "0"`,
   * which Knative reads as unlimited unless the cluster sets `max-scale-limit`); raw mode's
   * HorizontalPodAutoscaler needs a bound.
   *
   * @default - the larger of 3 and `minReplicas`
   */
  readonly maxReplicas?: number;

  /**
   * Replicas when a new revision starts (serverless) or when the Deployment is created (raw).
   *
   * @default - `minReplicas`, or 1 when scaling to zero
   */
  readonly initialScale?: number;

  /**
   * Takes the endpoint to zero replicas without deleting it. Serverless: the route answers
   * 503 and Knative scales the revision to zero; raw: the Deployment has 0 replicas and no
   * autoscaler.
   *
   * @default false
   */
  readonly stopped?: boolean;

  /**
   * What scales the Deployment in raw mode. Serverless mode refuses it: Knative scales.
   *
   * With `Autoscaler.KEDA`, `scaleMetric` is `ScaleMetric.CONCURRENCY` (the default) or
   * `ScaleMetric.RPS`, measured by our server's metrics in Prometheus (`kedaPrometheusAddress`);
   * `minReplicas: 0` scales to zero through KEDA's HTTP add-on, whose interceptor the route
   * goes through (with Gateway API, the endpoint adds the ReferenceGrant its HTTPRoute needs in
   * the interceptor's namespace).
   *
   * @default Autoscaler.HPA
   * @noSchemaDefault raw mode only: serverless mode refuses it when set
   */
  readonly autoscaler?: Autoscaler;

  /**
   * The Prometheus server KEDA queries, e.g. `http://prometheus-operated.monitoring.svc:9090`.
   * Required with `Autoscaler.KEDA` and `minReplicas` 1 or more.
   *
   * @default - none
   */
  readonly kedaPrometheusAddress?: string;

  /**
   * The Service of KEDA's HTTP add-on interceptor proxy, which the route goes through with
   * `Autoscaler.KEDA` and `minReplicas: 0`.
   *
   * @default 'keda-add-ons-http-interceptor-proxy'
   * @noSchemaDefault only with Autoscaler.KEDA and minReplicas 0, which the construct checks
   */
  readonly kedaInterceptorService?: string;

  /**
   * The namespace of KEDA's HTTP add-on interceptor proxy.
   *
   * @default 'keda'
   * @noSchemaDefault only with Autoscaler.KEDA and minReplicas 0, which the construct checks
   */
  readonly kedaInterceptorNamespace?: string;

  /**
   * Environment variables of the model container.
   *
   * @default - none
   */
  readonly env?: { [name: string]: EnvValue };

  /**
   * How traffic from outside the cluster reaches the endpoint.
   *
   * @default - serverless: `EndpointIngress.istio()`; raw: `EndpointIngress.none()`
   */
  readonly ingress?: EndpointIngress;

  /**
   * Namespaces allowed to reach the pods, besides the endpoint's own components.
   *
   * @default - serverless: istio-system and knative-serving; raw: istio-system, or
   * ingress-nginx for a Kubernetes Ingress, or none without ingress
   */
  readonly allowedNamespaces?: string[];

  /**
   * Prometheus scraping (PodMonitor or ServiceMonitor), alert rules and a Grafana dashboard.
   * Needs the Prometheus operator's CRDs in the cluster.
   *
   * @default - all on with our model server (see `MonitoringOptions`); off with a custom
   * `container`
   */
  readonly monitoring?: MonitoringOptions;
}

/**
 * A model-serving endpoint: what clients call, and what it reads.
 */
export interface IModelEndpoint extends IConstruct {
  /** The name of the Knative Service or Deployment. */
  readonly name: string;
  /** The model name in `/v1/models/<name>` and `/v2/models/<name>`. */
  readonly modelName: string;
  /** The namespace, if one was set. */
  readonly namespace?: string;
  /** The host clients call. */
  readonly host: string;
  /** The URL inside the cluster. */
  readonly url: string;
}

/**
 * A model-serving endpoint, the equivalent of a KServe InferenceService.
 *
 * Serverless mode synthesizes a Knative `Service` (id `Resource`), an Istio
 * `VirtualService` and a `NetworkPolicy`. Raw mode synthesizes a `Deployment` (id
 * `Resource`), a `Service`, a `HorizontalPodAutoscaler`, a `PodDisruptionBudget`, a
 * `NetworkPolicy` and the chosen ingress object. Every pod meets the Pod Security
 * "restricted" profile. With `monitoring` on (the default), both add a `PodMonitor`
 * (serverless) or `ServiceMonitor` (raw), a `PrometheusRule` and a Grafana dashboard
 * `ConfigMap` (see `EndpointMonitoring`).
 *
 * @example
 * new ModelEndpoint(chart, 'iris', {
 *   modelName: 'iris',
 *   storageUri: StorageUri.s3('models', 'iris/model.onnx'),
 * });
 */
export class ModelEndpoint extends Construct implements IModelEndpoint {
  /**
   * Refers to an endpoint defined elsewhere (by another chart or by hand).
   *
   * @param name the Knative Service or Service name
   * @param modelName the model name
   */
  public static fromEndpointName(scope: Construct, id: string, name: string, modelName: string, namespace?: string): IModelEndpoint {
    return new ImportedModelEndpoint(scope, id, name, modelName, namespace);
  }

  public readonly name: string;
  public readonly modelName: string;
  public readonly namespace?: string;
  public readonly host: string;
  /** How the endpoint is deployed. */
  public readonly mode: DeploymentMode;
  /** The protocol clients speak. */
  public readonly protocol: InferenceProtocol;
  /** The monitor, alert rules and dashboard, unless monitoring is off. */
  public readonly monitoring?: EndpointMonitoring;
  /** The serving runtime (picked for `format`, or given); undefined with a custom `container`. */
  public readonly runtime?: ServingRuntime;

  private readonly resolved: ResolvedEndpoint;

  constructor(scope: Construct, id: string, props: ModelEndpointProps) {
    super(scope, id);
    this.mode = props.mode ?? DeploymentMode.SERVERLESS;
    this.protocol = props.protocol ?? InferenceProtocol.V2;
    this.namespace = props.namespace ?? Chart.of(this).namespace;
    this.modelName = props.modelName;
    assertDns1123Label('modelName', props.modelName);

    // Knative adds "-00001-private" to the revision's private Service; that is the longest
    // name derived from ours, so the base name may have at most 49 characters. KServe adds
    // "-predictor" (or "-transformer") in front of it.
    const kserve = resolveTarget(this, props.target) === ServingTarget.KSERVE;
    const derivedSuffix = (kserve ? '-transformer' : '') + (this.mode === DeploymentMode.SERVERLESS ? '-00001-private' : '');
    if (kserve && props.name !== undefined && props.name !== props.modelName) {
      // KServe's runtimes serve the model under the InferenceService's name ({{.Name}}).
      throw new Error(`'name' (${props.name}) must equal 'modelName' (${props.modelName}) with KServe, whose runtimes serve the model under the InferenceService's name; leave 'name' unset, or use 'target: ServingTarget.NATIVE'`);
    }
    this.name = props.name ?? (kserve ? props.modelName : Names.toDnsLabel(this, { maxLen: 63 - derivedSuffix.length }));
    assertDns1035Label('name', this.name);
    assertDerivedLength('name', this.name, `${this.name}${derivedSuffix}`);
    if (this.namespace !== undefined) assertDns1123Label('namespace', this.namespace);

    const domain = props.domain ?? 'example.com';
    // KServe's default domainTemplate "{{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}"
    // (inferenceservice-config, kserve config/configmap/inferenceservice.yaml).
    this.host = props.host ?? (kserve ? `${this.name}-${this.namespace ?? 'default'}.${domain}` : `${this.name}.${this.namespace ?? 'default'}.${domain}`);
    assertDns1123Subdomain(props.host !== undefined ? 'host' : 'domain', this.host);

    this.resolved = resolveEndpoint(this, props);
    this.runtime = this.resolved.servingRuntime;
    // Two endpoints for one model in a chart fail synth, pointing to CanaryRollout.
    registerEndpoint(this, this.resolved);
    for (const [envName, value] of Object.entries(props.env ?? {})) this.addEnv(envName, value);
    if (kserve) {
      synthesizeKServeEndpoint(this, this.resolved, props);
    } else if (this.mode === DeploymentMode.SERVERLESS) {
      synthesizeServerless(this, this.resolved);
    } else {
      synthesizeRaw(this, this.resolved);
    }
    if (this.resolved.agent) addAgentSidecar(ApiObject.of(this), this.resolved);
    const monitoring = resolveMonitoring(props.monitoring, props.container !== undefined, this.namespace);
    if (this.resolved.keda?.prometheusAddress !== undefined && !monitoring.enabled) {
      throw new Error("'autoscaler: Autoscaler.KEDA' queries the series our monitor scrapes into Prometheus, but 'monitoring' is disabled; enable 'monitoring', or set 'minReplicas: 0' (KEDA's HTTP add-on counts requests itself)");
    }
    if (monitoring.enabled) {
      this.monitoring = EndpointMonitoring._create(this, 'Monitoring', this.resolved, monitoring);
      if (this.resolved.agent) this.monitoring._agentInFront();
      // A runtime without metrics (TF Serving) has no monitor, and no scrape to admit.
      if (this.resolved.networkPolicy && this.monitoring.monitor) {
        admitMetricsScrapes(this, monitoring.prometheusNamespace, metricsPort(this.resolved));
      }
    }
  }

  public get url(): string {
    return `http://${this.name}.${this.namespace ?? 'default'}.svc.cluster.local`;
  }

  /**
   * Adds an environment variable to the model container.
   *
   * @throws if the variable is already set
   */
  public addEnv(name: string, value: EnvValue): void {
    assertEnvVarName(name);
    if (this.resolved.container.env.has(name)) {
      throw new Error(`environment variable '${name}' is already set on this endpoint`);
    }
    if (value.valueFrom?.fieldRef && this.mode === DeploymentMode.SERVERLESS) {
      requireKnativeFeature(this.resolved, KnativeFeature.FIELD_REF, `environment variable '${name}' from a fieldRef`);
    }
    this.resolved.container.env.set(name, value);
  }

  /**
   * Adds a transformer: pre- and post-processing in front of the predictor, as its own
   * component (id `Transformer`), or inside the predictor with `inProcess`.
   *
   * @returns the transformer
   * @throws if the endpoint already has one
   */
  public addTransformer(options: TransformerOptions): Transformer {
    if (this.node.tryFindChild('Transformer')) throw new Error('this endpoint already has a transformer');
    this.assertNotFromZeroWithKeda('transformer');
    return new Transformer(this, 'Transformer', { ...options, endpoint: this });
  }

  /**
   * Adds an explainer: `:explain` answered with feature attributions, as its own component
   * (id `Explainer`), or inside the predictor with `inProcess`.
   *
   * @returns the explainer
   * @throws if the endpoint already has one
   */
  public addExplainer(options: ExplainerOptions = {}): Explainer {
    if (this.node.tryFindChild('Explainer')) throw new Error('this endpoint already has an explainer');
    this.assertNotFromZeroWithKeda('explainer');
    return new Explainer(this, 'Explainer', { ...options, endpoint: this });
  }

  /**
   * From zero, only the route goes through KEDA's interceptor: a transformer or explainer would call
   * the predictor's Service directly and find no replica.
   */
  private assertNotFromZeroWithKeda(component: string): void {
    if (this.resolved.keda?.httpAddOn) {
      throw new Error(`${component === 'explainer' ? 'an' : 'a'} ${component} cannot front a predictor with 'minReplicas: 0' and 'autoscaler: Autoscaler.KEDA': it calls the predictor's Service directly, not through KEDA's interceptor, and would find no replica; set 'minReplicas' to 1 or more, or use 'mode: DeploymentMode.SERVERLESS'`);
    }
  }

  /** The transformer, if one was added. */
  public get transformer(): Transformer | undefined {
    return this.node.tryFindChild('Transformer') as Transformer | undefined;
  }

  /** The explainer, if one was added. */
  public get explainer(): Explainer | undefined {
    return this.node.tryFindChild('Explainer') as Explainer | undefined;
  }

  /** @internal the validated settings, for the transformer and explainer. */
  public get _resolved(): ResolvedEndpoint {
    return this.resolved;
  }

  /** The primary API object: the Knative Service (serverless) or the Deployment (raw). */
  public get apiObject(): ApiObject {
    return ApiObject.of(this);
  }
}

class ImportedModelEndpoint extends Construct implements IModelEndpoint {
  public readonly host: string;
  constructor(scope: Construct, id: string, public readonly name: string, public readonly modelName: string, public readonly namespace?: string) {
    super(scope, id);
    assertDns1035Label('name', name);
    assertDns1123Label('modelName', modelName);
    this.host = `${name}.${namespace ?? 'default'}.svc.cluster.local`;
  }

  public get url(): string {
    return `http://${this.host}`;
  }
}

// The components an endpoint adds live beside ModelEndpoint because the two refer to each other:
// `addTransformer()` returns a Transformer, and `TransformerProps.endpoint` is a ModelEndpoint
// (the same for the explainer). Their options are in transformer-options.ts and explainer-options.ts.

/** Where our transformer finds the module mounted from a ConfigMap. */
const MODULE_DIR = '/etc/model-server/transformer';
const MODULE_VOLUME = 'transformer-module';

/**
 * Properties of a `Transformer`.
 */
export interface TransformerProps extends TransformerOptions {
  /** The endpoint whose predictor the transformer calls. */
  readonly endpoint: ModelEndpoint;
}

/**
 * Pre- and post-processing in front of an endpoint's predictor, as KServe's transformer.
 *
 * Synthesizes a separate component: a Knative `Service` named `<endpoint>-transformer`
 * (serverless, id `Resource`) or a `Deployment` (id `Resource`), `Service` and
 * `HorizontalPodAutoscaler` (raw), labelled `app.kubernetes.io/component: transformer`, plus a
 * `ConfigMap` holding the module when it is given as code. The endpoint's routes send the
 * model's paths (`:predict`, `infer`, metadata) to it; it calls the predictor at the host and
 * protocol derived from the endpoint. With `inProcess`, the module runs in the predictor and
 * only the ConfigMap is added. With `collocated`, the transformer is a second container in the
 * predictor's pod that takes its serving port (the predictor's objects change; no component is
 * added). With the endpoint's monitoring on, our transformer also gets a
 * `PodMonitor` (serverless) or `ServiceMonitor` (raw) named `<endpoint>-transformer`.
 *
 * Create it with `endpoint.addTransformer()`.
 */
export class Transformer extends Construct {
  /** `<endpoint>-transformer`, the name of its Knative Service or Deployment and Service; the endpoint's name in process or collocated. */
  public readonly name: string;
  /** Whether the module runs inside the predictor. */
  public readonly inProcess: boolean;
  /** Whether the transformer is a second container in the predictor's pod. */
  public readonly collocated: boolean;
  /** The protocol the transformer uses to call the predictor. */
  public readonly predictorProtocol: InferenceProtocol;
  /** `host:port` of the predictor the transformer calls. */
  public readonly predictorHost: string;
  /**
   * The `PodMonitor` (serverless) or `ServiceMonitor` (raw) that scrapes the transformer's
   * `/metrics`, with the endpoint's `monitoring` settings; its series carry
   * `component="transformer"`.
   *
   * Collocated, it is the endpoint's own monitor, which then scrapes both containers of the
   * predictor's pods. Undefined in process (the predictor's monitor scrapes the module's
   * metrics), with a custom `container` (whose metrics we do not know), or when the endpoint's
   * monitoring is off.
   */
  public readonly monitor?: ApiObject;

  constructor(scope: Construct, id: string, props: TransformerProps) {
    super(scope, id);
    const resolved: ResolvedEndpoint = props.endpoint._resolved;
    if ((props.module === undefined) === (props.container === undefined)) {
      throw new Error("set exactly one of 'module' (our model server runs it) and 'container' (your own transformer image)");
    }
    this.inProcess = props.inProcess ?? false;
    if (resolved.kserve) assertComponentExpressible('transformer', props);
    if (this.inProcess && props.collocated) {
      throw new Error("set either 'collocated' (a second container in the predictor's pod) or 'inProcess' (the module inside our predictor's process), not both");
    }
    if (this.inProcess && props.container) {
      throw new Error("'inProcess' runs 'module' in our model server; it cannot be combined with 'container'");
    }
    if (this.inProcess && resolved.container.custom) {
      throw new Error("'inProcess' needs our model server as the predictor, but the endpoint has a custom 'container'; drop 'inProcess' to run the transformer as its own component");
    }
    const served = predictorProtocols(resolved);
    this.predictorProtocol = props.predictorProtocol ?? resolved.protocol;
    // rt-core: our transformer calls V1, V2 or V2 gRPC, not a runtime's own gRPC service.
    if (props.module && this.predictorProtocol === InferenceProtocol.GRPC_V1) {
      throw new Error(`our transformer cannot call the predictor over ${InferenceProtocol.GRPC_V1} (a runtime's own gRPC service); set 'predictorProtocol' to one of ${served.filter(p => p !== InferenceProtocol.GRPC_V1).join(', ') || 'v1, v2, grpc-v2'}, or use your own 'container'`);
    }
    if (!served.includes(this.predictorProtocol)) {
      throw new Error(`'predictorProtocol' is ${this.predictorProtocol}, but the predictor serves ${served.join(' and ')} (${resolved.container.custom ? "a custom 'container' speaks the endpoint's 'protocol'" : "in serverless mode the predictor exposes only the port of the endpoint's 'protocol'"}); use one of these, or change the endpoint's 'protocol'`);
    }
    for (const h of props.propagateHeaders ?? []) {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(h)) throw new Error(`'propagateHeaders' must hold header names, got '${h}'`);
    }
    this.collocated = props.collocated ?? false;
    if (this.collocated) assertCollocatable(props, resolved);
    const payloadLog = componentLogger(resolved, 'transformer', props);
    this.name = this.inProcess || this.collocated ? resolved.name : componentName(resolved, 'transformer');
    this.predictorHost = this.inProcess ? 'in-process'
      : this.collocated ? `localhost:${resolved.container.port}` : predictorHost(resolved, this.predictorProtocol);

    const volumes: PodVolume[] = [];
    let modulePath: string | undefined;
    if (props.module) {
      const m = props.module;
      if (m._imagePath) {
        modulePath = m._imagePath;
      } else {
        let configMapName: string;
        if (m._configMap) {
          configMapName = m._configMap.name;
        } else {
          // Named by cdk8s from the construct path.
          const cm = new k8s.KubeConfigMap(this, 'Module', {
            metadata: { namespace: resolved.namespace, labels: objectLabels(resolved, 'transformer') },
            data: { [m._fileName!]: m._code! },
          });
          configMapName = cm.name;
        }
        volumes.push({
          volume: { name: MODULE_VOLUME, configMap: { name: configMapName, items: [{ key: m._fileName!, path: m._fileName! }] } },
          mount: { name: MODULE_VOLUME, mountPath: MODULE_DIR, readOnly: true },
        });
        modulePath = `${MODULE_DIR}/${m._fileName}`;
      }
    }
    const f = contract.SERVER_FLAGS;
    const headerArgs = props.propagateHeaders ? [f.propagateHeaders, props.propagateHeaders.join(',')] : [];
    if (this.inProcess) {
      patchPredictor(props.endpoint, [f.transformerModule, modulePath!, ...headerArgs], volumes);
      return;
    }
    if (this.collocated) {
      collocateTransformer(props.endpoint, resolved, collocatedTransformerOf(resolved, props, this.predictorHost, this.predictorProtocol, {
        // Ephemeral gRPC port: nothing calls the transformer over gRPC, and a fixed one could be the predictor's.
        serverArgs: [f.grpcPort, '0', f.transformerModule, modulePath!, ...headerArgs, ...(payloadLog ? payloadLogArgs(resolved, payloadLog) : [])],
        volumes,
      }));
      // rt-finish: the endpoint's monitor keeps scraping the predictor and scrapes our transformer too.
      this.monitor = props.endpoint.monitoring?._collocateTransformer(props.container?.port ?? contract.HTTP_PORT, !props.container);
      return;
    }

    synthesizeComponentFromOptions(this, resolved, props, {
      kind: 'transformer',
      name: this.name,
      predictorHost: this.predictorHost,
      predictorProtocol: this.predictorProtocol,
      serverArgs: [f.transformerModule, modulePath!, ...headerArgs],
      volumes,
    });
    routeModelPathsTo(props.endpoint, resolved, this.name);
    if (!props.container) this.monitor = props.endpoint.monitoring?._addComponent(this, 'transformer', this.name);
  }

  /** The Knative Service or Deployment; undefined when the module runs in process or the transformer is collocated. */
  public get apiObject(): ApiObject | undefined {
    const child = this.node.tryFindChild('Resource');
    return child ? ApiObject.of(child) : undefined;
  }
}

const BACKGROUND_DIR = '/etc/model-server/explainer';
const BACKGROUND_VOLUME = 'explainer-background';

/**
 * Properties of an `Explainer`.
 */
export interface ExplainerProps extends ExplainerOptions {
  /** The endpoint whose predictions are explained. */
  readonly endpoint: ModelEndpoint;
}

/**
 * Feature attributions for an endpoint's predictions, as KServe's explainer.
 *
 * Synthesizes a separate component: a Knative `Service` named `<endpoint>-explainer`
 * (serverless, id `Resource`) or a `Deployment` (id `Resource`), `Service` and
 * `HorizontalPodAutoscaler` (raw), labelled `app.kubernetes.io/component: explainer`. The
 * endpoint's routes send `:explain` (V1) and `/explain` (V2) to it; it calls the predictor
 * directly (not the transformer) over V2 REST or gRPC. With `inProcess`, the predictor serves
 * the explain routes itself. With the endpoint's monitoring on, our explainer also gets a
 * `PodMonitor` (serverless) or `ServiceMonitor` (raw) named `<endpoint>-explainer`.
 *
 * Create it with `endpoint.addExplainer()`.
 */
export class Explainer extends Construct {
  /** `<endpoint>-explainer`, or the endpoint's name in process. */
  public readonly name: string;
  /** Whether the explainer runs inside the predictor. */
  public readonly inProcess: boolean;
  /** The protocol the explainer calls the predictor with. */
  public readonly predictorProtocol: InferenceProtocol;
  /**
   * The `PodMonitor` (serverless) or `ServiceMonitor` (raw) that scrapes the explainer's
   * `/metrics`, with the endpoint's `monitoring` settings; its series carry
   * `component="explainer"`.
   *
   * Undefined in process (the predictor's monitor scrapes it), with a custom `container`
   * (whose metrics we do not know), or when the endpoint's monitoring is off.
   */
  public readonly monitor?: ApiObject;

  constructor(scope: Construct, id: string, props: ExplainerProps) {
    super(scope, id);
    const resolved: ResolvedEndpoint = props.endpoint._resolved;
    this.inProcess = props.inProcess ?? false;
    if (resolved.kserve) assertComponentExpressible('explainer', props);
    if (this.inProcess && props.container) {
      throw new Error("'inProcess' runs our explainer in the predictor; it cannot be combined with 'container'");
    }
    if (this.inProcess && resolved.container.custom) {
      throw new Error("'inProcess' needs our model server as the predictor, but the endpoint has a custom 'container'");
    }
    for (const prop of ['scaleMetric', 'scaleTarget'] as const) {
      if (this.inProcess && props[prop] !== undefined) {
        throw new Error(`'${prop}' does not apply to an explainer that runs in process (it scales with the predictor); remove it, or drop 'inProcess'`);
      }
    }
    if (props.container) {
      // A custom explainer calls the predictor in whatever protocol the predictor speaks.
      this.predictorProtocol = resolved.protocol;
    } else {
      const served: InferenceProtocol[] = predictorProtocols(resolved).filter((p) => p === InferenceProtocol.V2 || p === InferenceProtocol.GRPC_V2);
      if (served.length === 0) {
        throw new Error(`our explainer calls the predictor over V2 (REST or gRPC) for its metadata and batched scoring, but the endpoint's predictor speaks ${predictorProtocols(resolved).join(' and ')}; `
          + "set the endpoint's 'protocol' to V2 or GRPC_V2 (with a runtime that speaks it), or give the explainer a 'container' of your own");
      }
      // The endpoint's protocol when it is V2 (REST or gRPC), else V2 REST, which our server always serves.
      this.predictorProtocol = served.includes(resolved.protocol) ? resolved.protocol : served[0];
    }
    const samples = props.samples ?? 0;
    const seed = props.seed ?? 0;
    const batchSize = props.batchSize ?? 1024;
    if (!Number.isInteger(samples) || samples < 0 || samples > 1_000_000) throw new Error(`'samples' must be an integer from 0 to 1000000, got ${samples}`);
    if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 31 - 1) throw new Error(`'seed' must be an integer from 0 to 2147483647, got ${seed}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`'batchSize' must be a positive integer, got ${batchSize}`);
    if (props.output !== undefined && !/^[A-Za-z0-9_.:/-]+$/.test(props.output)) throw new Error(`'output' must be an output name, got '${props.output}'`);
    this.name = this.inProcess ? resolved.name : componentName(resolved, 'explainer');
    componentLogger(resolved, 'explainer', props);

    const f = contract.SERVER_FLAGS;
    const background = props.background ?? ExplainerBackground.fromModelDir();
    const volumes: PodVolume[] = [];
    const env: Array<{ name: string; value: string }> = [];
    const args = [
      f.explainerMethod, props.method ?? ExplainerMethod.KERNEL_SHAP,
      f.explainerSamples, String(samples),
      f.explainerSeed, String(seed),
      f.explainerBatchSize, String(batchSize),
      ...(props.output !== undefined ? [f.explainerOutput, props.output] : []),
    ];
    const modelDirArgs: string[] = [];
    if (background._inline !== undefined) {
      env.push({ name: contract.SERVER_ENV.explainerBackground, value: background._inline });
    } else if (background._configMap) {
      volumes.push({
        volume: {
          name: BACKGROUND_VOLUME,
          configMap: { name: background._configMap.name, items: [{ key: background._file!, path: background._file! }] },
        },
        mount: { name: BACKGROUND_VOLUME, mountPath: BACKGROUND_DIR, readOnly: true },
      });
      args.push(f.explainerBackground, `${BACKGROUND_DIR}/${background._file}`);
    } else {
      args.push(f.explainerBackground, background._file!);
      if (!this.inProcess && !props.container) {
        if (!resolved.storageUri) {
          throw new Error("our explainer reads its 'background' from the model's storage by default, but the endpoint has no 'storageUri'; set 'background' to ExplainerBackground.fromRows() or fromConfigMap()");
        }
        // The explainer fetches the model directory as the predictor does, for the file.
        if (resolved.storageUri?.modelImageMount === ModelImageMount.MODELCAR) { // rt-storage
          throw new Error(`the explainer reads its background from the model directory, but 'storageUri' ${resolved.storageUri.uri} is a modelcar, linked only in the predictor's pod; ` +
            "use ExplainerBackground.fromRows() or fromConfigMap(), 'inProcess: true', or StorageUri.oci() with ModelImageMount.IMAGE_VOLUME or FETCH");
        }
        if (resolved.storageUri.isMounted) {
          volumes.push(mountedModelVolume(resolved.storageUri));
        } else {
          volumes.push({ volume: { name: MODEL_VOLUME, emptyDir: {} }, mount: { name: MODEL_VOLUME, mountPath: contract.MODEL_DIR } });
          modelDirArgs.push(f.storageUri, resolved.storageUri.uri);
          if (resolved.storageCredentialsSecret) {
            volumes.push(storageCredentialsVolume(resolved.storageCredentialsSecret));
            env.push({ name: contract.SERVER_ENV.storageCredentialsDir, value: contract.STORAGE_CREDENTIALS_DIR });
          }
          env.push(...resolved.storageEnv);
        }
        modelDirArgs.push(f.modelDir, contract.MODEL_DIR);
      }
    }
    if (this.inProcess) {
      patchPredictor(props.endpoint, args, volumes, env);
      return;
    }

    synthesizeComponentFromOptions(this, resolved, props, {
      kind: 'explainer',
      name: this.name,
      predictorHost: predictorHost(resolved, this.predictorProtocol),
      predictorProtocol: this.predictorProtocol,
      serverArgs: [...modelDirArgs, ...args],
      env,
      volumes,
    });
    routeExplainTo(props.endpoint, resolved, this.name);
    if (!props.container) this.monitor = props.endpoint.monitoring?._addComponent(this, 'explainer', this.name);
  }

  /** The Knative Service or Deployment; undefined when the explainer runs in process. */
  public get apiObject(): ApiObject | undefined {
    const child = this.node.tryFindChild('Resource');
    return child ? ApiObject.of(child) : undefined;
  }
}
