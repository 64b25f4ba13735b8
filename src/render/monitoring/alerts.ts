/**
 * The PrometheusRule of an endpoint: one group of alerts whose thresholds are
 * `MonitoringOptions` props. Expressions come from `queries.ts`.
 */
import { Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { objectLabels } from '../pod-template';
import { EndpointQueries, TARGET_LABELS, TRACKS, VersionTarget } from './queries';
import { ResolvedMonitoring } from './resolve';
import { PrometheusRule, PrometheusRuleSpecGroupsRulesExpr } from '../../imports/monitoring-monitoring.coreos.com';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';

/** One alerting rule, in Prometheus rule-file terms. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: { [key: string]: string };
  readonly annotations: { [key: string]: string };
}

/** Severity, `for` and text of each alert the queries module defines. */
const ALERTS: Record<string, { severity: string; for?: string; summary: string; description: string }> = {
  ModelEndpointHighErrorRatio: {
    severity: 'critical',
    for: '5m',
    summary: 'Model endpoint {{ $labels.endpoint }} answers too many requests with server errors',
    description: '{{ $value | humanizePercentage }} of the requests to {{ $labels.endpoint }} failed with a server error over 5 minutes (threshold {{ "__THRESHOLD__" }}).',
  },
  ModelEndpointHighLatency: {
    severity: 'warning',
    for: '5m',
    summary: 'Model endpoint {{ $labels.endpoint }} is slower than its latency objective',
    description: 'The p99 latency of {{ $labels.endpoint }} is {{ $value | humanizeDuration }} over 5 minutes (objective {{ "__THRESHOLD__" }}).',
  },
  ModelEndpointModelLoadFailures: {
    severity: 'warning',
    summary: 'Model {{ $labels.model }} of endpoint {{ $labels.endpoint }} fails to load',
    description: 'Model {{ $labels.model }} failed to load {{ $value }} time(s) in 15 minutes; see the model-server logs (event model_load_failed).',
  },
  ModelEndpointNoReadyReplicas: {
    severity: 'critical',
    for: '5m',
    summary: 'Model endpoint {{ $labels.endpoint }} has no ready replica',
    description: 'No replica of {{ $labels.endpoint }} has been ready for 5 minutes.',
  },
  ModelEndpointCanaryErrorRatio: {
    severity: 'warning',
    for: '5m',
    summary: 'The canary__CANARY__ of {{ $labels.endpoint }} fails more often than the stable version__STABLE__',
    description: 'The canary__CANARY__ error ratio is {{ $value | humanizePercentage }}, more than the stable__STABLE__ error ratio plus {{ "__THRESHOLD__" }}: consider rolling back.',
  },
  ModelEndpointCanaryLatency: {
    severity: 'warning',
    for: '5m',
    summary: 'The canary__CANARY__ of {{ $labels.endpoint }} is slower than the stable version__STABLE__',
    description: 'The canary__CANARY__ p99 latency is {{ $value | humanizeDuration }}, more than {{ "__THRESHOLD__" }} times the stable__STABLE__ p99: consider rolling back.',
  },
  ModelEndpointComponentHighErrorRatio: {
    severity: 'critical',
    for: '5m',
    summary: 'The {{ $labels.component }} of model endpoint {{ $labels.endpoint }} answers too many requests with server errors',
    description: '{{ $value | humanizePercentage }} of the requests to the {{ $labels.component }} of {{ $labels.endpoint }} failed with a server error over 5 minutes (threshold {{ "__THRESHOLD__" }}). If ModelEndpointHighErrorRatio fires too, the predictor is failing; otherwise see the {{ $labels.component }} logs.',
  },
};

/** The threshold each alert's text quotes. */
function thresholdText(alert: string, monitoring: ResolvedMonitoring): string {
  switch (alert) {
    case 'ModelEndpointHighErrorRatio':
    case 'ModelEndpointComponentHighErrorRatio':
      return String(monitoring.errorRatioThreshold);
    case 'ModelEndpointHighLatency': return `${monitoring.latencyObjectiveSeconds}s`;
    case 'ModelEndpointCanaryErrorRatio': return String(monitoring.canaryErrorRatioMargin);
    case 'ModelEndpointCanaryLatency': return String(monitoring.canaryLatencyRatio);
    default: return '';
  }
}

/** The rule group name of an endpoint. */
export function ruleGroupName(resolved: Pick<ResolvedEndpoint, 'name'>): string {
  return `${resolved.name}.model-endpoint`;
}

/** The alerting rules of an endpoint, as plain rule-file objects (also what promtool checks). */
export function alertRules(
  resolved: Pick<ResolvedEndpoint, 'name' | 'namespace'>, monitoring: ResolvedMonitoring, queries: Pick<EndpointQueries, 'alerts'>, versions?: VersionTarget[],
): AlertRule[] {
  // A CanaryRollout's canary alerts compare two named versions: the texts and labels say which.
  const stable = versions?.find(v => v.track === TRACKS.stable);
  const canary = versions?.find(v => v.track === TRACKS.canary);
  return Object.entries(queries.alerts).map(([alert, expr]) => {
    const isCanaryAlert = alert.startsWith('ModelEndpointCanary');
    // `$labels` in templates are the expression's labels, and the sums drop `endpoint`: the
    // name goes in as text.
    const fill = (text: string) => text
      .split('{{ $labels.endpoint }}').join(resolved.name)
      .replace('{{ "__THRESHOLD__" }}', thresholdText(alert, monitoring))
      .split('__CANARY__').join(canary ? ` ${canary.version}` : '')
      .split('__STABLE__').join(stable && canary ? ` ${stable.version}` : '');
    const meta = ALERTS[alert];
    if (!meta) throw new Error(`internal: no severity and text for alert ${alert}`);
    return {
      alert,
      expr,
      ...(meta.for ? { for: meta.for } : {}),
      // The expressions sum away every label; these say which endpoint the alert is about.
      labels: {
        severity: meta.severity,
        endpoint: resolved.name,
        ...(resolved.namespace !== undefined ? { namespace: resolved.namespace } : {}),
        ...(isCanaryAlert && canary ? { [TARGET_LABELS.version]: canary.version } : {}),
      },
      annotations: {
        summary: fill(meta.summary),
        description: fill(meta.description),
      },
    };
  });
}

/**
 * @param queries the endpoint's queries when it is synthesized: a transformer or explainer
 * added after the endpoint adds an alert
 */
export function endpointAlertRules(
  scope: Construct, resolved: ResolvedEndpoint, monitoring: ResolvedMonitoring, queries: () => Pick<EndpointQueries, 'alerts'>, versions?: VersionTarget[],
): PrometheusRule {
  const rules = () => alertRules(resolved, monitoring, queries(), versions);
  return new PrometheusRule(scope, 'PrometheusRule', {
    metadata: {
      name: resolved.name,
      namespace: resolved.namespace,
      labels: { ...objectLabels(resolved), ...monitoring.prometheusLabels },
    },
    spec: {
      groups: [{
        name: ruleGroupName(resolved),
        rules: Lazy.any({ produce: () => rules().map(r => ({ ...r, expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr) })) }),
      }],
    },
  });
}
