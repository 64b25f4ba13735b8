/**
 * One transformed request: client body -> `preprocess` -> predictor -> `postprocess` -> client.
 * The same pipeline runs in a transformer component (remote predictor) and inside a predictor
 * (in-process predictor client), so a module behaves the same in both places.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ERRORS, isServerError, ServerError, serverError } from '../errors';
import { withoutBinaryOutputs } from '../http/infer-reply';
import { outputsToPredictions } from '../inference/v1';
import {
  InferRequest, InferResponse, isV1Request, isV2Request, isV2Response, Transformer, TransformerContext, TransformerLogger,
  TransformerRequest, TransformerResponse, V1Request, V1Response,
} from '../sdk';
import { ComponentMetrics } from './metrics';
import { CallOptions, PredictorClient } from './predictor';

/** Incoming header values (node's shape). */
export type IncomingHeaders = Record<string, string | string[] | undefined>;

export interface PipelineOptions {
  readonly module: Transformer;
  readonly predictor: PredictorClient;
  /** Lower-case names of headers to forward to the predictor. */
  readonly propagateHeaders: readonly string[];
  readonly log: TransformerLogger & { child?(bindings: object): TransformerLogger };
  readonly metrics?: ComponentMetrics;
  /** Label value for a model name (bounded cardinality). */
  readonly modelLabel?: (name: string) => string;
}

/** The result of a transformed request plus the request id to return. */
export interface Transformed<T> {
  readonly body: T;
  readonly requestId: string;
}

/** Runs requests through a transformer module and a predictor. */
export class TransformPipeline {
  constructor(private readonly options: PipelineOptions) {}

  /** A V2 inference request (`/v2/models/<name>/infer`). */
  public async v2(name: string, version: string | undefined, request: InferRequest, headers: IncomingHeaders): Promise<Transformed<InferResponse>> {
    return this.run(name, version, 'v2', request, headers) as Promise<Transformed<InferResponse>>;
  }

  /** A V1 predict request (`/v1/models/<name>:predict`). */
  public async v1(name: string, body: V1Request, headers: IncomingHeaders): Promise<Transformed<V1Response>> {
    return this.run(name, undefined, 'v1', body, headers) as Promise<Transformed<V1Response>>;
  }

  private async run(name: string, version: string | undefined, protocol: 'v1' | 'v2', body: TransformerRequest, incoming: IncomingHeaders): Promise<Transformed<TransformerResponse>> {
    const { module, predictor } = this.options;
    const requestId = first(incoming['x-request-id']) || randomUUID();
    const forwarded: Record<string, string> = {};
    for (const h of this.options.propagateHeaders) {
      const v = first(incoming[h]);
      if (v !== undefined && v !== '') forwarded[h] = v;
    }
    forwarded['x-request-id'] = requestId;
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(incoming)) headers[k] = first(v);
    const context: TransformerContext = {
      modelName: name,
      modelVersion: version,
      protocol,
      predictorProtocol: predictor.protocol,
      requestId,
      headers,
      state: {},
      log: this.options.log,
      modelMetadata: () => predictor.modelMetadata(name, version),
    };
    const call: CallOptions = { headers: forwarded };

    let request: TransformerRequest = body;
    if (module.preprocess) {
      request = await this.step('preprocess', name, () => module.preprocess!(body, context));
    }
    let response: TransformerResponse;
    const started = performance.now();
    try {
      if (isV2Request(request)) {
        // The predictor answers the transformer in JSON; binary outputs are for the client.
        response = await predictor.infer(name, version, withoutBinaryOutputs(request), call);
      } else if (isV1Request(request)) {
        response = await predictor.predictV1(name, request, call);
      } else {
        throw serverError(ERRORS.TRANSFORMER_INVALID_RESULT, module.preprocess ? 'preprocess' : 'request', describe(request), 'a V1 {"instances": [...]} body or a V2 {"inputs": [...]} request');
      }
    } finally {
      const seconds = (performance.now() - started) / 1000;
      this.options.metrics?.predictorDuration.observe({ model: this.label(name), protocol: predictor.protocol }, seconds);
    }
    if (module.postprocess) {
      const predicted = response;
      response = await this.step('postprocess', name, () => module.postprocess!(predicted, context));
    }
    if (protocol === 'v1') {
      if (isV2Response(response)) return { body: { predictions: outputsToPredictions(response.outputs) }, requestId };
      if (response && Array.isArray((response as V1Response).predictions)) return { body: response, requestId };
      throw serverError(ERRORS.TRANSFORMER_INVALID_RESULT, 'postprocess', describe(response), 'a V1 {"predictions": [...]} body or a V2 response');
    }
    if (!isV2Response(response)) {
      throw serverError(ERRORS.TRANSFORMER_INVALID_RESULT, module.postprocess ? 'postprocess' : 'predictor', describe(response), 'a V2 {"outputs": [...]} response (the client used V2)');
    }
    return { body: response, requestId };
  }

  private async step<T>(step: 'preprocess' | 'postprocess', name: string, fn: () => T | Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await fn();
    } catch (err) {
      throw this.moduleError(step, err);
    } finally {
      this.options.metrics?.stepDuration.observe({ model: this.label(name), step }, (performance.now() - started) / 1000);
    }
  }

  private moduleError(step: string, err: unknown): ServerError {
    if (isServerError(err)) return err;
    const e = err as { isTransformerError?: boolean; statusCode?: unknown; message?: unknown };
    if (e && e.isTransformerError === true) {
      const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 400;
      const message = String(e.message ?? 'rejected by the transformer').slice(0, 500);
      return new ServerError({ ...ERRORS.TRANSFORMER_REJECTED, httpStatus: status }, message);
    }
    // The stack stays in our log; the client gets the step and the code.
    this.options.log.error({ event: 'transformer_failed', step, err: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : String(err) }, `transformer module failed in ${step}`);
    return serverError(ERRORS.TRANSFORMER_FAILED, step);
  }

  private label(name: string): string {
    return this.options.modelLabel ? this.options.modelLabel(name) : name;
  }
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object with keys [${Object.keys(v).slice(0, 5).join(', ')}]`;
  return `a ${typeof v}`;
}
