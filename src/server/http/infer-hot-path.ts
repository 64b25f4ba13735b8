/**
 * The two REST inference routes, independent of the HTTP stack that carries them:
 * `POST /v2/models/<name>[/versions/<v>]/infer` and `POST /v1/models/<name>:predict`.
 *
 * Both hot-path transports call this: the lean HTTP/1.1 front (`./lean-http1`) and the
 * `node:http` fast path (`./fast-path`). Behaviour is fastify's, by construction: the same core
 * calls, the same body schemas (compiled with the same ajv options), the same error table and
 * JSON shape, the same metrics. `test/server/fast-path.test.ts` checks the paths answer alike.
 */
import { performance } from 'perf_hooks';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { inferRequestSchema, v1PredictRequestSchema } from './schemas';
import { AJV_OPTIONS } from './server-options';
import { ERRORS, ServerError, serverError } from '../errors';
import { encodeInferReply, InferReply, JSON_CONTENT_TYPE } from './infer-reply';
import { InferenceCore } from '../inference/core';
import { InferRequest } from '../inference/types';
import { MetricProtocol, ServerMetrics } from '../metrics';
import { Cancellation } from '../models/batcher';

/** A JSON body's Content-Type (parameters such as a charset allowed), as fastify's parser takes it. */
export const JSON_CONTENT_TYPE_PATTERN = /^application\/json\s*(;|$)/i;

const V2_INFER = /^\/v2\/models\/([^/?:]+)(?:\/versions\/([^/?]+))?\/infer$/;
const V1_PREDICT = /^\/v1\/models\/([^/?:]+):predict$/;

/** A request target that names one of the inference routes. */
export interface InferRoute {
  readonly protocol: MetricProtocol;
  readonly name: string;
  readonly version?: string;
}

/**
 * The inference route `url` names (no query string allowed), or undefined: also for a malformed
 * percent-escape, which fastify then answers with its 400.
 */
export function matchInferRoute(url: string): InferRoute | undefined {
  try {
    const v2 = V2_INFER.exec(url);
    if (v2) return { protocol: 'v2', name: decode(v2[1]), version: v2[2] === undefined ? undefined : decode(v2[2]) };
    const v1 = V1_PREDICT.exec(url);
    return v1 ? { protocol: 'v1', name: decode(v1[1]) } : undefined;
  } catch {
    return undefined; // URIError
  }
}

/** `decodeURIComponent`, skipped for the usual names without escapes. */
function decode(segment: string): string {
  return segment.includes('%') ? decodeURIComponent(segment) : segment;
}

/** Where an answer goes: status and the encoded body (JSON, or the binary tensor extension's). */
export type SendAnswer = (status: number, reply: InferReply) => void;

export interface InferHotPathOptions {
  readonly core: InferenceCore;
  readonly metrics: ServerMetrics;
  /** Logs a 5xx answer (as fastify's error handler does). */
  readonly logError: (fields: Record<string, unknown>, message: string) => void;
}

/** Answers inference requests whose route is known and whose body has been read. */
export class InferHotPath {
  private validators?: { readonly v2: ValidateFunction; readonly v1: ValidateFunction };

  constructor(private readonly options: InferHotPathOptions) {}

