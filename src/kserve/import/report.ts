/**
 * The mapping report: every field the import could not express, with its document, path and reason.
 * Nothing is dropped silently: what is not mapped is either listed here or a bad-input error.
 */

/** How a field was treated. */
export type ReportOutcome =
  /** Not expressed by the constructs: the generated stack lacks it. */
  | 'unmapped'
  /** Expressed, but not exactly (a rounded quantity, a default the KServe object did not have). */
  | 'approximated'
  /** A whole object kept as a plain ApiObject, unchanged. */
  | 'passed-through'
  /** Mapped; something the reader should know (a Knative flag the cluster needs). */
  | 'note';

export interface ReportEntry {
  /** `<file>#<index>` (index from 0), as errors name documents. */
  readonly document: string;
  /** `Kind/name` of the object. */
  readonly object: string;
  /** The field's path, dotted (`spec.predictor.logger`); `.` for the whole object. */
  readonly path: string;
  readonly outcome: ReportOutcome;
  readonly reason: string;
}

/** Outcomes that `--strict` and the runtime API's strict mode refuse. */
export const NOT_MAPPED: readonly ReportOutcome[] = ['unmapped', 'approximated', 'passed-through'];

export function isNotMapped(entry: ReportEntry): boolean {
  return NOT_MAPPED.includes(entry.outcome);
}

/** One line per entry, for errors and the CLI's summary. */
export function formatEntry(e: ReportEntry): string {
  return `${e.document} ${e.object} ${e.path}: ${e.outcome}: ${e.reason}`;
}
