/**
 * Kubernetes quantities and Go durations as the constructs' typed values (`Cpu`, `Size`, `Duration`),
 * exact where the type can hold the value, rounded up (and reported) where it cannot.
 */
import { call, Code, lit } from './code';
import { quantityValue } from '../../render/resolve/quantities';

/** A parsed quantity: the code, and whether it had to be rounded. */
export interface QuantityCode {
  readonly code: Code;
  readonly rounded: boolean;
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
