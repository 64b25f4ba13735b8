/**
 * The analysis of a CanaryRollout as a pure state machine (no I/O, no clock of its own): from the
 * resolved analysis, the rollout status the controller last wrote, the manual controls, the time
 * and (when one was due) a measurement, it gives the new status; the traffic follows from the
 * status alone (`trafficOf`), so a restarted controller resumes at the weight it had.
 *
 * Safe defaults: a check with no data fails; Prometheus unreachable pauses (never fails nor
 * promotes); too few canary requests hold the step; a spec change restarts the analysis.
 */
import { createHash } from 'node:crypto';
import { ROLLOUT_ACTIONS } from '../../contract';
import type { CheckQuery } from '../../render/analysis/queries';
import { BUILTIN_CHECKS, ResolvedAnalysis, ResolvedWebhook, WEBHOOK_PHASES } from '../../render/analysis/resolve';
import { canonicalJson } from '../reconcile';

export const PHASES = {
  progressing: 'Progressing',
  paused: 'Paused',
  promoting: 'Promoting',
  succeeded: 'Succeeded',
  failed: 'Failed',
} as const;
export type Phase = typeof PHASES[keyof typeof PHASES];

/** How one check came out in the last analysis. */
export interface CheckStatus {
  readonly name: string;
  /** The measured value; absent when there was no data. */
  readonly value?: number;
  /** Passed, Failed, NoData (a failure), Skipped (compares with stable at weight 100). */
  readonly result: 'Passed' | 'Failed' | 'NoData' | 'Skipped';
}

export interface HistoryEntry {
  readonly time: string;
  readonly phase: Phase;
  readonly weight: number;
  readonly message: string;
}

/** `status.rollout` of a CanaryRollout with an analysis. */
export interface RolloutStatus {
  readonly phase: Phase;
  /** Why it is paused: Manual or PrometheusUnreachable. */
  readonly pauseReason?: string;
  /** Hash of the spec the rollout runs (the manual controls left out). */
  readonly specHash: string;
  readonly stableVersion: string;
  readonly canaryVersion: string;
  /** The canary's share of users' requests now. */
  readonly weight: number;
  /** The share copied to the canary in the mirror phase. */
  readonly mirrorPercent?: number;
  /** The step in force, 1-based; 0 before the first. A mirror phase is step 1. */
  readonly step: number;
  readonly totalSteps: number;
  /** Failed analyses so far (the rollout fails at the analysis's `failureLimit`). */
  readonly failedChecks: number;
  readonly checks: CheckStatus[];
  readonly message: string;
  readonly startedAt: string;
  readonly stepStartedAt: string;
  readonly promotedAt?: string;
  readonly finishedAt?: string;
  /** The last rollout's steps and decisions, oldest first (at most HISTORY_LIMIT). */
  readonly history: HistoryEntry[];
}

export const HISTORY_LIMIT = 30;

/** Results of one analysis, gathered by the controller. */
export interface Measurement {
  /** Set when Prometheus could not be asked (unreachable, 5xx, bad answer): the rollout pauses. */
  readonly prometheusError?: string;
  /** Requests the canary answered within the window; undefined = no series = 0. */
  readonly requestCount?: number;
  /** Each check's value (undefined: empty result or NaN). */
  readonly values: { readonly [check: string]: number | undefined };
  /** Webhooks called before the next step or promotion: name -> error message, or undefined when it passed. */
  readonly webhooks: { readonly [name: string]: string | undefined };
}

/** A manual control, from the spec or the rollout-action annotation. */
export type Action = typeof ROLLOUT_ACTIONS[keyof typeof ROLLOUT_ACTIONS];

export interface AnalysisInput {
  readonly analysis: ResolvedAnalysis;
  readonly checks: readonly CheckQuery[];
  readonly specHash: string;
  readonly stableVersion: string;
  readonly canaryVersion: string;
  /** The annotation's action, if any. */
  readonly action?: Action;
  readonly previous?: RolloutStatus;
  readonly now: Date;
}

export interface RolloutEvent {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
}

export interface Decision {
  readonly status: RolloutStatus;
  /** Run again after this many seconds; undefined: only when something changes. */
  readonly requeueAfterSeconds?: number;
  readonly events: RolloutEvent[];
}

