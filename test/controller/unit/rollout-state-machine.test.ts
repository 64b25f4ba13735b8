/**
 * The analysis state machine (pure): the weights it steps through, when it holds, pauses,
 * promotes and rolls back, the manual controls, and resuming from a written status.
 */
import { Duration } from 'cdk8s';
import { RolloutAnalysis, WebhookPhase } from '../../../src';
import {
  AnalysisInput, controlOf, decide, Decision, Measurement, measurementDue, PHASES, rolloutSpecHash, RolloutStatus, trafficOf,
} from '../../../src/controller/rollout/state-machine';
import { analysisQueries } from '../../../src/render/analysis/queries';
import { BUILTIN_CHECKS, resolveAnalysis } from '../../../src/render/analysis/resolve';

const T0 = Date.parse('2026-12-07T08:00:00.000Z');
const INTERVAL = 30;

function inputFor(props: RolloutAnalysis = {}, extra: Partial<AnalysisInput> = {}): AnalysisInput {
  const analysis = resolveAnalysis({
    interval: Duration.seconds(INTERVAL),
    stepWeights: [5, 25, 50, 100],
    failureLimit: 2,
    minRequests: 20,
    scaleDownDelay: Duration.seconds(60),
    ...props,
  });
  const checks = analysisQueries({ name: 'iris', namespace: 'ml', stableVersion: 'v1', canaryVersion: 'v2' }, analysis).checks;
  return { analysis, checks, specHash: 'h1', stableVersion: 'v1', canaryVersion: 'v2', now: new Date(T0), ...extra };
}

const GOOD: Measurement = {
  requestCount: 100,
  values: { [BUILTIN_CHECKS.errorRatio]: 0, [BUILTIN_CHECKS.errorRatioVsStable]: 0, [BUILTIN_CHECKS.latencyRatio]: 1.1 },
  webhooks: {},
};
const BAD: Measurement = { ...GOOD, values: { ...GOOD.values, [BUILTIN_CHECKS.errorRatio]: 0.3 } };

/** Runs the machine like the controller: measures when due (with `measure`), otherwise just decides. */
function tick(input: AnalysisInput, measure: (due: NonNullable<ReturnType<typeof measurementDue>>) => Measurement = () => GOOD): Decision {
  const due = measurementDue(input);
  if (!due) return decide(input);
  const webhooks = Object.fromEntries(due.webhooks.map(w => [w.name, undefined]));
  return decide(input, { ...measure(due), webhooks, ...(due.metrics ? {} : { requestCount: undefined, values: {} }) });
}

/** Ticks at each requeue until the phase is terminal or `max` ticks passed; returns every decision. */
function run(input: AnalysisInput, measure?: (due: NonNullable<ReturnType<typeof measurementDue>>, i: number) => Measurement, max = 20): Decision[] {
  const out: Decision[] = [];
  let now = input.now.getTime();
  let previous = input.previous;
  for (let i = 0; i < max; i++) {
    const d = tick({ ...input, previous, now: new Date(now) }, measure ? due => measure(due, i) : undefined);
    out.push(d);
    previous = d.status;
    if (d.requeueAfterSeconds === undefined) break;
    now += d.requeueAfterSeconds * 1000;
  }
  return out;
}

