/**
 * The user's `annotations` against the ones we set from props. Internal.
 *
 * The revision template carries Knative's autoscaling annotations, which we derive from the
 * autoscaling props; a user value for one of them would be overridden on the template while the
 * Service kept it, so it is refused, naming the prop to use. Other keys pass through unchanged, in
 * both modes (including the Knative autoscaling keys we never set, such as `window`).
 */

const AUTOSCALING = 'autoscaling.knative.dev';

/** The keys we set (with the older camelCase spellings Knative still reads), and the prop behind each. */
const OWNED_ANNOTATIONS: Record<string, string> = {
  [`${AUTOSCALING}/class`]: "'scaleMetric' (cpu and memory scale with Knative's HPA class, concurrency and rps with its KPA)",
  [`${AUTOSCALING}/metric`]: "'scaleMetric'",
  [`${AUTOSCALING}/target`]: "'scaleTarget'",
  [`${AUTOSCALING}/min-scale`]: "'minReplicas'",
  [`${AUTOSCALING}/minScale`]: "'minReplicas'",
  [`${AUTOSCALING}/max-scale`]: "'maxReplicas' (0 for no limit)",
  [`${AUTOSCALING}/maxScale`]: "'maxReplicas' (0 for no limit)",
  [`${AUTOSCALING}/initial-scale`]: "'initialScale'",
  [`${AUTOSCALING}/initialScale`]: "'initialScale'",
  [`${AUTOSCALING}/scale-down-delay`]: "'scaleDownDelay'",
};

/**
 * Throws if `annotations` sets a key the constructs derive from a prop.
 *
 * @returns the annotations, unchanged
 */
export function resolveAnnotations(annotations: { [key: string]: string } | undefined): { [key: string]: string } {
  for (const [key, value] of Object.entries(annotations ?? {})) {
    const prop = OWNED_ANNOTATIONS[key];
    if (prop !== undefined) {
      throw new Error(`'annotations' sets '${key}: ${value}', which the endpoint derives from ${prop} in both modes; remove it from 'annotations' and set ${prop.split(' (')[0]} instead`);
    }
  }
  return annotations ?? {};
}
