// HPACK (src/server/grpc/http2/hpack.ts, huffman.ts) against the examples of RFC 7541 Appendix C,
// malformed blocks, and round trips through our encoder and a Huffman encoder written here.
/* eslint-disable no-bitwise */
import * as fc from 'fast-check';
import { ErrorCode, Http2Error } from '../../src/server/grpc/http2/frames';
import { encodeHeaderBlock, HpackDecoder } from '../../src/server/grpc/http2/hpack';
import { CODES, huffmanDecode, LENGTHS, maxDecodedLength } from '../../src/server/grpc/http2/huffman';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Decodes one block; returns its fields as pairs. */
function decode(decoder: HpackDecoder, block: Buffer, maxListSize?: number): Array<[string, string]> {
  const out: string[] = [];
  decoder.decode(block, 0, block.length, out, maxListSize);
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i], out[i + 1]]);
  return pairs;
}

/** RFC 7541 §5.2 encoding, for round trips (the server never Huffman-encodes). */
function huffmanEncode(bytes: Uint8Array): Buffer {
  const out: number[] = [];
  let acc = 0n;
  let bits = 0;
  for (const b of bytes) {
    acc = (acc << BigInt(LENGTHS[b])) | BigInt(CODES[b]);
    bits += LENGTHS[b];
    while (bits >= 8) {
      bits -= 8;
      out.push(Number((acc >> BigInt(bits)) & 0xffn));
    }
    acc &= (1n << BigInt(bits)) - 1n;
  }
  if (bits > 0) out.push(Number(((acc << BigInt(8 - bits)) | ((1n << BigInt(8 - bits)) - 1n)) & 0xffn));
  return Buffer.from(out);
}

function expectCompressionError(fn: () => unknown): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(Http2Error);
  expect((error as Http2Error).code).toBe(ErrorCode.COMPRESSION_ERROR);
  expect((error as Http2Error).stream).toBe(0);
}

const REQUEST_1: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']];
const REQUEST_2: Array<[string, string]> = [...REQUEST_1, ['cache-control', 'no-cache']];
const REQUEST_3: Array<[string, string]> = [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']];
const DATE_1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSE_1: Array<[string, string]> = [[':status', '302'], ['cache-control', 'private'], ['date', DATE_1], ['location', 'https://www.example.com']];
const RESPONSE_2: Array<[string, string]> = [[':status', '307'], ['cache-control', 'private'], ['date', DATE_1], ['location', 'https://www.example.com']];
const RESPONSE_3: Array<[string, string]> = [[':status', '200'], ['cache-control', 'private'], ['date', DATE_2], ['location', 'https://www.example.com'], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]];

