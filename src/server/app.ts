/**
 * `buildApp(options)`: the HTTP side of the model server as a fastify instance that never
 * listens (`main.ts` listens; tests call `app.inject()`).
 *
 * Routes: KServe V1 (`/v1/models...`), Open Inference Protocol V2 REST (`/v2...`), the V2 model
 * repository extension (`/v2/repository/...`) and `/metrics`. Handlers are thin: they call
 * `InferenceCore`, which the gRPC service shares (`app.core`).
 */
import * as http from 'http';
import Fastify, { FastifyInstance, FastifyServerOptions } from 'fastify';
import { ServerConfig } from './config';
import { replyWithServerErrors } from './http/error-replies';
import { createFastPath } from './http/fast-path';
import { GracefulClose, installGracefulClose } from './http/graceful-close';
import { InferHotPath } from './http/infer-hot-path';
import { acceptJsonBodies } from './http/json-body';
import { LazySchemaCompilers } from './http/lazy-schema-compilers';
import { attachLeanHttp1, LeanHttp1 } from './http/lean-http1';
import { createPipeliningBound } from './http/pipelining-bound';
import { answerExpectContinue, refuseUnsafeHead } from './http/request-guards';
import { meterRequests, serveMetrics } from './http/request-metrics';
import { registerRoutes } from './http/routes';
import { serverOptions } from './http/server-options';
import { InferenceCore } from './inference/core';
import { ServerMetrics } from './metrics';
import { modelDirTimeoutReason } from './models/model-dir-wait';
import { ModelRepository } from './models/repository';
import { PayloadLogger } from './payload-log/payload-logger';

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
    /** The REST server's close (`http/graceful-close.ts`); `main.ts` sets its linger on SIGTERM. */
    gracefulClose: GracefulClose;
    /** Compiles the route schemas not compiled yet (they compile on first use); `serve` calls it once ready. */
    warmSchemas(): Promise<void>;
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
    ...(config.modelDirWaitSeconds > 0 ? { missingDirReason: modelDirTimeoutReason(config.modelDir, config.modelDirWaitSeconds) } : {}),
    events: metrics.repositoryEvents(onEvent),
  });
  return new InferenceCore({
    repository,
    limits: { maxBatchSize: config.maxBatchSize },
    inferenceTimeoutMs: config.requestTimeoutMs,
    faults: config.faults,
    ...(config.payloadLog ? { payloadLog: new PayloadLogger(config.payloadLog, metrics.registry) } : {}),
  });
}

/** Builds the fastify app; call `app.core.start()` to load the models. */
export function buildApp(options: AppOptions): FastifyInstance {
  const { config } = options;
  // Set once the core exists (below): the server is created first, inside Fastify().
  let fastPath: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean) | undefined;
  const schemas = new LazySchemaCompilers();
  let lean: LeanHttp1 | undefined;
  let gracefulClose: GracefulClose | undefined;
  const app = Fastify({
    // The inference routes' hot path answers ordinary requests before fastify sees them
    // (`http/lean-http1.ts` on new connections, `http/fast-path.ts` on node:http's); the server
    // keeps the settings fastify would give its own.
    serverFactory: (handler, opts) => {
      const boundPipelining = createPipeliningBound(config.maxUnreadResponseBytes);
      const server = http.createServer((req, res) => {
        if (refuseUnsafeHead(req, res)) return;
        boundPipelining(req, res);
        if (!fastPath?.(req, res)) handler(req, res);
      });
      server.keepAliveTimeout = (opts as { keepAliveTimeout?: number }).keepAliveTimeout ?? 72_000;
      server.requestTimeout = config.requestTimeoutMs;
      // More connections are closed at once: with the per-connection bounds, this bounds memory.
      server.maxConnections = config.httpMaxConnections;
      answerExpectContinue(server, config.maxBodyBytes);
      gracefulClose = installGracefulClose(server, { onClosing: () => lean?.beginClose() });
      return server;
    },
    ...serverOptions(config, options.logger),
    schemaController: { compilersFactory: schemas.compilersFactory },
  });
  let hotPath: InferHotPath | undefined;
  app.decorate('warmSchemas', async () => {
    await schemas.warm();
    hotPath?.warm();
  });
  const metrics = options.metrics ?? new ServerMetrics();
  const core = options.core ?? createCore(config, metrics, (event, fields) => {
    const level = event === 'model_load_failed' ? 'error' : 'info';
    app.log[level]({ event, ...fields }, event.replace(/_/g, ' '));
  });
  app.decorate('core', core);
  app.addHook('onClose', async () => core.closePayloadLog());
  app.decorate('metrics', metrics);
  app.decorate('gracefulClose', gracefulClose!);
  acceptJsonBodies(app);
  meterRequests(app, metrics, (name) => (core.repository.get(name) ? name : '_unknown'));
  replyWithServerErrors(app);

  registerRoutes(app, core, metrics);
  // An in-process transformer or explainer hooks into fastify's request lifecycle (headers,
  // logs): such a predictor keeps every request on fastify.
  if (!config.component) {
    hotPath = new InferHotPath({ core, metrics, logError: (fields, message) => app.log.error(fields, message) });
    fastPath = createFastPath({ hotPath, maxBodyBytes: config.maxBodyBytes });
    // A mesh member decides placement on node:http's requests (`mesh/node.ts`), so its
    // connections stay there; `--http-front node` keeps every connection there too.
    if (!config.mesh && config.httpFront === 'lean') {
      lean = attachLeanHttp1(app.server, {
        hotPath,
        maxBodyBytes: config.maxBodyBytes,
        keepAliveTimeoutMs: app.server.keepAliveTimeout,
        requestTimeoutMs: config.requestTimeoutMs,
        maxUnreadResponseBytes: config.maxUnreadResponseBytes,
      });
    }
  }
  serveMetrics(app, metrics);
  return app;
}
