import { ApiObject, Chart, Duration, Names } from 'cdk8s';
import { Construct } from 'constructs';
import { CommonEndpointOptions } from './common-endpoint-options';
import { EndpointIngress, IngressKind } from './endpoint-ingress';
import { EndpointMonitoring } from './endpoint-monitoring';
import { Autoscaler, DeploymentMode, InferenceProtocol } from './endpoint-options';
import { EndpointSecurity, EndpointSecurityOptions } from './endpoint-security';
import { KnativeFeature } from './knative-features';
import { IModelEndpoint } from './model-endpoint';
import { ModelVersion } from './model-version';
import { MonitoringOptions } from './monitoring-options';
import { RolloutAnalysis } from './rollout-analysis';
import { ServingTarget } from './serving-target';
import { resolveAnalysis } from '../render/analysis/resolve';
import { synthesizeCanaryRaw } from '../render/canary-raw';
import { CanaryPlan, ResolvedRetries, synthesizeCanaryServerless, TRACKS } from '../render/canary-serverless';
import { planInferenceService } from '../render/kserve/endpoint';
import { synthesizeInferenceService } from '../render/kserve/inference-service';
import { assertCanaryExpressible } from '../render/kserve/refusals';
import { resolveTarget } from '../render/kserve/target';
import { metricsPort } from '../render/monitoring/monitor';
import { VersionTarget } from '../render/monitoring/queries';
import { resolveMonitoring } from '../render/monitoring/resolve';
import { admitMetricsScrapes, endpointNetworkPolicy } from '../render/network-policy';
import { registerEndpoint } from '../render/resolve/endpoint-registry';
import { assertDerivedLength, assertDns1035Label, assertDns1123Label, assertDns1123Subdomain } from '../render/resolve/names';
import { assertEnvVarName, resolveEndpoint } from '../render/resolve/resolve-endpoint';
import { ResolvedEndpoint } from '../render/resolve/resolved-endpoint';

/**
 * Retries of the routes in front of a `CanaryRollout`, as Istio's `HTTPRetry`.
 *
 * @see https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRetry
 */
export interface RouteRetries {
  /**
   * Attempts after the first one; 0 turns retries off.
   *
   * @default 2
   */
  readonly attempts?: number;

  /**
   * The timeout of each attempt.
   *
   * @default - the route's timeout bounds all attempts together
   */
  readonly perTryTimeout?: Duration;

  /**
   * The conditions that trigger a retry, in Envoy's `x-envoy-retry-on` syntax. Only failures
   * before the model ran are retried by default, since inference may be expensive.
   *
   * @default 'connect-failure,refused-stream,unavailable,cancelled,reset'
   */
  readonly retryOn?: string;
}

/**
 * Properties of a `CanaryRollout`: the versions and their traffic split, and the
 * endpoint-level settings of `CommonEndpointOptions`, shared by every version.
 */
export interface CanaryRolloutProps extends CommonEndpointOptions {
  /**
   * The model name clients use in `/v1/models/<name>` and `/v2/models/<name>`, shared by
   * every version.
   */
  readonly modelName: string;

  /**
   * The version that serves users. In serverless mode its Knative revision must already exist
   * (from an earlier deploy) whenever a `canary` is set.
   */
  readonly stable: ModelVersion;

  /**
   * The version under test, which takes `trafficPercent` of the requests (or a mirrored copy
   * of them, with `shadow`).
   *
   * @default - no canary: the stable version takes all traffic
   */
  readonly canary?: ModelVersion;

  /**
   * The canary's share of requests, an integer from 0 to 100. 0 rolls back: all traffic goes
   * to the stable version while the canary stays reachable by its tag and header. With
   * `shadow`, the share of requests copied to the canary.
   *
   * @default - 10 with a canary; must be unset without one
   * @see https://kserve.github.io/website/latest/modelserving/v1beta1/rollout/canary/
   */
  readonly trafficPercent?: number;

  /**
   * Shadow mode: users only see stable responses, and `trafficPercent` percent of requests are
   * also copied to the canary (Istio `mirror`), whose responses are dropped.
   *
   * @default false
   */
  readonly shadow?: boolean;

