/**
 * The HTTP app of `serve --mode router`: POST `GRAPH.path` runs the graph; V2 health paths,
 * `/metrics`. The body is read as bytes whatever its type (as KServe's router does) up to
 * `--max-body-bytes` (413 past it) and forwarded as is; the answer is the graph's, with
 * `x-request-id` and, when soft steps failed, `GRAPH.failedStepsHeader` (their names) and, in a
 * JSON-object answer, `GRAPH_ROUTER.failedStepsField` (node, step, status and reason of each).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import Fastify, { FastifyInstance, FastifyRequest } from 'fastify';
import { GRAPH, GRAPH_ROUTER, PATHS } from '../../contract';
import { ServerConfig } from '../config';
import { ERRORS } from '../errors';
import { FailedStep } from './answers';
import { GraphExecutor } from './executor';
import { replyWithServerErrors } from '../http/error-replies';
import { serveMetrics } from '../http/request-metrics';
import * as s from '../http/schemas';
import { serverOptions } from '../http/server-options';
import { InferenceCore } from '../inference/core';
import { ServerMetrics } from '../metrics';
import { PayloadLogger } from '../payload-log/payload-logger';

/** Readiness and draining, shared with the serve loop. */
export interface RouterState {
  started: boolean;
  draining: boolean;
}

export interface RouterAppOptions {
  readonly config: ServerConfig;
  readonly metrics: ServerMetrics;
  readonly state: RouterState;
  readonly executor: GraphExecutor;
  /** The graph's name in metrics and payload logs (`--model-name`). */
  readonly graphName: string;
  /** Headers forwarded to every step. */
  readonly propagateHeaders: readonly string[];
  /** Set when `model` steps run in process: ready waits for its models. */
  readonly core?: InferenceCore;
  readonly payloadLog?: PayloadLogger;
}

export function buildRouterApp(options: RouterAppOptions): FastifyInstance {
  const { config, metrics, state, executor, graphName, core, payloadLog } = options;
  const app = Fastify(serverOptions(config));
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => done(null, body));
  replyWithServerErrors(app);
  if (payloadLog) app.addHook('onClose', async () => payloadLog.close());

  app.get(PATHS.live, { schema: { response: { 200: s.liveSchema, ...s.errorResponses } } }, async () => ({ live: true }));
  app.get(PATHS.ready, { schema: { response: { 200: s.readySchema, ...s.errorResponses } } }, async (_req, reply) => {
    if (!state.started || state.draining || (core && !core.isReady())) {
      return reply.code(503).send({ error: state.draining ? 'server is shutting down' : 'the graph router is not ready', code: ERRORS.MODEL_NOT_READY.code });
    }
    return { ready: true };
  });
  serveMetrics(app, metrics);

  const protocol = GRAPH_ROUTER.metricProtocol;
  app.post(GRAPH.path, async (request, reply) => {
    const started = performance.now();
    metrics.inFlight(protocol).value++;
    let status = 500;
    try {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const requestId = first(request.headers['x-request-id']) || randomUUID();
      const headers: Record<string, string> = {};
      for (const h of options.propagateHeaders) {
        const v = first(request.headers[h]);
        if (v !== undefined && v !== '') headers[h] = v;
      }
      headers['x-request-id'] = requestId;
      const contentType = first(request.headers['content-type']) || 'application/json';
      const logId = payloadLog?.newId();
      if (payloadLog) payloadLog.request(logId!, graphName, () => parsedOrText(body));
      const result = await executor.run(body, contentType, headers);
      const { answer } = result;
      status = answer.status;
      let out = answer.body;
      if (result.failedSteps.length > 0) {
        reply.header(GRAPH.failedStepsHeader, result.failedSteps.map((f) => f.step).join(','));
        out = withFailedSteps(out, result.failedSteps);
      }
      if (payloadLog && status >= 200 && status <= 299) payloadLog.response(logId!, graphName, () => parsedOrText(out));
      reply.header('x-request-id', requestId);
      reply.code(status);
      if (answer.contentType) reply.type(answer.contentType);
      else if (isJson(out)) reply.type('application/json');
      return await reply.send(out);
    } finally {
      metrics.inFlight(protocol).value--;
      metrics.recordRequest(graphName, protocol, status, (performance.now() - started) / 1000);
    }
  });
  return app;
}

/** The answer with the failed soft steps added, when it is a JSON object; otherwise unchanged (the header says it). */
function withFailedSteps(body: Buffer, failed: readonly FailedStep[]): Buffer {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    return body;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return body;
  return Buffer.from(JSON.stringify({ ...(value as object), [GRAPH_ROUTER.failedStepsField]: failed }));
}

function parsedOrText(body: Buffer): unknown {
  const text = body.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isJson(body: Buffer): boolean {
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
