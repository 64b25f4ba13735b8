/**
 * HTTP routes: thin adapters from KServe V1 / OIP V2 REST to `InferenceCore`.
 */
import { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { withBinaryInputs } from './binary-tensors';
import { sendInferReply } from './infer-reply';
import { acceptBinaryInferBodies, binaryTensorBytes, INFERENCE_HEADER_CONSTRAINT } from './json-body';
import { PATHS } from '../../contract';
import { ERRORS, serverError } from '../errors';
import * as s from './schemas';
import { InferenceCore } from '../inference/core';
import { InferRequest } from '../inference/types';
import { ServerMetrics } from '../metrics';

interface NameParams { name: string }
interface NameVersionParams { name: string; version?: string }

/** Registers every V1, V2 and repository route on `app`. */
export function registerRoutes(app: FastifyInstance, core: InferenceCore, _metrics: ServerMetrics): void {
  const v1 = { protocol: 'v1' as const };
  const v2 = { protocol: 'v2' as const };

  // ---- V2 health and server metadata ----
  app.get(PATHS.live, { schema: { response: { 200: s.liveSchema, ...s.errorResponses } } }, async () => ({ live: core.isLive() }));
  app.get(PATHS.ready, { schema: { response: { 200: s.readySchema, ...s.errorResponses } } }, async (_req, reply) => {
    if (!core.isReady()) {
      return reply.code(503).send({ error: core.isDraining ? 'server is shutting down' : 'server is not ready', code: ERRORS.MODEL_NOT_READY.code });
    }
    return { ready: true };
  });
  app.get('/v2', { config: v2, schema: { response: { 200: s.serverMetadataSchema, ...s.errorResponses } } }, async () => core.serverMetadata());

  // ---- V2 models ----
  const metadata = async (req: { params: NameVersionParams }) => core.modelMetadata(req.params.name, req.params.version);
  const metadataOpts = (params: object) => ({ config: v2, schema: { params, response: { 200: s.modelMetadataSchema, ...s.errorResponses } } });
  app.get<{ Params: NameVersionParams }>('/v2/models/:name', metadataOpts(s.nameParams), metadata);
  app.get<{ Params: NameVersionParams }>('/v2/models/:name/versions/:version', metadataOpts(s.nameVersionParams), metadata);

  const ready = async (req: { params: NameVersionParams }, reply: { code(c: number): unknown }) => {
    const { name, version } = req.params;
    if (!core.modelReady(name, version)) {
      const entry = core.resolve(name, version);
      reply.code(503);
      return { error: `model '${name}' is not ready (state ${entry.state}${entry.reason ? `: ${entry.reason}` : ''})`, code: ERRORS.MODEL_NOT_READY.code };
    }
    return { name, ready: true };
  };
  // Not metered: the kubelet's readiness and startup probes call this every few seconds, and
  // its 503s while a model loads would count as server errors.
  const readyOpts = (params: object) => ({ schema: { params, response: { 200: s.modelReadySchema, ...s.errorResponses } } });
  app.get<{ Params: NameVersionParams }>('/v2/models/:name/ready', readyOpts(s.nameParams), ready);
  app.get<{ Params: NameVersionParams }>('/v2/models/:name/versions/:version/ready', readyOpts(s.nameVersionParams), ready);

  type InferRoute = { Params: NameVersionParams; Body: InferRequest };
  const infer = async (req: FastifyRequest<InferRoute>, reply: FastifyReply) => {
    const response = await core.infer(req.params.name, req.params.version, req.body);
    return sendInferReply(reply, req.body, response);
  };
  app.post<InferRoute>('/v2/models/:name/infer', s.inferRouteOptions(s.nameParams), infer);
  app.post<InferRoute>('/v2/models/:name/versions/:version/infer', s.inferRouteOptions(s.nameVersionParams), infer);

  // ---- V2 binary tensor data extension ----
  // Twins of the infer routes for requests with an Inference-Header-Content-Length header, in
  // their own context so that their body parser (`./json-body`) reads any content type as binary.
  const binaryInfer = async (req: FastifyRequest<InferRoute>, reply: FastifyReply) => {
    const request = withBinaryInputs(req.body, binaryTensorBytes(req));
    const response = await core.infer(req.params.name, req.params.version, request);
    return sendInferReply(reply, request, response);
  };
  const binaryOpts = (params: object) => ({ ...s.binaryInferRouteOptions(params), constraints: { [INFERENCE_HEADER_CONSTRAINT.name]: 'present' } });
  app.addConstraintStrategy(INFERENCE_HEADER_CONSTRAINT);
  void app.register(async (binary) => {
    acceptBinaryInferBodies(binary);
    binary.post<InferRoute>('/v2/models/:name/infer', binaryOpts(s.nameParams), binaryInfer);
    binary.post<InferRoute>('/v2/models/:name/versions/:version/infer', binaryOpts(s.nameVersionParams), binaryInfer);
  });

  // ---- V2 model repository extension ----
  app.post<{ Body: { ready?: boolean } | undefined }>('/v2/repository/index', {
    config: v2,
    schema: { response: { 200: s.repositoryIndexResponseSchema, ...s.errorResponses } },
  }, async (req) => {
    const body = req.body;
    if (body !== undefined && (body === null || typeof body !== 'object' || Array.isArray(body) || (body.ready !== undefined && typeof body.ready !== 'boolean'))) {
      throw serverError(ERRORS.INVALID_REQUEST, 'body must be empty or {"ready": boolean}');
    }
    const all = core.index();
    return body?.ready ? all.filter((m) => m.state === 'READY') : all;
  });
  const actionOpts = { config: v2, schema: { params: s.nameParams, response: { 200: s.repositoryActionResponseSchema, ...s.errorResponses } } };
  app.post<{ Params: NameParams }>('/v2/repository/models/:name/load', actionOpts, async (req) => {
    await core.load(req.params.name);
    return { name: req.params.name, load: true };
  });
  app.post<{ Params: NameParams }>('/v2/repository/models/:name/unload', actionOpts, async (req) => {
    await core.unload(req.params.name);
    return { name: req.params.name, unload: true };
  });

  // ---- KServe V1 ----
  // Server liveness: KServe's server answers `GET /` so, and its Python client checks it.
  app.get('/', { schema: { response: { 200: s.v1ServerLiveSchema, ...s.errorResponses } } }, async () => ({ status: 'alive' }));
  app.get('/v1/models', { config: v1, schema: { response: { 200: s.v1ModelsSchema, ...s.errorResponses } } }, async () => ({ models: core.modelNames() }));
  app.get<{ Params: NameParams }>('/v1/models/:name', { config: v1, schema: { params: s.nameParams, response: { 200: s.modelReadySchema, ...s.errorResponses } } }, ready);
  // A regex parameter, then `::` (fastify's escape for a literal ':'), matches `<name>:predict`.
  app.post<{ Params: NameParams; Body: unknown }>('/v1/models/:name(^[^:/]+)::predict', {
    config: v1,
    schema: { params: s.nameParams, body: s.v1PredictRequestSchema, response: { 200: s.v1PredictResponseSchema, ...s.errorResponses } },
  }, async (req) => core.predictV1(req.params.name, req.body));
}

