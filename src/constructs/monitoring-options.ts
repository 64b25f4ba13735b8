/** How an endpoint is monitored (`ModelEndpointProps.monitoring`, `CanaryRolloutProps.monitoring`). */
import { Duration } from 'cdk8s';

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
