/**
 * Entry points `serve` calls for the transformer and explainer:
 *
 * - `serveComponent(config)`: `serve --mode transformer|explainer`, a separate component that
 *   calls the predictor at `--predictor-host` over `--predictor-protocol`.
 * - `installInProcess(app, config)`: a predictor given `--transformer-module` and/or
 *   `--explainer-method` runs them in its own process: the module wraps the core's `infer` and
 *   `predictV1` (so V1, V2 REST and gRPC requests all go through it), and the explain routes
 *   call the core directly. No second component, no network hop.
 *
 * Startup: a module or background data set that cannot be loaded is a startup error: one log
 * line `{"event":"startup_failed"}` plus a line on stderr, exit code 1.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { FastifyInstance } from 'fastify';
import { ServerConfig } from '../config';
import { Background, BackgroundError, loadBackground } from '../explainer/background';
import { Explainer } from '../explainer/explainer';
import { registerExplainRoutes } from '../explainer/routes';
import { InferenceCore } from '../inference/core';
import { listenOn, logLine, stopOnSignal } from '../lifecycle';
import { ServerMetrics } from '../metrics';
import { PayloadLogger } from '../payload-log/payload-logger';
import type { Transformer, TransformerLogger, V1Request } from '../sdk';
import { buildComponentApp, ComponentState, forwardedHeaders, registerTransformerRoutes } from './app';
import { ComponentMetrics } from './metrics';
import { loadTransformerModule, TransformerLoadError } from './module';
import { IncomingHeaders, TransformPipeline } from './pipeline';
import { createPredictorClient, InProcessPredictor, PredictorClient } from './predictor';

function startupFailed(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  logLine(50, { event: 'startup_failed' }, message);
  process.stderr.write(`cdk8s-model-server serve: ${message}\n`);
}

function moduleLogger(log: FastifyInstance['log']): TransformerLogger {
  const child = log.child({ component: 'transformer-module' });
  return {
    info: (fields, message) => child.info(fields, message),
    warn: (fields, message) => child.warn(fields, message),
    error: (fields, message) => child.error(fields, message),
  };
}

/** Loads the transformer module and the explainer's background data; undefined after a (logged) startup error. */
async function loadParts(config: ServerConfig): Promise<{ module?: Transformer; background?: Background } | undefined> {
  const c = config.component!;
  try {
    const module = c.transformerModule !== undefined ? await loadTransformerModule(c.transformerModule) : undefined;
    const background = c.explainer ? loadBackground(c.explainer.background, config.modelDir, c.explainer.maxBackground, c.explainer.seed) : undefined;
    return { module, background };
  } catch (err) {
    if (err instanceof TransformerLoadError || err instanceof BackgroundError) {
      startupFailed(err);
      return undefined;
    }
    throw err;
  }
}

/** `serve --mode transformer|explainer`; resolves with the exit code once stopped. */
export async function serveComponent(config: ServerConfig): Promise<number> {
  const component = config.component!;
  const parts = await loadParts(config);
  if (!parts) return 1;
  const metrics = new ServerMetrics();
  const componentMetrics = new ComponentMetrics(metrics);
  const predictor = createPredictorClient(component.predictorProtocol, component.predictorHost!, config.requestTimeoutMs);
  const state: ComponentState = { started: false, draining: false };
  const app = buildComponentApp({ config, metrics, state, predictor });
  const log = app.log;
  // The component logs its own calls (ce-component: transformer or explainer), as KServe's agent beside it would.
  const payloadLog = config.payloadLog ? new PayloadLogger(config.payloadLog, metrics.registry) : undefined;
  app.addHook('onClose', async () => payloadLog?.close());
  if (component.kind === 'transformer') {
    const pipeline = new TransformPipeline({
      module: parts.module!,
      predictor,
      propagateHeaders: component.propagateHeaders,
      log: moduleLogger(log),
      metrics: componentMetrics,
      modelLabel: (name) => (name === config.modelName ? name : '_other'),
    });
    registerTransformerRoutes(app, pipeline, predictor, config, payloadLog);
  } else {
    const explainer = new Explainer(predictor, component.explainer!, parts.background!, componentMetrics);
    registerExplainRoutes(app, explainer, (h) => forwardedHeaders(component.propagateHeaders, h), payloadLog);
  }

  const stopped = stopOnSignal(config, {
    log,
    drain: () => {
      state.draining = true;
    },
    close: async () => {
      await app.close();
      await predictor.close();
    },
  });

  const httpPort = await listenOn(app, config.host, config.httpPort);
  log.info({
    event: 'listening',
    httpPort,
    component: component.kind,
    predictorHost: component.predictorHost,
    predictorProtocol: component.predictorProtocol,
    transformerModule: component.transformerModule,
    background: parts.background
      ? { source: parts.background.source, rows: parts.background.rows.length, totalRows: parts.background.totalRows }
      : undefined,
  }, 'listening');
  state.started = true;
  log.info({ event: 'ready', component: component.kind }, `${component.kind} ready`);
  return stopped;
}

/**
 * Installs the in-process transformer and explainer into a predictor's app (before it
 * listens). Resolves false after logging a startup error.
 */
export async function installInProcess(app: FastifyInstance, config: ServerConfig): Promise<boolean> {
  const component = config.component;
  if (!component || component.kind !== 'predictor') return true;
  const parts = await loadParts(config);
  if (!parts) return false;
  const core: InferenceCore = app.core;
  const predictor: PredictorClient = new InProcessPredictor(core, core.infer, core.predictV1);
  const componentMetrics = new ComponentMetrics(app.metrics);
  if (parts.module) {
    // The request's headers reach the module through the async context of the request.
    const requestHeaders = new AsyncLocalStorage<IncomingHeaders>();
    app.addHook('onRequest', (request, _reply, done) => requestHeaders.run(request.headers, done));
    const pipeline = new TransformPipeline({
      module: parts.module,
      predictor,
      propagateHeaders: component.propagateHeaders,
      log: moduleLogger(app.log),
      metrics: componentMetrics,
      modelLabel: (name) => (core.repository.get(name) ? name : '_unknown'),
    });
    core.infer = async (name, version, request) => (await pipeline.v2(name, version, request, requestHeaders.getStore() ?? {})).body;
    core.predictV1 = async (name, body) => {
      const out = await pipeline.v1(name, body as V1Request, requestHeaders.getStore() ?? {});
      return out.body as { predictions: unknown[] };
    };
    app.log.info({ event: 'transformer_in_process', module: component.transformerModule }, 'transformer module runs in process');
  }
  if (component.explainer && parts.background) {
    registerExplainRoutes(app, new Explainer(predictor, component.explainer, parts.background, componentMetrics), () => ({}));
    app.log.info({ event: 'explainer_in_process', method: component.explainer.method, background: parts.background.source, rows: parts.background.rows.length }, 'explainer runs in process');
  }
  return true;
}
