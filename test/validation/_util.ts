// Small helpers shared by the offline validators in this folder. Not a public API.

/** A Kubernetes object as cdk8s synthesizes it: plain JSON. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Manifest = { [key: string]: any };

/** `true` for a non-null, non-array object. */
export function isObject(v: unknown): v is Manifest {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The array at `v`, or `[]` when it is missing or not an array (the schema check reports the type). */
export function arr(v: unknown): Manifest[] {
  return Array.isArray(v) ? v : [];
}

/** `Kind/name` (or `Kind/<no name>`) for messages. */
export function describe(obj: unknown): string {
  if (!isObject(obj)) return '<not an object>';
  const name = isObject(obj.metadata) && typeof obj.metadata.name === 'string' ? obj.metadata.name : '<no name>';
  return `${typeof obj.kind === 'string' ? obj.kind : '<no kind>'}/${name}`;
}

/** The API group of an apiVersion (`''` for the core group `v1`). */
export function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/** Turns a JSON pointer (`/spec/containers/0/name`) into Kubernetes field-path style (`spec.containers[0].name`). */
export function pointerToPath(pointer: string): string {
  if (!pointer) return '<root>';
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

const BINARY_SUFFIX: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL_SUFFIX: Record<string, number> = { 'n': 1e-9, 'u': 1e-6, 'm': 1e-3, '': 1, 'k': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12, 'P': 1e15, 'E': 1e18 };

/**
 * The Kubernetes resource.Quantity grammar (`<signedNumber><suffix>`), as in
 * k8s.io/apimachinery/pkg/api/resource/quantity.go.
 */
export const QUANTITY_PATTERN = '^[+-]?(\\d+(\\.\\d*)?|\\.\\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\\d+))?$';
const QUANTITY_RE = new RegExp(QUANTITY_PATTERN);

/** Parses a Kubernetes quantity (`500m`, `1.5Gi`, `2`, `1e3`) to a number; `undefined` if it is not one. */
export function parseQuantity(q: unknown): number | undefined {
  if (typeof q === 'number') return Number.isFinite(q) ? q : undefined;
  if (typeof q !== 'string' || !QUANTITY_RE.test(q)) return undefined;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(.*)$/.exec(q)!;
  const num = Number(m[1]);
  const suffix = m[2];
  if (suffix in BINARY_SUFFIX) return num * BINARY_SUFFIX[suffix];
  if (suffix in DECIMAL_SUFFIX) return num * DECIMAL_SUFFIX[suffix];
  if (/^[eE][+-]?\d+$/.test(suffix)) return num * 10 ** Number(suffix.slice(1));
  return undefined;
}
