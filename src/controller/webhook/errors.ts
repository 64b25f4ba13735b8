/**
 * Every HTTP error the webhook server answers with, declared once (the model server's style,
 * src/server/errors.ts): a stable code, the HTTP status, and the body `{"error": message, "code": code}`.
 * A well-formed AdmissionReview never gets one of these: it gets an AdmissionReview that allows or refuses.
 */
export interface WebhookErrorDefinition {
  readonly code: string;
  readonly httpStatus: number;
}

export const WEBHOOK_ERRORS = {
  NOT_FOUND: { code: 'WEBHOOK_NOT_FOUND', httpStatus: 404 },
  METHOD_NOT_ALLOWED: { code: 'WEBHOOK_METHOD_NOT_ALLOWED', httpStatus: 405 },
  REQUEST_TIMEOUT: { code: 'WEBHOOK_REQUEST_TIMEOUT', httpStatus: 408 },
  BODY_TOO_LARGE: { code: 'WEBHOOK_BODY_TOO_LARGE', httpStatus: 413 },
  UNSUPPORTED_MEDIA_TYPE: { code: 'WEBHOOK_UNSUPPORTED_MEDIA_TYPE', httpStatus: 415 },
  NOT_JSON: { code: 'WEBHOOK_NOT_JSON', httpStatus: 400 },
  NOT_AN_ADMISSION_REVIEW: { code: 'WEBHOOK_NOT_AN_ADMISSION_REVIEW', httpStatus: 400 },
  INTERNAL: { code: 'WEBHOOK_INTERNAL', httpStatus: 500 },
} as const satisfies Record<string, WebhookErrorDefinition>;

/** An error answered as `{"error": message, "code": code}` with the definition's status. */
export class WebhookHttpError extends Error {
  constructor(public readonly definition: WebhookErrorDefinition, message: string) {
    super(message);
  }
}
