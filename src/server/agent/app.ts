/**
 * The agent's HTTP app (`serve --mode agent`): every request goes to the runtime
 * (`./upstream`) and its answer comes back unchanged, with three additions:
 *
 * - batching (`--max-batch-latency-ms` > 0): concurrent V1 `:predict` and V2 `/infer` requests to
 *   one model share one upstream request (`./batcher`, `./batch-merge`). A runtime error answer
 *   goes to every request of the batch with the runtime's status and body; an answer that does not
 *   fit the batch is a 502 `MS_ERR_UPSTREAM_BATCH_MISMATCH` naming the problem.
 * - payload logging (`--payload-log-url`): one request and one response event per client request
 *   (never per batch), through the server's `PayloadLogger`.
 * - the server's request metrics for `/v1/...` and `/v2/...` paths, and the batch sizes, on the
 *   agent's own `/metrics`.
 *
 * Readiness is the runtime's: `/v2/health/ready` and the model ready paths pass through (while the
 * agent drains, `/v2/health/ready` answers 503 itself). Request bodies are bounded by
 * `--max-body-bytes` (413); answers by the same bound per request (a larger one is a 502).
 */
import { performance } from 'node:perf_hooks';
import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { batchable, BatchProtocol, mergeRequests, splitAnswer, SplitError } from './batch-merge';
import { Batcher, BatchResult, Waiting } from './batcher';
import { AgentMetrics } from './metrics';
import { endToEndHeaders, Upstream } from './upstream';
import { PATHS } from '../../contract';
import { ServerConfig } from '../config';
import { ERRORS, serverError } from '../errors';
import { replyWithServerErrors } from '../http/error-replies';
import { serveMetrics } from '../http/request-metrics';
import { serverOptions } from '../http/server-options';
import { MetricProtocol, ServerMetrics } from '../metrics';
import { PayloadLogger } from '../payload-log/payload-logger';

const V1_PREDICT = /^\/v1\/models\/([^/:]+):predict$/;
const V2_INFER = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?\/infer$/;
const MODEL_OF_PATH = /^\/v[12]\/models\/([^/:]+)/;
const BINARY_HEADER = 'inference-header-content-length';

export interface AgentState {
  draining: boolean;
}

export interface AgentApp {
  readonly app: FastifyInstance;
  readonly upstream: Upstream;
  /** Sends waiting batches, stops the payload logger and the upstream pool (after `app.close()`). */
  close(): void;
}

