/**
 * HTTP semantics of a request's header section in HTTP/2 (RFC 9113 §8.2, §8.3): pseudo-header
 * fields first, exactly the request ones, no connection-specific fields, valid names and values.
 * A request that breaks these rules is malformed: a stream error of type PROTOCOL_ERROR.
 */

/** A well-formed request's header section. */
export interface RequestHead {
  readonly method: string;
  /** `:path`; empty for CONNECT. */
  readonly path: string;
  /** `:scheme`; empty for CONNECT. */
  readonly scheme: string;
  /** `:authority`, or '' if absent. */
  readonly authority: string;
  /** All fields, names and values alternately: the pseudo-header fields first, names in lowercase. */
  readonly fields: readonly string[];
  /** The `content-length` value, or -1 if absent. */
  readonly contentLength: number;
}

/** The value of the first field called `name` (lowercase), if any. */
export function headerValue(head: RequestHead, name: string): string | undefined {
  const fields = head.fields;
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * Octets a regular field name may hold (RFC 9113 §8.2.1: no controls, space, uppercase, DEL or
 * non-ASCII; RFC 9110 §5.1: a token).
 */
const NAME_OCTET = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_OCTET[c.charCodeAt(0)] = 1;

/** Fields that only make sense on an HTTP/1.1 connection (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'proxy-connection', 'keep-alive', 'transfer-encoding', 'upgrade']);

/**
 * Names and values already found valid. A client repeats the same fields on every request (and
 * HPACK hands back the same string objects from its table), so each is checked once; bounded.
 */
const validNames = new Set<string>();
const validValues = new Set<string>();
const VALID_CACHE_ENTRIES = 1024;
/** Longer strings are checked every time: the cache holds at most 1024 x 256 characters a set. */
const VALID_CACHE_MAX_LENGTH = 256;

function remember(set: Set<string>, s: string): true {
  if (s.length > VALID_CACHE_MAX_LENGTH) return true;
  if (set.size >= VALID_CACHE_ENTRIES) set.clear();
  set.add(s);
  return true;
}

/** A regular field name: a non-empty token, lowercase. */
export function validName(name: string): boolean {
  if (validNames.has(name)) return true;
  if (!checkName(name)) return false;
  return remember(validNames, name);
}

/** A field value: no NUL, CR or LF; no whitespace at either end (RFC 9113 §8.2.1). */
export function validValue(value: string): boolean {
  if (validValues.has(value)) return true;
  if (!checkValue(value)) return false;
  return remember(validValues, value);
}

function checkName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0xff || NAME_OCTET[c] === 0) return false;
  }
  return true;
}

function checkValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x00 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}

const DIGITS = /^\d{1,15}$/;

/**
 * Checks a decoded request field list (names and values alternately); returns the request head,
 * or a string saying why the request is malformed.
 */
export function parseRequestHead(fields: string[]): RequestHead | string {
  let method: string | undefined;
  let path: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let contentLength = -1;
  let i = 0;
  for (; i < fields.length; i += 2) {
    const name = fields[i];
    if (name.charCodeAt(0) !== 0x3a) break;
    const value = fields[i + 1];
    if (!validValue(value)) return `invalid value of ${name}`;
    switch (name) {
      case ':method':
        if (method !== undefined) return 'duplicate :method';
        method = value;
        break;
      case ':path':
        if (path !== undefined) return 'duplicate :path';
        path = value;
        break;
      case ':scheme':
        if (scheme !== undefined) return 'duplicate :scheme';
        scheme = value;
        break;
      case ':authority':
        if (authority !== undefined) return 'duplicate :authority';
        authority = value;
        break;
      default:
        return `pseudo-header field ${name.slice(0, 40)} is not allowed in a request`;
    }
  }
  for (; i < fields.length; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    if (!validName(name)) return name.charCodeAt(0) === 0x3a ? 'pseudo-header field after a regular field' : 'invalid field name';
    if (!validValue(value)) return `invalid value of ${name}`;
    if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field ${name}`;
    if (name === 'te' && value !== 'trailers') return 'te other than trailers';
    if (name === 'content-length') {
      if (!DIGITS.test(value)) return 'invalid content-length';
      const length = Number(value);
      if (contentLength >= 0 && contentLength !== length) return 'conflicting content-length values';
      contentLength = length;
    }
  }
  if (method === undefined) return 'missing :method';
  if (method === 'CONNECT') {
    // RFC 9113 §8.5: :authority only.
    if (path !== undefined || scheme !== undefined || !authority) return 'malformed CONNECT request';
    return { method, path: '', scheme: '', authority, fields, contentLength };
  }
  if (scheme === undefined || scheme === '') return 'missing :scheme';
  if (path === undefined || path === '') return 'missing :path';
  return { method, path, scheme, authority: authority ?? '', fields, contentLength };
}

/** Checks a trailer section: regular fields only, valid names and values. */
export function validTrailers(fields: string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) {
    if (!validName(fields[i]) || !validValue(fields[i + 1])) return false;
    if (CONNECTION_SPECIFIC.has(fields[i])) return false;
  }
  return true;
}
