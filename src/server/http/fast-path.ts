/**
 * The inference hot path on plain `node:http`, in front of fastify.
 *
 * For a small model, fastify's routing, hook and reply pipeline cost more CPU than the model
 * itself, and a CPU-bound server's throughput is its CPU per request. So the two inference
 * routes, `POST /v2/models/<name>[/versions/<v>]/infer` and `POST /v1/models/<name>:predict`,
 * are answered here when the request is an ordinary one: a JSON body with a Content-Length
 * within the limit, while the server is not draining. Everything else (other routes and
 * methods, query strings, other content types, chunked bodies, oversized bodies, shutdown) is
 * handed to fastify untouched, so every error path keeps one implementation.
 *
 * Behaviour is the same as fastify's routes, by construction: the same core calls, the same
 * body schemas (compiled with the same ajv options), the same error table and JSON shape, the
 * same metrics. `test/server/fast-path.test.ts` checks the two paths answer alike.
 */
import { IncomingMessage, ServerResponse } from 'http';
import { performance } from 'perf_hooks';
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import { inferRequestSchema, v1PredictRequestSchema } from './schemas';
import { AJV_OPTIONS } from './server-options';
import { ERRORS, ServerError, serverError } from '../errors';
import { InferenceCore } from '../inference/core';
import { InferRequest } from '../inference/types';
import { MetricProtocol, ServerMetrics } from '../metrics';

const V2_INFER = /^\/v2\/models\/([^/?:]+)(?:\/versions\/([^/?]+))?\/infer$/;
const V1_PREDICT = /^\/v1\/models\/([^/?:]+):predict$/;
const JSON_TYPE = /^application\/json\s*(;|$)/i;
const HEADERS = { 'content-type': 'application/json; charset=utf-8' };

export interface FastPathOptions {
  readonly core: InferenceCore;
  readonly metrics: ServerMetrics;
  readonly maxBodyBytes: number;
  /** Logs a 5xx answer (as fastify's error handler does). */
  readonly logError: (fields: Record<string, unknown>, message: string) => void;
}

/** Returns a handler that answers a request and returns true, or returns false to pass it on. */
export function createFastPath(options: FastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  // The options fastify's own validator compiler uses (`useDefaults` is fastify's default), so
  // both paths accept and reject the same bodies.
  const ajv = new Ajv({ ...AJV_OPTIONS, useDefaults: true });
  const validateV2 = ajv.compile(inferRequestSchema);
  const validateV1 = ajv.compile(v1PredictRequestSchema);
  const { core, metrics, maxBodyBytes } = options;

  return (req, res) => {
    if (req.method !== 'POST' || core.isDraining) return false;
    const url = req.url!;
    let protocol: MetricProtocol;
    let match = V2_INFER.exec(url);
    if (match) {
      protocol = 'v2';
    } else {
      match = V1_PREDICT.exec(url);
      if (!match) return false;
      protocol = 'v1';
    }
    const length = Number(req.headers['content-length']);
    if (!(length > 0) || length > maxBodyBytes || !JSON_TYPE.test(req.headers['content-type'] ?? '')) return false;

    const startedAt = performance.now();
    const name = decodeURIComponent(match[1]);
    const version = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    metrics.requestsInFlight.inc({ protocol });
    let finished = false;
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      metrics.requestsInFlight.dec({ protocol });
      metrics.recordRequest(core.repository.get(name) ? name : '_unknown', protocol, code, (performance.now() - startedAt) / 1000);
    };
    const send = (status: number, body: string) => {
      finish(status);
      res.writeHead(status, HEADERS);
      res.end(body);
    };
    const fail = (err: unknown) => {
      const e = err instanceof ServerError ? err : serverError(ERRORS.INTERNAL);
      if (e.statusCode >= 500 && e.statusCode !== 503) {
        options.logError({ event: 'request_failed', code: e.code, url, err: err instanceof ServerError ? undefined : err }, e.message);
      }
      send(e.statusCode, JSON.stringify(e.toJSON()));
    };

    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    });
    // A client that goes away before the answer is a 499, as in fastify's onRequestAbort.
    res.on('close', () => finish(499));
    req.on('end', () => {
      if (received !== length) {
        fail(serverError(ERRORS.INVALID_REQUEST, 'body length does not match Content-Length'));
        return;
      }
      const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text.trim().length === 0 ? undefined : JSON.parse(text);
      } catch (err) {
        fail(serverError(ERRORS.INVALID_JSON, (err as Error).message));
        return;
      }
      const validate = protocol === 'v2' ? validateV2 : validateV1;
      if (!validate(body)) {
        fail(serverError(ERRORS.INVALID_REQUEST, schemaMessage(validate)));
        return;
      }
      const answer = protocol === 'v2'
        ? core.infer(name, version, body as unknown as InferRequest)
        : core.predictV1(name, body);
      answer.then((response) => send(200, JSON.stringify(response)), fail);
    });
    return true;
  };
}

/** fastify's wording of a body schema failure (`body/inputs/0 must have ...`). */
function schemaMessage(validate: ValidateFunction): string {
  const errors = validate.errors as ErrorObject[];
  return errors.map((e) => `body${e.instancePath} ${e.message}`).join(', ');
}
