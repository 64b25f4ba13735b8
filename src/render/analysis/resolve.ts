/**
 * A CanaryRollout's `analysis` props -> the plain, validated plan the state machine and the
 * controller read (numbers in seconds, defaults filled in). Pure; throws at synth time with
 * the prop's name, the value and what is allowed.
 */
import type { AnalysisCheck, RolloutAnalysis } from '../../constructs/rollout-analysis';
import { assertDns1123Label } from '../resolve/names';

/** `WebhookPhase` values (the enum lives with the props; renderers read its strings). */
export const WEBHOOK_PHASES = { preStep: 'PreStep', prePromotion: 'PrePromotion' } as const;

export interface ResolvedWebhook {
  readonly name: string;
  readonly url: string;
  readonly phase: string;
  readonly timeoutSeconds: number;
}

export interface ResolvedCheck {
  readonly name: string;
  readonly query: string;
  readonly min?: number;
  readonly max?: number;
}

/** An analysis with every default applied. */
export interface ResolvedAnalysis {
  /** Canary weights in order; promotion follows the last. */
  readonly steps: number[];
  /** Mirror-only phase before the first step (share copied), or undefined. */
  readonly mirrorPercent?: number;
  readonly intervalSeconds: number;
  readonly failureLimit: number;
  readonly minRequests: number;
  readonly maxErrorRatio: number;
  readonly errorRatioMargin: number;
  readonly maxLatencyRatio: number;
  readonly checks: ResolvedCheck[];
  readonly webhooks: ResolvedWebhook[];
  readonly scaleDownDelaySeconds: number;
  readonly paused: boolean;
  readonly abort: boolean;
  readonly promote: boolean;
}

/** Names of the built-in checks (status and Events use them). */
export const BUILTIN_CHECKS = {
  requestCount: 'request-count',
  errorRatio: 'error-ratio',
  errorRatioVsStable: 'error-ratio-vs-stable',
  latencyRatio: 'latency-p99-ratio',
};

const P = 'analysis';

