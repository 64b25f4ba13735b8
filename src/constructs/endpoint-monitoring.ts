/**
 * Observability of a `ModelEndpoint` or `CanaryRollout`: the Prometheus operator monitor that
 * scrapes it, its alert rules and its Grafana dashboard.
 */
import { ApiObject, Duration } from 'cdk8s';
import { Construct } from 'constructs';
import * as contract from '../contract';
import { endpointAlertRules } from '../render/monitoring/alerts';
import { endpointDashboard } from '../render/monitoring/dashboard';
import { componentMonitor, endpointMonitor, metricsPort } from '../render/monitoring/monitor';
import { EndpointQueries, endpointQueries, VersionTarget } from '../render/monitoring/queries';
import { ResolvedMonitoring } from '../render/monitoring/resolve';
import { admitMetricsScrapes } from '../render/network-policy';
import { ResolvedEndpoint } from '../render/resolve/resolved-endpoint';

/**
 * How an endpoint is monitored: scraping, alerts and dashboard.
 *
 * Metric names and labels are listed in `docs/metrics.md`.
 */
export interface MonitoringOptions {
  /**
   * Whether to synthesize a `PodMonitor` (serverless) or `ServiceMonitor` (raw) for the
   * endpoint (and one for each transformer or explainer running our model server as its own
   * component), its `PrometheusRule` and its dashboard. Needs the Prometheus operator's CRDs.
   *
   * @default - true with our model server; false with a custom `container`, whose metrics
   * we do not know
   */
  readonly enabled?: boolean;

  /**
   * How often Prometheus scrapes each replica's `/metrics`.
   *
   * @default Duration.seconds(30)
   * @see https://prometheus-operator.dev/docs/api-reference/api/#monitoring.coreos.com/v1.PodMetricsEndpoint
   */
  readonly scrapeInterval?: Duration;

  /**
   * Labels added to the monitor and the `PrometheusRule`, so the Prometheus operator's
   * `podMonitorSelector`, `serviceMonitorSelector` and `ruleSelector` pick them up
   * (kube-prometheus-stack selects `release: <helm release>` by default).
   *
   * @default - only the endpoint's own labels
   */
  readonly prometheusLabels?: { [key: string]: string };

  /**
   * The namespace Prometheus runs in. When the endpoint has a NetworkPolicy, it admits this
   * namespace to the metrics port (and only that port).
   *
   * @default 'monitoring'
   */
  readonly prometheusNamespace?: string;

  /**
   * Whether to synthesize the `PrometheusRule` with the endpoint's alerts.
   *
   * @default true
   */
  readonly alerts?: boolean;

  /**
   * `ModelEndpointHighErrorRatio` fires when the share of requests failing with a server
   * error (HTTP 5xx, gRPC UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE or DATA_LOSS)
   * over 5 minutes stays above this for 5 minutes. A fraction between 0 and 1. Also the
   * threshold of `ModelEndpointComponentHighErrorRatio`, the same alert for a transformer or
   * explainer.
   *
   * @default 0.05
   */
  readonly errorRatioThreshold?: number;

  /**
   * `ModelEndpointHighLatency` fires when the p99 request latency over 5 minutes stays above
   * this objective for 5 minutes.
   *
   * @default Duration.seconds(1)
   */
  readonly latencyObjective?: Duration;

  /**
   * `ModelEndpointModelLoadFailures` fires when a model failed to load at least this many
   * times in 15 minutes.
   *
   * @default 1
   */
  readonly modelLoadFailureThreshold?: number;

  /**
   * `ModelEndpointCanaryErrorRatio` fires when the canary's error ratio (all errors, 4xx
   * included: clients are the same for both versions) exceeds the stable version's by more
   * than this, for 5 minutes. A fraction between 0 and 1. A `CanaryRollout` without a canary
   * has no such alert; a `ModelEndpoint` has one that stays silent.
   *
   * @default 0.02
   */
  readonly canaryErrorRatioMargin?: number;

  /**
   * `ModelEndpointCanaryLatency` fires when the canary's p99 latency exceeds the stable
   * version's p99 times this factor, for 5 minutes. Only with a canary, as above.
   *
   * @default 1.5
   */
  readonly canaryLatencyRatio?: number;

  /**
   * Whether to synthesize a Grafana dashboard as a ConfigMap labelled
   * `grafana_dashboard: "1"`, for the Grafana sidecar.
   *
   * @default true
   */
  readonly dashboard?: boolean;