  /**
   * What scales each version's Deployment in raw mode, as a ModelEndpoint's `autoscaler`.
   * Serverless mode refuses it: Knative scales.
   *
   * With `Autoscaler.KEDA`, each version gets its own `ScaledObject` with a Prometheus trigger
   * on that version's series (`model_server_requests_in_flight` or, with `ScaleMetric.RPS`, the
   * request rate), between its `minReplicas` (1 or more) and `maxReplicas`. Scale from zero
   * through KEDA's HTTP add-on is refused: its interceptor routes by host to one Service and
   * would bypass the split between the versions.
   *
   * @default Autoscaler.HPA
   * @noSchemaDefault raw mode only: serverless mode refuses it when set
   */
  readonly autoscaler?: Autoscaler;

  /**
   * The Prometheus server KEDA queries, e.g. `http://prometheus-operated.monitoring.svc:9090`.
   * Required with `Autoscaler.KEDA`.
   *
   * @default - none
   */
  readonly kedaPrometheusAddress?: string;

  /**
   * The request header that pins a request to one version: `<header>: stable` or
   * `<header>: canary`.
   *
   * @default 'x-model-version'
   */
  readonly versionHeader?: string;

  /**
   * The name of the Knative Service, or of the Service (raw), and the first label of the
   * host. Revisions and Deployments are named `<name>-<version>`.
   *
   * @default - a name cdk8s derives from the construct path
   */
  readonly name?: string;

  /**
   * How traffic from outside the cluster reaches the endpoint. In raw mode, Istio (the
   * default) splits with a VirtualService and DestinationRule, Gateway API with a weighted
   * HTTPRoute; a Kubernetes Ingress cannot split traffic. `EndpointIngress.none()` keeps a
   * mesh-only VirtualService in raw mode.
   *
   * @default EndpointIngress.istio()
   */
  readonly ingress?: EndpointIngress;

  /**
   * How long a request may take, on the routes and (serverless) the revisions.
   *
   * @default Duration.seconds(300), Knative's default
   */
  readonly timeout?: Duration;

  /**
   * Retries on the routes.
   *
   * @default - 2 attempts on connect-failure, refused-stream, unavailable, cancelled and reset
   */
  readonly retries?: RouteRetries;

  /**
   * Replicas of each version when its revision starts (serverless) or its Deployment is
   * created (raw). Must not exceed any version's `maxReplicas`.
   *
   * @default - each version's `minReplicas`, or 1 when it scales to zero
   */
  readonly initialScale?: number;

  /**
   * Takes every version to zero replicas without deleting anything: the routes answer 503.
   * Raw: the Deployments have 0 replicas and no autoscaler. Serverless: Knative scales the
   * revisions to zero, which needs every version to have `minReplicas: 0` (a revision's
   * min-scale is fixed when it is created, and its name is explicit).
   *
   * @default false
   */
  readonly stopped?: boolean;

  /**
   * Namespaces allowed to reach the pods through the NetworkPolicy.
   *
   * @default - serverless: istio-system and knative-serving; raw: istio-system
   */
  readonly allowedNamespaces?: string[];

  /**
   * Istio mTLS and authorization for the pods (an `EndpointSecurity` with id `Security`).
   *
   * @default - none: add an `EndpointSecurity` yourself, or set this
   */
  readonly security?: EndpointSecurityOptions;

  /**
   * Prometheus scraping of both versions' pods (PodMonitor in serverless mode, ServiceMonitor
   * in raw mode), alert rules (including "canary worse than stable", comparing the canary
   * version with the stable one) and a Grafana dashboard with both versions side by side.
   * Needs the Prometheus operator's CRDs in the cluster.
   *
   * @default - all on with our model server (see `MonitoringOptions`); off when either
   * version runs a custom `container`
   */
  readonly monitoring?: MonitoringOptions;

