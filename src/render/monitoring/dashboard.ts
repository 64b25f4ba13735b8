/**
 * The Grafana dashboard of an endpoint, as a ConfigMap the Grafana sidecar imports
 * (label `grafana_dashboard: "1"`).
 */
import { createHash } from 'crypto';
import { Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { objectLabels } from '../pod-template';
import { DashboardBuilder } from './grafana';
import { ComponentQueries, COMPONENTS, EndpointQueries, VersionQueries } from './queries';
import { ResolvedMonitoring } from './resolve';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';

/** The label the Grafana sidecar (kube-prometheus-stack, grafana chart) looks for. */
export const GRAFANA_DASHBOARD_LABEL = 'grafana_dashboard';
/** The sidecar's folder annotation (its `folderAnnotation` setting). */
export const GRAFANA_FOLDER_ANNOTATION = 'grafana_folder';

/** Builds the dashboard of one endpoint. */
export function buildDashboard(resolved: Pick<ResolvedEndpoint, 'name' | 'namespace' | 'modelName' | 'serverless'>, q: EndpointQueries): DashboardBuilder {
  const ns = resolved.namespace ?? 'default';
  // Stable across synths, unique per endpoint, at most 40 characters.
  const uid = `me-${createHash('sha256').update(`${ns}/${resolved.name}`).digest('hex').slice(0, 24)}`;
  const d = new DashboardBuilder(`Model endpoint ${ns}/${resolved.name}`, uid, ['cdk8s-model-serving', 'model-endpoint']);

  d.row('Overview')
    .panel({ type: 'stat', title: 'Requests/s', targets: [{ expr: q.requestRate }], unit: 'reqps', width: 6, height: 4 })
    .panel({ type: 'stat', title: 'Error ratio', description: 'Requests not answered with HTTP 2xx or gRPC OK.', targets: [{ expr: q.errorRatio }], unit: 'percentunit', width: 6, height: 4 })
    .panel({ type: 'stat', title: 'p99 latency', targets: [{ expr: q.latencyP99 }], unit: 's', width: 6, height: 4 })
    .panel({ type: 'stat', title: 'Models loaded', targets: [{ expr: q.modelsLoaded }], unit: 'short', width: 6, height: 4 });

  d.row('Traffic')
    .panel({ type: 'timeseries', title: 'Requests/s by status code', targets: [{ expr: q.requestRateByCode, legend: '{{code}}' }], unit: 'reqps', width: 12, height: 8 })
    .panel({ type: 'timeseries', title: 'Requests/s by model', targets: [{ expr: q.requestRateByModel, legend: '{{model}}' }], unit: 'reqps', width: 12, height: 8 })
    .panel({
      type: 'timeseries',
      title: 'Error ratio',
      targets: [{ expr: q.errorRatio, legend: 'all errors' }, { expr: q.serverErrorRatio, legend: 'server errors' }],
      unit: 'percentunit',
      min: 0,
      max: 1,
      width: 12,
      height: 8,
    })
    .panel({
      type: 'timeseries',
      title: 'Latency',
      targets: [{ expr: q.latencyP50, legend: 'p50' }, { expr: q.latencyP90, legend: 'p90' }, { expr: q.latencyP99, legend: 'p99' }],
      unit: 's',
      width: 12,
      height: 8,
    });

  d.row('Capacity')
    .panel({ type: 'timeseries', title: 'In-flight requests', targets: [{ expr: q.requestsInFlight, legend: 'in flight' }], unit: 'short', width: 8, height: 8 })
    .panel({
      type: 'timeseries',
      title: 'Replicas',
      description: resolved.serverless
        ? 'Replicas Prometheus scrapes successfully.'
        : 'Replicas Prometheus scrapes successfully, and available replicas of the Deployment (kube-state-metrics).',
      targets: [
        { expr: q.replicasUp, legend: 'scraped and up' },
        ...(q.replicasAvailable ? [{ expr: q.replicasAvailable, legend: 'available' }] : []),
      ],
      unit: 'short',
      width: 8,
      height: 8,
    })
    .panel({
      type: 'timeseries',
      title: 'Model load time',
      description: 'Average time to load each model since its replicas started.',
      targets: [{ expr: q.modelLoadSeconds, legend: q.versions ? '{{model}} {{version}}' : '{{model}}' }],
      unit: 's',
      width: 8,
      height: 8,
    });

  const row = d.row('Stable vs canary');
  if (q.versions) {
    // A CanaryRollout: one target per version, named at synth time ("canary v2").
    const byVersion = (pick: (v: VersionQueries) => string) => q.versions!.map(v => ({ expr: pick(v), legend: `${v.track} ${v.version}` }));
    row
      .panel({ type: 'timeseries', title: 'Requests/s by version', targets: byVersion(v => v.requestRate), unit: 'reqps', width: 8, height: 8 })
      .panel({ type: 'timeseries', title: 'Error ratio by version', targets: byVersion(v => v.errorRatio), unit: 'percentunit', min: 0, max: 1, width: 8, height: 8 })
      .panel({ type: 'timeseries', title: 'p99 latency by version', targets: byVersion(v => v.latencyP99), unit: 's', width: 8, height: 8 });
  } else {
    row
      .panel({ type: 'timeseries', title: 'Requests/s by track', targets: [{ expr: q.requestRateByTrack, legend: '{{track}}' }], unit: 'reqps', width: 8, height: 8 })
      .panel({ type: 'timeseries', title: 'Error ratio by track', targets: [{ expr: q.errorRatioByTrack, legend: '{{track}}' }], unit: 'percentunit', min: 0, max: 1, width: 8, height: 8 })
      .panel({ type: 'timeseries', title: 'p99 latency by track', targets: [{ expr: q.latencyP99ByTrack, legend: '{{track}}' }], unit: 's', width: 8, height: 8 });
  }
  for (const c of q.components) componentRow(d, c);
  return d;
}

/** A row for the transformer or the explainer: its traffic, errors, latency and own metrics. */
function componentRow(d: DashboardBuilder, c: ComponentQueries): void {
  const name = c.component === COMPONENTS.transformer ? 'Transformer' : 'Explainer';
  const latencyTargets = [
    { expr: c.latencyP99, legend: 'request' },
    { expr: c.predictorLatencyP99, legend: 'predictor call' },
    ...(c.stepLatencyP99 ? [{ expr: c.stepLatencyP99, legend: '{{step}}' }] : []),
  ];
  const width = c.explanationRate ? 6 : 8;
  const row = d.row(name)
    .panel({ type: 'timeseries', title: `${name} requests/s by status code`, targets: [{ expr: c.requestRateByCode, legend: '{{code}}' }], unit: 'reqps', width, height: 8 })
    .panel({
      type: 'timeseries',
      title: `${name} error ratio`,
      targets: [{ expr: c.errorRatio, legend: 'all errors' }, { expr: c.serverErrorRatio, legend: 'server errors' }],
      unit: 'percentunit',
      min: 0,
      max: 1,
      width,
      height: 8,
    })
    .panel({
      type: 'timeseries',
      title: `${name} p99 latency`,
      description: c.stepLatencyP99
        ? 'Whole requests, the calls to the predictor within them, and each step of the module (preprocess, postprocess).'
        : 'Whole requests, and the calls to the predictor within them.',
      targets: latencyTargets,
      unit: 's',
      width,
      height: 8,
    });
  if (c.explanationRate) {
    row.panel({ type: 'timeseries', title: 'Explanations/s by method', targets: [{ expr: c.explanationRate, legend: '{{method}}' }], unit: 'short', width, height: 8 });
  }
}

/**
 * @param queries the endpoint's queries when it is synthesized: a transformer or explainer
 * added after the endpoint adds its row
 */
export function endpointDashboard(
  scope: Construct, resolved: ResolvedEndpoint, monitoring: ResolvedMonitoring, queries: () => EndpointQueries,
  // rt-core: a third-party runtime's endpoint builds its own panels.
  build: () => DashboardBuilder = () => buildDashboard(resolved, queries()),
): k8s.KubeConfigMap {
  return new k8s.KubeConfigMap(scope, 'Dashboard', {
    metadata: {
      name: `${resolved.name}-dashboard`,
      namespace: monitoring.dashboardNamespace,
      labels: { ...objectLabels(resolved), [GRAFANA_DASHBOARD_LABEL]: '1' },
      ...(monitoring.dashboardFolder ? { annotations: { [GRAFANA_FOLDER_ANNOTATION]: monitoring.dashboardFolder } } : {}),
    },
    data: { [`${resolved.name}.json`]: Lazy.any({ produce: () => JSON.stringify(build().toJson(), undefined, 2) }) },
  });
}
