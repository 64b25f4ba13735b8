import { ContainerResources } from 'cdk8s-plus-33';
import { Construct, IConstruct } from 'constructs';
import { ServingRuntime } from './serving-runtime';
import { findCatalog, registerCatalog } from '../render/runtime/catalog';

/**
 * Properties of a `RuntimeCatalog`.
 */
export interface RuntimeCatalogProps {
  /**
   * The runtimes endpoints under this scope may use, in order: with equal priorities, the
   * first that serves a format is picked for it.
   *
   * @default - every built-in runtime (`ServingRuntime.builtIns()`)
   */
  readonly runtimes?: ServingRuntime[];

  /**
   * A registry mirror that replaces the registry of every runtime image
   * (`docker.io/seldonio/mlserver:1.7.1` becomes `<mirror>/seldonio/mlserver:1.7.1`).
   *
   * @default - the images' own registries
   */
  readonly imageRegistry?: string;

  /**
   * Requests and limits of a runtime's model container, by runtime name, for endpoints that
   * set no `resources` of their own.
   *
   * @default - the endpoints' defaults
   */
  readonly resources?: { [runtime: string]: ContainerResources };
}

/**
 * The serving runtimes a platform allows, and their overrides, for every endpoint in a scope:
 * the equivalent of KServe's ClusterServingRuntimes.
 *
 * Add one to an app or a chart; every `ModelEndpoint`, `CanaryRollout` and `ModelMesh` below
 * it picks its runtime from it (the nearest catalog wins), and an endpoint that asks for a
 * runtime the catalog does not list fails synth. Synthesizes nothing.
 *
 * @example
 * new RuntimeCatalog(app, 'Runtimes', {
 *   runtimes: [ServingRuntime.MODEL_SERVER, ServingRuntime.MLSERVER],
 *   imageRegistry: 'registry.internal.example.com',
 * });
 */
export class RuntimeCatalog extends Construct {
  /**
   * The nearest catalog above `scope` (its own children first, then each parent's).
   *
   * @returns the catalog, or undefined when no scope above has one
   */
  public static of(scope: IConstruct): RuntimeCatalog | undefined {
    return findCatalog(scope)?.owner as RuntimeCatalog | undefined;
  }

  /** The allowed runtimes, in order, with the catalog's overrides applied. */
  public readonly runtimes: ServingRuntime[];
  /** The registry mirror, if one was set. */
  public readonly imageRegistry?: string;

  private readonly resourcesByRuntime: { [runtime: string]: ContainerResources };

  constructor(scope: Construct, id: string, props: RuntimeCatalogProps = {}) {
    super(scope, id);
    if (props.imageRegistry !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9._-]+)*$/.test(props.imageRegistry)) {
      throw new Error(`'imageRegistry' must be a registry host with an optional port and path, like 'registry.example.com:5000/mirror', got '${props.imageRegistry}'`);
    }
    const given = props.runtimes ?? ServingRuntime.builtIns();
    if (given.length === 0) throw new Error("'runtimes' must list at least one runtime");
    const names = new Set<string>();
    for (const r of given) {
      if (names.has(r.name)) throw new Error(`'runtimes' lists runtime '${r.name}' twice`);
      names.add(r.name);
    }
    for (const name of Object.keys(props.resources ?? {})) {
      if (!names.has(name)) throw new Error(`'resources' names runtime '${name}', which 'runtimes' does not list (${[...names].join(', ')})`);
    }
    this.imageRegistry = props.imageRegistry;
    this.runtimes = given.map(r => props.imageRegistry ? r.withImage(mirrored(r.image, props.imageRegistry)) : r);
    this.resourcesByRuntime = { ...props.resources };
    // Endpoints below `scope` find the catalog there (the renderers never import this class).
    registerCatalog(scope, {
      owner: this,
      path: this.node.path,
      runtimes: this.runtimes,
      imageFor: (image) => this.imageFor(image),
      resourcesFor: (runtime) => this.resourcesFor(runtime),
      allows: (runtime) => this.allows(runtime),
      apply: (runtime) => this.apply(runtime),
    });
  }

  /**
   * `image` from the catalog's registry mirror (unchanged without one): runtimes' images and
   * the storage initializer in front of them.
   */
  public imageFor(image: string): string {
    return this.imageRegistry ? mirrored(image, this.imageRegistry) : image;
  }

  /** Whether endpoints may use `runtime` (by name). */
  public allows(runtime: ServingRuntime): boolean {
    return this.runtimes.some(r => r.name === runtime.name);
  }

  /**
   * The resources the catalog sets for `runtime`.
   *
   * @returns the resources, or undefined when the catalog sets none
   */
  public resourcesFor(runtime: ServingRuntime): ContainerResources | undefined {
    return this.resourcesByRuntime[runtime.name];
  }

  /**
   * `runtime` with the catalog's overrides (its image from the mirror).
   *
   * @throws if the catalog does not allow it
   */
  public apply(runtime: ServingRuntime): ServingRuntime {
    const listed = this.runtimes.find(r => r.name === runtime.name);
    if (!listed) {
      throw new Error(`runtime '${runtime.name}' is not allowed by the RuntimeCatalog '${this.node.path}', which allows ${this.runtimes.map(r => r.name).join(', ')}; use one of these or add it to the catalog's 'runtimes'`);
    }
    // An image the endpoint chose itself (withImage) is mirrored, not replaced by the catalog's.
    return this.imageRegistry ? runtime.withImage(mirrored(runtime.image, this.imageRegistry)) : runtime;
  }
}

/** `image` with its registry replaced by `registry` (Docker Hub's implicit registry included). */
function mirrored(image: string, registry: string): string {
  const first = image.split('/')[0];
  const hasRegistry = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const rest = hasRegistry ? image.slice(first.length + 1) : image;
  // Docker Hub's official images live under library/.
  const path = !hasRegistry && !rest.includes('/') ? `library/${rest}` : rest;
  if (image.startsWith(`${registry}/`)) return image;
  return `${registry}/${path}`;
}
