/**
 * Every PromQL expression the dashboards and alerts use, built in one place so tests (and a
 * canary analysis) run exactly what users see. Series are selected by the `endpoint` (and
 * `namespace`) target labels our monitors write, and by `component`; see `docs/metrics.md`.
 */
import { LABELS, METRICS } from '../../contract';

/** Target labels our PodMonitor/ServiceMonitor relabelings write onto every scraped series. */
export const TARGET_LABELS = {
  /** The endpoint's name (pod label `serving.cdk8s-model-serving.io/endpoint`). */
  endpoint: 'endpoint',
  /** predictor, transformer, explainer (pod label `app.kubernetes.io/component`). */
  component: 'component',
  /** stable or canary (pod label `serving.cdk8s-model-serving.io/track`; stable when unset). */
  track: 'track',
  /** The Knative revision (serverless only). */
  revision: 'revision',
  /** A CanaryRollout's version (pod label `serving.cdk8s-model-serving.io/version`). */
  version: 'version',
};

/** The pod label each target label comes from. */
export const TARGET_LABEL_SOURCES: Record<string, string> = {
  [TARGET_LABELS.endpoint]: LABELS.endpoint,
  [TARGET_LABELS.component]: LABELS.component,
  [TARGET_LABELS.track]: LABELS.track,
  [TARGET_LABELS.revision]: 'serving.knative.dev/revision',
  [TARGET_LABELS.version]: LABELS.version,
};

export const TRACKS = { stable: 'stable', canary: 'canary' };

/** `component` values (pod label `app.kubernetes.io/component`) of the pods our monitors scrape. */
export const COMPONENTS = { predictor: 'predictor', transformer: 'transformer', explainer: 'explainer' };

/** `component="<name>"`. */
export function componentMatcher(component: string): string {
  return `${TARGET_LABELS.component}="${component}"`;
}

/**
 * `code` values that are errors: anything but HTTP 2xx and gRPC OK (`0`).
 * Label matchers are anchored, so `0` matches only "0".
 */
export const ERROR_CODES_NOT_REGEX = '2..|0';
/**
 * `code` values that are server errors: HTTP 5xx and the gRPC statuses a server causes
 * (2 UNKNOWN, 4 DEADLINE_EXCEEDED, 13 INTERNAL, 14 UNAVAILABLE, 15 DATA_LOSS).
 */
export const SERVER_ERROR_CODES_REGEX = '5..|2|4|13|14|15';

/** The default range of `rate()` in dashboards and alerts. */
export const RATE_WINDOW = '5m';
/** The window of the model-load-failure alert. */
export const LOAD_FAILURE_WINDOW = '15m';

/** One version of a CanaryRollout, as its queries see it. */
export interface VersionTarget {
  /** The version (the `version` target label of its series). */
  readonly version: string;
  /** `stable` or `canary`: its role at synth time. */
  readonly track: string;
  /** Its Deployment (raw mode), `<name>-<version>`. */
  readonly deployment: string;
  /** Whether it should have a ready replica (false when stopped or scaling to zero). */
  readonly expectReplicas: boolean;
}

export interface QueryTarget {
  readonly endpoint: string;
  readonly namespace?: string;
  readonly serverless: boolean;
  /**
   * A CanaryRollout's versions, stable first: known at synth time, so stable-vs-canary
   * queries select `version="<v>"`. Undefined for a ModelEndpoint (one unnamed version).
   */
  readonly versions?: VersionTarget[];
  /**
   * The components whose pods the endpoint's monitors scrape besides the predictor's
   * (`transformer`, `explainer`): each gets its own queries and dashboard row.
   */
  readonly components?: string[];
  /**
   * kserve-emit: the predictor's Deployment when KServe creates it (`<name>-predictor`, raw mode).
   *
   * @default - the endpoint's name, our raw Deployment's
   */
  readonly deployment?: string;
}

/** The expressions of a transformer or explainer. */
export interface ComponentQueries {
  /** `transformer` or `explainer`. */
  readonly component: string;
  readonly requestRate: string;
  readonly requestRateByCode: string;
  readonly errorRatio: string;
  readonly serverErrorRatio: string;
  readonly latencyP99: string;
  /** p99 of its calls to the predictor. */
  readonly predictorLatencyP99: string;
  /** Transformer: p99 time in the module, by step (preprocess, postprocess). */
  readonly stepLatencyP99?: string;
  /** Explainer: explanations/s, by method. */
  readonly explanationRate?: string;
  readonly replicasUp: string;
}

/** The expressions of one version of a CanaryRollout. */
export interface VersionQueries {
  readonly version: string;
  readonly track: string;
  readonly requestRate: string;
  readonly errorRatio: string;
  readonly latencyP99: string;
}

