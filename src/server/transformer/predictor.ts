/**
 * Clients a transformer or explainer uses to call its predictor: V2 REST or V1 REST over one
 * keep-alive HTTP agent, gRPC (`GRPCInferenceService`) over one HTTP/2 session, or the predictor's own
 * `InferenceCore` when the module runs in process. All of them answer with the core's types and
 * throw `ServerError`s, so the routes map every failure the same way:
 *
 * - the predictor answered an error: its status and `code` are passed through (a 404
 *   `MS_ERR_MODEL_NOT_FOUND` stays one); an answer that is not our JSON error is a 502
 *   `MS_ERR_PREDICTOR_ERROR`;
 * - the predictor cannot be reached (refused, reset, DNS): 502 `MS_ERR_PREDICTOR_UNREACHABLE`
 *   (gRPC UNAVAILABLE); no answer within the request timeout: 504 `MS_ERR_PREDICTOR_TIMEOUT`.
 */
import { ErrorDefinition, ERRORS, GRPC_STATUS, ServerError, serverError } from '../errors';
import {
  decodeModelInferResponse, decodeModelMetadataResponse, decodeModelReadyResponse, DecodedInferResponse, encodeModelInferRequest, encodeModelRequest,
} from '../grpc/client-codec';
import { decodeRaw, encodeRaw } from '../grpc/tensors';
import { BufferedAnswer, keepAliveAgent, RequestFailure, sendBuffered, splitHostPort } from '../http/keep-alive-client';
import { InferenceCore } from '../inference/core';
import { fromHalf, toHalf } from '../inference/datatypes';
import { Datatype, InferOutputTensor, InferRequest, InferResponse, InferTensor, ModelMetadata } from '../inference/types';
import { outputsToPredictions, v1ToInferRequest } from '../inference/v1';
import { OnnxModel } from '../models/onnx-model';
import type { V1Request, V1Response } from '../sdk';
import { PredictorProtocol } from './config';
import { GrpcCallError, GrpcUnaryClient } from './grpc-unary-client';

/** Per-call facts: headers to forward (request id included). */
export interface CallOptions {
  readonly headers: Record<string, string>;
}

