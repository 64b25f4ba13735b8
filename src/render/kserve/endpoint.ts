/**
 * A ModelEndpoint with `target: ServingTarget.KSERVE`: the refusals, the ServingRuntime, the
 * InferenceService and the NetworkPolicy aimed at KServe's pods. (Monitoring is added by the
 * construct, as for the native target, and selects KServe's pods by itself.)
 */
import { Construct } from 'constructs';
import { synthesizeInferenceService, InferenceServicePlan } from './inference-service';
import { assertEndpointExpressible, KServeEndpointInput } from './refusals';
import { isShippedByKServe, kserveRuntimeName } from './runtime';
import { endpointNetworkPolicy } from '../network-policy';
import { EndpointInput } from '../resolve/resolve-endpoint';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';

/** The props a KServe endpoint reads besides the resolved ones. */
export type KServeEndpointProps = Omit<KServeEndpointInput, 'runtimeShippedByKServe'> & Pick<EndpointInput, 'runtime' | 'containerConcurrency'>;

/** Checks the props and decides the predictor's explicit fields; emits the ServingRuntime if one is needed. */
export function planInferenceService(
  scope: Construct, r: ResolvedEndpoint, props: KServeEndpointProps, canaryTrafficPercent?: number,
): InferenceServicePlan {
  assertEndpointExpressible({ ...props, runtimeShippedByKServe: isShippedByKServe(r.servingRuntime) }, r);
  return {
    explicit: {
      runtimeName: kserveRuntimeName(scope, r, props.runtime !== undefined),
      initialScale: props.initialScale,
      deploymentStrategy: props.deploymentStrategy !== undefined,
      containerConcurrency: props.containerConcurrency !== undefined,
    },
    canaryTrafficPercent,
  };
}

export function synthesizeKServeEndpoint(scope: Construct, r: ResolvedEndpoint, props: KServeEndpointProps): void {
  synthesizeInferenceService(scope, r, planInferenceService(scope, r, props));
  // Every port: Knative's queue-proxy (serverless) or KServe's agent may sit in front of the model.
  if (r.networkPolicy) endpointNetworkPolicy(scope, r, []);
}
