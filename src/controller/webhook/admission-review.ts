/**
 * AdmissionReview `admission.k8s.io/v1`: reading the API server's request and writing our answer.
 * A body that is not an AdmissionReview v1 is the caller's error (HTTP 400, see `AdmissionReviewError`);
 * a well-formed review always gets an AdmissionReview back, allowing or refusing.
 *
 * @see https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#request
 */

/** The parts of `request` the webhooks read. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind: { readonly group: string; readonly version: string; readonly kind: string };
  readonly operation: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly object?: unknown;
  readonly oldObject?: unknown;
}

/** The AdmissionReview we answer with. */
export interface AdmissionReviewResponse {
  readonly apiVersion: 'admission.k8s.io/v1';
  readonly kind: 'AdmissionReview';
  readonly response: {
    readonly uid: string;
    readonly allowed: boolean;
    readonly patchType?: 'JSONPatch';
    readonly patch?: string;
    readonly status?: { readonly code: number; readonly reason: string; readonly message: string };
    readonly warnings?: string[];
  };
}

/** A body that is not an AdmissionReview v1: the HTTP answer is 400 with this message. */
export class AdmissionReviewError extends Error {}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The request of an AdmissionReview v1; throws AdmissionReviewError naming the field that is wrong. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) throw new AdmissionReviewError('the body must be a JSON AdmissionReview object');
  if (body.apiVersion !== 'admission.k8s.io/v1' || body.kind !== 'AdmissionReview') {
    throw new AdmissionReviewError(`expected apiVersion admission.k8s.io/v1 and kind AdmissionReview, got '${String(body.apiVersion)}' '${String(body.kind)}'; `
      + 'set admissionReviewVersions: ["v1"] in the webhook configuration');
  }
  const request = body.request;
  if (!isObject(request)) throw new AdmissionReviewError('the AdmissionReview has no request object');
  if (typeof request.uid !== 'string' || request.uid === '') throw new AdmissionReviewError('request.uid must be a non-empty string');
  const kind = request.kind;
  if (!isObject(kind) || typeof kind.kind !== 'string' || typeof kind.version !== 'string' || typeof kind.group !== 'string') {
    throw new AdmissionReviewError('request.kind must have group, version and kind strings');
  }
  if (typeof request.operation !== 'string') throw new AdmissionReviewError('request.operation must be a string');
  return {
    uid: request.uid,
    kind: { group: kind.group, version: kind.version, kind: kind.kind },
    operation: request.operation,
    namespace: typeof request.namespace === 'string' ? request.namespace : undefined,
    name: typeof request.name === 'string' ? request.name : undefined,
    object: request.object ?? undefined,
    oldObject: request.oldObject ?? undefined,
  };
}

/** Allows the request, applying `patch` (JSONPatch operations) when given. */
export function allowed(uid: string, patch?: unknown[]): AdmissionReviewResponse {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: {
      uid,
      allowed: true,
      ...(patch && patch.length > 0
        ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
        : {}),
    },
  };
}

/**
 * Refuses the request. The API server shows `message` to the client (`kubectl apply` prints it after
 * `admission webhook "<name>" denied the request: `).
 *
 * @param code 422 (Invalid) for an object that fails validation, 400 for one the webhook cannot act on
 */
export function denied(uid: string, message: string, code = 422): AdmissionReviewResponse {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid, allowed: false, status: { code, reason: code === 422 ? 'Invalid' : 'BadRequest', message } },
  };
}