/** The named expressions of one endpoint. Names are stable: tests and dashboards refer to them. */
export interface EndpointQueries {
  readonly requestRate: string;
  readonly requestRateByCode: string;
  readonly requestRateByModel: string;
  readonly requestRateByTrack: string;
  readonly errorRatio: string;
  readonly serverErrorRatio: string;
  readonly errorRatioByTrack: string;
  readonly latencyP50: string;
  readonly latencyP90: string;
  readonly latencyP99: string;
  readonly latencyP99ByTrack: string;
  readonly requestsInFlight: string;
  readonly replicasUp: string;
  /** kube-state-metrics' available replicas of the Deployment (raw mode only). */
  readonly replicasAvailable?: string;
  readonly modelLoadSeconds: string;
  readonly modelsLoaded: string;
  readonly modelLoadFailures: string;
  /** CanaryRollout only: request rate, error ratio and p99 of each current version, stable first. */
  readonly versions?: VersionQueries[];
  /** The scraped transformer and explainer, in the order they were added. */
  readonly components: ComponentQueries[];
  /** The alert expressions, by alert name. */
  readonly alerts: { [alert: string]: string };
}

export interface AlertThresholds {
  readonly errorRatioThreshold: number;
  readonly latencyObjectiveSeconds: number;
  readonly modelLoadFailureThreshold: number;
  readonly canaryErrorRatioMargin: number;
  readonly canaryLatencyRatio: number;
  /** Whether "no ready replicas" is a problem (false for stopped or scale-to-zero endpoints). */
  readonly expectReplicas: boolean;
}

/** A label selector `{endpoint="x",namespace="y",...extra}`. */
export function selector(target: Pick<QueryTarget, 'endpoint' | 'namespace'>, ...extra: string[]): string {
  const matchers = [`${TARGET_LABELS.endpoint}="${target.endpoint}"`];
  if (target.namespace !== undefined) matchers.push(`namespace="${target.namespace}"`);
  return `{${[...matchers, ...extra].join(',')}}`;
}

const R = METRICS.requestsTotal;
const D = `${METRICS.requestDurationSeconds}_bucket`;
const L = METRICS.modelLoadDurationSeconds;
const F = METRICS.modelLoadFailuresTotal;
const P = `${METRICS.predictorRequestDurationSeconds}_bucket`;
const S = `${METRICS.transformerStepDurationSeconds}_bucket`;
const X = METRICS.explanationsTotal;

/** `sum [by (labels)] (rate(metric{sel}[w]))`. */
function sumRate(metric: string, sel: string, by: string[] = [], window = RATE_WINDOW): string {
  return `sum${by.length ? ` by (${by.join(', ')})` : ''} (rate(${metric}${sel}[${window}]))`;
}

/**
 * errors / all, where a group with requests but no error series yet is 0 instead of missing
 * (counters with a `code` label only appear at their first request).
 */
function ratio(errSel: string, allSel: string, by: string[] = []): string {
  const all = sumRate(R, allSel, by);
  return `(${sumRate(R, errSel, by)} or ${all} * 0) / ${all}`;
}

function quantile(q: number, sel: string, by: string[] = []): string {
  return `histogram_quantile(${q}, ${sumRate(D, sel, ['le', ...by])})`;
}

/**
 * The rate window of KEDA's request-rate trigger: Knative's 60-second stable window, so raw
 * and serverless endpoints react alike (config-autoscaler `stable-window`,
 * https://knative.dev/docs/serving/autoscaling/kpa-specific/).
 */
export const KEDA_RATE_WINDOW = '1m';

/**
 * What KEDA's Prometheus trigger scales a raw endpoint on: the predictor's requests in flight
 * (`concurrency`) or per second (`rps`), summed over its pods (one version's, with `version`). KEDA divides it by the replica
 * count and compares it with the per-replica target (metricType AverageValue).
 */
export function kedaScalingQuery(target: Pick<QueryTarget, 'endpoint' | 'namespace'>, metric: 'concurrency' | 'rps', version?: string): string {
  // A CanaryRollout's versions scale apart: each on its own pods' series.
  const sel = selector(target, componentMatcher(COMPONENTS.predictor), ...(version !== undefined ? [`${TARGET_LABELS.version}="${version}"`] : []));
  return metric === 'rps' ? sumRate(R, sel, [], KEDA_RATE_WINDOW) : `sum(${METRICS.requestsInFlight}${sel})`;
}