/** How a transformer or explainer reaches its predictor. */
export interface PredictorClient {
  /** `v1`, `v2`, `grpc-v2` or `in-process`. */
  readonly protocol: PredictorProtocol | 'in-process';
  /** `host:port`, or `in-process`. */
  readonly target: string;
  /** One V2 inference. */
  infer(name: string, version: string | undefined, request: InferRequest, call: CallOptions): Promise<InferResponse>;
  /** One V1 predict (a V2 predictor gets the V2 request built from the model's metadata). */
  predictV1(name: string, body: V1Request, call: CallOptions): Promise<V1Response>;
  /** V2 model metadata, cached per model and version. */
  modelMetadata(name: string, version?: string): Promise<ModelMetadata>;
  /** Whether the predictor has the model ready (false when it cannot be reached). */
  modelReady(name: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Creates the client for `--predictor-protocol` and `--predictor-host`. */
export function createPredictorClient(protocol: PredictorProtocol, host: string, timeoutMs: number): PredictorClient {
  return protocol === 'grpc-v2' ? new GrpcPredictor(host, timeoutMs) : new RestPredictor(protocol, host, timeoutMs);
}

/** V2 `$inference_request` from a V1 body, using the predictor's input metadata (as the server does). */
export function v1BodyToInferRequest(metadata: ModelMetadata, body: V1Request): InferRequest {
  // v1ToInferRequest reads only the inputs' names and datatypes of the model.
  return v1ToInferRequest({ inputs: metadata.inputs } as unknown as OnnxModel, body);
}

abstract class BasePredictor implements PredictorClient {
  public abstract readonly protocol: PredictorProtocol | 'in-process';
  public abstract readonly target: string;
  private readonly metadataCache = new Map<string, Promise<ModelMetadata>>();

  public abstract infer(name: string, version: string | undefined, request: InferRequest, call: CallOptions): Promise<InferResponse>;
  public abstract modelReady(name: string): Promise<boolean>;
  protected abstract fetchMetadata(name: string, version?: string): Promise<ModelMetadata>;

  public async predictV1(name: string, body: V1Request, call: CallOptions): Promise<V1Response> {
    const metadata = await this.modelMetadata(name);
    const response = await this.infer(name, undefined, v1BodyToInferRequest(metadata, body), call);
    return { predictions: outputsToPredictions(response.outputs) };
  }

  public modelMetadata(name: string, version?: string): Promise<ModelMetadata> {
    const key = `${name}\u0000${version ?? ''}`;
    let cached = this.metadataCache.get(key);
    if (!cached) {
      cached = this.fetchMetadata(name, version);
      this.metadataCache.set(key, cached);
      // Failures are not cached: the predictor may be starting.
      cached.catch(() => this.metadataCache.delete(key));
    }
    return cached;
  }

  public async close(): Promise<void> {}
}

/** Calls the predictor's `InferenceCore` directly (module and explainer in the predictor process). */
export class InProcessPredictor extends BasePredictor {
  public readonly protocol = 'in-process' as const;
  public readonly target = 'in-process';

  /** `infer` and `predictV1` are the core's original methods (before any wrapping). */
  constructor(
    private readonly core: InferenceCore,
    private readonly coreInfer: InferenceCore['infer'],
    private readonly corePredictV1: InferenceCore['predictV1'],
  ) {
    super();
  }

  public infer(name: string, version: string | undefined, request: InferRequest): Promise<InferResponse> {
    return this.coreInfer.call(this.core, name, version, request);
  }

  public async predictV1(name: string, body: V1Request): Promise<V1Response> {
    return this.corePredictV1.call(this.core, name, body);
  }

  public async modelReady(name: string): Promise<boolean> {
    try {
      return this.core.modelReady(name);
    } catch {
      return false;
    }
  }

  protected async fetchMetadata(name: string, version?: string): Promise<ModelMetadata> {
    return this.core.modelMetadata(name, version);
  }
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);

/** V2 REST (or V1 REST) over one keep-alive agent. */
export class RestPredictor extends BasePredictor {
  public readonly target: string;
  private readonly agent = keepAliveAgent(256, 64);
  private readonly hostname: string;
  private readonly port: number;

  constructor(public readonly protocol: 'v1' | 'v2', host: string, private readonly timeoutMs: number) {
    super();
    this.target = host;
    ({ host: this.hostname, port: this.port } = splitHostPort(host));
  }

  public async infer(name: string, version: string | undefined, request: InferRequest, call: CallOptions): Promise<InferResponse> {
    if (this.protocol === 'v1') {
      throw serverError(ERRORS.TRANSFORMER_INVALID_RESULT, 'preprocess', 'a V2 inference request', 'a V1 {"instances": [...]} body (the predictor speaks V1)');
    }
    const path = `/v2/models/${encodeURIComponent(name)}${version !== undefined ? `/versions/${encodeURIComponent(version)}` : ''}/infer`;
    return await this.send('POST', path, request, call.headers) as InferResponse;
  }

  public async predictV1(name: string, body: V1Request, call: CallOptions): Promise<V1Response> {
    if (this.protocol === 'v2') {
      return super.predictV1(name, body, call);
    }
    return await this.send('POST', `/v1/models/${encodeURIComponent(name)}:predict`, body, call.headers) as V1Response;
  }

  public async modelReady(name: string): Promise<boolean> {
    const path = this.protocol === 'v1' ? `/v1/models/${encodeURIComponent(name)}` : `/v2/models/${encodeURIComponent(name)}/ready`;
    try {
      const body = await this.send('GET', path, undefined, {}) as { ready?: boolean };
      return body?.ready !== false;
    } catch {
      return false;
    }
  }

  protected async fetchMetadata(name: string, version?: string): Promise<ModelMetadata> {
    const path = `/v2/models/${encodeURIComponent(name)}${version !== undefined ? `/versions/${encodeURIComponent(version)}` : ''}`;
    return await this.send('GET', path, undefined, {}) as ModelMetadata;
  }

  public async close(): Promise<void> {
    this.agent.destroy();
  }

  private async send(method: string, path: string, body: unknown, headers: Record<string, string>): Promise<unknown> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const h: Record<string, string> = { ...headers, accept: 'application/json' };
    if (payload) h['content-type'] = 'application/json';
    let answer: BufferedAnswer;
    try {
      answer = await sendBuffered({
        agent: this.agent,
        host: this.hostname,
        port: this.port,
        method,
        path,
        headers: h,
        body: payload,
        timeoutMs: this.timeoutMs,
        idleTimeout: true,
        timeoutError: () => serverError(ERRORS.PREDICTOR_TIMEOUT, this.target, this.timeoutMs),
        // The predictor closed an idle keep-alive socket as we reused it.
        retryOnReusedSocket: (f) => !f.whileReading && f.cause.code === 'ECONNRESET',
      });
    } catch (err) {
      if (!(err instanceof RequestFailure)) throw err;
      // Our timeout error is passed on; anything else is a connection failure.
      throw err.cause instanceof ServerError && !err.whileReading ? err.cause : unreachable(this.target, err.cause);
    }
    const text = answer.body.toString('utf8');
    let parsed: unknown;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const status = answer.status ?? 0;
    if (status >= 200 && status < 300 && parsed !== undefined) {
      return parsed;
    }
    throw fromPredictorAnswer(this.target, status, parsed, text);
  }
}

function unreachable(target: string, err: NodeJS.ErrnoException): ServerError {
  const code = err.code && UNREACHABLE_CODES.has(err.code) ? err.code : err.code ?? 'connection error';
  return serverError(ERRORS.PREDICTOR_UNREACHABLE, target, code);
}

/** The predictor's JSON error, passed through with its status and code; anything else is a 502. */
function fromPredictorAnswer(target: string, status: number, body: unknown, text: string): ServerError {
  const e = body as { error?: unknown; code?: unknown } | undefined;
  if (status >= 400 && e && typeof e.error === 'string') {
    const code = typeof e.code === 'string' && /^[A-Z0-9_]{1,64}$/.test(e.code) ? e.code : ERRORS.PREDICTOR_ERROR.code;
    return new ServerError({ code, message: e.error, httpStatus: status, grpcStatus: grpcStatusOfHttp(status) }, e.error);
  }
  return serverError(ERRORS.PREDICTOR_ERROR, target, status, text.slice(0, 100).replace(/\s+/g, ' ') || 'an empty body');
}

function grpcStatusOfHttp(status: number): number {
  if (status === 400 || status === 413 || status === 415) return GRPC_STATUS.INVALID_ARGUMENT;
  if (status === 404) return GRPC_STATUS.NOT_FOUND;
  if (status === 503) return GRPC_STATUS.UNAVAILABLE;
  if (status === 504) return GRPC_STATUS.DEADLINE_EXCEEDED;
  return GRPC_STATUS.INTERNAL;
}

/** HTTP status of a gRPC status code (the inverse of the errors table). */
const HTTP_OF_GRPC: Record<number, number> = {
  [GRPC_STATUS.INVALID_ARGUMENT]: 400,
  [GRPC_STATUS.NOT_FOUND]: 404,
  [GRPC_STATUS.FAILED_PRECONDITION]: 400,
  [GRPC_STATUS.RESOURCE_EXHAUSTED]: 503,
  [GRPC_STATUS.UNIMPLEMENTED]: 501,
  [GRPC_STATUS.DEADLINE_EXCEEDED]: 504,
  [GRPC_STATUS.UNAVAILABLE]: 503,
  [GRPC_STATUS.INTERNAL]: 500,
};

const RAW_DATATYPES = new Set(['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES']);
const SERVICE = '/inference.GRPCInferenceService/';
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const ERROR_CODE = /^[A-Z0-9_]{1,64}$/;

/**
 * OIP gRPC over one HTTP/2 session (./grpc-unary-client) with the hand-written client codec
 * (../grpc/client-codec); tensors travel as raw little-endian contents.
 */
export class GrpcPredictor extends BasePredictor {
  public readonly protocol = 'grpc-v2' as const;
  private readonly client: GrpcUnaryClient;

