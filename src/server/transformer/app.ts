/**
 * The HTTP app of a transformer or explainer component (`serve --mode transformer|explainer`):
 * the same JSON parsing, error bodies, request metrics and `/metrics` as the predictor's
 * `buildApp`, with routes that call the predictor instead of a local model repository.
 *
 * Transformer routes: V2 health, server and model metadata (the predictor's), model ready (the
 * predictor's), `infer`; V1 models, model ready, `:predict`. Explainer routes: V2 health,
 * `:explain` (V1) and `/explain` (V2). Responses carry the request's `x-request-id`.
 */
import { performance } from 'node:perf_hooks';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PATHS } from '../../contract';
import { ServerConfig } from '../config';
import { ERRORS } from '../errors';
import { replyWithServerErrors } from '../http/error-replies';
import { sendInferReply } from '../http/infer-reply';
import { acceptJsonBodies } from '../http/json-body';
import { meterRequests, serveMetrics } from '../http/request-metrics';
import * as s from '../http/schemas';
import { serverOptions } from '../http/server-options';
import { SERVER_NAME, SERVER_VERSION } from '../inference/core';
import { InferRequest } from '../inference/types';
import { ServerMetrics } from '../metrics';
import { loggedCall } from '../payload-log/logged-call';
import { PayloadLogger } from '../payload-log/payload-logger';
import type { V1Request } from '../sdk';
import { TransformPipeline } from './pipeline';
import { PredictorClient } from './predictor';

/** Readiness and draining state shared by the app and the serve loop. */
export interface ComponentState {
  started: boolean;
  draining: boolean;
}

export interface ComponentAppOptions {
  readonly config: ServerConfig;
  readonly metrics: ServerMetrics;
  readonly state: ComponentState;
  readonly predictor: PredictorClient;
}

/** Headers forwarded to the predictor: the configured ones, present in the request. */
export function forwardedHeaders(names: readonly string[], headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of names) {
    const v = headers[h];
    const value = Array.isArray(v) ? v[0] : v;
    if (value !== undefined && value !== '') out[h] = value;
  }
  return out;
}

/** Builds the component app with health routes; add the transformer or explain routes to it. */
export function buildComponentApp(options: ComponentAppOptions): FastifyInstance {
  const { config, metrics, state, predictor } = options;
  const app = Fastify(serverOptions(config));
  app.decorate('metrics', metrics);
  acceptJsonBodies(app);
  meterRequests(app, metrics, (name) => (name === config.modelName ? name : '_other'));
  app.addHook('onRequest', (request, reply, done) => {
    const id = request.headers['x-request-id'];
    if (typeof id === 'string' && id !== '') reply.header('x-request-id', id);
    done();
  });
  replyWithServerErrors(app);

  // Ready: started, not draining, and the predictor has the model (checked at most once a second).
  let readyCache = { at: -Infinity, value: false };
  const predictorReady = async () => {
    const now = performance.now();
    if (now - readyCache.at > 1000) {
      readyCache = { at: now, value: await predictor.modelReady(config.modelName) };
    }
    return readyCache.value;
  };
  app.get(PATHS.live, { schema: { response: { 200: s.liveSchema, ...s.errorResponses } } }, async () => ({ live: true }));
  app.get(PATHS.ready, { schema: { response: { 200: s.readySchema, ...s.errorResponses } } }, async (_req, reply) => {
    if (!state.started || state.draining) {
      return reply.code(503).send({ error: state.draining ? 'server is shutting down' : 'server is not ready', code: ERRORS.MODEL_NOT_READY.code });
    }
    if (!(await predictorReady())) {
      return reply.code(503).send({ error: `predictor at ${predictor.target} does not have model '${config.modelName}' ready`, code: ERRORS.MODEL_NOT_READY.code });
    }
    return { ready: true };
  });
  serveMetrics(app, metrics);
  return app;
}

interface NameVersionParams { name: string; version?: string }

/** Adds the V1 and V2 inference routes of a transformer component. */
export function registerTransformerRoutes(
  app: FastifyInstance, pipeline: TransformPipeline, predictor: PredictorClient, config: ServerConfig, payloadLog?: PayloadLogger,
): void {
  const v1 = { protocol: 'v1' as const };
  const v2 = { protocol: 'v2' as const };
  app.get('/v2', { config: v2, schema: { response: { 200: s.serverMetadataSchema, ...s.errorResponses } } }, async () => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: [] }));
  const metadata = async (req: { params: NameVersionParams }) => predictor.modelMetadata(req.params.name, req.params.version);
  app.get<{ Params: NameVersionParams }>('/v2/models/:name', { config: v2, schema: { params: s.nameParams, response: { 200: s.modelMetadataSchema, ...s.errorResponses } } }, metadata);
  app.get<{ Params: NameVersionParams }>('/v2/models/:name/versions/:version', { config: v2, schema: { params: s.nameVersionParams, response: { 200: s.modelMetadataSchema, ...s.errorResponses } } }, metadata);
  const ready = async (req: { params: NameVersionParams }, reply: { code(c: number): unknown }) => {
    const name = req.params.name;
    if (!(await predictor.modelReady(name))) {
      reply.code(503);
      return { error: `model '${name}' is not ready at the predictor ${predictor.target}`, code: ERRORS.MODEL_NOT_READY.code };
    }
    return { name, ready: true };
  };
  app.get<{ Params: NameVersionParams }>('/v2/models/:name/ready', { config: v2, schema: { params: s.nameParams, response: { 200: s.modelReadySchema, ...s.errorResponses } } }, ready);
  const infer = async (req: FastifyRequest<{ Params: NameVersionParams; Body: InferRequest }>, reply: FastifyReply) => {
    const out = await loggedCall(payloadLog, req.params.name, req.body,
      () => pipeline.v2(req.params.name, req.params.version, req.body, req.headers), (o) => o.body);
    reply.header('x-request-id', out.requestId);
    // Binary outputs if the client asked for them (the binary tensor data extension).
    return sendInferReply(reply, req.body, out.body);
  };
  app.post<{ Params: NameVersionParams; Body: InferRequest }>('/v2/models/:name/infer', s.inferRouteOptions(s.nameParams), infer);
  app.post<{ Params: NameVersionParams; Body: InferRequest }>('/v2/models/:name/versions/:version/infer', s.inferRouteOptions(s.nameVersionParams), infer);

  app.get('/v1/models', { config: v1, schema: { response: { 200: s.v1ModelsSchema, ...s.errorResponses } } }, async () => ({ models: [config.modelName] }));
  app.get<{ Params: NameVersionParams }>('/v1/models/:name', { config: v1, schema: { params: s.nameParams, response: { 200: s.modelReadySchema, ...s.errorResponses } } }, ready);
  app.post<{ Params: { name: string }; Body: V1Request }>('/v1/models/:name(^[^:/]+)::predict', {
    config: v1,
    // A module may add top-level keys next to `predictions`: keep them.
    schema: {
      params: s.nameParams,
      body: s.v1PredictRequestSchema,
      response: { 200: { ...s.v1PredictResponseSchema, additionalProperties: true }, ...s.errorResponses },
    },
  }, async (req, reply) => {
    const out = await loggedCall(payloadLog, req.params.name, req.body, () => pipeline.v1(req.params.name, req.body, req.headers), (o) => o.body);
    reply.header('x-request-id', out.requestId);
    return out.body;
  });
}
