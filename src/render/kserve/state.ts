/**
 * The parts of one InferenceService that other constructs add after the endpoint's constructor
 * (`addTransformer`, `addExplainer`), read when the InferenceService's spec is produced.
 */
import { IConstruct } from 'constructs';

export type KServeComponentKind = 'transformer' | 'explainer';

const components = new WeakMap<IConstruct, Map<KServeComponentKind, Record<string, unknown>>>();

/** Records a transformer's or explainer's spec for the endpoint's InferenceService. */
export function addKServeComponent(endpoint: IConstruct, kind: KServeComponentKind, spec: Record<string, unknown>): void {
  const found = components.get(endpoint) ?? new Map<KServeComponentKind, Record<string, unknown>>();
  found.set(kind, spec);
  components.set(endpoint, found);
}

/** The component's spec, if one was added. */
export function kserveComponent(endpoint: IConstruct, kind: KServeComponentKind): Record<string, unknown> | undefined {
  return components.get(endpoint)?.get(kind);
}
