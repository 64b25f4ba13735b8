/**
 * Request bodies: JSON only, parsed by us. An empty (or all-whitespace) body is `undefined`
 * (routes whose body is optional accept it, others fail their schema with a 400), and a parse
 * error is our `INVALID_JSON`. fastify's text/plain parser is dropped, so any other content
 * type gets our 415 (`./error-replies`).
 */
import { FastifyInstance, FastifyRequest } from 'fastify';
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
