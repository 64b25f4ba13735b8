/* eslint-disable no-bitwise */
/**
 * Payload-log sampling (`--payload-log-sample-rate`): whether the inference with event id `id`
 * is logged. Decided from the id alone (FNV-1a, 32 bits, mapped to [0, 1)), so the request and
 * the response of one inference, which share the id, are kept or dropped together, and a given
 * id gets the same answer in every process.
 */
export function sampledIn(id: string, rate: number): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 2 ** 32 < rate;
}