describe('RFC 7541 Appendix C', () => {
  test('C.2.1 literal with indexing adds custom-key to the table (size 55)', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572'))).toEqual([['custom-key', 'custom-header']]);
    expect(d.tableEntries()).toEqual([['custom-key', 'custom-header']]);
    expect(d.tableSize).toBe(55);
  });

  test('C.2.2 literal without indexing and C.2.3 never indexed leave the table empty', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('040c 2f73 616d 706c 652f 7061 7468'))).toEqual([[':path', '/sample/path']]);
    expect(decode(d, hex('1008 7061 7373 776f 7264 0673 6563 7265 74'))).toEqual([['password', 'secret']]);
    expect(d.tableSize).toBe(0);
  });

  test('C.2.4 indexed field from the static table', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('82'))).toEqual([[':method', 'GET']]);
    expect(d.tableSize).toBe(0);
  });

  test('C.3 three requests without Huffman share the dynamic table', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'))).toEqual(REQUEST_1);
    expect(d.tableEntries()).toEqual([[':authority', 'www.example.com']]);
    expect(d.tableSize).toBe(57);
    expect(decode(d, hex('8286 84be 5808 6e6f 2d63 6163 6865'))).toEqual(REQUEST_2);
    expect(d.tableEntries()).toEqual([['cache-control', 'no-cache'], [':authority', 'www.example.com']]);
    expect(d.tableSize).toBe(110);
    expect(decode(d, hex('8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65'))).toEqual(REQUEST_3);
    expect(d.tableEntries()).toEqual([['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']]);
    expect(d.tableSize).toBe(164);
  });

  test('C.4 the same requests with Huffman-coded strings', () => {
    const d = new HpackDecoder();
    expect(decode(d, hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))).toEqual(REQUEST_1);
    expect(d.tableSize).toBe(57);
    expect(decode(d, hex('8286 84be 5886 a8eb 1064 9cbf'))).toEqual(REQUEST_2);
    expect(d.tableSize).toBe(110);
    expect(decode(d, hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))).toEqual(REQUEST_3);
    expect(d.tableEntries()).toEqual([['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']]);
    expect(d.tableSize).toBe(164);
  });

  test('C.5 three responses without Huffman in a 256-octet table evict the oldest entries', () => {
    const d = new HpackDecoder(256);
    expect(decode(d, hex(`4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a
      3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`))).toEqual(RESPONSE_1);
    expect(d.tableEntries()).toEqual([['location', 'https://www.example.com'], ['date', DATE_1], ['cache-control', 'private'], [':status', '302']]);
    expect(d.tableSize).toBe(222);
    expect(decode(d, hex('4803 3330 37c1 c0bf'))).toEqual(RESPONSE_2);
    // ':status: 302' was evicted to make room for ':status: 307'.
    expect(d.tableEntries()).toEqual([[':status', '307'], ['location', 'https://www.example.com'], ['date', DATE_1], ['cache-control', 'private']]);
    expect(d.tableSize).toBe(222);
    expect(decode(d, hex(`88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04
      677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178
      2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31`))).toEqual(RESPONSE_3);
    expect(d.tableEntries()).toEqual([['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE_2]]);
    expect(d.tableSize).toBe(215);
  });

  test('C.6 the same responses with Huffman-coded strings', () => {
    const d = new HpackDecoder(256);
    expect(decode(d, hex(`4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e
      919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`))).toEqual(RESPONSE_1);
    expect(d.tableSize).toBe(222);
    expect(decode(d, hex('4883 640e ffc1 c0bf'))).toEqual(RESPONSE_2);
    expect(d.tableEntries()[0]).toEqual([':status', '307']);
    expect(d.tableSize).toBe(222);
    expect(decode(d, hex(`88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7
      821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106
      3d50 07`))).toEqual(RESPONSE_3);
    expect(d.tableEntries()).toEqual([['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE_2]]);
    expect(d.tableSize).toBe(215);
  });
});

describe('dynamic table', () => {
  test('a size update evicts down to the new size; 0 empties the table', () => {
    const d = new HpackDecoder();
    decode(d, hex('8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d'));
    decode(d, hex('8286 84be 5808 6e6f 2d63 6163 6865'));
    expect(d.tableSize).toBe(110);
    // 0x3f 0x1a: a size update to 31 + 26 = 57 octets keeps only the newest entry (53 octets).
    expect(decode(d, hex('3f1a 82'))).toEqual([[':method', 'GET']]);
    expect(d.tableEntries()).toEqual([['cache-control', 'no-cache']]);
    expect(decode(d, hex('20'))).toEqual([]);
    expect(d.tableSize).toBe(0);
    // With a 0-octet table, an indexed literal is not stored, and index 62 does not exist.
    expect(decode(d, hex('4001 6101 62'))).toEqual([['a', 'b']]);
    expect(d.tableSize).toBe(0);
    expectCompressionError(() => decode(d, hex('be')));
  });

  test('an entry larger than the table empties it instead of being added', () => {
    const d = new HpackDecoder(64);
    decode(d, hex('4001 6101 62'));
    expect(d.tableSize).toBe(34);
    const big = Buffer.concat([hex('4001 6120'), Buffer.alloc(32, 0x78)]);
    expect(decode(d, big)).toEqual([['a', 'x'.repeat(32)]]);
    expect(d.tableSize).toBe(0);
  });

  test('fields past the header list limit are decoded for the table but not returned', () => {
    const d = new HpackDecoder();
    const out: string[] = [];
    const block = hex('4001 6101 62 4001 6301 64 82');
    expect(d.decode(block, 0, block.length, out, 40)).toBe(34 + 34 + 32 + 10);
    expect(out).toEqual(['a', 'b']);
    expect(d.tableEntries()).toEqual([['c', 'd'], ['a', 'b']]);
  });
});

describe('malformed blocks are a COMPRESSION_ERROR', () => {
  test.each([
    ['index 0', '80'],
    ['an index past the static table with an empty dynamic table', 'be'],
    ['an index far outside the table', 'ff ff ff ff 07'],
    ['a truncated integer', 'ff'],
    ['an integer that overflows', 'ff ff ff ff ff ff ff 7f'],
    ['a string longer than the block', '40 05 61 62'],
    ['a literal without its value', '40 01 61'],
    ['a name index outside the table', '7f 20 01 61'],
    ['a size update above our SETTINGS_HEADER_TABLE_SIZE (4097)', '3f e2 1f'],
    ['a size update after a field', '82 20'],
    ['Huffman with the EOS symbol inside', '01 84 ff ff ff ff'],
    ['Huffman padding longer than 7 bits', '01 82 1f ff'],
    ['Huffman padding that is not 1s', '01 81 00'],
  ])('%s', (_name, block) => {
    expectCompressionError(() => decode(new HpackDecoder(), hex(block)));
  });

  test('a size update up to our SETTINGS_HEADER_TABLE_SIZE (4096) is fine', () => {
    expect(decode(new HpackDecoder(), hex('3f e1 1f 82'))).toEqual([[':method', 'GET']]);
  });

  test('random bytes either decode or throw a compression error, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const d = new HpackDecoder();
      try {
        decode(d, Buffer.from(bytes));
      } catch (err) {
        expect(err).toBeInstanceOf(Http2Error);
        expect((err as Http2Error).code).toBe(ErrorCode.COMPRESSION_ERROR);
      }
      expect(d.tableSize).toBeLessThanOrEqual(4096);
    }), { numRuns: 5000, seed: 1 });
  });
});

