/**
 * The InferenceService's labels and annotations, and the Knative annotations a component passes
 * through to its revision. KServe copies the InferenceService's labels and annotations, then
 * the component's own, onto the pods (buildObjectMeta in
 * pkg/controller/v1beta1/inferenceservice/components/predictor.go, kserve/kserve aaac4e29).
 */
import { IngressKind } from '../../constructs/endpoint-ingress';
import { ScaleMetric } from '../../constructs/endpoint-options';
import * as contract from '../../contract';
import { objectLabels } from '../pod-template';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';

/**
 * Labels of the InferenceService itself: ours without the component label, which each
 * component sets on its own pods (an InferenceService-level one would reach every component).
 */
export function inferenceServiceLabels(r: ResolvedEndpoint): Record<string, string> {
  const labels = objectLabels(r);
  delete labels[contract.LABELS.component];
  // KServe's cluster-local switch is a label (kube_ingress_reconciler.go, httproute_reconciler.go).
  if (r.ingress._kind === IngressKind.NONE) labels[contract.KSERVE.annotations.visibility] = contract.KSERVE.clusterLocalVisibility;
  return labels;
}

/** Annotations of the InferenceService: the user's, the deployment mode and the stop switch. */
export function inferenceServiceAnnotations(r: ResolvedEndpoint): Record<string, string> {
  const a = contract.KSERVE.annotations;
  return {
    ...r.annotations,
    // The spellings every KServe release reads ('Knative'/'Standard' only from 0.15).
    [a.deploymentMode]: r.serverless ? contract.KSERVE.deploymentModes.serverless[0] : contract.KSERVE.deploymentModes.raw[0],
    // KServe 0.15+: scales every component to zero and keeps the objects (constants.StopAnnotationKey).
    ...(r.stopped ? { [a.stop]: 'true' } : {}),
  };
}

/** What a component scales on, as the Knative annotations KServe passes through to its revision. */
export interface ComponentScaling {
  readonly scaleMetric: ScaleMetric;
  /** Only when the user set it: Knative's default is 1. */
  readonly initialScale?: number;
  readonly scaleDownDelaySeconds?: number;
}

/**
 * Serverless only: the annotations KServe's fields do not cover. KServe defaults the class to
 * Knative's KPA (SetAutoScalingAnnotations, pkg/controller/v1alpha1/utils/utils.go), which
 * cannot scale on cpu or memory.
 */
export function knativePassThroughAnnotations(r: ResolvedEndpoint, s: ComponentScaling): Record<string, string> {
  if (!r.serverless) return {};
  const out: Record<string, string> = {};
  if (s.scaleMetric === ScaleMetric.CPU || s.scaleMetric === ScaleMetric.MEMORY) out['autoscaling.knative.dev/class'] = contract.KSERVE_EMIT.knativeHpaClass;
  if (s.initialScale !== undefined) out['autoscaling.knative.dev/initial-scale'] = String(s.initialScale);
  if (s.scaleDownDelaySeconds !== undefined) out['autoscaling.knative.dev/scale-down-delay'] = `${s.scaleDownDelaySeconds}s`;
  return out;
}
