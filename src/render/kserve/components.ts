/**
 * `spec.transformer` and `spec.explainer`: the pod our Transformer or Explainer would run as a
 * component of its own, as a KServe component with a custom container. KServe names them
 * `<name>-transformer` / `<name>-explainer`, as we do.
 */
import { componentExtension, withProbePorts } from './predictor';
import { KServeComponentKind } from './state';
import { ScaleMetric } from '../../constructs/endpoint-options';
import * as contract from '../../contract';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';

export interface KServeComponentInput {
  readonly kind: KServeComponentKind;
  /** The component's pod, as component.ts builds it for our own Knative Service or Deployment. */
  readonly pod: Record<string, unknown>;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly scaleMetric: ScaleMetric;
  readonly scaleTarget: number;
  /** The component's own `logger` (KServe's agent beside it logs). */
  readonly payloadLog?: { readonly url: string; readonly mode: string };
}

export function kserveComponentSpec(r: ResolvedEndpoint, c: KServeComponentInput): Record<string, unknown> {
  const containers = (c.pod.containers as Array<Record<string, unknown>>).map(container => {
    // KServe's name for the component's serving container (constants.InferenceServiceContainerName).
    const out = { ...container, name: contract.KSERVE_EMIT.containerName };
    withProbePorts(out);
    return out;
  });
  const spec: Record<string, unknown> = { ...c.pod, containers };
  Object.assign(spec, componentExtension(r, c, c.kind));
  if (r.timeoutSeconds !== undefined) spec.timeout = r.timeoutSeconds;
  // ComponentExtensionSpec.logger: KServe's agent logs the component's calls.
  if (c.payloadLog) spec.logger = { mode: c.payloadLog.mode, url: c.payloadLog.url };
  return spec;
}

/** `host:port` of KServe's predictor Service (constants.PredictorServiceName: `<name>-predictor`), port 80 in both modes. */
export function kservePredictorHost(r: ResolvedEndpoint): string {
  return `${r.name}-predictor.${r.namespace ?? 'default'}.svc.cluster.local:80`;
}
