/**
 * What a graph, a node or a step answers, and how it fails. Error bodies keep KServe's router
 * shape (`{ "error", "cause" }`) and add the node, the step and the upstream status.
 */

/** One answer: status and bytes as received (or as merged, for an Ensemble). */
export interface Answer {
  readonly status: number;
  readonly body: Buffer;
  readonly contentType?: string;
}

/** Why a step did not answer with a 2xx. */
export type FailureKind = 'status' | 'unreachable' | 'timeout' | 'too_large' | 'not_json' | 'no_route';

/** A soft step that failed: reported in the failed-steps header and body field. */
export interface FailedStep {
  readonly node: string;
  readonly step: string;
  readonly status: number;
  readonly reason: string;
}

/** A failure that ends the graph (a hard step, the graph deadline, no Switch route). */
export class GraphFailure extends Error {
  constructor(
    public readonly status: number,
    public readonly kind: FailureKind | 'graph_timeout' | 'nothing_answered',
    message: string,
    /** Why, in more words (KServe's `cause`). */
    public readonly detail: string,
    public readonly node?: string,
    public readonly step?: string,
    /** The upstream's status, for a step that answered with an error. */
    public readonly upstreamStatus?: number,
  ) {
    super(message);
  }

  public toJSON(): Record<string, unknown> {
    return {
      error: this.message,
      cause: this.detail,
      ...(this.node !== undefined ? { node: this.node } : {}),
      ...(this.step !== undefined ? { step: this.step } : {}),
      ...(this.upstreamStatus !== undefined ? { status: this.upstreamStatus } : {}),
    };
  }
}

/** A step that failed (before the graph decides whether it is hard or soft). */
export class StepFailure extends Error {
  constructor(
    public readonly kind: FailureKind,
    /** The status the failure maps to: the upstream's for `status`, 502 / 504 / 413 otherwise. */
    public readonly status: number,
    message: string,
    /** The upstream answer's text (shortened), for `status`. */
    public readonly upstreamText?: string,
  ) {
    super(message);
  }
}

/** The graph deadline passed while a step ran. */
export class GraphDeadline extends Error {}

export function isSuccess(status: number): boolean {
  return status >= 200 && status <= 299;
}

/** At most `max` characters of an upstream answer, for error messages. */
export function shorten(text: string, max = 512): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`;
}
