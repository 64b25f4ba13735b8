/**
 * `buildApp(options)`: the HTTP side of the model server as a fastify instance that never
 * listens (`main.ts` listens; tests call `app.inject()`).
 *
 * Routes: KServe V1 (`/v1/models...`), Open Inference Protocol V2 REST (`/v2...`), the V2 model
 * repository extension (`/v2/repository/...`) and `/metrics`. Handlers are thin: they call
 * `InferenceCore`, which the gRPC service shares (`app.core`).
 */
import * as http from 'http';
import { performance } from 'perf_hooks';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions, LogController } from 'fastify';
import { PATHS } from '../_contract';
import { ServerConfig } from './config';
import { ERRORS, ServerError, serverError } from './errors';
import { createFastPath } from './http/fast-path';
import { registerRoutes } from './http/routes';
import { InferenceCore } from './inference/core';
import { MetricProtocol, ServerMetrics } from './metrics';
import { ModelRepository } from './models/repository';

export interface AppOptions {
  readonly config: ServerConfig;
  /** An existing core; by default one is built from `config`. */
  readonly core?: InferenceCore;
  readonly metrics?: ServerMetrics;
  /** fastify logger option; by default JSON logs at `config.logLevel`. */
  readonly logger?: FastifyServerOptions['logger'];
}

declare module 'fastify' {
  interface FastifyInstance {
    core: InferenceCore;
    metrics: ServerMetrics;
  }
  interface FastifyRequest {
    startedAt: number;
    metered: boolean;
  }
  interface FastifyContextConfig {
    /** Protocol label of the request metrics; routes without it are not metered. */
    protocol?: MetricProtocol;
  }
}

/** Builds the core (repository + metrics) from config. */
export function createCore(
  config: ServerConfig,
  metrics: ServerMetrics,
  onEvent?: (event: string, fields: Record<string, unknown>) => void,
): InferenceCore {
  const repository = new ModelRepository({
    modelDir: config.modelDir,
    modelName: config.modelName,
    mode: config.mode,
    memoryBudgetBytes: config.memoryBudgetBytes,
    events: metrics.repositoryEvents(onEvent),
  });
  return new InferenceCore({
    repository,
    limits: { maxBatchSize: config.maxBatchSize },
    inferenceTimeoutMs: config.requestTimeoutMs,
  });
}

/** Builds the fastify app; call `app.core.start()` to load the models. */
export function buildApp(options: AppOptions): FastifyInstance {
  const { config } = options;
  // Set once the core exists (below): the server is created first, inside Fastify().
  let fastPath: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | undefined;
  const app = Fastify({
    // The inference routes' hot path answers ordinary requests before fastify sees them
    // (`http/fast-path.ts`); the server keeps the settings fastify would give its own.
    serverFactory: (handler, opts) => {
      const server = http.createServer((req, res) => {
        if (!fastPath?.(req, res)) handler(req, res);
      });
      server.keepAliveTimeout = (opts as { keepAliveTimeout?: number }).keepAliveTimeout ?? 72_000;
      server.requestTimeout = config.requestTimeoutMs;
      return server;
    },
    logger: options.logger ?? { level: config.logLevel },
    // Per-request log lines cost throughput; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.maxBodyBytes,
    requestTimeout: config.requestTimeoutMs,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
  });
  const metrics = options.metrics ?? new ServerMetrics();
  const core = options.core ?? createCore(config, metrics, (event, fields) => {
    const level = event === 'model_load_failed' ? 'error' : 'info';
    app.log[level]({ event, ...fields }, event.replace(/_/g, ' '));
  });
  app.decorate('core', core);
  app.decorate('metrics', metrics);
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('metered', false);

  // Our own JSON parser: an empty body is `undefined` (routes whose body is optional accept
  // it, others fail their schema with a 400), and a parse error is our INVALID_JSON error.
  // Only JSON is accepted: drop fastify's text/plain parser, so other types get our 415.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.length === 0 || /^\s*$/.test(text)) {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(serverError(ERRORS.INVALID_JSON, (err as Error).message));
    }
  });

  // Request metrics for routes with a `protocol` config.
  app.addHook('onRequest', (request, _reply, done) => {
    const protocol = request.routeOptions.config.protocol;
    if (protocol) {
      request.startedAt = performance.now();
      request.metered = true;
      metrics.requestsInFlight.inc({ protocol });
    }
    done();
  });
  const finish = (request: FastifyRequest, code: number) => {
    if (!request.metered) {
      return;
    }
    request.metered = false;
    const protocol = request.routeOptions.config.protocol!;
    const name = (request.params as { name?: string } | undefined)?.name;
    // Only known model names become label values, so clients cannot blow up cardinality.
    const model = name === undefined ? '' : core.repository.get(name) ? name : '_unknown';
    metrics.requestsInFlight.dec({ protocol });
    metrics.recordRequest(model, protocol, code, (performance.now() - request.startedAt) / 1000);
  };
  app.addHook('onResponse', (request, reply, done) => {
    finish(request, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    finish(request, 499);
    done();
  });

  app.setErrorHandler((err, request, reply) => sendError(toServerError(err, request), request, reply));
  app.setNotFoundHandler((request, reply) => sendError(serverError(ERRORS.ROUTE_NOT_FOUND, request.method, request.url.split('?')[0].slice(0, 200)), request, reply));

  registerRoutes(app, core, metrics);
  // An in-process transformer or explainer hooks into fastify's request lifecycle (headers,
  // logs): such a predictor keeps every request on fastify.
  if (!config.component) {
    fastPath = createFastPath({
      core,
      metrics,
      maxBodyBytes: config.maxBodyBytes,
      logError: (fields, message) => app.log.error(fields, message),
    });
  }
  app.get(PATHS.metrics, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  return app;
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