  /**
   * Progressive delivery: the controller steps the canary's traffic and promotes or rolls it
   * back by its metrics (see `RolloutAnalysis`). Needs a `canary`; `trafficPercent` and
   * `shadow` must be unset (the analysis sets them). Synthesized without the controller, the
   * canary gets no traffic until the controller runs the analysis.
   *
   * @default - no analysis: the split is `trafficPercent`, changed by hand
   */
  readonly analysis?: RolloutAnalysis;
}

/**
 * A model endpoint that serves a stable and a canary version behind one host, with the
 * canary taking `trafficPercent` of requests, the KServe canary rollout in one construct.
 *
 * Lifecycle, one prop change per step:
 * 1. `stable: v1` (v1 takes 100%);
 * 2. `stable: v1, canary: v2, trafficPercent: 10` (then 50, ...);
 * 3. promote: `stable: v2` (move the v2 object, unchanged);
 * 4. roll back: `stable: v1, canary: v2, trafficPercent: 0` (all traffic to v1, no new
 *    revision or Deployment spec).
 *
 * Serverless mode synthesizes one Knative `Service` (id `Resource`) whose template is the
 * newest version, with an explicit revision name `<name>-<version>` and a traffic block that
 * pins the stable revision (tag `stable`) and the canary revision (tag `canary`), an Istio
 * `VirtualService` (weights, header routes, mirror) and a `NetworkPolicy`. Raw mode
 * synthesizes a `Service` (id `Resource`), one `Deployment` per version (`<name>-<version>`,
 * with HPA and PDB), an Istio `DestinationRule` with `stable` and `canary` subsets and a
 * `VirtualService` with weighted routes (or, with Gateway API, one `Service` per track and a
 * weighted `HTTPRoute`), and a `NetworkPolicy`. With `monitoring` on (the default), both add
 * a `PodMonitor` (serverless) or `ServiceMonitor` (raw), a `PrometheusRule` and a Grafana
 * dashboard `ConfigMap` whose series carry a `version` label (see `EndpointMonitoring`).
 *
 * @example
 * new CanaryRollout(chart, 'iris', {
 *   modelName: 'iris',
 *   stable: { version: 'v1', storageUri: StorageUri.s3('models', 'iris/v1/model.onnx') },
 *   canary: { version: 'v2', storageUri: StorageUri.s3('models', 'iris/v2/model.onnx') },
 *   trafficPercent: 10,
 * });
 */
export class CanaryRollout extends Construct implements IModelEndpoint {
  public readonly name: string;
  public readonly modelName: string;
  public readonly namespace?: string;
  public readonly host: string;
  /** How the endpoint is deployed. */
  public readonly mode: DeploymentMode;
  /** The protocol clients speak. */
  public readonly protocol: InferenceProtocol;
  /** The stable version. */
  public readonly stableVersion: string;
  /** The canary version, if any. */
  public readonly canaryVersion?: string;
  /** The canary's share of requests (mirrored share with `shadow`); 0 without a canary. */
  public readonly trafficPercent: number;
  /** Whether the canary only receives mirrored traffic. */
  public readonly shadow: boolean;
  /** The mTLS and authorization objects, if `security` was set. */
  public readonly security?: EndpointSecurity;
  /** The monitor, alert rules and dashboard, unless monitoring is off. */
  public readonly monitoring?: EndpointMonitoring;

