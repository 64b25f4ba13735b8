/** Checks against Knative's default feature flags, shared by every serverless construct. */
import { ResolvedEndpoint } from './resolved-endpoint';
import { KnativeFeature } from '../../constructs/knative-features';

/**
 * Throws unless the cluster was declared to enable `feature`, naming the flag and the fix.
 *
 * @param what the setting that needs the flag, as the user wrote it
 */
export function requireKnativeFeature(resolved: Pick<ResolvedEndpoint, 'features'>, feature: KnativeFeature, what: string): void {
  if (resolved.features.has(feature)) return;
  const member = Object.entries(KnativeFeature).find(([, v]) => v === feature)?.[0];
  throw new Error(`${what} needs the Knative feature flag '${feature}', which is disabled in a default Knative install; enable it in the knative-serving/config-features ConfigMap and declare it with 'knativeFeatures: [KnativeFeature.${member}]', or use 'mode: DeploymentMode.RAW'`);
}