describe('Huffman', () => {
  test('every byte string survives an encode/decode round trip', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const encoded = huffmanEncode(bytes);
      const out = Buffer.alloc(maxDecodedLength(encoded.length));
      const n = huffmanDecode(encoded, 0, encoded.length, out);
      expect(out.subarray(0, n)).toEqual(Buffer.from(bytes));
    }), { numRuns: 2000, seed: 2 });
  });

  test('the encoder here reproduces RFC 7541 C.4.1 (www.example.com)', () => {
    expect(huffmanEncode(Buffer.from('www.example.com'))).toEqual(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff'));
  });

  test('property: Huffman literals decode the same the first and every later time (decoded forms are cached)', () => {
    fc.assert(fc.property(fc.array(fc.string({ minLength: 1, maxLength: 70 }), { minLength: 1, maxLength: 20 }), (values) => {
      // Literal without indexing, name from the static table (user-agent, 58), value Huffman-coded.
      const blocks = values.map((v) => {
        const coded = huffmanEncode(Buffer.from(v, 'latin1'));
        const length = coded.length < 127 ? [0x80 | coded.length] : [0x80 | 127, coded.length - 127];
        return Buffer.concat([Buffer.from([0x0f, 58 - 15]), Buffer.from(length), coded]);
      });
      for (let round = 0; round < 2; round++) {
        const d = new HpackDecoder();
        blocks.forEach((block, i) => expect(decode(d, block)).toEqual([['user-agent', Buffer.from(values[i], 'latin1').toString('latin1')]]));
      }
    }), { numRuns: 200, seed: 5 });
  });

  test('an invalid Huffman string fails also right after a valid one of the same length', () => {
    const d = new HpackDecoder();
    const good = huffmanEncode(Buffer.from('abc'));
    expect(decode(d, Buffer.concat([Buffer.from([0x0f, 58 - 15, 0x80 | good.length]), good]))).toEqual([['user-agent', 'abc']]);
    // All ones for 4 bytes: padding longer than 7 bits, which §5.2 forbids.
    expectCompressionError(() => d.decode(Buffer.from([0x0f, 58 - 15, 0x80 | 4, 0xff, 0xff, 0xff, 0xff]), 0, 7, []));
  });

  test('a Huffman literal with indexing goes into the table', () => {
    const d = new HpackDecoder();
    const value = huffmanEncode(Buffer.from('application/grpc'));
    const block = Buffer.concat([Buffer.from([0x40 | 31, 0x80 | value.length]), value]);
    expect(decode(d, block)).toEqual([['content-type', 'application/grpc']]);
    expect(decode(d, hex('be'))).toEqual([['content-type', 'application/grpc']]);
  });
});

describe('encoder', () => {
  test('static matches are one byte; other fields are literals without indexing that decode back', () => {
    expect(encodeHeaderBlock([[':status', '200']])).toEqual(hex('88'));
    const fields: Array<[string, string]> = [[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '13'], ['grpc-message', 'x'.repeat(300)]];
    const block = encodeHeaderBlock(fields);
    const d = new HpackDecoder();
    expect(decode(d, block)).toEqual(fields);
    expect(d.tableSize).toBe(0);
  });

  test('any lowercase name and printable value round-trips', () => {
    const name = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    const value = fc.stringMatching(/^[\x20-\x7e]{0,200}$/);
    fc.assert(fc.property(fc.array(fc.tuple(name, value), { maxLength: 10 }), (fields) => {
      expect(decode(new HpackDecoder(), encodeHeaderBlock(fields))).toEqual(fields);
    }), { numRuns: 500, seed: 3 });
  });
});
