/**
 * Error answers of every fastify app (predictor, transformer, explainer): each error, ours or
 * fastify's, becomes one of the error table's (`../errors`) and is sent as the protocol's JSON
 * error body; an unknown route is `ROUTE_NOT_FOUND`. 5xx answers other than 503 are logged.
 */
import { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, ServerError, serverError } from '../errors';

/** Sets the error and not-found handlers of `app`. */
export function replyWithServerErrors(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) => sendError(toServerError(err, request), request, reply));
  app.setNotFoundHandler((request, reply) => sendError(serverError(ERRORS.ROUTE_NOT_FOUND, request.method, request.url.split('?')[0].slice(0, 200)), request, reply));
}

/** Sends `err` as the protocol's JSON error (5xx other than 503 are logged). */
export function sendError(err: ServerError, request: FastifyRequest, reply: FastifyReply) {
  if (err.statusCode >= 500 && err.statusCode !== 503) {
    request.log.error({ event: 'request_failed', code: err.code, url: request.url }, err.message);
  }
  return reply.code(err.statusCode).type('application/json').send(err.toJSON());
}

interface FastifyLikeError {
  code?: string;
  statusCode?: number;
  validation?: unknown;
  validationContext?: string;
  message: string;
}

/** Maps fastify's and our errors to one of ours. Anything unknown is a 500 without detail. */
export function toServerError(err: unknown, request: FastifyRequest): ServerError {
  if (err instanceof ServerError) {
    return err;
  }
  const e = err as FastifyLikeError;
  if (e && e.validation) {
    return serverError(ERRORS.INVALID_REQUEST, e.message);
  }
  switch (e?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return serverError(ERRORS.UNSUPPORTED_MEDIA_TYPE, String(request.headers['content-type'] ?? '').slice(0, 100));
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return serverError(ERRORS.BODY_TOO_LARGE, request.server.initialConfig.bodyLimit);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return serverError(ERRORS.EMPTY_BODY);
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return serverError(ERRORS.INVALID_JSON, 'syntax error');
    default:
  }
  if (e && typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const def = { ...ERRORS.INVALID_REQUEST, httpStatus: e.statusCode };
    return serverError(def, e.message);
  }
  request.log.error({ event: 'unhandled_error', err }, 'unhandled error');
  return serverError(ERRORS.INTERNAL);
}