  constructor(public readonly target: string, private readonly timeoutMs: number) {
    super();
    this.client = new GrpcUnaryClient(target, { maxReceiveBytes: MAX_MESSAGE_BYTES, maxSendBytes: MAX_MESSAGE_BYTES });
  }

  public async infer(name: string, version: string | undefined, request: InferRequest, call: CallOptions): Promise<InferResponse> {
    const message = encodeModelInferRequest({
      model_name: name,
      model_version: version,
      id: request.id !== undefined ? String(request.id) : undefined,
      parameters: request.parameters,
      inputs: request.inputs,
      // Only the names, as before: output parameters (binary_data, ...) are REST options.
      outputs: request.outputs?.map((o) => ({ name: o.name })),
      raw_input_contents: request.inputs.map(rawContents),
    });
    const reply = await this.unary('ModelInfer', message, call.headers);
    let res: DecodedInferResponse;
    try {
      res = decodeModelInferResponse(reply);
    } catch (err) {
      throw this.malformed((err as Error).message);
    }
    const raws = res.raw_output_contents;
    if (raws.length > 0 && raws.length !== res.outputs.length) {
      throw this.malformed(`${raws.length} raw_output_contents for ${res.outputs.length} outputs`);
    }
    const outputs: InferOutputTensor[] = res.outputs.map((o, i) => {
      let data: number[] | boolean[] | string[];
      try {
        if (raws.length > 0) data = plain(o.datatype, decodeRaw(o.name, o.datatype, raws[i]));
        else data = o.contents ? plainContents(o.datatype, o.contents) : [];
      } catch (err) {
        // decodeRaw speaks of inputs (it is the server's); this is an output.
        throw this.malformed(`output '${o.name}': ${(err as Error).message.replace(/^input '[^']*': /, '')}`);
      }
      const tensor = { name: o.name, datatype: o.datatype as Datatype, shape: o.shape };
      return o.parameters ? { ...tensor, parameters: o.parameters, data } : { ...tensor, data };
    });
    const out: { -readonly [K in keyof InferResponse]: InferResponse[K] } = { model_name: res.model_name || name, outputs };
    if (res.model_version) out.model_version = res.model_version;
    if (res.id) out.id = res.id;
    if (res.parameters) out.parameters = res.parameters;
    return out;
  }