  /**
   * The namespace of the dashboard ConfigMap (the Grafana sidecar must watch it).
   *
   * @default - the endpoint's namespace
   */
  readonly dashboardNamespace?: string;

  /**
   * The Grafana folder of the dashboard (the sidecar's `grafana_folder` annotation).
   *
   * @default - the sidecar's default folder
   */
  readonly dashboardFolder?: string;
}

/**
 * The monitoring objects of a `ModelEndpoint` or `CanaryRollout`, created by the endpoint
 * (`endpoint.monitoring`).
 *
 * Synthesizes a `PodMonitor` (serverless: Knative's Service does not expose the model
 * container, so pods are selected by our labels) or a `ServiceMonitor` (raw: the Service's
 * `http` port), a `PrometheusRule` with the endpoint's alerts, and a Grafana dashboard
 * ConfigMap. Scraped series carry `endpoint`, `component` and `track` (stable or canary)
 * labels taken from the pod labels; a `CanaryRollout`'s series also carry `version`, and its
 * canary alerts and dashboard compare the canary version with the stable one by name.
 *
 * A transformer or explainer running our model server as its own component gets a monitor of
 * its own (`transformer.monitor`, `explainer.monitor`), a dashboard row and the
 * `ModelEndpointComponentHighErrorRatio` alert. The endpoint's other panels and alerts count
 * the predictor's series only (`component="predictor"`), so a request through a transformer
 * is counted once.
 */
export class EndpointMonitoring extends Construct {
  /**
   * Creates the monitoring of an endpoint; `ModelEndpoint` calls this.
   *
   * @internal
   */
  public static _create(
    scope: Construct, id: string, resolved: ResolvedEndpoint, monitoring: ResolvedMonitoring, versions?: VersionTarget[],
  ): EndpointMonitoring {
    return new EndpointMonitoring(scope, id, resolved, monitoring, versions);
  }

  /** The `PodMonitor` (serverless) or `ServiceMonitor` (raw). */
  public readonly monitor: ApiObject;
  /** The `PrometheusRule`, unless alerts are off. */
  public readonly rule?: ApiObject;
  /** The dashboard ConfigMap, unless the dashboard is off. */
  public readonly dashboard?: ApiObject;

  /** The scraped components (transformer, explainer), in the order they were added. */
  private readonly components: string[] = [];

  private constructor(
    scope: Construct, id: string,
    private readonly resolved: ResolvedEndpoint,
    private readonly settings: ResolvedMonitoring,
    private readonly versions?: VersionTarget[],
  ) {
    super(scope, id);
    this.monitor = endpointMonitor(this, resolved, settings, versions);
    // Rules and dashboard are rendered at synth time, so components added later are in them.
    if (settings.alerts) this.rule = endpointAlertRules(this, resolved, settings, () => this._queries, versions);
    if (settings.dashboard) this.dashboard = endpointDashboard(this, resolved, settings, () => this._queries);
  }

  /**
   * Every PromQL expression the dashboard and the alerts use, by name, with the components
   * added so far.
   *
   * @internal
   */
  public get _queries(): EndpointQueries {
    const r = this.resolved;
    return endpointQueries(
      { endpoint: r.name, namespace: r.namespace, serverless: r.serverless, versions: this.versions, components: [...this.components] },
      { ...this.settings, expectReplicas: !r.stopped && r.minReplicas > 0 },
    );
  }

  /**
   * Scrapes a transformer or explainer that runs our model server: creates its monitor (id
   * `PodMonitor` or `ServiceMonitor` in `scope`) and adds its row to the dashboard and its
   * error ratio to the alerts. `Transformer` and `Explainer` call this.
   *
   * @param component `transformer` or `explainer`
   * @param name the component's name (`<endpoint>-<component>`)
   * @internal
   */
  public _addComponent(scope: Construct, component: string, name: string): ApiObject {
    if (this.components.includes(component)) throw new Error(`internal: the ${component} is already monitored`);
    this.components.push(component);
    // Our server serves /metrics on its HTTP port; the endpoint admits Prometheus to the
    // predictor's metrics port, which differs only with a custom predictor container.
    const port = contract.HTTP_PORT;
    if (this.resolved.networkPolicy && metricsPort(this.resolved) !== port && this.components.length === 1) {
      admitMetricsScrapes(this.node.scope!, this.settings.prometheusNamespace, port);
    }
    return componentMonitor(scope, this.resolved, this.settings, component, name);
  }
}
