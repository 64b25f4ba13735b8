/**
 * Monitoring of an endpoint that runs a third-party runtime: queries, alerts and dashboard
 * built from the metrics the runtime declares (`ServingRuntime.metrics`), leaving out what it
 * does not publish, and saying so. Internal.
 */
import { createHash } from 'crypto';
import { ResolvedRuntime } from './resolve-runtime';
import { DashboardBuilder } from '../monitoring/grafana';
import { COMPONENTS, componentMatcher, RATE_WINDOW, selector, VersionTarget } from '../monitoring/queries';
import { ResolvedMonitoring } from '../monitoring/resolve';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';

/** What a runtime endpoint's dashboard and alerts use; undefined where the runtime publishes nothing. */
export interface RuntimeQueries {
  readonly requestRate?: string;
  readonly errorRatio?: string;
  readonly latencyP50?: string;
  readonly latencyP99?: string;
  /** Scraped replicas whose scrape succeeds (runtimes with metrics only). */
  readonly replicasUp?: string;
  /** Available replicas from kube-state-metrics: raw Deployments, or Knative's revision Deployments. */
  readonly replicasAvailable: string;
  readonly alerts: { [alert: string]: string };
  /** `<panel or alert>: <why it is left out>`. */
  readonly omitted: string[];
}

const sumRate = (metric: string, sel: string, by: string[] = []) =>
  `sum${by.length ? ` by (${by.join(', ')})` : ''} (rate(${metric}${sel}[${RATE_WINDOW}]))`;

/**
 * @param versions a CanaryRollout's versions (their Deployments in raw mode)
 */
export function runtimeQueries(
  resolved: ResolvedEndpoint, r: ResolvedRuntime, monitoring: ResolvedMonitoring, versions?: VersionTarget[],
): RuntimeQueries {
  const m = r.metrics;
  const target = { endpoint: resolved.name, namespace: resolved.namespace };
  const s = selector(target, componentMatcher(COMPONENTS.predictor));
  const omitted: string[] = [];
  const name = r.runtime.name;

  let requestRate: string | undefined;
  let errorRatio: string | undefined;
  if (m?.requestCounter) requestRate = sumRate(m.requestCounter, s);
  else if (m?.successCounter && m?.failureCounter) requestRate = `(${sumRate(m.successCounter, s)} + ${sumRate(m.failureCounter, s)})`;
  else if (m?.latencyHistogram) requestRate = sumRate(`${m.latencyHistogram}_count`, s);
  if (m?.failureCounter && requestRate) {
    // 0 rather than no data while nothing failed: the failure counter appears at the first failure.
    errorRatio = `(${sumRate(m.failureCounter, s)} or ${requestRate} * 0) / ${requestRate}`;
  }
  const quantile = (q: number) => m?.latencyHistogram ? `histogram_quantile(${q}, ${sumRate(`${m.latencyHistogram}_bucket`, s, ['le'])})` : undefined;

  const ns = resolved.namespace !== undefined ? `namespace="${resolved.namespace}",` : '';
  // Knative names a revision's Deployment `<revision>-deployment`, the revision `<service>-<5 digits>`
  // (or `<service>-<version>` for a CanaryRollout's named revisions).
  const deployments = resolved.serverless
    ? `${resolved.name}-.+-deployment`
    : (versions ? versions.map(v => v.deployment).join('|') : resolved.name);
  const replicasAvailable = `sum(kube_deployment_status_replicas_available{${ns}deployment=~"${deployments}"})`;

  const alerts: { [alert: string]: string } = {};
  if (!m) omitted.push(`monitor and scraped series: ${name} publishes no Prometheus metrics`);
  if (errorRatio) alerts.ModelEndpointHighErrorRatio = `${errorRatio} > ${monitoring.errorRatioThreshold}`;
  else omitted.push(`ModelEndpointHighErrorRatio and the error-ratio panel: ${name} publishes no failed-request counter`);
  const p99 = quantile(0.99);
  if (p99) alerts.ModelEndpointHighLatency = `${p99} > ${monitoring.latencyObjectiveSeconds}`;
  else omitted.push(`ModelEndpointHighLatency and the latency panels: ${name} publishes no latency histogram in seconds`);
  if (!requestRate) omitted.push(`the request-rate panel: ${name} publishes no request counter`);
  omitted.push(`ModelEndpointModelLoadFailures and the model-load panels: ${name} publishes no model-load metrics we know`);
  omitted.push('ModelEndpointCanaryErrorRatio and ModelEndpointCanaryLatency: they compare our model server\'s series by track');
  // From kube-state-metrics, never from a scrape: a runtime without metrics (or whose scrape
  // fails) must not look like an endpoint without replicas.
  if (!resolved.stopped && resolved.minReplicas > 0) alerts.ModelEndpointNoReadyReplicas = `${replicasAvailable} < 1`;

  return {
    requestRate,
    errorRatio,
    latencyP50: quantile(0.5),
    latencyP99: p99,
    replicasUp: m ? `sum(up${s})` : undefined,
    replicasAvailable,
    alerts,
    omitted,
  };
}

/** The dashboard of a runtime endpoint: only the panels its metrics feed. */
export function runtimeDashboard(resolved: ResolvedEndpoint, r: ResolvedRuntime, q: RuntimeQueries): DashboardBuilder {
  const ns = resolved.namespace ?? 'default';
  const uid = `me-${createHash('sha256').update(`${ns}/${resolved.name}`).digest('hex').slice(0, 24)}`;
  const d = new DashboardBuilder(`Model endpoint ${ns}/${resolved.name} (${r.runtime.name})`, uid, ['cdk8s-model-serving', 'model-endpoint', r.runtime.name]);
  const row = d.row('Overview');
  if (q.requestRate) row.panel({ type: 'timeseries', title: 'Requests/s', targets: [{ expr: q.requestRate, legend: 'requests/s' }], unit: 'reqps', width: 8, height: 8 });
  if (q.errorRatio) row.panel({ type: 'timeseries', title: 'Error ratio', targets: [{ expr: q.errorRatio, legend: 'failed' }], unit: 'percentunit', min: 0, max: 1, width: 8, height: 8 });
  if (q.latencyP99) {
    row.panel({ type: 'timeseries', title: 'Latency', targets: [{ expr: q.latencyP50!, legend: 'p50' }, { expr: q.latencyP99, legend: 'p99' }], unit: 's', width: 8, height: 8 });
  }
  d.row('Capacity').panel({
    type: 'timeseries',
    title: 'Replicas',
    description: `Available replicas (kube-state-metrics)${q.replicasUp ? ', and replicas Prometheus scrapes successfully' : ''}. Left out for ${r.runtime.name}: ${q.omitted.join('; ')}.`,
    targets: [{ expr: q.replicasAvailable, legend: 'available' }, ...(q.replicasUp ? [{ expr: q.replicasUp, legend: 'scraped and up' }] : [])],
    unit: 'short',
    width: 24,
    height: 8,
  });
  return d;
}
