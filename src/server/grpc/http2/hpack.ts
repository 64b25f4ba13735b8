/**
 * HPACK (RFC 7541): the decoder for request header blocks and an encoder for our responses.
 *
 * The decoder reads straight from the frame buffer: indexed fields (what clients send for
 * repeated headers, so nearly everything after the first request) reuse the strings held by the
 * static or dynamic table, so decoding them allocates nothing. Strings are latin1, so a string's
 * length is its size in octets, as the table accounting (RFC 7541 §4.1) needs. Any malformed
 * block is a COMPRESSION_ERROR: the connection's decoding state is lost, the connection ends.
 *
 * The encoder never indexes (literal without indexing, RFC 7541 §6.2.2) and never uses Huffman:
 * our response blocks are few and built once, so the peer's table size does not matter to us.
 */
import { ErrorCode, Http2Error, Limits } from './frames';
import { maxDecodedLength, huffmanDecode } from './huffman';

/** Decoded Huffman strings by their coded bytes (as latin1); short ones only, bounded. */
const huffmanCache = new Map<string, string>();
const HUFFMAN_CACHE_MAX_LENGTH = 64;
const HUFFMAN_CACHE_ENTRIES = 1024;

/* eslint-disable no-bitwise */

/** RFC 7541 Appendix A, index 1..61 (index 0 unused). */
const STATIC_TABLE: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''],
  ['etag', ''], ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''],
  ['if-modified-since', ''], ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''],
  ['last-modified', ''], ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''], ['retry-after', ''],
  ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''], ['transfer-encoding', ''],
  ['user-agent', ''], ['vary', ''], ['via', ''], ['www-authenticate', ''],
];
const STATIC_COUNT = STATIC_TABLE.length - 1;

/** Per-entry overhead in the table size accounting (RFC 7541 §4.1). */
export const ENTRY_OVERHEAD = 32;

function compressionError(message: string): Http2Error {
  return new Http2Error(ErrorCode.COMPRESSION_ERROR, `HPACK: ${message}`);
}

/**
 * Decodes the header blocks of one connection, in order (the dynamic table is shared by all of
 * them, so every block must be decoded, even those of streams that are then refused).
 */
export class HpackDecoder {
  // The dynamic table: a ring of the newest `count` entries ending before `head`.
  private readonly names: string[];
  private readonly values: string[];
  private head = 0;
  private count = 0;
  private size = 0;
  private maxSize: number;
  private scratch = Buffer.allocUnsafe(256);
  // The block being decoded (fields rather than arguments keep the helpers allocation-free).
  private block: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;

  /** @param limit our SETTINGS_HEADER_TABLE_SIZE: the largest table the peer may ask for */
  constructor(private readonly limit: number = Limits.DEFAULT_HEADER_TABLE_SIZE) {
    this.maxSize = limit;
    const capacity = Math.floor(limit / ENTRY_OVERHEAD) + 1;
    this.names = new Array<string>(capacity).fill('');
    this.values = new Array<string>(capacity).fill('');
  }

  /** Current dynamic table size in octets (RFC 7541 §4.1). */
  public get tableSize(): number {
    return this.size;
  }

  /** Entries of the dynamic table, newest first (for tests). */
  public tableEntries(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (let i = 0; i < this.count; i++) out.push([this.names[this.slot(i)], this.values[this.slot(i)]]);
    return out;
  }