  public async modelReady(name: string): Promise<boolean> {
    try {
      return decodeModelReadyResponse(await this.unary('ModelReady', encodeModelRequest(name), {}));
    } catch {
      return false;
    }
  }

  protected async fetchMetadata(name: string, version?: string): Promise<ModelMetadata> {
    const reply = await this.unary('ModelMetadata', encodeModelRequest(name, version), {});
    try {
      return decodeModelMetadataResponse(reply);
    } catch (err) {
      throw this.malformed((err as Error).message);
    }
  }

  public async close(): Promise<void> {
    this.client.close();
  }

  private malformed(detail: string): ServerError {
    return serverError(ERRORS.PREDICTOR_ERROR, this.target, 'OK', detail.startsWith('malformed') ? detail : `a malformed ModelInferResponse: ${detail}`);
  }

  /** One call; gRPC failures become the server's errors (see the top of this file). */
  private async unary(method: string, message: Buffer, headers: Record<string, string>): Promise<Buffer> {
    try {
      return await this.client.call(SERVICE + method, message, headers, this.timeoutMs);
    } catch (err) {
      if (!(err instanceof GrpcCallError)) throw err;
      const rawCode = err.metadata['ms-error-code'];
      const errorCode = typeof rawCode === 'string' && ERROR_CODE.test(rawCode) ? rawCode : undefined;
      if (err.code === GRPC_STATUS.UNAVAILABLE && !errorCode) throw serverError(ERRORS.PREDICTOR_UNREACHABLE, this.target, err.details || 'UNAVAILABLE');
      if (err.code === GRPC_STATUS.DEADLINE_EXCEEDED && !errorCode) throw serverError(ERRORS.PREDICTOR_TIMEOUT, this.target, this.timeoutMs);
      const def: ErrorDefinition = {
        code: errorCode ?? ERRORS.PREDICTOR_ERROR.code, message: err.details, httpStatus: HTTP_OF_GRPC[err.code] ?? 502, grpcStatus: err.code,
      };
      throw new ServerError(def, err.details || `gRPC status ${err.code}`);
    }
  }
}

/** One input's `raw_input_contents` entry (typed arrays are used as they are). */
function rawContents(t: InferTensor): Buffer {
  if (!RAW_DATATYPES.has(t.datatype)) {
    throw serverError(ERRORS.UNSUPPORTED_DATATYPE, t.datatype, [...RAW_DATATYPES].join(', '));
  }
  const bad = t.shape.find((d) => !Number.isSafeInteger(d));
  if (bad !== undefined) throw serverError(ERRORS.INVALID_SHAPE, t.name, `shape ${JSON.stringify(t.shape)} has a dimension that is not an integer`);
  if (ArrayBuffer.isView(t.data)) {
    return encodeRaw({ name: t.name, datatype: t.datatype as Datatype, shape: [...t.shape], data: [], raw: t.data as unknown as ArrayLike<unknown> });
  }
  let data = Array.isArray(t.data) ? (t.data as unknown[]).flat(Infinity) : Array.from(t.data);
  // Plain FP16 values are numbers; raw FP16 contents are IEEE half bits.
  if (t.datatype === 'FP16') data = data.map((v) => toHalf(Number(v)));
  return encodeRaw({ name: t.name, datatype: t.datatype as Datatype, shape: [...t.shape], data: data as number[] });
}

/** A decoded raw tensor as the plain JSON-ready array the core's responses carry. */
function plain(datatype: string, data: ArrayLike<unknown>): number[] | boolean[] | string[] {
  if (datatype === 'BOOL') return Array.from(data, (v) => v !== 0 && v !== false);
  if (datatype === 'FP16') return Array.from(data as ArrayLike<number>, fromHalf);
  if (datatype === 'BYTES') return Array.from(data as ArrayLike<string>);
  return Array.from(data, (v) => (typeof v === 'bigint' ? Number(v) : v as number));
}

/** Typed `contents` as a plain array (FP16 travels in fp32_contents, as floats). */
function plainContents(datatype: string, data: ArrayLike<unknown>): number[] | boolean[] | string[] {
  return datatype === 'FP16' ? Array.from(data as ArrayLike<number>) : plain(datatype, data);
}
