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
