/**
 * The one door to `@kubernetes/client-node`, which is ESM-only: this CommonJS code base reaches it
 * through `import()` (esbuild bundles it into assets/tool/cli.js either way) and imports its types
 * with `resolution-mode`, so tsc's node16 module rules accept both.
 */
export type { Informer, KubeConfig, ObjectCache } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };

export type ClientNode = typeof import('@kubernetes/client-node', { with: { 'resolution-mode': 'import' } });

/** The library's module (loaded once; later calls return the same). */
export function loadClientNode(): Promise<ClientNode> {
  return import('@kubernetes/client-node');
}