describe('a good canary', () => {
  test('steps through every weight, one interval each, then promotes and removes the old version after the delay', () => {
    const decisions = run(inputFor());
    expect(decisions.map(d => [d.status.phase, d.status.weight, d.status.step])).toEqual([
      [PHASES.progressing, 5, 1],
      [PHASES.progressing, 25, 2],
      [PHASES.progressing, 50, 3],
      [PHASES.progressing, 100, 4],
      [PHASES.promoting, 100, 4],
      [PHASES.succeeded, 100, 4],
    ]);
    expect(decisions.map(d => d.requeueAfterSeconds)).toEqual([INTERVAL, INTERVAL, INTERVAL, INTERVAL, 60, undefined]);
    const last = decisions[decisions.length - 1].status;
    expect(trafficOf(last)).toEqual({ weight: 100, promoted: true });
    expect(last.history.map(h => h.weight)).toEqual([0, 5, 25, 50, 100, 100, 100]);
    expect(decisions.flatMap(d => d.events.map(e => e.reason))).toEqual(['RolloutStarted', 'RolloutStep', 'RolloutStep', 'RolloutStep', 'RolloutStep', 'RolloutPromoted', 'RolloutSucceeded']);
  });

  test('stepWeight and maxWeight give 10, 20, ... 50; a mirror phase comes first with no user traffic', () => {
    const d = run(inputFor({ stepWeights: undefined, stepWeight: 10, maxWeight: 50, mirrorPercent: 100 }));
    expect(d.map(x => [x.status.weight, x.status.mirrorPercent])).toEqual([
      [0, 100], [10, undefined], [20, undefined], [30, undefined], [40, undefined], [50, undefined], [100, undefined], [100, undefined],
    ]);
    expect(trafficOf(d[0].status)).toEqual({ weight: 0, mirrorPercent: 100, promoted: false });
  });

  test('at weight 100 the comparisons with stable are skipped (stable gets no requests), the absolute ones still judged', () => {
    const d = run(inputFor(), () => ({ ...GOOD, values: { [BUILTIN_CHECKS.errorRatio]: 0 } }));
    // Without stable data the vs-stable checks fail below 100 ...
    expect(d[1].status.checks.find(c => c.name === BUILTIN_CHECKS.errorRatioVsStable)?.result).toBe('NoData');
    const atHundred = run(inputFor({ stepWeights: [100] }), () => ({ ...GOOD, values: { [BUILTIN_CHECKS.errorRatio]: 0 } }));
    expect(atHundred[1].status.phase).toBe(PHASES.promoting);
    expect(atHundred[1].status.checks.map(c => [c.name, c.result])).toEqual([
      [BUILTIN_CHECKS.requestCount, 'Passed'], [BUILTIN_CHECKS.errorRatio, 'Passed'], [BUILTIN_CHECKS.errorRatioVsStable, 'Skipped'], [BUILTIN_CHECKS.latencyRatio, 'Skipped'],
    ]);
  });
});

describe('a bad canary', () => {
  test('is rolled back (weight 0, Failed, Warning event naming the check) at the failure limit, holding its weight before', () => {
    const d = run(inputFor(), (_due, i) => (i >= 2 ? BAD : GOOD));
    expect(d.map(x => [x.status.phase, x.status.weight, x.status.failedChecks])).toEqual([
      [PHASES.progressing, 5, 0],
      [PHASES.progressing, 25, 0],
      [PHASES.progressing, 25, 1],
      [PHASES.failed, 0, 2],
    ]);
    const failed = d[3];
    expect(failed.requeueAfterSeconds).toBeUndefined();
    expect(failed.events).toEqual([{ type: 'Warning', reason: 'RolloutFailed', message: expect.stringContaining('error-ratio = 0.3 (allowed -inf to 0.05)') }]);
    expect(failed.status.checks.find(c => c.name === BUILTIN_CHECKS.errorRatio)).toEqual({ name: BUILTIN_CHECKS.errorRatio, value: 0.3, result: 'Failed' });
    expect(trafficOf(failed.status)).toEqual({ weight: 0, mirrorPercent: undefined, promoted: false });
    // Failed is final for this spec: later ticks change nothing.
    expect(tick({ ...inputFor(), previous: failed.status, now: new Date(T0 + 3600_000) }).status).toBe(failed.status);
  });

  test('with failureLimit 1 the first failed analysis rolls back', () => {
    const d = run(inputFor({ failureLimit: 1 }), (_due, i) => (i >= 1 ? BAD : GOOD));
    expect(d.map(x => [x.status.phase, x.status.weight])).toEqual([[PHASES.progressing, 5], [PHASES.failed, 0]]);
  });

  test('no data is a failed check, never a pass', () => {
    const withValue = (name: string, value: number | undefined) => ({ ...GOOD, values: { ...GOOD.values, [name]: value } });
    const d = run(inputFor({ failureLimit: 1 }), (_due, i) => (i >= 1 ? withValue(BUILTIN_CHECKS.latencyRatio, undefined) : GOOD));
    expect(d[1].status.phase).toBe(PHASES.failed);
    expect(d[1].status.checks.find(c => c.name === BUILTIN_CHECKS.latencyRatio)).toEqual({ name: BUILTIN_CHECKS.latencyRatio, result: 'NoData' });
    const nan = run(inputFor({ failureLimit: 1 }), (_due, i) => (i >= 1 ? withValue(BUILTIN_CHECKS.errorRatio, NaN) : GOOD));
    expect(nan[1].status.phase).toBe(PHASES.failed);
  });

  test('a custom check outside its range fails', () => {
    const d = run(inputFor({ failureLimit: 1, checks: [{ name: 'accuracy', query: 'vector(1)', min: 0.9 }] }), (_due, i) => ({ ...GOOD, values: { ...GOOD.values, accuracy: i >= 1 ? 0.5 : 0.95 } }));
    expect(d.map(x => x.status.phase)).toEqual([PHASES.progressing, PHASES.failed]);
    expect(d[1].status.message).toContain('accuracy = 0.5 (allowed 0.9 to +inf)');
  });
});

