/**
 * The PromQL of every check of a rollout analysis, canary against stable over the same window
 * (one interval). Pure: the controller runs these and the tests check each with `promtool`.
 * Series are selected as the dashboards select them (src/render/monitoring/queries.ts): the
 * predictor's series of the endpoint, by the `version` target label our monitors write.
 */
import { BUILTIN_CHECKS, ResolvedAnalysis } from './resolve';
import { METRICS } from '../../contract';
import { COMPONENTS, componentMatcher, ERROR_CODES_NOT_REGEX, selector, TARGET_LABELS } from '../monitoring/queries';

/** What the queries select: the endpoint and its two versions. */
export interface AnalysisTarget {
  /** The CanaryRollout's name (the `endpoint` target label). */
  readonly name: string;
  readonly namespace?: string;
  readonly stableVersion: string;
  readonly canaryVersion: string;
}

/** How a check's value is judged. */
export interface CheckQuery {
  readonly name: string;
  readonly query: string;
  readonly min?: number;
  readonly max?: number;
  /** Compares with the stable version: skipped at weight 100, when stable gets no requests. */
  readonly vsStable: boolean;
}

export interface AnalysisQueries {
  /** Requests the canary answered within the window (no series: 0). */
  readonly requestCount: string;
  /** The checks, built-in first, in a stable order. */
  readonly checks: CheckQuery[];
}

const R = METRICS.requestsTotal;
const D = `${METRICS.requestDurationSeconds}_bucket`;

export function analysisQueries(target: AnalysisTarget, analysis: ResolvedAnalysis): AnalysisQueries {
  const w = `${analysis.intervalSeconds}s`;
  const sel = (version: string, ...extra: string[]) =>
    selector({ endpoint: target.name, namespace: target.namespace }, componentMatcher(COMPONENTS.predictor), `${TARGET_LABELS.version}="${version}"`, ...extra);
  const rate = (s: string) => `sum(rate(${R}${s}[${w}]))`;
  const errors = `code!~"${ERROR_CODES_NOT_REGEX}"`;
  // errors / all, where requests without any error series yet give 0 instead of no data.
  const ratio = (v: string) => `((${rate(sel(v, errors))} or ${rate(sel(v))} * 0) / ${rate(sel(v))})`;
  const p99 = (v: string) => `histogram_quantile(0.99, sum by (le) (rate(${D}${sel(v)}[${w}])))`;
  const canary = target.canaryVersion;
  const stable = target.stableVersion;
  const vars: Record<string, string> = {
    namespace: target.namespace ?? '',
    name: target.name,
    canaryVersion: canary,
    stableVersion: stable,
    interval: w,
  };
  return {
    requestCount: `sum(increase(${R}${sel(canary)}[${w}]))`,
    checks: [
      { name: BUILTIN_CHECKS.errorRatio, query: ratio(canary), max: analysis.maxErrorRatio, vsStable: false },
      { name: BUILTIN_CHECKS.errorRatioVsStable, query: `${ratio(canary)} - ${ratio(stable)}`, max: analysis.errorRatioMargin, vsStable: true },
      { name: BUILTIN_CHECKS.latencyRatio, query: `${p99(canary)} / ${p99(stable)}`, max: analysis.maxLatencyRatio, vsStable: true },
      ...analysis.checks.map(c => ({ name: c.name, query: substitute(c.query, vars), min: c.min, max: c.max, vsStable: false })),
    ],
  };
}

/** `{{name}}` -> its value; an unknown placeholder is left as it is (PromQL then refuses it). */
export function substitute(query: string, vars: Record<string, string>): string {
  return query.replace(/\{\{\s*([a-zA-Z]+)\s*\}\}/g, (all, key: string) => vars[key] ?? all);
}

/** The placeholders a custom check may use. */
export const CHECK_PLACEHOLDERS = ['namespace', 'name', 'canaryVersion', 'stableVersion', 'interval'];