  constructor(scope: Construct, id: string, props: CanaryRolloutProps) {
    super(scope, id);
    if (!props.stable) {
      throw new Error("'canary' needs a 'stable' version: a canary takes a share of the stable version's traffic; deploy the first version as 'stable' alone");
    }
    this.mode = props.mode ?? DeploymentMode.SERVERLESS;
    this.protocol = props.protocol ?? InferenceProtocol.V2;
    this.namespace = props.namespace ?? Chart.of(this).namespace;
    this.modelName = props.modelName;
    assertDns1123Label('modelName', props.modelName);
    const serverless = this.mode === DeploymentMode.SERVERLESS;
    const kserve = resolveTarget(this, props.target) === ServingTarget.KSERVE;
    if (kserve) {
      assertCanaryExpressible({ ...props, serverless, hasCanary: props.canary !== undefined });
      if (props.name !== undefined && props.name !== props.modelName) {
        throw new Error(`'name' (${props.name}) must equal 'modelName' (${props.modelName}) with KServe, whose runtimes serve the model under the InferenceService's name; leave 'name' unset, or use 'target: ServingTarget.NATIVE'`);
      }
    }

    const versions = [props.stable, ...(props.canary ? [props.canary] : [])];
    for (const v of versions) assertDns1123Label('version', v.version);
    if (props.canary && props.canary.version === props.stable.version) {
      throw new Error(`'canary' and 'stable' have the same 'version' '${props.stable.version}': a canary must be a new version (a new revision or Deployment); to change the stable version in place, give it a new 'version' and roll it out as a canary`);
    }
    const longestVersion = versions.map(v => v.version).reduce((a, b) => (b.length > a.length ? b : a));
    // Knative's private Service of a revision is the longest derived name: <name>-<version>-private.
    const derivedSuffix = serverless ? `-${longestVersion}-private` : `-${longestVersion}`;
    this.name = props.name ?? (kserve ? props.modelName : Names.toDnsLabel(this, { maxLen: Math.max(8, 63 - derivedSuffix.length) }));
    assertDns1035Label('name', this.name);
    assertDerivedLength('name', this.name, `${this.name}${derivedSuffix}`);
    if (this.namespace !== undefined) assertDns1123Label('namespace', this.namespace);
    const domain = props.domain ?? 'example.com';
    // KServe's default domainTemplate (see ModelEndpoint).
    this.host = props.host ?? (kserve ? `${this.name}-${this.namespace ?? 'default'}.${domain}` : `${this.name}.${this.namespace ?? 'default'}.${domain}`);
    assertDns1123Subdomain(props.host !== undefined ? 'host' : 'domain', this.host);

    if (props.analysis) assertAnalysisFits(props, kserve);
    this.shadow = props.shadow ?? false;
    this.trafficPercent = resolvePercent(props);
    this.stableVersion = props.stable.version;
    this.canaryVersion = props.canary?.version;

    const ingress = props.ingress ?? EndpointIngress.istio();
    if (ingress._kind === IngressKind.KUBERNETES) {
      throw new Error("'ingress' must not be EndpointIngress.kubernetes() for a CanaryRollout: a Kubernetes Ingress cannot split traffic by weight; use EndpointIngress.istio() or, in raw mode, EndpointIngress.gatewayApi()");
    }
    if (ingress._kind === IngressKind.NONE && this.shadow && serverless) {
      // Without our VirtualService the split still works (Knative's traffic block), but
      // mirroring needs it.
      throw new Error("'shadow' needs an Istio VirtualService in serverless mode; use 'ingress: EndpointIngress.istio()'");
    }

    if (props.autoscaler === Autoscaler.KEDA && !serverless) {
      const atZero = versions.find(v => v.minReplicas === 0);
      if (atZero) {
        throw new Error(`version '${atZero.version}' has 'minReplicas: 0' with 'autoscaler: Autoscaler.KEDA', but a CanaryRollout cannot scale from zero through KEDA's HTTP add-on: `
          + "its interceptor routes by host to one Service and would bypass the split between the versions; set 'minReplicas' to 1 or more on every version, or use 'mode: DeploymentMode.SERVERLESS'");
      }
    }
    const retries = resolveRetries(props.retries);
    const timeout = props.timeout ?? Duration.seconds(300);
    const resolve = (v: ModelVersion): ResolvedEndpoint => {
      const resolved = resolveEndpoint(this, {
        ...props, // the shared endpoint-level settings, timeout, initialScale and stopped
        ...v, // the version's model, container, resources and replicas
        ingress,
        allowedNamespaces: props.allowedNamespaces ?? (serverless ? undefined : ['istio-system']),
      });
      for (const [envName, value] of Object.entries(v.env ?? {})) {
        assertEnvVarName(envName, ` of version '${v.version}'`);
        if (value.valueFrom?.fieldRef && serverless && !resolved.features.has(KnativeFeature.FIELD_REF)) {
          throw new Error(`environment variable '${envName}' from a fieldRef needs the Knative feature flag '${KnativeFeature.FIELD_REF}'; declare it with 'knativeFeatures: [KnativeFeature.FIELD_REF]', or use 'mode: DeploymentMode.RAW'`);
        }
        resolved.container.env.set(envName, value);
      }
      return { ...resolved, version: v.version };
    };

    const plan: CanaryPlan = {
      stable: resolve(props.stable),
      canary: props.canary ? resolve(props.canary) : undefined,
      percent: this.trafficPercent,
      shadow: this.shadow,
      header: props.versionHeader ?? 'x-model-version',
      timeoutSeconds: wholeSeconds('timeout', timeout),
      retries,
    };
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(plan.header)) {
      throw new Error(`'versionHeader' must be a lowercase HTTP header name, got '${plan.header}'`);
    }
    if (props.stopped && serverless && !kserve) {
      const warm = versions.filter(v => (v.minReplicas ?? 1) > 0).map(v => v.version);
      if (warm.length > 0) {
        throw new Error(`'stopped' needs 'minReplicas: 0' on every version in serverless mode, got minReplicas above 0 on ${warm.map(v => `'${v}'`).join(', ')}: a revision's min-scale is fixed when it is created (its name is explicit), so Knative would keep it running; deploy versions with 'minReplicas: 0', or use 'mode: DeploymentMode.RAW'`);
      }
    }
    if (kserve) {
      // KServe rolls the spec out as a new revision taking canaryTrafficPercent; the last
      // rolled-out revision (the stable version, deployed before) keeps the rest.
      const newest = plan.canary ?? plan.stable;
      const newestProps = props.canary ?? props.stable;
      const isvc = planInferenceService(this, newest, { ...props, ...newestProps }, plan.canary ? plan.percent : undefined);
      synthesizeInferenceService(this, newest, isvc);
      if (newest.networkPolicy) endpointNetworkPolicy(this, newest, []);
    } else if (serverless) {
      synthesizeCanaryServerless(this, plan);
    } else {
      synthesizeCanaryRaw(this, plan);
    }
    registerEndpoint(this, plan.stable);
    if (props.security) {
      this.security = new EndpointSecurity(this, 'Security', { ...props.security, endpoint: this });
    }