describe('safe defaults', () => {
  test('too little traffic holds the step: neither promoted nor failed, re-measured each interval', () => {
    const d = run(inputFor(), (_due, i) => (i >= 1 ? { ...GOOD, requestCount: 3 } : GOOD), 6);
    expect(d.map(x => [x.status.phase, x.status.weight, x.status.failedChecks])).toEqual(Array(6).fill(0).map(() => [PHASES.progressing, 5, 0]));
    expect(d[5].status.message).toBe(`holding at weight 5: the canary answered 3 request(s) in the last ${INTERVAL}s, fewer than minRequests 20`);
    expect(d[5].requeueAfterSeconds).toBe(INTERVAL);
  });

  test('Prometheus unreachable pauses at the weight in force, and the rollout continues once it answers', () => {
    const d = run(inputFor(), (_due, i) => (i === 2 || i === 3 ? { ...GOOD, prometheusError: 'connect ECONNREFUSED 127.0.0.1:9090' } : GOOD), 5);
    expect(d.map(x => [x.status.phase, x.status.weight])).toEqual([
      [PHASES.progressing, 5], [PHASES.progressing, 25], [PHASES.paused, 25], [PHASES.paused, 25], [PHASES.progressing, 50],
    ]);
    expect(d[2].status.pauseReason).toBe('PrometheusUnreachable');
    expect(d[2].events.map(e => e.reason)).toEqual(['PrometheusUnreachable']);
    expect(d[3].events).toEqual([]); // one event per outage
  });

  test('a spec change during a rollout restarts the analysis from the first step', () => {
    const d = run(inputFor(), undefined, 3);
    expect(d[2].status.weight).toBe(50);
    const restarted = tick({ ...inputFor(), specHash: 'h2', previous: d[2].status, now: new Date(T0 + 200_000) });
    expect(restarted.status.specHash).toBe('h2');
    expect([restarted.status.weight, restarted.status.step]).toEqual([5, 1]);
    expect(restarted.events.map(e => e.reason)).toEqual(['RolloutRestarted', 'RolloutStep']);
    expect(restarted.status.history[0].message).toBe('the spec changed during the rollout: analysis restarted');
  });

  test('the manual controls do not change the spec hash; other fields do', () => {
    const spec = { stable: { version: 'v1' }, canary: { version: 'v2' }, analysis: { stepWeights: [5, 50] } };
    const h = rolloutSpecHash(spec);
    expect(rolloutSpecHash({ ...spec, analysis: { ...spec.analysis, paused: true, abort: false, promote: true } })).toBe(h);
    expect(rolloutSpecHash({ ...spec, analysis: { stepWeights: [5, 60] } })).not.toBe(h);
    expect(rolloutSpecHash({ ...spec, canary: { version: 'v3' } })).not.toBe(h);
  });

  test('a restarted controller resumes from the written status, at the same weight, judging only after a full interval', () => {
    const d = run(inputFor(), undefined, 2);
    const written: RolloutStatus = JSON.parse(JSON.stringify(d[1].status));
    const early = tick({ ...inputFor(), previous: written, now: new Date(Date.parse(written.stepStartedAt) + 10_000) });
    expect(early.status).toBe(written);
    expect(trafficOf(early.status).weight).toBe(25);
    expect(early.requeueAfterSeconds).toBe(INTERVAL - 10);
  });
});

