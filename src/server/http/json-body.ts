/**
 * Request bodies: JSON, parsed by us, and the binary tensor bodies of the V2 infer routes.
 *
 * JSON: an empty (or all-whitespace) body is `undefined` (routes whose body is optional accept
 * it, others fail their schema with a 400), and a parse error is our `INVALID_JSON`. fastify's
 * text/plain parser is dropped, so any other content type gets our 415 (`./error-replies`).
 *
 * Binary: a request with an `Inference-Header-Content-Length` header is routed to the binary
 * twins of the infer routes (`INFERENCE_HEADER_CONSTRAINT`), whose parser reads the body whatever
 * its content type, as Triton does (its clients send `application/octet-stream`, none, or
 * urllib's form type), and splits it (`./binary-tensors`): the JSON header becomes the body that
 * the route's schema checks, and the tensor bytes are kept for the handler (`binaryTensorBytes`).
 */
import { FastifyInstance, FastifyRequest } from 'fastify';
import { INFERENCE_HEADER_CONTENT_LENGTH, splitBinaryBody } from './binary-tensors';
import { ERRORS, serverError } from '../errors';

const BLANK = /^\s*$/;

/** Installs the JSON body parser on `app` (before any route that reads a body). */
export function acceptJsonBodies(app: FastifyInstance): void {
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (BLANK.test(text)) {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(serverError(ERRORS.INVALID_JSON, (err as Error).message));
    }
  });
}

/**
 * Routes a request to a route with `constraints: { inferenceHeader: 'present' }` when it has an
 * `Inference-Header-Content-Length` header; other requests (and routes) are unaffected.
 */
export const INFERENCE_HEADER_CONSTRAINT = {
  name: 'inferenceHeader',
  // Without a binary twin, a route serves requests with the header as it always did.
  mustMatchWhenDerived: false,
  storage() {
    const handlers = new Map<string, unknown>();
    return {
      get: (value: string) => (handlers.get(value) ?? null) as never,
      set: (value: string, handler: unknown) => { handlers.set(value, handler); },
    };
  },
  deriveConstraint: (req: { headers: Record<string, unknown> }) =>
    (req.headers[INFERENCE_HEADER_CONTENT_LENGTH] === undefined ? undefined : 'present') as string,
};

const tensorBytesOf = new WeakMap<FastifyRequest, Buffer>();

/**
 * Makes every body in `scope` (an encapsulated context holding only the binary infer routes) a
 * binary tensor body, whatever its content type.
 */
export function acceptBinaryInferBodies(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'buffer' }, (req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    try {
      const split = splitBinaryBody(body as Buffer, req.headers[INFERENCE_HEADER_CONTENT_LENGTH]);
      tensorBytesOf.set(req, split.tensorBytes);
      done(null, split.header);
    } catch (err) {
      done(err as Error);
    }
  });
}

/** The tensor bytes after the JSON header of a binary body (empty if there were none). */
export function binaryTensorBytes(req: FastifyRequest): Buffer {
  return tensorBytesOf.get(req) ?? Buffer.alloc(0);
}
