/**
 * Scheduling settings of an endpoint's pods. In serverless mode each needs a Knative
 * feature flag (see `KnativeFeature`).
 */

/** How a toleration matches a taint. */
export enum TolerationOperator {
  /** The taint's value must equal `value`. */
  EQUAL = 'Equal',
  /** Any taint with the key matches. */
  EXISTS = 'Exists',
}

/** The taint effect a toleration tolerates. */
export enum TaintEffect {
  /** Pods are not scheduled on the node. */
  NO_SCHEDULE = 'NoSchedule',
  /** The scheduler tries not to place pods on the node. */
  PREFER_NO_SCHEDULE = 'PreferNoSchedule',
  /** Running pods are evicted. */
  NO_EXECUTE = 'NoExecute',
}

/** A toleration on the endpoint's pods, for example for tainted GPU nodes. */
export interface Toleration {
  /**
   * The taint key.
   *
   * @default - with EXISTS, every taint
   */
  readonly key?: string;
  /**
   * How the toleration matches.
   *
   * @default TolerationOperator.EQUAL
   */
  readonly operator?: TolerationOperator;
  /**
   * The taint value, with EQUAL.
   *
   * @default - empty
   */
  readonly value?: string;
  /**
   * The effect tolerated.
   *
   * @default - every effect
   */
  readonly effect?: TaintEffect;
}

/** How a node-affinity rule compares a node label. */
export enum NodeAffinityOperator {
  /** The label's value is one of `values`. */
  IN = 'In',
  /** The label's value is none of `values`. */
  NOT_IN = 'NotIn',
  /** The label exists. */
  EXISTS = 'Exists',
  /** The label does not exist. */
  DOES_NOT_EXIST = 'DoesNotExist',
}

/** A rule on node labels that the endpoint's pods require or prefer. */
export interface NodeAffinityRule {
  /** The node label key, for example `topology.kubernetes.io/zone`. */
  readonly key: string;
  /** How the label is compared. */
  readonly operator: NodeAffinityOperator;
  /**
   * The values, for IN and NOT_IN.
   *
   * @default - none
   */
  readonly values?: string[];
  /**
   * If set, the rule is a preference of this weight (1–100) instead of a requirement.
   *
   * @default - the rule is required
   */
  readonly preferredWeight?: number;
}