describe('manual controls', () => {
  test('pause holds the weight without measuring; resume gives the step a fresh interval', () => {
    const d = run(inputFor(), undefined, 2);
    const at = new Date(T0 + 100_000);
    const paused = tick({ ...inputFor({ paused: true }), previous: d[1].status, now: at });
    expect([paused.status.phase, paused.status.pauseReason, paused.status.weight, paused.requeueAfterSeconds]).toEqual([PHASES.paused, 'Manual', 25, undefined]);
    expect(measurementDue({ ...inputFor({ paused: true }), previous: paused.status, now: new Date(T0 + 900_000) })).toBeUndefined();
    const resumed = tick({ ...inputFor(), previous: paused.status, now: new Date(T0 + 900_000) });
    expect([resumed.status.phase, resumed.status.weight, resumed.requeueAfterSeconds]).toEqual([PHASES.progressing, 25, INTERVAL]);
    expect(resumed.status.stepStartedAt).toBe(new Date(T0 + 900_000).toISOString());
  });

  test('the annotation pauses, aborts and promotes like the spec fields; the spec wins over it', () => {
    const base = run(inputFor(), undefined, 2)[1].status;
    const at = new Date(T0 + 100_000);
    expect(tick({ ...inputFor(), action: 'pause', previous: base, now: at }).status.phase).toBe(PHASES.paused);
    const aborted = tick({ ...inputFor(), action: 'abort', previous: base, now: at });
    expect([aborted.status.phase, aborted.status.weight]).toEqual([PHASES.failed, 0]);
    expect(aborted.events[0]).toMatchObject({ type: 'Warning', reason: 'RolloutAborted' });
    const promoted = tick({ ...inputFor(), action: 'promote', previous: base, now: at });
    expect([promoted.status.phase, promoted.status.weight, promoted.requeueAfterSeconds]).toEqual([PHASES.promoting, 100, 60]);
    expect(controlOf({ ...inputFor({ abort: true }), action: 'promote' })).toBe('abort');
    expect(tick({ ...inputFor(), action: 'resume', previous: base, now: at }).status.phase).toBe(PHASES.progressing);
  });

  test('promote by spec with no scale-down delay finishes at once', () => {
    const base = run(inputFor(), undefined, 1)[0].status;
    const d = tick({ ...inputFor({ promote: true, scaleDownDelay: Duration.seconds(0) }), previous: base, now: new Date(T0 + 5_000) });
    expect(d.status.phase).toBe(PHASES.succeeded);
    expect(d.events.map(e => e.reason)).toEqual(['RolloutPromoted', 'RolloutSucceeded']);
  });
});

describe('webhooks', () => {
  test('pre-step webhooks gate each step (the first too); a failing one counts as a failed check and holds', () => {
    const input = inputFor({ webhooks: [{ name: 'load-test', url: 'http://tests.ml/run' }, { name: 'accept', url: 'http://tests.ml/accept', phase: WebhookPhase.PRE_PROMOTION }] });
    const first = measurementDue(input)!;
    expect(first).toEqual({ webhooks: [expect.objectContaining({ name: 'load-test', phase: 'PrePromotion'.replace('PrePromotion', 'PreStep') })], metrics: false });
    const held = decide(input, { values: {}, webhooks: { 'load-test': 'HTTP 500' } });
    expect([held.status.phase, held.status.weight, held.status.failedChecks, held.status.step]).toEqual([PHASES.progressing, 0, 1, 0]);
    expect(held.status.checks).toEqual([{ name: 'webhook:load-test', result: 'Failed' }]);
    // After the last step, the pre-promotion webhooks are called instead.
    const d = run(input, undefined, 4);
    expect(d[3].status.weight).toBe(100);
    expect(measurementDue({ ...input, previous: d[3].status, now: new Date(Date.parse(d[3].status.stepStartedAt) + INTERVAL * 1000) })!.webhooks.map(w => w.name)).toEqual(['accept']);
  });
});
