/** How our route prefixes become Kubernetes Ingress paths (shared by every raw-mode construct). */

/**
 * The Kubernetes Ingress paths for one of our route prefixes. An Ingress `Prefix` matches whole
 * path elements, so `/v1/models/iris` would never match `/v1/models/iris:predict`: KServe V1's
 * verbs get `Exact` paths instead, while `/v2/models/iris` stays a `Prefix` (it matches
 * `/v2/models/iris/infer` and every other V2 path of the model).
 */
export function ingressPaths(prefix: string): Array<{ path: string; pathType: string }> {
  if (prefix.includes(':')) return [{ path: prefix, pathType: 'Exact' }];
  if (/^\/v1\/models\/[^/]+$/.test(prefix)) {
    return [{ path: prefix, pathType: 'Exact' }, { path: `${prefix}:predict`, pathType: 'Exact' }];
  }
  return [{ path: prefix.replace(/(.)\/$/, '$1'), pathType: 'Prefix' }];
}
