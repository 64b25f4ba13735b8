/**
 * Desired state of one custom resource: the objects our constructs render for its spec (the
 * cdk8s-operator pattern: a construct as a function of a spec), cached per spec so that a resync
 * or a child's event does not render the same spec again.
 */
import { createHash } from 'node:crypto';
import type { KubeObject } from './kube';
import { renderCustomResource, RolloutTraffic, SpecError } from './spec';

export { SpecError };

const MAX_CACHED = 10_000;

export class DesiredState {
  private readonly cache = new Map<string, { hash: string; objects: KubeObject[] }>();

  /** The rendered children of `cr`; throws SpecError for a spec the constructs refuse. */
  render(cr: KubeObject, traffic?: RolloutTraffic): KubeObject[] {
    const key = `${cr.kind}/${cr.metadata.namespace}/${cr.metadata.name}`;
    const { name, namespace, uid, generation } = cr.metadata;
    const input = { apiVersion: cr.apiVersion, kind: cr.kind, metadata: { name, namespace, uid, generation }, spec: cr.spec };
    const hash = createHash('sha256').update(JSON.stringify({ ...input, metadata: { ...input.metadata, generation: undefined }, traffic })).digest('base64url');
    const hit = this.cache.get(key);
    if (hit && hit.hash === hash) return hit.objects;
    const objects = renderCustomResource(input, traffic) as KubeObject[];
    if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, { hash, objects });
    return objects;
  }

  forget(key: string): void {
    this.cache.delete(key);
  }
}