  /**
   * Decodes `block[start, end)`, appending names and values alternately to `out` while the header
   * list stays within `maxListSize` octets (past that, it keeps decoding for the table's sake but
   * appends nothing). Returns the header list size (RFC 9113 §6.5.2: lengths plus 32 per field).
   * Throws an Http2Error(COMPRESSION_ERROR) on a malformed block.
   */
  public decode(block: Buffer, start: number, end: number, out: string[], maxListSize = Infinity): number {
    this.block = block;
    this.pos = start;
    this.end = end;
    let listSize = 0;
    let fieldSeen = false;
    while (this.pos < end) {
      const first = block[this.pos];
      let name: string;
      let value: string;
      if (first & 0x80) {
        // Indexed field (§6.1).
        const index = this.readInteger(7);
        if (index === 0) throw compressionError('index 0');
        name = this.nameAt(index);
        value = this.valueAt(index);
      } else if (first & 0x40) {
        // Literal with incremental indexing (§6.2.1).
        const index = this.readInteger(6);
        name = index === 0 ? this.readString() : this.nameAt(index);
        value = this.readString();
        this.insert(name, value);
      } else if (first & 0x20) {
        // Dynamic table size update (§6.3): only before the first field (§4.2).
        if (fieldSeen) throw compressionError('table size update after a field');
        const newSize = this.readInteger(5);
        if (newSize > this.limit) throw compressionError(`table size update to ${newSize}, above the limit of ${this.limit}`);
        this.maxSize = newSize;
        this.evictTo(newSize);
        continue;
      } else {
        // Literal without indexing (§6.2.2) or never indexed (§6.2.3).
        const index = this.readInteger(4);
        name = index === 0 ? this.readString() : this.nameAt(index);
        value = this.readString();
      }
      fieldSeen = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize <= maxListSize) out.push(name, value);
    }
    this.block = EMPTY;
    return listSize;
  }

  /** An integer with an N-bit prefix (§5.1); at most 2^31 - 1. */
  private readInteger(prefixBits: number): number {
    const mask = (1 << prefixBits) - 1;
    let value = this.block[this.pos++] & mask;
    if (value < mask) return value;
    let shift = 0;
    let byte: number;
    do {
      if (this.pos >= this.end) throw compressionError('truncated integer');
      if (shift > 28) throw compressionError('integer too large');
      byte = this.block[this.pos++];
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte & 0x80);
    if (value > Limits.MAX_WINDOW) throw compressionError('integer too large');
    return value;
  }

  /** A string literal (§5.2), raw or Huffman-coded. */
  private readString(): string {
    if (this.pos >= this.end) throw compressionError('truncated block: string expected');
    const huffman = (this.block[this.pos] & 0x80) !== 0;
    const length = this.readInteger(7);
    const start = this.pos;
    if (length > this.end - start) throw compressionError('string longer than the block');
    this.pos = start + length;
    if (!huffman) return this.block.toString('latin1', start, start + length);
    // Clients send the same few short values again and again (a path, a user agent, `trailers`)
    // where they do not index them: decode each coded form once.
    const cacheable = length <= HUFFMAN_CACHE_MAX_LENGTH;
    const key = cacheable ? this.block.toString('latin1', start, start + length) : '';
    const known = cacheable ? huffmanCache.get(key) : undefined;
    if (known !== undefined) return known;
    const need = maxDecodedLength(length);
    if (this.scratch.length < need) this.scratch = Buffer.allocUnsafe(Math.max(need, 2 * this.scratch.length));
    const n = huffmanDecode(this.block, start, start + length, this.scratch);
    if (n < 0) throw compressionError('invalid Huffman string');
    const value = this.scratch.toString('latin1', 0, n);
    if (cacheable) {
      if (huffmanCache.size >= HUFFMAN_CACHE_ENTRIES) huffmanCache.clear();
      huffmanCache.set(key, value);
    }
    return value;
  }

  private slot(i: number): number {
    const capacity = this.names.length;
    return (this.head - 1 - i + capacity) % capacity;
  }

  private nameAt(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index][0];
    return this.names[this.dynamicSlot(index)];
  }

  private valueAt(index: number): string {
    if (index <= STATIC_COUNT) return STATIC_TABLE[index][1];
    return this.values[this.dynamicSlot(index)];
  }

  private dynamicSlot(index: number): number {
    const i = index - STATIC_COUNT - 1;
    if (i >= this.count) throw compressionError(`index ${index} outside the table`);
    return this.slot(i);
  }

  /** Adds an entry (§4.4): evicts the oldest to make room; one larger than the table empties it. */
  private insert(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.maxSize) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxSize - entrySize);
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) % this.names.length;
    this.count++;
    this.size += entrySize;
  }

  private evictTo(target: number): void {
    const capacity = this.names.length;
    while (this.size > target) {
      const oldest = (this.head - this.count + capacity) % capacity;
      this.size -= this.names[oldest].length + this.values[oldest].length + ENTRY_OVERHEAD;
      this.names[oldest] = '';
      this.values[oldest] = '';
      this.count--;
    }
  }
}

const EMPTY = Buffer.alloc(0);

const STATIC_INDEX = new Map<string, number>();
const STATIC_NAME_INDEX = new Map<string, number>();
for (let i = STATIC_COUNT; i >= 1; i--) {
  const [name, value] = STATIC_TABLE[i];
  STATIC_INDEX.set(`${name}\0${value}`, i);
  STATIC_NAME_INDEX.set(name, i);
}

/** Appends an integer with an N-bit prefix (§5.1); `flags` are the first byte's high bits. */
function pushInteger(out: number[], prefixBits: number, flags: number, value: number): void {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out.push(flags | value);
    return;
  }
  out.push(flags | mask);
  let rest = value - mask;
  while (rest >= 0x80) {
    out.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
}

function pushString(out: number[], text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  pushInteger(out, 7, 0, bytes.length);
  for (const b of bytes) out.push(b);
}

/**
 * Encodes a header block: fields in the static table as indexes, the rest as literals without
 * indexing (with the static table's name index when there is one). Names must be lowercase and
 * values free of CR, LF and NUL: the caller's fields are trusted.
 */
export function encodeHeaderBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const full = STATIC_INDEX.get(`${name}\0${value}`);
    if (full !== undefined) {
      pushInteger(out, 7, 0x80, full);
      continue;
    }
    const nameIndex = STATIC_NAME_INDEX.get(name);
    if (nameIndex !== undefined) {
      pushInteger(out, 4, 0x00, nameIndex);
    } else {
      out.push(0x00);
      pushString(out, name);
    }
    pushString(out, value);
  }
  return Buffer.from(out);
}
