/**
 * Observability of a `ModelEndpoint` or `CanaryRollout`: the Prometheus operator monitor that
 * scrapes it, its alert rules and its Grafana dashboard.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import * as contract from '../contract';
import { endpointAlertRules } from '../render/monitoring/alerts';
import { endpointDashboard } from '../render/monitoring/dashboard';
import { collocateTransformerInMonitor, componentMonitor, endpointMonitor, metricsPort } from '../render/monitoring/monitor';
import { EndpointQueries, endpointQueries, VersionTarget } from '../render/monitoring/queries';
import { ResolvedMonitoring } from '../render/monitoring/resolve';
import { admitMetricsScrapes } from '../render/network-policy';
import { ResolvedEndpoint } from '../render/resolve/resolved-endpoint';
import { runtimeDashboard, runtimeQueries } from '../render/runtime/monitoring';

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

  /**
   * The `PodMonitor` (serverless) or `ServiceMonitor` (raw); undefined for a runtime that
   * publishes no Prometheus metrics (TF Serving), which `omitted` then says.
   */
  public readonly monitor?: ApiObject;
  /**
   * What the endpoint's runtime cannot feed and is therefore left out, one `<what>: <why>`
   * line each; empty with our model server.
   */
  public readonly omitted: string[];
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
    const runtime = resolved.container.runtime;
    if (runtime) {
      // A third-party runtime: its own metrics, and only the alerts and panels they feed.
      const q = runtimeQueries(resolved, runtime, settings, versions);
      this.omitted = q.omitted;
      if (runtime.metrics) this.monitor = endpointMonitor(this, resolved, settings, versions);
      if (settings.alerts) this.rule = endpointAlertRules(this, resolved, settings, () => q, versions);
      if (settings.dashboard) {
        this.dashboard = endpointDashboard(this, resolved, settings, () => this._queries, () => runtimeDashboard(resolved, runtime, q));
      }
      return;
    }
    this.omitted = [];
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
      {
        endpoint: r.name,
        namespace: r.namespace,
        serverless: r.serverless,
        versions: this.versions,
        components: [...this.components],
        // kserve-emit: KServe names the raw predictor's Deployment after its Service (constants.PredictorServiceName).
        deployment: r.kserve ? `${r.name}-predictor` : undefined,
      },
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

  /**
   * The agent sidecar (issue 18 part 3) takes the pods' serving port in front of the runtime: the
   * runtime stays scraped on its own metrics port, and the agent's `/metrics` (our request series
   * and batch sizes) is a second endpoint on the serving port, as `component="agent"`. The
   * dashboard and alerts keep following the runtime's metrics. `ModelEndpoint` calls this.
   *
   * @internal
   */
  public _agentInFront(): void {
    if (!this.monitor) return;
    collocateTransformerInMonitor(this.monitor, this.resolved, this.settings, true, contract.AGENT.containerName);
    if (this.resolved.networkPolicy) admitMetricsScrapes(this.node.scope!, this.settings.prometheusNamespace, contract.AGENT.port);
  }

  /**
   * A transformer collocated in the predictor's pods takes their serving port: the predictor
   * stays scraped on its own metrics port, and our transformer (`scraped`) is scraped on the
   * serving port by the endpoint's monitor as `component="transformer"`, with its dashboard row
   * and error-ratio alert. Returns the monitor that scrapes the transformer. `Transformer` calls this.
   *
   * @param port the transformer's port in the pod
   * @param scraped whether the transformer is our server (a custom container's metrics are unknown)
   * @internal
   */
  public _collocateTransformer(port: number, scraped: boolean): ApiObject | undefined {
    if (!this.monitor) {
      if (scraped) this.omitted.push("the collocated transformer's metrics: the endpoint's runtime publishes none, so its pods have no monitor");
      return undefined;
    }
    collocateTransformerInMonitor(this.monitor, this.resolved, this.settings, scraped);
    if (!scraped) return undefined;
    if (this.resolved.container.runtime) {
      this.omitted.push("the transformer's dashboard row and ModelEndpointComponentHighErrorRatio: the dashboard and alerts follow the runtime's metrics");
    } else {
      this.components.push('transformer');
    }
    if (this.resolved.networkPolicy && metricsPort(this.resolved) !== port) {
      admitMetricsScrapes(this.node.scope!, this.settings.prometheusNamespace, port);
    }
    return this.monitor;
  }
}
