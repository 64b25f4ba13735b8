/**
 * The Prometheus operator objects that scrape an endpoint's pods and those of its transformer
 * and explainer: a PodMonitor in serverless mode, a ServiceMonitor in raw mode.
 */
import { ApiObject, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import { InferenceProtocol } from '../../constructs/endpoint-options';
import * as contract from '../../contract';
import { objectLabels, selectorLabels } from '../pod-template';
import { COMPONENTS, TARGET_LABEL_SOURCES, TARGET_LABELS, TRACKS, VersionTarget } from './queries';
import { ResolvedMonitoring } from './resolve';
import {
  PodMonitor,
  PodMonitorSpecPodMetricsEndpointsRelabelingsAction,
  ServiceMonitor,
  ServiceMonitorSpecEndpointsRelabelingsAction,
} from '../../imports/monitoring-monitoring.coreos.com';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';

/**
 * Knative renames the user container's port to `user-port` in the pods it creates, whatever
 * the Service declares (`http1`/`h2c`).
 * @see https://github.com/knative/serving/blob/main/pkg/apis/serving/v1/revision_defaults.go
 */
export const KNATIVE_USER_PORT_NAME = 'user-port';

/** A `replace` relabeling (the only action we use), in the operator's field names. */
export interface Relabeling {
  readonly sourceLabels?: string[];
  readonly regex?: string;
  readonly replacement?: string;
  readonly targetLabel: string;
}

/** `__meta_kubernetes_pod_label_<name>`, with the label name sanitized as Prometheus does. */
export function podLabelMeta(label: string): string {
  return `__meta_kubernetes_pod_label_${label.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/** The port the endpoint serves `/metrics` on, in its pods. */
export function metricsPort(resolved: ResolvedEndpoint): number {
  if (resolved.container.runtime?.metrics) return resolved.container.runtime.metrics.port;
  return resolved.container.custom ? resolved.container.port : contract.HTTP_PORT;
}

/**
 * Relabelings shared by both monitors: pod labels into the target labels dashboards and
 * alerts split by. `track` is `stable` unless the pod says otherwise, so stable-vs-canary
 * queries need no special case for endpoints without a canary.
 *
 * A CanaryRollout's pods carry their `version`, never their track (promotion must not
 * restart them): `version` is copied as is, and `track` is derived from it with the canary
 * version known at synth time (a promotion re-synthesizes the monitor, not the pods).
 *
 * @param versions a CanaryRollout's versions; undefined for a ModelEndpoint
 */
export function targetRelabelings(resolved: ResolvedEndpoint, versions?: VersionTarget[]): Relabeling[] {
  // kserve-emit: the endpoint and component come from the labels KServe itself puts on its pods.
  const sources = resolved.kserve ? { ...TARGET_LABEL_SOURCES, ...KSERVE_TARGET_LABEL_SOURCES } : TARGET_LABEL_SOURCES;
  const fromPodLabel = (target: string): Relabeling => ({
    sourceLabels: [podLabelMeta(sources[target])],
    regex: '(.+)',
    targetLabel: target,
  });
  const rules: Relabeling[] = [
    // Replaces the operator's `endpoint` label (the port name), which says nothing here.
    fromPodLabel(TARGET_LABELS.endpoint),
    fromPodLabel(TARGET_LABELS.component),
    { replacement: TRACKS.stable, targetLabel: TARGET_LABELS.track },
  ];
  if (!versions) {
    rules.push(fromPodLabel(TARGET_LABELS.track));
  } else {
    const canary = versions.find(v => v.track === TRACKS.canary);
    // Relabel regexes are anchored, and versions are DNS labels: no escaping needed.
    if (canary) {
      rules.push({
        sourceLabels: [podLabelMeta(sources[TARGET_LABELS.version])],
        regex: canary.version,
        replacement: TRACKS.canary,
        targetLabel: TARGET_LABELS.track,
      });
    }
    rules.push(fromPodLabel(TARGET_LABELS.version));
  }
  if (resolved.serverless) rules.push(fromPodLabel(TARGET_LABELS.revision));
  return rules;
}

export function endpointMonitor(
  scope: Construct, resolved: ResolvedEndpoint, monitoring: ResolvedMonitoring, versions?: VersionTarget[],
): PodMonitor | ServiceMonitor {
  const relabelings = targetRelabelings(resolved, versions);
  if (resolved.kserve) {
    const path = resolved.container.runtime?.metrics?.path;
    return kserveMonitor(scope, resolved, monitoring, COMPONENTS.predictor, resolved.name, metricsPort(resolved), relabelings, path);
  }
  if (resolved.serverless) {
    const port = metricsPort(resolved);
    if (port !== resolved.container.port) {
      // gRPC: Knative exposes only the h2c port; `/metrics` is on the HTTP port of the same
      // container, which the pod does not declare.
      relabelings.push(...scrapePortRelabelings(port));
    }
  }
  const grpcOnly = resolved.container.custom && resolved.protocol === InferenceProtocol.GRPC_V2;
  const runtime = resolved.container.runtime;
  // A runtime's metrics: on its REST port, or on a port of its own (Service port `metrics`).
  const runtimeServicePort = runtime?.metrics && (runtime.metrics.port === runtime.httpPort ? 'http' : 'metrics');
  return monitor(scope, resolved, monitoring, {
    name: resolved.name,
    component: COMPONENTS.predictor,
    relabelings,
    servicePort: runtimeServicePort || (grpcOnly ? 'grpc' : 'http'),
    path: runtime?.metrics?.path,
    // A CanaryRollout with Gateway API adds a Service per track in front of the same pods:
    // selecting those too would scrape every pod twice.
    skipTrackServices: versions !== undefined,
  });
}

/** Relabelings that send a scrape to `port` of the pod, whatever port the target was found on (IPv4, then IPv6). */
function scrapePortRelabelings(port: number): Relabeling[] {
  return [
    { sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '([^:]+)', replacement: `$1:${port}`, targetLabel: '__address__' },
    { sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '(.+:.+)', replacement: `[$1]:${port}`, targetLabel: '__address__' },
  ];
}

/**
 * Adapts the endpoint's monitor to a transformer collocated in the predictor's pods (rt-finish),
 * which takes the serving port (Knative's `user-port`, the raw Service's `http` port):
 * - the predictor is still scraped on its own metrics port (the address is rewritten to it, unless
 *   the monitor already scrapes a port other than the serving one);
 * - our transformer's `/metrics`, on the serving port, is a second endpoint of the same monitor
 *   whose series say `component="transformer"` (the pods are the predictor's).
 *
 * @param transformerScraped whether the transformer is our server (whose metrics we know)
 * @param component the `component` label of its series (the agent sidecar reuses this as `agent`)
 */
export function collocateTransformerInMonitor(
  monitorObject: ApiObject, resolved: ResolvedEndpoint, monitoring: ResolvedMonitoring, transformerScraped: boolean,
  component: string = COMPONENTS.transformer,
): void {
  const endpoints = resolved.serverless ? '/spec/podMetricsEndpoints' : '/spec/endpoints';
  const action = resolved.serverless
    ? PodMonitorSpecPodMetricsEndpointsRelabelingsAction.REPLACE
    : ServiceMonitorSpecEndpointsRelabelingsAction.REPLACE;
  const port = metricsPort(resolved);
  const runtime = resolved.container.runtime;
  const alreadyElsewhere = resolved.serverless
    ? port !== resolved.container.port // endpointMonitor rewrote the address already
    : runtime?.metrics !== undefined && runtime.metrics.port !== runtime.httpPort; // the Service's own `metrics` port
  if (!alreadyElsewhere) {
    for (const r of scrapePortRelabelings(port)) monitorObject.addJsonPatch(JsonPatch.add(`${endpoints}/0/relabelings/-`, { action, ...r }));
  }
  if (!transformerScraped) return;
  const relabelings: Relabeling[] = [
    ...targetRelabelings(resolved),
    { replacement: component, targetLabel: TARGET_LABELS.component },
  ];
  monitorObject.addJsonPatch(JsonPatch.add(`${endpoints}/-`, {
    port: resolved.serverless ? KNATIVE_USER_PORT_NAME : 'http',
    path: contract.PATHS.metrics,
    interval: `${monitoring.scrapeIntervalSeconds}s`,
    relabelings: relabelings.map(r => ({ action, ...r })),
  }));
}

/**
 * The monitor of a transformer or explainer running our model server: its pods (serverless)
 * or its Service (raw), with the endpoint's relabelings, so its series carry the endpoint,
 * `component="transformer"` or `"explainer"` and the track.
 *
 * @param name the component's name, `<endpoint>-transformer` or `<endpoint>-explainer`
 */
export function componentMonitor(
  scope: Construct, resolved: ResolvedEndpoint, monitoring: ResolvedMonitoring, component: string, name: string,
): PodMonitor | ServiceMonitor {
  if (resolved.kserve) return kserveMonitor(scope, resolved, monitoring, component, name, contract.HTTP_PORT, targetRelabelings(resolved));
  // Our server in a component listens on the HTTP port only, which its pod declares: no
  // address rewrite, and its Service's `http` port targets it.
  return monitor(scope, resolved, monitoring, { name, component, relabelings: targetRelabelings(resolved), servicePort: 'http', skipTrackServices: false });
}

interface MonitorSpec {
  readonly name: string;
  readonly component: string;
  readonly relabelings: Relabeling[];
  /** Raw mode: the Service port to scrape. */
  readonly servicePort: string;
  /** Raw mode: leave out Services that carry the track label. */
  readonly skipTrackServices: boolean;
  /** The metrics path, when it is not our server's. */
  readonly path?: string;
}

/** kserve-emit: where the endpoint and component target labels come from on KServe's pods. */
const KSERVE_TARGET_LABEL_SOURCES: Record<string, string> = {
  [TARGET_LABELS.endpoint]: contract.KSERVE_EMIT.podLabel,
  [TARGET_LABELS.component]: contract.KSERVE_EMIT.componentLabel,
};

/**
 * kserve-emit: a PodMonitor (id `PodMonitor`) on the pods KServe creates for one component, in
 * both modes: selected by KServe's own labels, scraping `kserve-container` on the metrics port.
 * KServe's Services and port names are its own, so the target address is built from the pod IP;
 * Prometheus drops the identical targets the container's other ports would give.
 */
function kserveMonitor(
  scope: Construct, resolved: ResolvedEndpoint, monitoring: ResolvedMonitoring, component: string, name: string, port: number,
  relabelings: Relabeling[], path?: string,
): PodMonitor {
  const keep = {
    action: PodMonitorSpecPodMetricsEndpointsRelabelingsAction.KEEP,
    sourceLabels: ['__meta_kubernetes_pod_container_name'],
    regex: contract.KSERVE_EMIT.containerName,
  };
  const address: Relabeling[] = [
    { sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '([^:]+)', replacement: `$1:${port}`, targetLabel: '__address__' },
    { sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '(.+:.+)', replacement: `[$1]:${port}`, targetLabel: '__address__' },
  ];
  return new PodMonitor(scope, 'PodMonitor', {
    metadata: {
      name,
      namespace: resolved.namespace,
      labels: { ...objectLabels(resolved, component), ...monitoring.prometheusLabels },
    },
    spec: {
      selector: { matchLabels: { [contract.KSERVE_EMIT.podLabel]: resolved.name, [contract.KSERVE_EMIT.componentLabel]: component } },
      podMetricsEndpoints: [{
        path: path ?? contract.PATHS.metrics,
        interval: `${monitoring.scrapeIntervalSeconds}s`,
        relabelings: [keep, ...[...address, ...relabelings].map(r => ({ action: PodMonitorSpecPodMetricsEndpointsRelabelingsAction.REPLACE, ...r }))],
      }],
    },
  });
}

/** A PodMonitor (serverless) or ServiceMonitor (raw) with id `PodMonitor` or `ServiceMonitor` in `scope`. */
function monitor(scope: Construct, resolved: ResolvedEndpoint, monitoring: ResolvedMonitoring, spec: MonitorSpec): PodMonitor | ServiceMonitor {
  const metadata = {
    name: spec.name,
    namespace: resolved.namespace,
    labels: { ...objectLabels(resolved, spec.component), ...monitoring.prometheusLabels },
  };
  const interval = `${monitoring.scrapeIntervalSeconds}s`;
  const path = spec.path ?? contract.PATHS.metrics;
  const matchLabels = selectorLabels(resolved, spec.component);

  if (resolved.serverless) {
    return new PodMonitor(scope, 'PodMonitor', {
      metadata,
      spec: {
        selector: { matchLabels },
        podMetricsEndpoints: [{
          port: KNATIVE_USER_PORT_NAME,
          path,
          interval,
          relabelings: spec.relabelings.map(r => ({ action: PodMonitorSpecPodMetricsEndpointsRelabelingsAction.REPLACE, ...r })),
        }],
      },
    });
  }

  return new ServiceMonitor(scope, 'ServiceMonitor', {
    metadata,
    spec: {
      selector: {
        matchLabels,
        ...(spec.skipTrackServices ? { matchExpressions: [{ key: contract.LABELS.track, operator: 'DoesNotExist' }] } : {}),
      },
      endpoints: [{
        port: spec.servicePort,
        path,
        interval,
        relabelings: spec.relabelings.map(r => ({ action: ServiceMonitorSpecEndpointsRelabelingsAction.REPLACE, ...r })),
      }],
    },
  });
}