    const custom = versions.some(v => v.container !== undefined);
    const monitoring = resolveMonitoring(props.monitoring, custom, this.namespace);
    if (plan.stable.keda?.prometheusAddress !== undefined && !monitoring.enabled) {
      throw new Error("'autoscaler: Autoscaler.KEDA' queries the series our monitor scrapes into Prometheus, but 'monitoring' is disabled; enable 'monitoring', or remove 'autoscaler'");
    }
    if (monitoring.enabled) {
      const targets: VersionTarget[] = [[TRACKS.stable, plan.stable] as const, ...(plan.canary ? [[TRACKS.canary, plan.canary] as const] : [])]
        .map(([track, r]) => ({
          version: r.version!,
          track,
          // kserve-emit: KServe's revisions (serverless only) are `<name>-predictor-<n>`; their
          // Deployments do not name the version, so the replicas alert matches any of them.
          deployment: r.kserve ? `${r.name}-predictor-[0-9]+-deployment` : `${r.name}-${r.version}`,
          expectReplicas: !r.stopped && r.minReplicas > 0,
        }));
      // The objects shared by both versions carry no version label.
      this.monitoring = EndpointMonitoring._create(this, 'Monitoring', { ...plan.stable, version: undefined }, monitoring, targets);
      // The monitor's scrape settings come from the stable version; the agent's own series are
      // scraped when every version has it (with one only, the serving port differs between them).
      if (plan.stable.agent && (!plan.canary || plan.canary.agent)) this.monitoring._agentInFront();
      if (plan.stable.networkPolicy) {
        const ports = new Set([plan.stable, ...(plan.canary ? [plan.canary] : [])].map(r => metricsPort(r)));
        for (const port of ports) admitMetricsScrapes(this, monitoring.prometheusNamespace, port);
      }
    }
  }

  /** The URL inside the cluster. */
  public get url(): string {
    return `http://${this.name}.${this.namespace ?? 'default'}.svc.cluster.local`;
  }

  /**
   * The in-cluster URL of one version's tag: Knative's tagged route in serverless mode
   * (`<tag>-<name>`); in raw mode the shared URL, with the version header set by the caller.
   *
   * @param track 'stable' or 'canary'
   */
  public trackUrl(track: string): string {
    if (track !== 'stable' && track !== 'canary') throw new Error(`'track' must be 'stable' or 'canary', got '${track}'`);
    if (this.mode !== DeploymentMode.SERVERLESS) return this.url;
    return `http://${track}-${this.name}.${this.namespace ?? 'default'}.svc.cluster.local`;
  }

  /** The primary API object: the Knative Service (serverless) or the Service (raw). */
  public get apiObject(): ApiObject {
    return ApiObject.of(this);
  }
}