/** What the traffic should be for a rollout status. */
export interface Traffic {
  /** The canary's share of users' requests (0 to 100). */
  readonly weight: number;
  /** Share copied to the canary (shadow); undefined: no mirroring. */
  readonly mirrorPercent?: number;
  /** Promotion done: the canary is the only version; the old one is removed. */
  readonly promoted: boolean;
}

interface Stage {
  readonly weight: number;
  readonly mirrorPercent?: number;
}

function stagesOf(a: ResolvedAnalysis): Stage[] {
  return [...(a.mirrorPercent !== undefined ? [{ weight: 0, mirrorPercent: a.mirrorPercent }] : []), ...a.steps.map(weight => ({ weight }))];
}

/** Hash of the spec a rollout runs: the manual controls (`paused`, `abort`, `promote`) do not restart it. */
export function rolloutSpecHash(spec: unknown): string {
  const s = structuredClone(spec ?? {}) as { analysis?: Record<string, unknown> };
  if (s.analysis) {
    delete s.analysis.paused;
    delete s.analysis.abort;
    delete s.analysis.promote;
  }
  return createHash('sha256').update(canonicalJson(s)).digest('base64url').slice(0, 16);
}

export function trafficOf(status: RolloutStatus): Traffic {
  if (status.phase === PHASES.succeeded) return { weight: 100, promoted: true };
  return { weight: status.weight, mirrorPercent: status.mirrorPercent, promoted: false };
}

/** The status this input starts from: the previous one, or a fresh rollout when the spec changed. */
export function currentStatus(input: AnalysisInput): { status: RolloutStatus; restarted: boolean } {
  const prev = input.previous;
  if (prev && prev.specHash === input.specHash && prev.canaryVersion === input.canaryVersion) return { status: prev, restarted: false };
  const time = iso(input.now);
  const running = prev !== undefined && ([PHASES.progressing, PHASES.paused, PHASES.promoting] as string[]).includes(prev.phase);
  const message = running ? 'the spec changed during the rollout: analysis restarted' : `rollout of ${input.canaryVersion} started`;
  const status: RolloutStatus = {
    phase: PHASES.progressing,
    specHash: input.specHash,
    stableVersion: input.stableVersion,
    canaryVersion: input.canaryVersion,
    weight: 0,
    step: 0,
    totalSteps: stagesOf(input.analysis).length,
    failedChecks: 0,
    checks: [],
    message,
    startedAt: time,
    // The first analysis (its webhooks only: the canary has no traffic yet) is due at once.
    stepStartedAt: iso(new Date(input.now.getTime() - input.analysis.intervalSeconds * 1000)),
    history: [{ time, phase: PHASES.progressing, weight: 0, message }],
  };
  return { status, restarted: running };
}

/** The manual control in force: the spec's fields first, then the annotation. */
export function controlOf(input: AnalysisInput): Action | undefined {
  if (input.analysis.abort) return ROLLOUT_ACTIONS.abort;
  if (input.analysis.promote) return ROLLOUT_ACTIONS.promote;
  if (input.analysis.paused) return ROLLOUT_ACTIONS.pause;
  return input.action;
}

/**
 * Whether an analysis is due now, and the webhooks that gate the next step (or promotion).
 * Undefined: nothing to measure (waiting, paused by hand, or finished).
 */
export function measurementDue(input: AnalysisInput): { webhooks: ResolvedWebhook[]; metrics: boolean } | undefined {
  const { status } = currentStatus(input);
  const control = controlOf(input);
  if (control === ROLLOUT_ACTIONS.abort || control === ROLLOUT_ACTIONS.promote || control === ROLLOUT_ACTIONS.pause) return undefined;
  if (status.phase !== PHASES.progressing && !(status.phase === PHASES.paused && status.pauseReason === PAUSE_REASONS.prometheus)) return undefined;
  if (remainingSeconds(status, input) > 0) return undefined;
  const stages = stagesOf(input.analysis);
  const phase = status.step >= stages.length ? WEBHOOK_PHASES.prePromotion : WEBHOOK_PHASES.preStep;
  return { webhooks: input.analysis.webhooks.filter(w => w.phase === phase), metrics: status.step > 0 };
}

export const PAUSE_REASONS = { manual: 'Manual', prometheus: 'PrometheusUnreachable' };

