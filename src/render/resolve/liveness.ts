/** A custom container's liveness probe settings, validated. Internal. */
import { ModelContainer } from '../../constructs/endpoint-options';

/** What the liveness probe of a custom container checks, and how often. */
export interface ResolvedLiveness {
  readonly path: string;
  readonly periodSeconds: number;
  readonly failureThreshold: number;
}

/**
 * The liveness settings of `container`, or undefined without `livenessPath`.
 *
 * @param owner whose `container` it is, for the message: '' (the endpoint's) or "the transformer's "
 */
export function resolveLiveness(container: ModelContainer | undefined, owner = ''): ResolvedLiveness | undefined {
  if (!container) return undefined;
  const prop = (name: string) => `${owner}'container.${name}'`;
  const { livenessPath, livenessPeriod, livenessFailureThreshold } = container;
  if (livenessPath === undefined) {
    if (livenessPeriod !== undefined || livenessFailureThreshold !== undefined) {
      throw new Error(`${prop('livenessPeriod')} and ${prop('livenessFailureThreshold')} tune the liveness probe of ${prop('livenessPath')}, which is not set; set 'livenessPath' too`);
    }
    return undefined;
  }
  if (!/^\/[\x21-\x7e]*$/.test(livenessPath)) {
    throw new Error(`${prop('livenessPath')} must be an HTTP path starting with '/' without spaces, got '${livenessPath}'`);
  }
  const periodMillis = livenessPeriod?.toMilliseconds() ?? 10_000;
  if (periodMillis % 1000 !== 0 || periodMillis < 1000) {
    throw new Error(`${prop('livenessPeriod')} must be a whole number of seconds, at least 1, got ${periodMillis} ms`);
  }
  const failureThreshold = livenessFailureThreshold ?? 3;
  if (!Number.isInteger(failureThreshold) || failureThreshold < 1) {
    throw new Error(`${prop('livenessFailureThreshold')} must be a positive integer, got ${failureThreshold}`);
  }
  return { path: livenessPath, periodSeconds: periodMillis / 1000, failureThreshold };
}
