import { Duration } from 'cdk8s';

/**
 * When an analysis webhook is called.
 */
export enum WebhookPhase {
  /** Before each traffic step, including the first: a failure holds the step and counts as a failed check. */
  PRE_STEP = 'PreStep',
  /** Once, after the last step's checks pass and before promotion: a failure counts as a failed check. */
  PRE_PROMOTION = 'PrePromotion',
}

/**
 * A webhook the controller calls during an analysis (a load test, an acceptance test): an HTTP
 * POST of a JSON body `{name, namespace, phase, canaryVersion, stableVersion, weight}`; any 2xx
 * answer passes, anything else (or no answer within `timeout`) fails.
 */
export interface AnalysisWebhook {
  /** The name shown in status and Events (a DNS-1123 label). */
  readonly name: string;

  /** The URL the controller posts to (`http://` or `https://`). */
  readonly url: string;

  /**
   * When it is called.
   *
   * @default WebhookPhase.PRE_STEP
   */
  readonly phase?: WebhookPhase;

  /**
   * How long the controller waits for an answer.
   *
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
}

/**
 * A custom check of a rollout analysis: a PromQL query whose result (one number) must lie
 * within `[min, max]`. The query may use `{{namespace}}`, `{{name}}`, `{{canaryVersion}}`,
 * `{{stableVersion}}` and `{{interval}}` (the analysis interval, e.g. `30s`), replaced before
 * it runs. An empty result or NaN fails the check: no data is never a pass.
 */
export interface AnalysisCheck {
  /** The name shown in status and Events (a DNS-1123 label). */
  readonly name: string;

  /** The PromQL query; it must return one sample or a scalar. */
  readonly query: string;

  /**
   * The lowest passing value.
   *
   * @default - no lower bound
   */
  readonly min?: number;

  /**
   * The highest passing value.
   *
   * @default - no upper bound
   */
  readonly max?: number;
}

/**
 * An automated analysis of a `CanaryRollout`: the controller steps the canary's traffic through
 * `stepWeights`, checks the canary's metrics against the stable version's every `interval`, and
 * promotes the canary after the last step, or rolls back (all traffic to stable at once) after
 * `failureLimit` failed checks. The committed spec stays the desired end state; the weight in
 * force lives in the controller's children and in `status.rollout`.
 *
 * Needs the controller (`ModelServingController`) with a Prometheus URL, and our model server on
 * both versions (the built-in checks read the series it exports).
 */
export interface RolloutAnalysis {
  /**
   * The canary's traffic weights, in order, each from 1 to 100, rising.
   *
   * @default - from `stepWeight` and `maxWeight`: stepWeight, 2 x stepWeight, ... up to maxWeight
   */
  readonly stepWeights?: number[];

  /**
   * The step size, with `maxWeight` (instead of `stepWeights`).
   *
   * @default 10
   * @noSchemaDefault only without stepWeights, which the construct checks
   */
  readonly stepWeight?: number;

  /**
   * The last weight before promotion, with `stepWeight`.
   *
   * @default 50
   * @noSchemaDefault only without stepWeights, which the construct checks
   */
  readonly maxWeight?: number;

  /**
   * Time between two analyses; each step lasts at least this long. Also the window of the
   * built-in queries. A whole number of seconds, at least 1 s.
   *
   * @default Duration.minutes(1)
   */
  readonly interval?: Duration;

  /**
   * Failed checks (counted over the whole rollout) after which the canary is rolled back.
   *
   * @default 2
   */
  readonly failureLimit?: number;

  /**
   * Requests the canary must have answered within one interval before any check is judged:
   * with fewer the step holds (neither passes nor fails).
   *
   * @default 20
   */
  readonly minRequests?: number;

  /**
   * The highest error ratio (non-2xx answers / all answers) the canary may have, from 0 to 1.
   *
   * @default 0.05
   */
  readonly maxErrorRatio?: number;

  /**
   * How much the canary's error ratio may exceed the stable version's over the same window,
   * from 0 to 1.
   *
   * @default 0.01
   */
  readonly errorRatioMargin?: number;

  /**
   * The highest ratio of the canary's p99 latency to the stable version's over the same window.
   *
   * @default 1.5
   */
  readonly maxLatencyRatio?: number;

  /**
   * More checks, in PromQL.
   *
   * @default - only the built-in checks
   */
  readonly checks?: AnalysisCheck[];

  /**
   * Webhooks called before each step or before promotion.
   *
   * @default - none
   */
  readonly webhooks?: AnalysisWebhook[];

  /**
   * A mirror-only phase first: for one interval the canary gets this share of requests as a
   * copy (Istio mirror; users see only stable answers), and its checks must pass before the
   * first weighted step.
   *
   * @default - no mirror phase
   */
  readonly mirrorPercent?: number;

  /**
   * How long the old version keeps running after promotion (all traffic already on the new one)
   * before it is removed.
   *
   * @default Duration.minutes(5)
   */
  readonly scaleDownDelay?: Duration;

  /**
   * Pauses the rollout: the weight in force stays, no check runs, until set back to false. The
   * annotation `serving.cdk8s-model-serving.io/rollout-action: pause` does the same.
   *
   * @default false
   */
  readonly paused?: boolean;

  /**
   * Aborts the rollout: all traffic back to stable, status Failed. A later spec change (other
   * than `paused`, `abort`, `promote`) starts a new rollout. The annotation value `abort` does
   * the same.
   *
   * @default false
   */
  readonly abort?: boolean;

  /**
   * Promotes the canary now, skipping the remaining steps and checks. The annotation value
   * `promote` does the same.
   *
   * @default false
   */
  readonly promote?: boolean;
}
