/**
 * Where a scope's `RuntimeCatalog` is found, without the renderers importing the construct:
 * the catalog registers plain facts on its scope, and lookups walk up the tree. Internal.
 */
import { ContainerResources } from 'cdk8s-plus-33';
import { IConstruct } from 'constructs';
import type { ServingRuntime } from '../../constructs/serving-runtime';

/** What selection and rendering need from a catalog. */
export interface CatalogFacts {
  /** The catalog construct itself (for `RuntimeCatalog.of`). */
  readonly owner: IConstruct;
  /** Its construct path, for messages. */
  readonly path: string;
  readonly runtimes: ServingRuntime[];
  imageFor(image: string): string;
  resourcesFor(runtime: ServingRuntime): ContainerResources | undefined;
  allows(runtime: ServingRuntime): boolean;
  /** `runtime` with the overrides; throws if it is not allowed. */
  apply(runtime: ServingRuntime): ServingRuntime;
}

const KEY = Symbol.for('cdk8s-model-serving.runtime-catalog');

/**
 * Makes `facts` the catalog of `scope` and everything below it.
 *
 * @throws if `scope` already has one
 */
export function registerCatalog(scope: IConstruct, facts: CatalogFacts): void {
  const existing: CatalogFacts | undefined = (scope as any)[KEY];
  if (existing) {
    throw new Error(`'${scope.node.path || '<app>'}' already has a RuntimeCatalog ('${existing.owner.node.id}'); add the runtimes to that one`);
  }
  Object.defineProperty(scope, KEY, { value: facts });
}

/** The nearest catalog at or above `scope`. */
export function findCatalog(scope: IConstruct): CatalogFacts | undefined {
  for (let s: IConstruct | undefined = scope; s; s = s.node.scope) {
    const facts: CatalogFacts | undefined = (s as any)[KEY];
    if (facts) return facts;
  }
  return undefined;
}