  /**
   * The body validators, compiled on first use (or by `warm`), not at start-up: compiling is a
   * noticeable part of the cold start. The options are the ones fastify's own validator compiler
   * uses (`useDefaults` is fastify's default), so both paths accept and reject the same bodies.
   */
  public warm(): { readonly v2: ValidateFunction; readonly v1: ValidateFunction } {
    if (!this.validators) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { default: Ajv } = require('ajv') as typeof import('ajv');
      const ajv = new Ajv({ ...AJV_OPTIONS, useDefaults: true });
      this.validators = { v2: ajv.compile(inferRequestSchema), v1: ajv.compile(v1PredictRequestSchema) };
    }
    return this.validators;
  }

  /** Whether requests should go to fastify instead (shutdown keeps one path for every answer). */
  public get draining(): boolean {
    return this.options.core.isDraining;
  }

  /**
   * Starts one request (counted in flight from now); call `answer` with the body, or `abort` if
   * the client went away first. Whichever comes first counts; the other does nothing.
   */
  public begin(route: InferRoute, send: SendAnswer): InferCall {
    return new InferCall(this, route, send);
  }

  /** @internal */
  public started(protocol: MetricProtocol): void {
    this.options.metrics.inFlight(protocol).value++;
  }

  /** @internal */
  public finished(call: InferCall, code: number): void {
    const { core, metrics } = this.options;
    metrics.inFlight(call.route.protocol).value--;
    const name = call.route.name;
    metrics.recordRequest(core.repository.get(name) ? name : '_unknown', call.route.protocol, code, (performance.now() - call.startedAt) / 1000);
  }

  /** @internal Parses, validates and runs a request body; settles `call` exactly once. */
  public run(call: InferCall, text: string): void {
    let body: unknown;
    try {
      body = isBlank(text) ? undefined : JSON.parse(text);
    } catch (err) {
      call.fail(serverError(ERRORS.INVALID_JSON, (err as Error).message));
      return;
    }
    const { route } = call;
    const validate = route.protocol === 'v2' ? this.warm().v2 : this.warm().v1;
    if (!validate(body)) {
      call.fail(serverError(ERRORS.INVALID_REQUEST, schemaMessage(validate)));
      return;
    }
    const { core } = this.options;
    if (route.protocol === 'v2') {
      const request = body as unknown as InferRequest;
      core.infer(route.name, route.version, request, call.cancellation)
        .then((response) => call.send(200, encodeInferReply(request, response)), (err) => call.fail(err));
    } else {
      core.predictV1(route.name, body, call.cancellation).then((response) => call.send(200, jsonReply(response)), (err) => call.fail(err));
    }
  }

  /** @internal */
  public logError(fields: Record<string, unknown>, message: string): void {
    this.options.logError(fields, message);
  }
}

/** One request on the hot path. */
export class InferCall {
  public readonly startedAt = performance.now();
  /** Set when the client leaves: a request still queued for the model is dropped. */
  public readonly cancellation: Cancellation = { cancelled: false };
  private done = false;

  constructor(private readonly path: InferHotPath, public readonly route: InferRoute, private readonly sendAnswer: SendAnswer) {
    path.started(route.protocol);
  }

  /** Runs the request with its body (UTF-8 text). */
  public answer(body: string): void {
    if (!this.done) this.path.run(this, body);
  }

  /** The client went away before the answer: a 499, as in fastify's onRequestAbort. */
  public abort(): void {
    if (this.done) return;
    this.done = true;
    this.cancellation.cancelled = true;
    this.path.finished(this, 499);
  }

  /** @internal */
  public send(status: number, reply: InferReply): void {
    if (this.done) return;
    this.done = true;
    this.path.finished(this, status);
    this.sendAnswer(status, reply);
  }

  /** Answers with the error's status and JSON shape; unknown errors are a logged 500. */
  public fail(err: unknown): void {
    const e = err instanceof ServerError ? err : serverError(ERRORS.INTERNAL);
    if (e.statusCode >= 500 && e.statusCode !== 503) {
      const { route } = this;
      this.path.logError({ event: 'request_failed', code: e.code, model: route.name, protocol: route.protocol, err: err instanceof ServerError ? undefined : err }, e.message);
    }
    this.send(e.statusCode, jsonReply(e.toJSON()));
  }
}

function jsonReply(value: unknown): InferReply {
  return { contentType: JSON_CONTENT_TYPE, body: JSON.stringify(value) };
}

/** Empty or all-whitespace: no body, as in fastify's JSON parser (`./json-body`). */
const BLANK = /^\s*$/;
function isBlank(text: string): boolean {
  return BLANK.test(text);
}

/** fastify's wording of a body schema failure (`body/inputs/0 must have ...`). */
function schemaMessage(validate: ValidateFunction): string {
  const errors = validate.errors as ErrorObject[];
  return errors.map((e) => `body${e.instancePath} ${e.message}`).join(', ');
}
