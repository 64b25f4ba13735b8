/**
 * Kubernetes quantities and Go durations as the constructs' typed values (`Cpu`, `Size`, `Duration`),
 * exact where the type can hold the value, rounded up (and reported) where it cannot.
 */
import { call, Code, lit } from './code';

/** A parsed quantity: the code, and whether it had to be rounded. */
export interface QuantityCode {
  readonly code: Code;
  readonly rounded: boolean;
}

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const FACTORS: { [suffix: string]: number } = {
  '': 1,
  'm': 1e-3,
  'k': 1e3,
  'M': 1e6,
  'G': 1e9,
  'T': 1e12,
  'P': 1e15,
  'E': 1e18,
  'Ki': 2 ** 10,
  'Mi': 2 ** 20,
  'Gi': 2 ** 30,
  'Ti': 2 ** 40,
  'Pi': 2 ** 50,
  'Ei': 2 ** 60,
};

/** The numeric value of a Kubernetes quantity (`500m`, `2`, `1Gi`, `1e3` is not accepted); undefined when malformed. */
export function quantityValue(q: string | number): number | undefined {
  if (typeof q === 'number') return q;
  const m = QUANTITY.exec(q.trim());
  return m ? Number(m[1]) * FACTORS[m[2] ?? ''] : undefined;
}

/** `Cpu.millis(n)` or `Cpu.units(n)`; sub-milli CPU is rounded up. */
export function cpuCode(q: string | number): QuantityCode | undefined {
  const v = quantityValue(q);
  if (v === undefined) return undefined;
  const millis = Math.ceil(Math.round(v * 1e6) / 1e3);
  const rounded = Math.abs(millis - v * 1e3) > 1e-6;
  return {
    code: millis % 1000 === 0 ? call('cdk8s-plus-33', 'Cpu', 'units', lit(millis / 1000)) : call('cdk8s-plus-33', 'Cpu', 'millis', lit(millis)),
    rounded,
  };
}

const SIZE_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['pebibytes', 2 ** 50], ['tebibytes', 2 ** 40], ['gibibytes', 2 ** 30], ['mebibytes', 2 ** 20], ['kibibytes', 2 ** 10],
];

/** `Size.<largest exact binary unit>(n)`; decimal sizes (`1G`) are rounded up to whole kibibytes. */
export function sizeCode(q: string | number): QuantityCode | undefined {
  const v = quantityValue(q);
  if (v === undefined) return undefined;
  const bytes = Math.round(v);
  for (const [unit, factor] of SIZE_UNITS) {
    if (bytes % factor === 0 && bytes >= factor) return { code: call('cdk8s', 'Size', unit, lit(bytes / factor)), rounded: false };
  }
  return { code: call('cdk8s', 'Size', 'kibibytes', lit(Math.max(1, Math.ceil(bytes / 1024)))), rounded: true };
}

const DURATION_PART = /([0-9]+(?:\.[0-9]+)?)(h|ms|m|s)/g;
const DURATION_UNITS: { [unit: string]: number } = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A Go duration (`15m`, `1h30m`, `90s`, as Knative's annotations take) in milliseconds; undefined when malformed. */
export function goDurationMillis(text: string): number | undefined {
  if (!/^([0-9]+(\.[0-9]+)?(h|ms|m|s))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(DURATION_PART)) total += Number(m[1]) * DURATION_UNITS[m[2]];
  return Math.round(total);
}

/** `Duration.<largest exact unit>(n)`. */
export function durationCode(millis: number): Code {
  for (const [unit, factor] of [['hours', 3_600_000], ['minutes', 60_000], ['seconds', 1000]] as const) {
    if (millis % factor === 0 && millis >= factor) return call('cdk8s', 'Duration', unit, lit(millis / factor));
  }
  return call('cdk8s', 'Duration', 'millis', lit(millis));
}
