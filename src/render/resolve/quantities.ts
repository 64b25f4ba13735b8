/**
 * Conversions of cdk8s-plus quantities to Kubernetes strings and numbers, so limits can be
 * compared with requests at synth time.
 */
import { Size } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-33';

/** CPU in millicores, from a cdk8s-plus `Cpu` ("500m", "1", "0.5"). */
export function cpuMillis(cpu: Cpu): number {
  return amountMillis(cpu.amount);
}

/** CPU in millicores, from a Kubernetes CPU quantity ("500m", "1", "0.5"). */
export function amountMillis(amount: string): number {
  if (amount.endsWith('m')) return Number(amount.slice(0, -1));
  return Number(amount) * 1000;
}

/** A Kubernetes memory quantity for a `Size`, in the largest binary unit that keeps it whole. */
export function sizeToQuantity(size: Size): string {
  const bytes = sizeBytes(size);
  const units: Array<[string, number]> = [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]];
  for (const [suffix, factor] of units) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${suffix}`;
  }
  return `${bytes}`;
}

/** Bytes in a `Size`. */
export function sizeBytes(size: Size): number {
  return size.toKibibytes() * 1024;
}

/** Multipliers of the Kubernetes quantity suffixes (decimal SI and binary). */
const QUANTITY_SUFFIX: Record<string, number> = {
  'n': 1e-9,
  'u': 1e-6,
  'm': 1e-3,
  '': 1,
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

/** The value of a Kubernetes quantity (`500m`, `1Gi`, `1e3`, or a number), or undefined when it is not one. */
export function quantityValue(quantity: string | number): number | undefined {
  if (typeof quantity === 'number') return quantity;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$/.exec(quantity.trim());
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2]) return base * 10 ** Number(m[2].slice(1));
  return base * QUANTITY_SUFFIX[m[3] ?? ''];
}
