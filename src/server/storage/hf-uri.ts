/** `hf://<org>/<repo>[@revision]` (KServe's `:revision` too): a Hugging Face Hub model repo. */
import { StorageError } from './errors';

export interface HfUri {
  readonly kind: 'hf';
  /** `<org>/<name>`. */
  readonly repo: string;
  /** A branch, tag or commit; `main` when the URI names none. */
  readonly revision: string;
}

const PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;

export function parseHfUri(uri: string): HfUri {
  const m = /^hf:\/\/([^/@:]+)\/([^/@:]+)(?:[@:](.+))?$/i.exec(uri);
  const usage = 'expected hf://<org>/<repo> or hf://<org>/<repo>@<revision>';
  if (!m) throw new StorageError('INVALID_URI', `invalid Hugging Face URI '${uri}': ${usage}`);
  const [, org, name, revision = 'main'] = m;
  for (const part of [org, name]) {
    if (!PART.test(part) || part.includes('..') || part.includes('--')) {
      throw new StorageError('INVALID_URI', `invalid Hugging Face URI '${uri}': '${part}' is not a valid org or repo name; ${usage}`);
    }
  }
  if (!/^[A-Za-z0-9._/-]{1,255}$/.test(revision) || revision.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new StorageError('INVALID_URI', `invalid Hugging Face URI '${uri}': revision '${revision}' is not a branch, tag or commit`);
  }
  return { kind: 'hf', repo: `${org}/${name}`, revision };
}
