/**
 * Checks a body against the checksums its store sent: S3's `x-amz-checksum-crc32|crc32c|sha1|sha256`
 * (full-object values only; a multipart object's `<value>-<parts>` checksum of checksums cannot be
 * recomputed from the bytes) and GCS's `x-goog-hash: crc32c=...,md5=...`. Every value offered is
 * verified; a body without any is accepted as it is (there is nothing to compare).
 */
import { createHash, Hash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { crc32 } from 'node:zlib';
import { Crc32c } from '@aws-crypto/crc32c';
import { StorageError } from './errors';

type Algorithm = 'crc32' | 'crc32c' | 'sha1' | 'sha256' | 'md5';

/** One checksum a response offered, base64 as sent. */
export interface OfferedChecksum {
  readonly algorithm: Algorithm;
  readonly expected: string;
  /** The header it came from, for messages. */
  readonly header: string;
}

const AMZ: Array<[string, Algorithm]> = [
  ['x-amz-checksum-crc32', 'crc32'],
  ['x-amz-checksum-crc32c', 'crc32c'],
  ['x-amz-checksum-sha1', 'sha1'],
  ['x-amz-checksum-sha256', 'sha256'],
];

/** The checksums in a response's headers that can be verified from its bytes. */
export function offeredChecksums(headers: IncomingHttpHeaders): OfferedChecksum[] {
  const out: OfferedChecksum[] = [];
  if (String(headers['x-amz-checksum-type'] ?? '').toUpperCase() !== 'COMPOSITE') {
    for (const [header, algorithm] of AMZ) {
      const v = headers[header];
      if (typeof v === 'string' && /^[A-Za-z0-9+/]+=*$/.test(v.trim())) out.push({ algorithm, expected: v.trim(), header });
    }
  }
  const goog = headers['x-goog-hash'];
  for (const part of (Array.isArray(goog) ? goog : goog ? [goog] : []).join(',').split(',')) {
    const m = /^\s*(crc32c|md5)=([A-Za-z0-9+/]+=*)\s*$/.exec(part);
    if (m) out.push({ algorithm: m[1] as Algorithm, expected: m[2], header: 'x-goog-hash' });
  }
  return out;
}

function uint32Base64(n: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n); // both CRCs are unsigned 32-bit values
  return b.toString('base64');
}

/** Computes the offered checksums while the body streams, then compares. */
export class ChecksumVerifier {
  private readonly hashes = new Map<Algorithm, Hash>();
  private crc32Value = 0;
  private crc32c?: Crc32c;

  constructor(public readonly offered: readonly OfferedChecksum[]) {
    for (const o of offered) {
      if (o.algorithm === 'sha1' || o.algorithm === 'sha256' || o.algorithm === 'md5') this.hashes.set(o.algorithm, createHash(o.algorithm));
      if (o.algorithm === 'crc32c') this.crc32c = new Crc32c();
    }
  }

  update(chunk: Buffer): void {
    if (this.offered.length === 0) return;
    for (const h of this.hashes.values()) h.update(chunk);
    if (this.offered.some((o) => o.algorithm === 'crc32')) this.crc32Value = crc32(chunk, this.crc32Value);
    this.crc32c?.update(chunk);
  }

  /** Throws CHECKSUM naming the header, the expected and the computed value on any mismatch. */
  verify(what: string): void {
    const digests = new Map<Algorithm, string>();
    for (const [alg, h] of this.hashes) digests.set(alg, h.digest('base64'));
    digests.set('crc32', uint32Base64(this.crc32Value));
    if (this.crc32c) digests.set('crc32c', uint32Base64(this.crc32c.digest()));
    for (const o of this.offered) {
      const got = digests.get(o.algorithm);
      if (got !== o.expected) {
        throw new StorageError('CHECKSUM',
          `${what}: ${o.algorithm} of the bytes received is ${got}, but ${o.header} says ${o.expected}; the download is corrupt`,
          { retryable: true });
      }
    }
  }
}