/** The next status. `measurement`: the results of the analysis `measurementDue` asked for. */
export function decide(input: AnalysisInput, measurement?: Measurement): Decision {
  const { status: start, restarted } = currentStatus(input);
  const events: RolloutEvent[] = [];
  if (restarted) events.push({ type: 'Normal', reason: 'RolloutRestarted', message: start.message });
  else if (!input.previous) events.push({ type: 'Normal', reason: 'RolloutStarted', message: start.message });
  const now = iso(input.now);
  const interval = input.analysis.intervalSeconds;
  const next = (s: RolloutStatus, patch: Partial<RolloutStatus>, event?: RolloutEvent): RolloutStatus => {
    const merged = { ...s, ...patch };
    if (event) events.push(event);
    if (patch.message === undefined || patch.message === s.message) return merged;
    const entry: HistoryEntry = { time: now, phase: merged.phase, weight: merged.weight, message: merged.message };
    return { ...merged, history: [...s.history, entry].slice(-HISTORY_LIMIT) };
  };

  if (start.phase === PHASES.succeeded || start.phase === PHASES.failed) return { status: start, events };
  if (start.phase === PHASES.promoting) {
    const left = Date.parse(start.promotedAt!) / 1000 + input.analysis.scaleDownDelaySeconds - input.now.getTime() / 1000;
    if (left > 0) return { status: start, requeueAfterSeconds: Math.ceil(left), events };
    const message = `promotion of ${start.canaryVersion} done: ${start.stableVersion} removed`;
    return { status: next(start, { phase: PHASES.succeeded, finishedAt: now, message }, { type: 'Normal', reason: 'RolloutSucceeded', message }), events };
  }

  const control = controlOf(input);
  if (control === ROLLOUT_ACTIONS.abort) {
    const message = `aborted by hand at weight ${start.weight}: all traffic back to ${start.stableVersion}`;
    return { status: next(start, { phase: PHASES.failed, pauseReason: undefined, weight: 0, mirrorPercent: undefined, finishedAt: now, message }, { type: 'Warning', reason: 'RolloutAborted', message }), events };
  }
  if (control === ROLLOUT_ACTIONS.promote) return promote(start, 'promoted by hand', input, next, events);
  if (control === ROLLOUT_ACTIONS.pause) {
    if (start.phase === PHASES.paused && start.pauseReason === PAUSE_REASONS.manual) return { status: start, events };
    const message = `paused by hand at weight ${start.weight}`;
    return { status: next(start, { phase: PHASES.paused, pauseReason: PAUSE_REASONS.manual, message }, { type: 'Normal', reason: 'RolloutPaused', message }), events };
  }
  let s = start;
  if (s.phase === PHASES.paused && s.pauseReason === PAUSE_REASONS.manual) {
    // Resumed: the step gets a full interval of fresh data before it is judged.
    const message = `resumed at weight ${s.weight}`;
    s = next(s, { phase: PHASES.progressing, pauseReason: undefined, stepStartedAt: now, message }, { type: 'Normal', reason: 'RolloutResumed', message });
    return { status: s, requeueAfterSeconds: interval, events };
  }

  const wait = remainingSeconds(s, input);
  if (wait > 0) return { status: s, requeueAfterSeconds: wait, events };
  if (!measurement) throw new Error('an analysis is due: call measurementDue() and pass its measurement');

  if (measurement.prometheusError !== undefined) {
    const message = `Prometheus unreachable, holding weight ${s.weight}: ${measurement.prometheusError}`;
    const event = s.phase === PHASES.paused ? undefined : { type: 'Warning' as const, reason: 'PrometheusUnreachable', message };
    const paused = next(s, { phase: PHASES.paused, pauseReason: PAUSE_REASONS.prometheus, message }, event);
    return { status: paused, requeueAfterSeconds: interval, events };
  }
  if (s.phase === PHASES.paused) s = { ...s, phase: PHASES.progressing, pauseReason: undefined };

  const stages = stagesOf(input.analysis);
  const checks: CheckStatus[] = [];
  const failures: string[] = [];
  if (s.step > 0) {
    const requests = measurement.requestCount ?? 0;
    checks.push({ name: BUILTIN_CHECKS.requestCount, value: round(requests), result: requests >= input.analysis.minRequests ? 'Passed' : 'Skipped' });
    if (requests < input.analysis.minRequests) {
      const message = `holding at weight ${s.weight}: the canary answered ${round(requests)} request(s) in the last ${interval}s, fewer than minRequests ${input.analysis.minRequests}`;
      return { status: next(s, { checks, stepStartedAt: now, message }), requeueAfterSeconds: interval, events };
    }
    for (const c of input.checks) {
      const value = measurement.values[c.name];
      if (c.vsStable && s.weight >= 100) {
        checks.push({ name: c.name, ...(value !== undefined ? { value: round(value) } : {}), result: 'Skipped' });
        continue;
      }
      if (value === undefined || Number.isNaN(value)) {
        checks.push({ name: c.name, result: 'NoData' });
        failures.push(`${c.name}: no data`);
        continue;
      }
      const ok = (c.min === undefined || value >= c.min) && (c.max === undefined || value <= c.max);
      checks.push({ name: c.name, value: round(value), result: ok ? 'Passed' : 'Failed' });
      if (!ok) failures.push(`${c.name} = ${round(value)} (allowed ${c.min ?? '-inf'} to ${c.max ?? '+inf'})`);
    }
  }
  for (const [name, error] of Object.entries(measurement.webhooks)) {
    checks.push({ name: `webhook:${name}`, result: error === undefined ? 'Passed' : 'Failed' });
    if (error !== undefined) failures.push(`webhook ${name}: ${error}`);
  }

  if (failures.length > 0) {
    const failedChecks = s.failedChecks + 1;
    if (failedChecks >= input.analysis.failureLimit) {
      const message = `rolled back at weight ${s.weight} after ${failedChecks} failed analysis(es): ${failures.join('; ')}`;
      return {
        status: next(s, { phase: PHASES.failed, weight: 0, mirrorPercent: undefined, failedChecks, checks, finishedAt: now, message }, { type: 'Warning', reason: 'RolloutFailed', message }),
        events,
      };
    }
    const message = `analysis ${failedChecks}/${input.analysis.failureLimit} failed at weight ${s.weight}, holding: ${failures.join('; ')}`;
    return { status: next(s, { failedChecks, checks, stepStartedAt: now, message }, { type: 'Warning', reason: 'AnalysisFailed', message }), requeueAfterSeconds: interval, events };
  }

  if (s.step >= stages.length) return promote({ ...s, checks }, `every step passed: ${s.canaryVersion} promoted`, input, next, events);
  const stage = stages[s.step];
  const message = stage.mirrorPercent !== undefined
    ? `step ${s.step + 1}/${stages.length}: mirroring ${stage.mirrorPercent}% of requests to ${s.canaryVersion}`
    : `step ${s.step + 1}/${stages.length}: ${s.canaryVersion} at weight ${stage.weight}`;
  const status = next(s, { step: s.step + 1, weight: stage.weight, mirrorPercent: stage.mirrorPercent, checks, stepStartedAt: now, message }, { type: 'Normal', reason: 'RolloutStep', message });
  return { status, requeueAfterSeconds: interval, events };
}