/** Builds the agent's app for `config.agent`. */
export function buildAgentApp(config: ServerConfig, state: AgentState): AgentApp {
  const agentConfig = config.agent!;
  const metrics = new ServerMetrics();
  const agentMetrics = new AgentMetrics(metrics);
  const upstream = new Upstream(agentConfig.upstream, config.requestTimeoutMs);
  const log = config.payloadLog ? new PayloadLogger(config.payloadLog, metrics.registry) : undefined;
  const modelLabel = (name: string) => (name === config.modelName ? name : '_other');
  const maxAnswerBytes = config.maxBodyBytes;

  const app = Fastify(serverOptions(config));
  // More connections are closed at once: with one bounded body each, this bounds what waits in batches.
  app.server.maxConnections = config.httpMaxConnections;
  app.decorate('metrics', metrics);
  // Every body is passed on as the bytes that came (bounded by `bodyLimit`), whatever its type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => done(null, body));
  replyWithServerErrors(app);
  serveMetrics(app, metrics);

  const runBatch = async (key: string, batch: Waiting[]): Promise<void> => {
    const protocol = key.slice(0, 2) as BatchProtocol;
    const url = key.slice(3, key.indexOf('\n'));
    const rows = batch.reduce((n, w) => n + w.request.rows, 0);
    agentMetrics.recordBatch(modelLabel(decodeURIComponent(MODEL_OF_PATH.exec(url)?.[1] ?? '')), protocol, rows);
    if (batch.length === 1) {
      batch[0].resolve(await upstream.send('POST', url, batch[0].headers, batch[0].raw, maxAnswerBytes));
      return;
    }
    const merged = Buffer.from(JSON.stringify(mergeRequests(protocol, batch.map((w) => w.request))));
    // The first request's headers, without what is its own (its id) or what would hide the JSON (compression).
    const { 'x-request-id': _id, 'accept-encoding': _enc, ...headers } = batch[0].headers;
    const answer = await upstream.send('POST', url, { ...headers, 'content-type': 'application/json' }, merged, maxAnswerBytes * batch.length);
    if (answer.status < 200 || answer.status >= 300) {
      for (const w of batch) w.resolve(answer);
      return;
    }
    let parts: Array<Record<string, unknown>>;
    try {
      parts = splitAnswer(protocol, batch.map((w) => w.request), JSON.parse(answer.body.toString('utf8')));
    } catch (err) {
      const problem = err instanceof SplitError ? err.message : 'an answer that is not JSON';
      throw serverError(ERRORS.UPSTREAM_BATCH_MISMATCH, upstream.url, `${batch.length} requests (${rows} ${protocol === 'v1' ? 'instances' : 'rows'})`, problem);
    }
    // The runtime's request id names the batch: each client gets its own back (or none).
    const { 'content-encoding': _ce, 'x-request-id': _rid, ...answerHeaders } = answer.headers;
    parts.forEach((part, i) => {
      const id = batch[i].headers['x-request-id'];
      const own = { ...answerHeaders, 'content-type': 'application/json', ...(id !== undefined ? { 'x-request-id': id } : {}) };
      batch[i].resolve({ status: answer.status, headers: own, body: Buffer.from(JSON.stringify(part)) });
    });
  };
  const batcher = agentConfig.maxBatchLatencyMs > 0 ? new Batcher(config.maxBatchSize, agentConfig.maxBatchLatencyMs, runBatch) : undefined;

  const forward = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const url = request.url;
    const path = url.split('?')[0];
    const protocol: MetricProtocol | undefined = path.startsWith('/v1/') ? 'v1' : path.startsWith('/v2/') ? 'v2' : undefined;
    if (protocol) meter(reply, protocol, modelLabel(safeDecode(MODEL_OF_PATH.exec(path)?.[1] ?? '')), metrics);
    if (state.draining && path === PATHS.ready) {
      return reply.code(503).type('application/json').send({ error: 'the agent is shutting down', code: ERRORS.MODEL_NOT_READY.code });
    }
    const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const headers = endToEndHeaders(request.headers);
    const v1 = request.method === 'POST' ? V1_PREDICT.exec(path) : null;
    const v2 = request.method === 'POST' && !v1 ? V2_INFER.exec(path) : null;
    const kind: BatchProtocol | undefined = v1 ? 'v1' : v2 ? 'v2' : undefined;
    if (!kind || (!batcher && !log)) {
      return send(reply, await upstream.send(request.method, url, headers, raw, maxAnswerBytes));
    }
    const model = safeDecode((v1 ?? v2)![1]);
    // Parsed once, and only when batching or a kept payload event needs it.
    let json: { value: unknown } | undefined;
    const parsed = () => (json ??= { value: parseJson(raw) }).value;
    const id = log?.newId();
    log?.request(id!, model, () => parsed() ?? raw.toString('utf8'));
    const b = batcher && request.headers[BINARY_HEADER] === undefined && parsed() !== undefined ? batchable(kind, parsed()) : undefined;
    const result = b
      ? await batcher!.submit(`${kind} ${url}\n${b.compat}`, b, raw, headers)
      : await upstream.send(request.method, url, headers, raw, maxAnswerBytes);
    if (log && result.status >= 200 && result.status < 300) log.response(id!, model, () => parseJson(result.body) ?? result.body.toString('utf8'));
    return send(reply, result);
  };
  app.all('/*', forward);
  app.all('/', forward);

  return {
    app,
    upstream,
    close: () => {
      batcher?.flushAll();
      log?.close();
      upstream.close();
    },
  };
}

function send(reply: FastifyReply, result: BatchResult): FastifyReply {
  reply.code(result.status);
  for (const [name, value] of Object.entries(result.headers)) reply.header(name, value);
  return reply.send(result.body.length > 0 ? result.body : undefined);
}

/** Records the request in the server's request metrics once it is answered (499: the client left first). */
function meter(reply: FastifyReply, protocol: MetricProtocol, model: string, metrics: ServerMetrics): void {
  const startedAt = performance.now();
  const inFlight = metrics.inFlight(protocol);
  inFlight.value++;
  reply.raw.once('close', () => {
    inFlight.value--;
    const code = reply.raw.writableFinished ? reply.raw.statusCode : 499;
    metrics.recordRequest(model, protocol, code, (performance.now() - startedAt) / 1000);
  });
}

function parseJson(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
