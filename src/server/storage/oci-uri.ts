/**
 * `oci://<image reference>`: a model in an OCI image (KServe's modelcars), with Docker's rules for
 * the parts a reference leaves out (Docker Hub, `library/`, `latest`).
 */
import { StorageError } from './errors';

export interface OciUri {
  readonly kind: 'oci';
  /** `host[:port]` of the registry. */
  readonly registry: string;
  /** The repository path in the registry (`library/iris` on Docker Hub). */
  readonly repository: string;
  /** What to ask the registry for: the digest when the reference pins one, else the tag. */
  readonly reference: string;
  /** The pinned digest (`sha256:<hex>`), when there is one: the manifest must hash to it. */
  readonly digest?: string;
}

/** Docker Hub's registry API host. */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function parseOciUri(uri: string): OciUri {
  let rest = uri.slice('oci://'.length);
  const bad = (why: string) => new StorageError('INVALID_URI',
    `invalid OCI image URI '${uri}': ${why}; expected oci://<registry>/<repository>[:<tag>][@sha256:<digest>]`);
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`'${digest}' is not a sha256 digest`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`'${tag}' is not a tag`);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const isHost = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  const registry = isHost ? first : DOCKER_HUB_REGISTRY;
  let repository = isHost ? rest.slice(slash + 1) : rest;
  if (!isHost && !repository.includes('/')) repository = `library/${repository}`;
  if (!PATH.test(repository)) throw bad(`'${repository}' is not a repository name (lowercase letters, digits and separators)`);
  if (isHost && !/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(?::\d{1,5})?$/.test(registry)) throw bad(`'${registry}' is not a registry host`);
  return { kind: 'oci', registry, repository, reference: digest ?? tag ?? 'latest', digest };
}

/** Whether a registry is on this machine's loopback, where Docker's rule allows plain http. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '');
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]';
}