type Next = (s: RolloutStatus, p: Partial<RolloutStatus>, e?: RolloutEvent) => RolloutStatus;

function promote(s: RolloutStatus, why: string, input: AnalysisInput, next: Next, events: RolloutEvent[]): Decision {
  const delay = input.analysis.scaleDownDelaySeconds;
  const message = `${why}: all traffic to ${s.canaryVersion}; ${s.stableVersion} removed after ${delay}s`;
  const patch = { phase: PHASES.promoting, pauseReason: undefined, weight: 100, mirrorPercent: undefined, promotedAt: iso(input.now), message };
  const status = next(s, patch,
    { type: 'Normal', reason: 'RolloutPromoted', message });
  if (delay > 0) return { status, requeueAfterSeconds: delay, events };
  const done = `promotion of ${s.canaryVersion} done: ${s.stableVersion} removed`;
  return { status: next(status, { phase: PHASES.succeeded, finishedAt: iso(input.now), message: done }, { type: 'Normal', reason: 'RolloutSucceeded', message: done }), events };
}

function remainingSeconds(status: RolloutStatus, input: AnalysisInput): number {
  const due = Date.parse(status.stepStartedAt) + input.analysis.intervalSeconds * 1000;
  return Math.max(0, Math.ceil((due - input.now.getTime()) / 1000));
}

function iso(d: Date): string {
  return d.toISOString();
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
