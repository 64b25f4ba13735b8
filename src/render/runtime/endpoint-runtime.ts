/**
 * The runtime part of resolving an endpoint's props: which runtime, with which image and
 * resources, and the container it becomes. Internal.
 */
import { ContainerResources } from 'cdk8s-plus-33';
import { IConstruct } from 'constructs';
import { findCatalog } from './catalog';
import { resolveRuntime, ResolvedRuntime } from './resolve-runtime';
import { selectRuntime } from './select';
import { InferenceProtocol, ModelContainer } from '../../constructs/endpoint-options';
import { ModelFormat } from '../../constructs/model-format';
import { ServingRuntime } from '../../constructs/serving-runtime';
import { StorageUri } from '../../constructs/storage-uri';
import * as contract from '../../contract';
import type { ResolvedContainer } from '../resolve/resolved-endpoint';

/** The props the runtime depends on. */
export interface RuntimeProps {
  readonly runtime?: ServingRuntime;
  readonly format?: ModelFormat;
  readonly container?: ModelContainer;
  readonly serverImage?: string;
  readonly storageUri?: StorageUri;
}

export interface EndpointRuntime {
  /** The runtime, with the catalog's overrides. */
  readonly runtime: ServingRuntime;
  /** A third-party runtime; undefined for our model server. */
  readonly resolved?: ResolvedRuntime;
  /** Our model server's image from the runtime (a catalog mirror or `withImage`). */
  readonly modelServerImage?: string;
  /** Resources the scope's RuntimeCatalog sets for the runtime. */
  readonly catalogResources?: ContainerResources;
}

/**
 * @returns undefined with a custom `container` (the escape hatch serves any format)
 * @throws if both `runtime` and `container` are set, or as `selectRuntime`
 */
export function resolveEndpointRuntime(
  scope: IConstruct, props: RuntimeProps, format: ModelFormat, protocol: InferenceProtocol, modelName: string,
): EndpointRuntime | undefined {
  if (props.container) {
    if (props.runtime) throw new Error(`set 'runtime' (${props.runtime.name}) or 'container' (${props.container.image}), not both: 'container' replaces the runtime`);
    return undefined;
  }
  const runtime = selectRuntime(scope, { format: props.format, runtime: props.runtime, protocol });
  const catalog = findCatalog(scope);
  const catalogResources = catalog?.resourcesFor(runtime);
  if (runtime.isModelServer) return { runtime, modelServerImage: runtime.image, catalogResources };
  if (props.serverImage !== undefined) {
    throw new Error(`'serverImage' sets our model server's image, but the endpoint runs ${runtime.name}; use 'runtime: ServingRuntime.<RUNTIME>.withImage(...)' to change its image`);
  }
  const initializerImage = catalog?.imageFor(contract.DEFAULT_SERVER_IMAGE);
  return { runtime, resolved: resolveRuntime(runtime, modelName, format, protocol, props.storageUri, initializerImage), catalogResources };
}

/** The container of a third-party runtime, in the shape of a custom container plus its facts. */
export function runtimeContainer(r: ResolvedRuntime): ResolvedContainer {
  return {
    // No args at all (not an empty list) keeps the image's CMD where the runtime has none.
    custom: { image: r.image, command: r.command, args: r.args.length > 0 ? r.args : undefined, port: r.servingPort, readinessPath: r.readinessPath },
    runtime: r,
    image: r.image,
    port: r.servingPort,
    env: new Map(),
  };
}
