import { ApiObject, Chart, Duration, Names } from 'cdk8s';
import { ContainerResources, EnvValue } from 'cdk8s-plus-33';
import { Construct, IConstruct } from 'constructs';
import { registerEndpoint } from './_endpoint-registry';
import { requireKnativeFeature } from './_knative';
import { metricsPort } from './_monitoring/monitor';
import { resolveMonitoring } from './_monitoring/resolve';
import { assertDerivedLength, assertDns1035Label, assertDns1123Label, assertDns1123Subdomain } from './_names';
import { admitMetricsScrapes } from './_network-policy';
import { synthesizeRaw } from './_raw';
import { assertEnvVarName, resolveEndpoint } from './_resolve-endpoint';
import { ResolvedEndpoint } from './_resolved-endpoint';
import { synthesizeServerless } from './_serverless';
import { CommonEndpointOptions } from './common-endpoint-options';
import { EndpointIngress } from './endpoint-ingress';
import { EndpointMonitoring, MonitoringOptions } from './endpoint-monitoring';
import { DeploymentMode, InferenceProtocol, ModelContainer } from './endpoint-options';
import { Explainer, ExplainerOptions } from './explainer';
import { KnativeFeature } from './knative-features';
import { ModelFormat } from './model-format';
import { StorageUri } from './storage-uri';
import { Transformer, TransformerOptions } from './transformer';

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
   * @see https://kserve.github.io/website/latest/modelserving/storage/
   */
  readonly storageUri: StorageUri;

  /**
   * The model format.
   *
   * @default ModelFormat.ONNX
   */
  readonly format?: ModelFormat;

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

  private readonly resolved: ResolvedEndpoint;

  constructor(scope: Construct, id: string, props: ModelEndpointProps) {
    super(scope, id);
    this.mode = props.mode ?? DeploymentMode.SERVERLESS;
    this.protocol = props.protocol ?? InferenceProtocol.V2;
    this.namespace = props.namespace ?? Chart.of(this).namespace;
    this.modelName = props.modelName;
    assertDns1123Label('modelName', props.modelName);

    // Knative adds "-00001-private" to the revision's private Service; that is the longest
    // name derived from ours, so the base name may have at most 49 characters.
    const derivedSuffix = this.mode === DeploymentMode.SERVERLESS ? '-00001-private' : '';
    this.name = props.name ?? Names.toDnsLabel(this, { maxLen: 63 - derivedSuffix.length });
    assertDns1035Label('name', this.name);
    assertDerivedLength('name', this.name, `${this.name}${derivedSuffix}`);
    if (this.namespace !== undefined) assertDns1123Label('namespace', this.namespace);

    const domain = props.domain ?? 'example.com';
    this.host = props.host ?? `${this.name}.${this.namespace ?? 'default'}.${domain}`;
    assertDns1123Subdomain(props.host !== undefined ? 'host' : 'domain', this.host);

    this.resolved = resolveEndpoint(this, props);
    // Two endpoints for one model in a chart fail synth, pointing to CanaryRollout.
    registerEndpoint(this, this.resolved);
    for (const [envName, value] of Object.entries(props.env ?? {})) this.addEnv(envName, value);
    if (this.mode === DeploymentMode.SERVERLESS) {
      synthesizeServerless(this, this.resolved);
    } else {
      synthesizeRaw(this, this.resolved);
    }
    const monitoring = resolveMonitoring(props.monitoring, props.container !== undefined, this.namespace);
    if (monitoring.enabled) {
      this.monitoring = EndpointMonitoring._create(this, 'Monitoring', this.resolved, monitoring);
      if (this.resolved.networkPolicy) admitMetricsScrapes(this, monitoring.prometheusNamespace, metricsPort(this.resolved));
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
    return new Explainer(this, 'Explainer', { ...options, endpoint: this });
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
