/**
 * `MonitoringOptions` after validation and defaults: what the monitoring synthesizers read.
 */
import { Duration } from 'cdk8s';
import { MonitoringOptions } from '../../constructs/monitoring-options';
import { assertDns1123Label } from '../resolve/names';

export interface ResolvedMonitoring {
  readonly enabled: boolean;
  readonly scrapeIntervalSeconds: number;
  readonly prometheusLabels: { [key: string]: string };
  readonly prometheusNamespace: string;
  readonly alerts: boolean;
  readonly errorRatioThreshold: number;
  readonly latencyObjectiveSeconds: number;
  readonly modelLoadFailureThreshold: number;
  readonly canaryErrorRatioMargin: number;
  readonly canaryLatencyRatio: number;
  readonly dashboard: boolean;
  readonly dashboardNamespace?: string;
  readonly dashboardFolder?: string;
}

export const MONITORING_DEFAULTS = {
  scrapeIntervalSeconds: 30,
  prometheusNamespace: 'monitoring',
  errorRatioThreshold: 0.05,
  latencyObjectiveSeconds: 1,
  modelLoadFailureThreshold: 1,
  canaryErrorRatioMargin: 0.02,
  canaryLatencyRatio: 1.5,
};

/**
 * @param customContainer whether the endpoint runs a container of the user's (monitoring is
 * then off unless asked for)
 */
export function resolveMonitoring(options: MonitoringOptions = {}, customContainer: boolean, namespace?: string): ResolvedMonitoring {
  const d = MONITORING_DEFAULTS;
  const interval = options.scrapeInterval ?? Duration.seconds(d.scrapeIntervalSeconds);
  const intervalMillis = interval.toMilliseconds();
  if (intervalMillis % 1000 !== 0 || intervalMillis < 1000) {
    throw new Error(`'monitoring.scrapeInterval' must be a whole number of seconds, at least 1, got ${intervalMillis} ms`);
  }
  const latencyObjectiveSeconds = (options.latencyObjective ?? Duration.seconds(d.latencyObjectiveSeconds)).toMilliseconds() / 1000;
  if (!(latencyObjectiveSeconds > 0)) {
    throw new Error(`'monitoring.latencyObjective' must be longer than 0, got ${latencyObjectiveSeconds} seconds`);
  }
  const errorRatioThreshold = options.errorRatioThreshold ?? d.errorRatioThreshold;
  assertFraction('errorRatioThreshold', errorRatioThreshold);
  const canaryErrorRatioMargin = options.canaryErrorRatioMargin ?? d.canaryErrorRatioMargin;
  assertFraction('canaryErrorRatioMargin', canaryErrorRatioMargin);
  const canaryLatencyRatio = options.canaryLatencyRatio ?? d.canaryLatencyRatio;
  if (!Number.isFinite(canaryLatencyRatio) || canaryLatencyRatio < 1) {
    throw new Error(`'monitoring.canaryLatencyRatio' must be a number of at least 1 (the canary's p99 may be this many times the stable p99), got ${canaryLatencyRatio}`);
  }
  const modelLoadFailureThreshold = options.modelLoadFailureThreshold ?? d.modelLoadFailureThreshold;
  if (!Number.isInteger(modelLoadFailureThreshold) || modelLoadFailureThreshold < 1) {
    throw new Error(`'monitoring.modelLoadFailureThreshold' must be an integer of at least 1, got ${modelLoadFailureThreshold}`);
  }
  const prometheusNamespace = options.prometheusNamespace ?? d.prometheusNamespace;
  assertDns1123Label('monitoring.prometheusNamespace', prometheusNamespace);
  if (options.dashboardNamespace !== undefined) assertDns1123Label('monitoring.dashboardNamespace', options.dashboardNamespace);
  return {
    enabled: options.enabled ?? !customContainer,
    scrapeIntervalSeconds: intervalMillis / 1000,
    prometheusLabels: { ...options.prometheusLabels },
    prometheusNamespace,
    alerts: options.alerts ?? true,
    errorRatioThreshold,
    latencyObjectiveSeconds,
    modelLoadFailureThreshold,
    canaryErrorRatioMargin,
    canaryLatencyRatio,
    dashboard: options.dashboard ?? true,
    dashboardNamespace: options.dashboardNamespace ?? namespace,
    dashboardFolder: options.dashboardFolder,
  };
}

function assertFraction(prop: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0 || value >= 1) {
    throw new Error(`'monitoring.${prop}' must be a fraction between 0 and 1 (exclusive), got ${value}`);
  }
}