export function endpointQueries(target: QueryTarget, thresholds?: AlertThresholds): EndpointQueries {
  // The predictor's series only: a request through a transformer is counted by the transformer
  // and again by the predictor, so summing over components would count it twice.
  const predictor = (...extra: string[]) => selector(target, componentMatcher(COMPONENTS.predictor), ...extra);
  const s = predictor();
  const errorMatcher = `code!~"${ERROR_CODES_NOT_REGEX}"`;
  const errors = predictor(errorMatcher);
  const serverErrors = predictor(`code=~"${SERVER_ERROR_CODES_REGEX}"`);
  const track = (name: string, ...extra: string[]) => predictor(`${TARGET_LABELS.track}="${name}"`, ...extra);
  const version = (name: string, ...extra: string[]) => predictor(`${TARGET_LABELS.version}="${name}"`, ...extra);
  const versions = target.versions;
  // kube-state-metrics labels the Deployment's own namespace and name; a CanaryRollout has
  // one Deployment per version, `<name>-<version>`.
  const ns = target.namespace !== undefined ? `namespace="${target.namespace}",` : '';
  const deployment = versions
    ? `{${ns}deployment=~"${versions.map(v => v.deployment).join('|')}"}`
    : `{${ns}deployment="${target.deployment ?? target.endpoint}"}`;
  const replicasAvailable = target.serverless ? undefined : `sum(kube_deployment_status_replicas_available${deployment})`;
  // A CanaryRollout's per-model series also say which version they come from.
  const perModel = versions ? ['model', TARGET_LABELS.version] : ['model'];
  const t = thresholds;

  const queries: Omit<EndpointQueries, 'alerts'> = {
    requestRate: sumRate(R, s),
    requestRateByCode: sumRate(R, s, ['code']),
    requestRateByModel: sumRate(R, s, ['model']),
    requestRateByTrack: sumRate(R, s, [TARGET_LABELS.track]),
    errorRatio: ratio(errors, s),
    serverErrorRatio: ratio(serverErrors, s),
    errorRatioByTrack: ratio(errors, s, [TARGET_LABELS.track]),
    latencyP50: quantile(0.5, s),
    latencyP90: quantile(0.9, s),
    latencyP99: quantile(0.99, s),
    latencyP99ByTrack: quantile(0.99, s, [TARGET_LABELS.track]),
    requestsInFlight: `sum(${METRICS.requestsInFlight}${s})`,
    replicasUp: `sum(up${s})`,
    replicasAvailable,
    // Lifetime average per model: loads are rare, so a rate() would mostly be empty.
    modelLoadSeconds: `sum by (${perModel.join(', ')}) (${L}_sum${s}) / sum by (${perModel.join(', ')}) (${L}_count${s})`,
    modelsLoaded: `sum(${METRICS.modelsLoaded}${s})`,
    modelLoadFailures: sumIncrease(F, s, perModel),
    versions: versions?.map(v => ({
      version: v.version,
      track: v.track,
      requestRate: sumRate(R, version(v.version)),
      errorRatio: ratio(version(v.version, errorMatcher), version(v.version)),
      latencyP99: quantile(0.99, version(v.version)),
    })),
    components: (target.components ?? []).map(c => componentQueries(target, c)),
  };

  const alerts: { [alert: string]: string } = {};
  if (t) {
    alerts.ModelEndpointHighErrorRatio = `${queries.serverErrorRatio} > ${t.errorRatioThreshold}`;
    alerts.ModelEndpointHighLatency = `${queries.latencyP99} > ${t.latencyObjectiveSeconds}`;
    // increase() misses a series' first sample, and the failure counter of a model appears
    // only at its first failure: also count series that are new within the window.
    alerts.ModelEndpointModelLoadFailures = `${queries.modelLoadFailures} >= ${t.modelLoadFailureThreshold}`
      + ` or sum by (${perModel.join(', ')}) (${F}${s} unless ${F}${s} offset ${LOAD_FAILURE_WINDOW}) >= ${t.modelLoadFailureThreshold}`;
    const noReady = noReadyReplicas(target, t, s, replicasAvailable, version);
    if (noReady) alerts.ModelEndpointNoReadyReplicas = noReady;
    if (!versions) {
      // A ModelEndpoint: both sides are label-less sums of the `track` the pods declare; with
      // no canary series the left side is empty and the comparison yields nothing.
      alerts.ModelEndpointCanaryErrorRatio = `${ratio(track(TRACKS.canary, errorMatcher), track(TRACKS.canary))}`
        + ` > ${ratio(track(TRACKS.stable, errorMatcher), track(TRACKS.stable))} + ${t.canaryErrorRatioMargin}`;
      alerts.ModelEndpointCanaryLatency = `${quantile(0.99, track(TRACKS.canary))} > ${t.canaryLatencyRatio} * ${quantile(0.99, track(TRACKS.stable))}`;
    } else {
      // A CanaryRollout: the versions are known at synth time, so compare them by name. The
      // version label comes with the pod, so a promotion (which relabels no pod) cannot mix
      // the two sides within a rate window. Without a canary there is nothing to compare.
      const stable = versions.find(v => v.track === TRACKS.stable);
      const canary = versions.find(v => v.track === TRACKS.canary);
      if (stable && canary) {
        alerts.ModelEndpointCanaryErrorRatio = `${ratio(version(canary.version, errorMatcher), version(canary.version))}`
          + ` > ${ratio(version(stable.version, errorMatcher), version(stable.version))} + ${t.canaryErrorRatioMargin}`;
        alerts.ModelEndpointCanaryLatency = `${quantile(0.99, version(canary.version))} > ${t.canaryLatencyRatio} * ${quantile(0.99, version(stable.version))}`;
      }
    }
    if (queries.components.length > 0) {
      // One alert for the transformer and the explainer, by `component`, with the endpoint's
      // server-error threshold. The predictor's errors reach clients through the transformer
      // too: then both this alert and ModelEndpointHighErrorRatio fire.
      const c = `${TARGET_LABELS.component}=~"${queries.components.map(q => q.component).join('|')}"`;
      alerts.ModelEndpointComponentHighErrorRatio = `${ratio(selector(target, c, `code=~"${SERVER_ERROR_CODES_REGEX}"`), selector(target, c), [TARGET_LABELS.component])}`
        + ` > ${t.errorRatioThreshold}`;
    }
  }
  return { ...queries, alerts };
}

