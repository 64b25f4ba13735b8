/**
 * The fastify settings every app of the model server shares (predictor, transformer,
 * explainer), and the ajv options its schemas compile with (the fast path compiles the same
 * schemas with them, so both paths accept and reject the same bodies).
 */
import { FastifyReply, FastifyServerOptions, LogController } from 'fastify';
import { ServerConfig } from '../config';
import { ERRORS, serverError } from '../errors';

/**
 * Body schemas: no type coercion, no stripping, first error only. `validateSchema: false`: our
 * schemas are constants, checked against the JSON Schema meta-schema by the tests
 * (test/server/schemas.test.ts), so the server does not compile the meta-schema at every start
 * (about a tenth of the cold start).
 */
export const AJV_OPTIONS = { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true, validateSchema: false } as const;

/** fastify options from `config`; `logger` defaults to JSON logs at `config.logLevel`. */
export function serverOptions(config: ServerConfig, logger: FastifyServerOptions['logger'] = { level: config.logLevel }): FastifyServerOptions {
  return {
    logger,
    // Per-request log lines cost throughput; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxBodyBytes,
    requestTimeout: config.requestTimeoutMs,
    // A request that reached the server before its listener closed is served (with
    // `Connection: close`, fastify adds it while closing), not refused with a 503.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
    // Errors before routing (a malformed percent-escape in the URL, a bad content type): our
    // JSON error shape too, not fastify's.
    frameworkErrors: (error, _request, reply) => {
      const e = serverError(ERRORS.INVALID_REQUEST, error.message);
      void (reply as unknown as FastifyReply).code(e.statusCode).type('application/json').send(e.toJSON());
    },
    ajv: { customOptions: { ...AJV_OPTIONS } },
  };
}