/** An analysis needs a canary and owns the split; its own props are checked by resolveAnalysis. */
function assertAnalysisFits(props: CanaryRolloutProps, kserve: boolean): void {
  if (kserve) {
    throw new Error("'analysis' is run by our controller, which does not drive KServe's InferenceServices; with 'target: ServingTarget.KSERVE' step 'trafficPercent' (KServe's canaryTrafficPercent) yourself, or remove 'target' to let the controller run the analysis");
  }
  if (!props.canary) throw new Error("'analysis' needs a 'canary' to analyse; set 'canary', or remove 'analysis'");
  if (props.trafficPercent !== undefined) {
    throw new Error(`'trafficPercent' is ${props.trafficPercent}, but 'analysis' sets the canary's weight step by step; remove 'trafficPercent' (use 'analysis.stepWeights')`);
  }
  if (props.shadow) throw new Error("'shadow' is set with 'analysis', which mirrors by itself; remove 'shadow' (use 'analysis.mirrorPercent')");
  resolveAnalysis(props.analysis!);
}

function resolvePercent(props: CanaryRolloutProps): number {
  if (!props.canary) {
    if (props.trafficPercent !== undefined) {
      throw new Error(`'trafficPercent' is ${props.trafficPercent}, but there is no 'canary' to send it to; set 'canary', or leave 'trafficPercent' unset`);
    }
    if (props.shadow) throw new Error("'shadow' needs a 'canary' to mirror traffic to");
    return 0;
  }
  // With an analysis the controller sets the weight; on its own the canary gets nothing.
  const percent = props.trafficPercent ?? (props.analysis ? 0 : 10);
  if (!Number.isInteger(percent) || percent < 0 || percent > 100) {
    throw new Error(`'trafficPercent' must be an integer between 0 and 100, got ${percent}`);
  }
  if (props.shadow && percent === 0) {
    throw new Error("'trafficPercent' is 0 with 'shadow': nothing would be mirrored; set the share of requests to copy to the canary (1 to 100), or turn 'shadow' off to roll back");
  }
  return percent;
}

function resolveRetries(retries?: RouteRetries): ResolvedRetries {
  const attempts = retries?.attempts ?? 2;
  if (!Number.isInteger(attempts) || attempts < 0 || attempts > 10) {
    throw new Error(`'retries.attempts' must be an integer from 0 to 10, got ${attempts}`);
  }
  const perTry = retries?.perTryTimeout ? wholeMillis(retries.perTryTimeout) : undefined;
  return {
    attempts,
    perTryTimeout: perTry !== undefined ? `${perTry / 1000}s` : undefined,
    retryOn: retries?.retryOn ?? 'connect-failure,refused-stream,unavailable,cancelled,reset',
  };
}

function wholeMillis(d: Duration): number {
  const ms = d.toMilliseconds();
  if (ms < 1) throw new Error(`'retries.perTryTimeout' must be at least 1 ms, got ${ms}`);
  return ms;
}

function wholeSeconds(prop: string, d: Duration): number {
  const ms = d.toMilliseconds();
  if (ms % 1000 !== 0 || ms < 1000) throw new Error(`'${prop}' must be a whole number of seconds, at least 1, got ${ms} ms`);
  return ms / 1000;
}