/** The expressions of one component (transformer or explainer). */
function componentQueries(target: QueryTarget, component: string): ComponentQueries {
  const sel = (...extra: string[]) => selector(target, componentMatcher(component), ...extra);
  const s = sel();
  return {
    component,
    requestRate: sumRate(R, s),
    requestRateByCode: sumRate(R, s, ['code']),
    errorRatio: ratio(sel(`code!~"${ERROR_CODES_NOT_REGEX}"`), s),
    serverErrorRatio: ratio(sel(`code=~"${SERVER_ERROR_CODES_REGEX}"`), s),
    latencyP99: quantile(0.99, s),
    predictorLatencyP99: `histogram_quantile(0.99, ${sumRate(P, s, ['le'])})`,
    ...(component === COMPONENTS.transformer ? { stepLatencyP99: `histogram_quantile(0.99, ${sumRate(S, s, ['le', 'step'])})` } : {}),
    ...(component === COMPONENTS.explainer ? { explanationRate: sumRate(X, s, ['method']) } : {}),
    replicasUp: `sum(up${s})`,
  };
}

/** `sum by (labels) (increase(metric{sel}[15m]))`. */
function sumIncrease(metric: string, sel: string, by: string[]): string {
  return `sum by (${by.join(', ')}) (increase(${metric}${sel}[${LOAD_FAILURE_WINDOW}]))`;
}

/** The no-ready-replicas expression, or undefined when no replica is expected. */
function noReadyReplicas(
  target: QueryTarget, t: AlertThresholds, s: string, replicasAvailable: string | undefined,
  version: (name: string, ...extra: string[]) => string,
): string | undefined {
  if (!target.versions) {
    if (!t.expectReplicas) return undefined;
    return target.serverless
      // Knative owns the Deployment; a replica we can scrape is a ready one. absent() also
      // fires when no target exists at all.
      ? `absent(up${s} == 1)`
      : `${replicasAvailable} < 1`;
  }
  // A CanaryRollout: each version on its own, so a canary without replicas (whose share of
  // requests fails) fires too, naming the version.
  const expected = target.versions.filter(v => v.expectReplicas);
  if (expected.length === 0) return undefined;
  if (target.serverless) {
    return expected
      .map(v => `label_replace(absent(up${version(v.version)} == 1), "${TARGET_LABELS.version}", "${v.version}", "", "")`)
      .join(' or ');
  }
  const ns = target.namespace !== undefined ? `namespace="${target.namespace}",` : '';
  return `sum by (deployment) (kube_deployment_status_replicas_available{${ns}deployment=~"${expected.map(v => v.deployment).join('|')}"}) < 1`;
}

/** Every expression of `queries` (dashboard and alerts), by a unique name. */
export function allExpressions(queries: EndpointQueries): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(queries)) {
    if (typeof value === 'string') out[name] = value;
  }
  for (const v of queries.versions ?? []) {
    out[`${v.track}:requestRate`] = v.requestRate;
    out[`${v.track}:errorRatio`] = v.errorRatio;
    out[`${v.track}:latencyP99`] = v.latencyP99;
  }
  for (const c of queries.components) {
    for (const [name, value] of Object.entries(c)) {
      if (name !== 'component' && typeof value === 'string') out[`${c.component}:${name}`] = value;
    }
  }
  for (const [name, expr] of Object.entries(queries.alerts)) out[`alert:${name}`] = expr;
  return out;
}
