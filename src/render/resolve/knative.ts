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

/**
 * Throws unless the cluster allows init containers in Knative pods, for a custom container whose
 * downloaded model a storage-initializer init container fetches. The message lists every way out.
 *
 * @param what the container that needs the init container, as the user wrote it
 */
export function requireInitContainers(resolved: Pick<ResolvedEndpoint, 'features'>, what: string): void {
  if (resolved.features.has(KnativeFeature.INIT_CONTAINERS)) return;
  throw new Error(`${what} with a downloaded 'storageUri' needs a storage-initializer init container to fetch the model, `
    + `and a default Knative install forbids init containers (feature flag '${KnativeFeature.INIT_CONTAINERS}'); ways out: `
    + '(1) enable the flag in the knative-serving/config-features ConfigMap and declare it with \'knativeFeatures: [KnativeFeature.INIT_CONTAINERS]\'; '
    + "(2) install the ModelServingController and set 'storageInitializerWebhook: true', so its pod webhook adds the init container; "
    + "(3) use 'mode: DeploymentMode.RAW'; "
    + "(4) bake the model into the image and leave 'storageUri' unset");
}
