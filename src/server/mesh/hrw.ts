/**
 * Weighted rendezvous (highest random weight) hashing: which members hold a model.
 *
 * Every member scores every key as `-weight / ln(u)`, with `u` in (0, 1) a hash of the key and
 * the member's id; the `copies` highest scores hold the key. Adding or removing a member only
 * moves the keys that member wins or held, and a member with twice the memory wins about twice
 * as many keys (Schindelhauer and Schomaker's weighted variant). Pure: no I/O.
 */
import { createHash } from 'crypto';

/** A member of the mesh as placement sees it. */
export interface Member {
  /** `host:port`, as peers reach it. */
  readonly id: string;
  /** Relative capacity (the memory budget in bytes); must be > 0. */
  readonly weight: number;
}

/** A uniform value in (0, 1) from `key` and `member`. */
export function unitHash(key: string, member: string): number {
  const digest = createHash('sha1').update(key).update('\u0000').update(member).digest();
  // 52 bits: exact in a double; +1 and /2^52+2 keep it strictly inside (0, 1).
  const hi = digest.readUInt32BE(0) % 0x100000;
  const lo = digest.readUInt32BE(4);
  return (hi * 2 ** 32 + lo + 1) / (2 ** 52 + 2);
}

/** The weighted rendezvous score of `member` for `key` (higher wins). */
export function score(key: string, member: Member): number {
  return -member.weight / Math.log(unitHash(key, member.id));
}

/** Every member, best first, for `key`; ties (practically impossible) break by id. */
export function rank(key: string, members: readonly Member[]): Member[] {
  return members
    .map((m) => ({ m, s: score(key, m) }))
    .sort((a, b) => (b.s - a.s) || (a.m.id < b.m.id ? -1 : 1))
    .map((x) => x.m);
}

/** The `copies` members that hold `key` (all members when `copies` is 'all' or exceeds them). */
export function holders(key: string, members: readonly Member[], copies: number | 'all'): Member[] {
  const ranked = rank(key, members);
  return copies === 'all' ? ranked : ranked.slice(0, Math.max(1, copies));
}
