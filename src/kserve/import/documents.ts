/**
 * Reads KServe YAML: multi-document text, comments allowed, into plain objects that each remember their
 * file and index. Parsing is the `yaml` library's; this only names what failed and where.
 */
import { parseAllDocuments } from 'yaml';

/** One document of the input. */
export interface InputDocument {
  /** The file it came from (`-` for stdin). */
  readonly file: string;
  /** Its index in the file, from 0 (empty documents count). */
  readonly index: number;
  /** The parsed object. */
  readonly manifest: { readonly [key: string]: unknown };
}

/** Bad input: not YAML, not a Kubernetes object, a newer apiVersion, a field of the wrong type. */
export class KServeInputError extends Error {
  constructor(public readonly document: string, public readonly field: string | undefined, detail: string) {
    super(`${document}${field ? ` ${field}` : ''}: ${detail}`);
    this.name = 'KServeInputError';
  }
}

export const documentName = (doc: Pick<InputDocument, 'file' | 'index'>): string => `${doc.file}#${doc.index}`;

/**
 * The documents of one YAML text; empty documents (a trailing `---`, comments only) are skipped.
 *
 * @throws KServeInputError naming the file, the document and the line of a YAML syntax error
 */
export function parseDocuments(file: string, text: string): InputDocument[] {
  const out: InputDocument[] = [];
  parseAllDocuments(text, { prettyErrors: true }).forEach((doc, index) => {
    const where = documentName({ file, index });
    if (!('errors' in doc)) throw new KServeInputError(where, undefined, 'not YAML');
    if (doc.errors.length > 0) throw new KServeInputError(where, undefined, `not YAML: ${doc.errors[0].message.split('\n')[0]}`);
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new KServeInputError(where, undefined, `not a Kubernetes object: a document must be a map with apiVersion and kind, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`);
    }
    out.push({ file, index, manifest: value as { [key: string]: unknown } });
  });
  return out;
}