export function resolveAnalysis(a: RolloutAnalysis): ResolvedAnalysis {
  const steps = resolveSteps(a);
  const intervalSeconds = wholeSeconds(`${P}.interval`, a.interval?.toMilliseconds() ?? 60_000);
  const failureLimit = integer(`${P}.failureLimit`, a.failureLimit ?? 2, 1, 100);
  const minRequests = integer(`${P}.minRequests`, a.minRequests ?? 20, 0, 1e9);
  const maxErrorRatio = fraction(`${P}.maxErrorRatio`, a.maxErrorRatio ?? 0.05);
  const errorRatioMargin = fraction(`${P}.errorRatioMargin`, a.errorRatioMargin ?? 0.01);
  const maxLatencyRatio = a.maxLatencyRatio ?? 1.5;
  if (!Number.isFinite(maxLatencyRatio) || maxLatencyRatio < 1) {
    throw new Error(`'${P}.maxLatencyRatio' must be a number of at least 1 (the canary's p99 over the stable version's), got ${maxLatencyRatio}`);
  }
  const mirrorPercent = a.mirrorPercent === undefined ? undefined : integer(`${P}.mirrorPercent`, a.mirrorPercent, 1, 100);
  const names = new Set<string>(Object.values(BUILTIN_CHECKS));
  const checks = (a.checks ?? []).map((c, i) => resolveCheck(c, i, names));
  const webhooks = (a.webhooks ?? []).map((w, i): ResolvedWebhook => {
    const at = `${P}.webhooks[${i}]`;
    assertDns1123Label(`${at}.name`, w.name);
    if (names.has(w.name)) throw new Error(`'${at}.name' '${w.name}' is used twice (checks and webhooks share names); give each a unique name`);
    names.add(w.name);
    let url: URL;
    try {
      url = new URL(w.url);
    } catch {
      throw new Error(`'${at}.url' must be an absolute http:// or https:// URL, got '${w.url}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`'${at}.url' must be an http:// or https:// URL, got '${w.url}'`);
    const phase = w.phase ?? WEBHOOK_PHASES.preStep;
    return { name: w.name, url: w.url, phase, timeoutSeconds: wholeSeconds(`${at}.timeout`, w.timeout?.toMilliseconds() ?? 10_000) };
  });
  const scaleDownDelaySeconds = wholeSeconds(`${P}.scaleDownDelay`, a.scaleDownDelay?.toMilliseconds() ?? 300_000, 0);
  if (a.abort && a.promote) throw new Error(`'${P}.abort' and '${P}.promote' are both true; set one of them`);
  return {
    steps,
    mirrorPercent,
    intervalSeconds,
    failureLimit,
    minRequests,
    maxErrorRatio,
    errorRatioMargin,
    maxLatencyRatio,
    checks,
    webhooks,
    scaleDownDelaySeconds,
    paused: a.paused ?? false,
    abort: a.abort ?? false,
    promote: a.promote ?? false,
  };
}

function resolveSteps(a: RolloutAnalysis): number[] {
  if (a.stepWeights !== undefined) {
    if (a.stepWeight !== undefined || a.maxWeight !== undefined) {
      throw new Error(`'${P}.stepWeights' and '${P}.stepWeight'/'${P}.maxWeight' are both set; use either the explicit weights or a step size and a maximum`);
    }
    if (a.stepWeights.length === 0) throw new Error(`'${P}.stepWeights' is empty; give at least one weight (e.g. [5, 25, 50, 100])`);
    a.stepWeights.forEach((w, i) => integer(`${P}.stepWeights[${i}]`, w, 1, 100));
    for (let i = 1; i < a.stepWeights.length; i++) {
      if (a.stepWeights[i] <= a.stepWeights[i - 1]) {
        throw new Error(`'${P}.stepWeights' must rise, got ${JSON.stringify(a.stepWeights)}: ${a.stepWeights[i]} follows ${a.stepWeights[i - 1]}`);
      }
    }
    return [...a.stepWeights];
  }
  const step = integer(`${P}.stepWeight`, a.stepWeight ?? 10, 1, 100);
  const max = integer(`${P}.maxWeight`, a.maxWeight ?? 50, 1, 100);
  if (max < step) throw new Error(`'${P}.maxWeight' (${max}) is below '${P}.stepWeight' (${step}); no step would run`);
  const steps: number[] = [];
  for (let w = step; w <= max; w += step) steps.push(w);
  return steps;
}

function resolveCheck(c: AnalysisCheck, i: number, names: Set<string>): ResolvedCheck {
  const at = `${P}.checks[${i}]`;
  assertDns1123Label(`${at}.name`, c.name);
  if (names.has(c.name)) throw new Error(`'${at}.name' '${c.name}' is taken (by a built-in check or another check); give each check a unique name`);
  names.add(c.name);
  if (c.query.trim() === '') throw new Error(`'${at}.query' is empty; give a PromQL query that returns one number`);
  if (c.min === undefined && c.max === undefined) throw new Error(`'${at}' has neither 'min' nor 'max'; it could never fail: set a passing range`);
  for (const [k, v] of [['min', c.min], ['max', c.max]] as const) {
    if (v !== undefined && !Number.isFinite(v)) throw new Error(`'${at}.${k}' must be a finite number, got ${v}`);
  }
  if (c.min !== undefined && c.max !== undefined && c.min > c.max) throw new Error(`'${at}.min' (${c.min}) is above '${at}.max' (${c.max}); no value could pass`);
  return { name: c.name, query: c.query, min: c.min, max: c.max };
}

function integer(prop: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`'${prop}' must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

function fraction(prop: string, v: number): number {
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new Error(`'${prop}' must be a number from 0 to 1, got ${v}`);
  return v;
}

function wholeSeconds(prop: string, ms: number, least = 1): number {
  if (ms % 1000 !== 0 || ms < least * 1000) throw new Error(`'${prop}' must be a whole number of seconds, at least ${least}, got ${ms} ms`);
  return ms / 1000;
}
