/**
 * The transformer SDK: types and helpers for the module a transformer runs.
 *
 * A transformer module is a CommonJS or ES module that exports `preprocess` and/or
 * `postprocess` (each optional, sync or async), either as named exports or as the default
 * export returned by `defineTransformer`:
 *
 * ```ts
 * import { defineTransformer, isV1Request, TransformerError } from 'cdk8s-model-serving/server/sdk';
 *
 * export default defineTransformer({
 *   async preprocess(request, context) {
 *     if (!isV1Request(request)) return request;             // V2 requests pass through
 *     const rows = request.instances.map((i: any) => FEATURES.map((f) => {
 *       if (typeof i[f] !== 'number') throw new TransformerError(`feature '${f}' is missing`);
 *       return i[f];
 *     }));
 *     return { inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, 4], data: rows.flat() }] };
 *   },
 *   async postprocess(response, context) { ... },
 * });
 * ```
 *
 * The server runs the module in one of two places, with the same code:
 * - a transformer component (`serve --mode transformer --predictor-host h:p --transformer-module m.js`),
 *   which forwards the preprocessed request to the predictor over V2 REST, gRPC or V1;
 * - the predictor itself (`serve --transformer-module m.js`), which saves the network hop.
 *
 * Flow of one request: the client's body (a V1 `{instances}` body or a V2 inference request)
 * goes to `preprocess`, which returns a V1 body or a V2 request for the predictor. The
 * predictor's answer (a V2 response, or a V1 `{predictions}` body when the predictor speaks V1)
 * goes to `postprocess`. The result is sent to the client: a V2 response given to a V1 client
 * is turned into `{predictions}` as the server does (one output: its rows; several: one object
 * per row keyed by output name). `context.state` carries data from `preprocess` to
 * `postprocess`. Throw `TransformerError` to answer 4xx with your message; any other error is
 * a 500 `MS_ERR_TRANSFORMER_FAILED` whose details stay in the server log.
 *
 * This file has no runtime dependencies, so bundling it into a module costs a few lines.
 */
import type { InferOutputTensor, InferRequest, InferResponse, InferTensor, ModelMetadata } from './inference/types';

export type { InferOutputTensor, InferRequest, InferResponse, InferTensor, ModelMetadata } from './inference/types';

/** A KServe V1 request body: `{"instances": [...]}` (other top-level keys are kept). */
export interface V1Request {
  readonly instances: unknown[];
  readonly [key: string]: unknown;
}

/** A KServe V1 response body: `{"predictions": [...]}`. */
export interface V1Response {
  readonly predictions: unknown[];
  readonly [key: string]: unknown;
}

/** What `preprocess` receives and returns. */
export type TransformerRequest = V1Request | InferRequest;
/** What `postprocess` receives and returns. */
export type TransformerResponse = V1Response | InferResponse;

/** Minimal structured logger (JSON lines in the server log). */
export interface TransformerLogger {
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** Per-request facts given to `preprocess` and `postprocess`. */
export interface TransformerContext {
  /** The model named in the request path. */
  readonly modelName: string;
  /** The version in the path (V2 `/versions/<v>/`), if any. */
  readonly modelVersion?: string;
  /** The protocol the client used: `v1` (`:predict`) or `v2` (`/infer`). */
  readonly protocol: 'v1' | 'v2';
  /** How the request reaches the predictor: `v1`, `v2` (REST), `grpc-v2`, or `in-process`. */
  readonly predictorProtocol: 'v1' | 'v2' | 'grpc-v2' | 'in-process';
  /** The request id (the client's `x-request-id`, else one generated here); sent on to the predictor. */
  readonly requestId: string;
  /** The request's headers (lower-case names). */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** Scratch space from `preprocess` to `postprocess` of the same request. */
  readonly state: Record<string, unknown>;
  readonly log: TransformerLogger;
  /** The predictor's V2 metadata of this model (inputs, outputs); fetched once, then cached. */
  modelMetadata(): Promise<ModelMetadata>;
}

/** What a transformer module provides; both functions are optional. */
export interface Transformer {
  /** Turns the client's request into the predictor's request. */
  preprocess?(request: TransformerRequest, context: TransformerContext): TransformerRequest | Promise<TransformerRequest>;
  /** Turns the predictor's response into the client's response. */
  postprocess?(response: TransformerResponse, context: TransformerContext): TransformerResponse | Promise<TransformerResponse>;
}

/** Declares a transformer with full typing; returns its argument unchanged. */
export function defineTransformer<T extends Transformer>(transformer: T): T {
  return transformer;
}

/**
 * An error a module throws to reject a request with its own message (HTTP 400 by default,
 * code `MS_ERR_TRANSFORMER_REJECTED`). Use a 4xx `statusCode`; anything else becomes 400.
 */
export class TransformerError extends Error {
  /** Marks instances across module copies of this class (a bundled module has its own). */
  public readonly isTransformerError = true;
  constructor(message: string, public readonly statusCode: number = 400) {
    super(message);
    this.name = 'TransformerError';
  }
}

/** True if `body` is a V1 `{instances}` request. */
export function isV1Request(body: TransformerRequest): body is V1Request {
  return typeof body === 'object' && body !== null && Array.isArray((body as V1Request).instances);
}

/** True if `body` is a V2 inference request. */
export function isV2Request(body: TransformerRequest): body is InferRequest {
  return typeof body === 'object' && body !== null && Array.isArray((body as InferRequest).inputs);
}

/** True if `body` is a V2 inference response. */
export function isV2Response(body: TransformerResponse): body is InferResponse {
  return typeof body === 'object' && body !== null && Array.isArray((body as InferResponse).outputs);
}

/** Builds a V2 input tensor from rows of numbers (a `[rows, columns]` tensor, row-major). */
export function tensorFromRows(name: string, datatype: string, rows: readonly (readonly number[])[]): InferTensor {
  const columns = rows.length > 0 ? rows[0].length : 0;
  const data: number[] = new Array(rows.length * columns);
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].length !== columns) {
      throw new TransformerError(`row ${i} has ${rows[i].length} values, row 0 has ${columns}`);
    }
    for (let j = 0; j < columns; j++) data[i * columns + j] = rows[i][j];
  }
  return { name, datatype, shape: [rows.length, columns], data };
}

/** The output named `name` of a V2 response, split into rows (the first dimension). */
export function outputRows(response: InferResponse, name: string): unknown[] {
  const out = response.outputs.find((o: InferOutputTensor) => o.name === name);
  if (!out) {
    throw new Error(`the response has no output '${name}' (outputs: ${response.outputs.map((o) => o.name).join(', ')})`);
  }
  const data = out.data as unknown[];
  if (out.shape.length <= 1) return data.slice();
  const width = out.shape.slice(1).reduce((a, b) => a * b, 1);
  const rows: unknown[] = [];
  for (let i = 0; i < out.shape[0]; i++) rows.push(data.slice(i * width, (i + 1) * width));
  return rows;
}
