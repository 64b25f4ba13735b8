/** The mutating webhook on Pods (`CONTROLLER_PATHS.mutatePods`): an AdmissionReview in, one out. */
import { AdmissionReviewResponse, allowed, denied, parseAdmissionReview } from './admission-review';
import { podInjection, PodInjectionOptions } from './pod-injection';

/**
 * Answers a Pod AdmissionReview: a JSONPatch adding the storage initializer to a labelled pod being
 * created, nothing for any other pod or operation, a refusal for a labelled pod it cannot inject into.
 *
 * @throws AdmissionReviewError when `body` is not an AdmissionReview v1
 */
export function reviewPod(body: unknown, options: PodInjectionOptions): AdmissionReviewResponse {
  const request = parseAdmissionReview(body);
  // Only creation: a pod's init containers and volumes cannot change after it exists.
  if (request.operation !== 'CREATE' || request.kind.group !== '' || request.kind.kind !== 'Pod') return allowed(request.uid);
  const outcome = podInjection(request.object, options);
  switch (outcome.kind) {
    case 'skip': return allowed(request.uid);
    case 'patch': return allowed(request.uid, outcome.patch);
    case 'deny': return denied(request.uid, `storage initializer injection: ${outcome.message}`, 400);
  }
}
