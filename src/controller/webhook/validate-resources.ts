/**
 * The validating webhook for our custom resources (`CONTROLLER_PATHS.validate`): the constructs'
 * synth-time checks run at admission, so `kubectl apply` of a bad ModelEndpoint, CanaryRollout or
 * ModelMesh is refused with the message `cdk8s synth` prints, naming the field. It validates in
 * memory only (no objects are serialized, no API calls), so admission stays fast.
 */
import { AdmissionReviewResponse, allowed, denied, parseAdmissionReview } from './admission-review';
import { CRD_GROUP, CRD_KINDS } from '../../contract';

/** A custom resource as the review carries it. */
export interface ReviewedResource {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec?: unknown;
}

/** Throws an Error whose message names the field and carries the construct's message (ctl-crd's `validateCustomResource`). */
export type ResourceValidator = (resource: ReviewedResource) => void;

const KINDS: ReadonlySet<string> = new Set(Object.values(CRD_KINDS).map((k) => k.kind));

/**
 * Answers an AdmissionReview for one of our kinds: allowed when the constructs accept its spec,
 * refused (422) with their message otherwise. Deletions and other groups are allowed untouched.
 *
 * @throws AdmissionReviewError when `body` is not an AdmissionReview v1
 */
export function reviewCustomResource(body: unknown, validate: ResourceValidator): AdmissionReviewResponse {
  const request = parseAdmissionReview(body);
  if (request.kind.group !== CRD_GROUP || !KINDS.has(request.kind.kind)) return allowed(request.uid);
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return allowed(request.uid);
  const object = request.object as Partial<ReviewedResource> | undefined;
  const name = object?.metadata?.name ?? request.name;
  if (typeof object !== 'object' || object === null || typeof name !== 'string') {
    return denied(request.uid, `the ${request.kind.kind} in the review has no metadata.name`, 400);
  }
  try {
    validate({
      apiVersion: `${request.kind.group}/${request.kind.version}`,
      kind: request.kind.kind,
      metadata: { name, namespace: object.metadata?.namespace ?? request.namespace },
      spec: object.spec,
    });
  } catch (e) {
    return denied(request.uid, e instanceof Error ? e.message : String(e), 422);
  }
  return allowed(request.uid);
}
