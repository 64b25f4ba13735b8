/**
 * STAND-IN, to be deleted: a few ModelEndpoint spec fields rendered through the ModelEndpoint
 * construct, until the `ctl-crd` part of issue 14 lands `renderCustomResource` and `SpecError`
 * in `./spec` (the real spec → props mapping, generated from the construct props). Same exports,
 * same shapes, so ./desired.ts switches with one import line.
 */
import { App, Chart } from 'cdk8s';
import { ModelEndpoint, ModelFormat, StorageUri } from '../index';

export class SpecError extends Error {
  public static readonly REASON = 'InvalidSpec';
  constructor(public readonly field: string, public readonly detail: string) {
    super(`${field}: ${detail}`);
    this.name = 'SpecError';
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = { [k: string]: any };

type Resource = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; spec?: Json };

export function renderCustomResource(resource: Resource): Json[] {
  if (resource.kind !== 'ModelEndpoint') throw new SpecError('kind', `the stand-in renders ModelEndpoint only, got ${resource.kind}`);
  const spec = resource.spec ?? {};
  if (typeof spec.storageUri !== 'string') throw new SpecError('spec.storageUri', `must be a string, got ${JSON.stringify(spec.storageUri)}`);
  const app = new App({ outdir: '/nonexistent' });
  const chart = new Chart(app, resource.metadata.name, { namespace: resource.metadata.namespace, disableResourceNameHashes: true });
  try {
    const endpoint = new ModelEndpoint(chart, 'Endpoint', {
      name: resource.metadata.name,
      modelName: spec.modelName ?? resource.metadata.name,
      storageUri: StorageUri.fromUri(spec.storageUri),
      format: spec.format ? ModelFormat.custom(spec.format) : ModelFormat.ONNX,
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
    });
    if (spec.transformer?.image) endpoint.addTransformer({ container: { image: spec.transformer.image } });
    const errors = chart.node.validate();
    if (errors.length) throw new Error(errors.join('; '));
    return chart.toJson().map((o: Json) => ({ ...o, metadata: { ...o.metadata, namespace: o.metadata.namespace ?? resource.metadata.namespace } }));
  } catch (e) {
    throw new SpecError('spec', e instanceof Error ? e.message : String(e));
  }
}
