/**
 * The `InferenceGraph` (serving.kserve.io/v1alpha1, id `Resource`) an InferenceGraph synthesizes
 * with `target: ServingTarget.KSERVE`: KServe's controller then runs its own router. Field names
 * from kserve/kserve aaac4e29 (config/crd/full/serving.kserve.io_inferencegraphs.yaml). Internal.
 */
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import { inferenceServiceAnnotations, inferenceServiceLabels } from './annotations';
import * as contract from '../../contract';
import { GraphStepSpec } from '../../contract/graph-spec';
import { resourceRequirements } from '../pod-template';
import { ResolvedEndpoint, ResolvedResources } from '../resolve/resolved-endpoint';

/** A step as KServe writes it: an InferenceService of this app by `serviceName`, or our spec's step. */
export interface KServeGraphStep extends Omit<GraphStepSpec, 'timeoutMs' | 'model'> {
  readonly serviceName?: string;
}

export interface KServeGraphInputs {
  readonly resolved: ResolvedEndpoint;
  readonly nodes: { [name: string]: { routerType: string; steps: KServeGraphStep[] } };
  readonly resources: ResolvedResources;
}

export function synthesizeKServeGraph(scope: Construct, inputs: KServeGraphInputs): ApiObject {
  const r = inputs.resolved;
  const spec: Record<string, unknown> = {
    nodes: inputs.nodes,
    resources: resourceRequirements(inputs.resources),
    minReplicas: r.minReplicas,
    maxReplicas: r.maxReplicas,
    scaleMetric: r.scaleMetric,
    scaleTarget: r.scaleTarget,
  };
  // KServe's `timeout`: whole seconds for the whole graph (the graph's 'timeout' is whole seconds already).
  if (r.timeoutSeconds !== undefined) spec.timeout = r.timeoutSeconds;
  if (r.serviceAccountName) spec.serviceAccountName = r.serviceAccountName;
  if (r.nodeSelector) spec.nodeSelector = { ...r.nodeSelector };
  if (r.tolerations.length > 0) spec.tolerations = r.tolerations.map((t) => ({ ...t }));
  const labels = inferenceServiceLabels(r);
  return new ApiObject(scope, 'Resource', {
    apiVersion: contract.KSERVE.alphaApiVersion,
    kind: contract.KSERVE.kinds.inferenceGraph,
    metadata: { name: r.name, namespace: r.namespace, labels, annotations: inferenceServiceAnnotations(r) },
    spec,
  });
}
