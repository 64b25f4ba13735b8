/**
 * The `InferenceService` (id `Resource`) a ModelEndpoint or CanaryRollout synthesizes with
 * `target: ServingTarget.KSERVE`, and the NetworkPolicy aimed at KServe's pods.
 */
import { ApiObject, Lazy } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import { inferenceServiceAnnotations, inferenceServiceLabels } from './annotations';
import { predictorSpec, PredictorExplicit } from './predictor';
import { kserveComponent } from './state';
import * as contract from '../../contract';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';

export interface InferenceServicePlan {
  readonly explicit: PredictorExplicit;
  /** A CanaryRollout's canary share: the predictor spec is the canary, the last rolled-out revision keeps the rest. */
  readonly canaryTrafficPercent?: number;
}

export function synthesizeInferenceService(scope: Construct, r: ResolvedEndpoint, plan: InferenceServicePlan): ApiObject {
  return new ApiObject(scope, 'Resource', {
    apiVersion: contract.KSERVE.inferenceServiceApiVersion,
    kind: contract.KSERVE.kinds.inferenceService,
    metadata: {
      name: r.name,
      namespace: r.namespace,
      labels: inferenceServiceLabels(r),
      annotations: inferenceServiceAnnotations(r),
    },
    // Lazy: addEnv, addTransformer and addExplainer may come after the constructor.
    spec: Lazy.any({ produce: () => inferenceServiceSpec(scope, r, plan) }),
  });
}

function inferenceServiceSpec(endpoint: IConstruct, r: ResolvedEndpoint, plan: InferenceServicePlan): Record<string, unknown> {
  const predictor = predictorSpec(r, plan.explicit);
  // kserve ksvc_reconciler.go: the canary share goes to the latest revision, the rest to the last rolled-out one.
  if (plan.canaryTrafficPercent !== undefined) predictor.canaryTrafficPercent = plan.canaryTrafficPercent;
  const spec: Record<string, unknown> = { predictor };
  for (const kind of ['transformer', 'explainer'] as const) {
    const component = kserveComponent(endpoint, kind);
    if (component) spec[kind] = component;
  }
  return spec;
}
