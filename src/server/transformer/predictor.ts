/**
 * Clients a transformer or explainer uses to call its predictor: V2 REST or V1 REST over one
 * keep-alive HTTP agent, gRPC (`GRPCInferenceService`) over one channel, or the predictor's own
 * `InferenceCore` when the module runs in process. All of them answer with the core's types and
 * throw `ServerError`s, so the routes map every failure the same way:
 *
 * - the predictor answered an error: its status and `code` are passed through (a 404
 *   `MS_ERR_MODEL_NOT_FOUND` stays one); an answer that is not our JSON error is a 502
 *   `MS_ERR_PREDICTOR_ERROR`;
 * - the predictor cannot be reached (refused, reset, DNS): 502 `MS_ERR_PREDICTOR_UNREACHABLE`
 *   (gRPC UNAVAILABLE); no answer within the request timeout: 504 `MS_ERR_PREDICTOR_TIMEOUT`.
 */
import * as grpc from '@grpc/grpc-js';
import { ErrorDefinition, ERRORS, GRPC_STATUS, ServerError, serverError } from '../errors';
import { serviceDefinition } from '../grpc';
import { decodeRaw, encodeRaw } from '../grpc/tensors';
import { BufferedAnswer, keepAliveAgent, RequestFailure, sendBuffered, splitHostPort } from '../http/keep-alive-client';
import { InferenceCore } from '../inference/core';
import { fromHalf } from '../inference/datatypes';
import { Datatype, InferOutputTensor, InferRequest, InferResponse, ModelMetadata, Parameters, TensorMetadata } from '../inference/types';
import { outputsToPredictions, v1ToInferRequest } from '../inference/v1';
import { OnnxModel } from '../models/onnx-model';
import type { V1Request, V1Response } from '../sdk';
import { PredictorProtocol } from './config';

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
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.FAILED_PRECONDITION]: 400,
  [grpc.status.RESOURCE_EXHAUSTED]: 503,
  [grpc.status.UNIMPLEMENTED]: 501,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.INTERNAL]: 500,
};

type Unary = (req: unknown, meta: grpc.Metadata, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: any) => void) => void;

const RAW_DATATYPES = new Set(['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES']);

/** OIP gRPC over one channel; tensors travel as raw little-endian contents. */
export class GrpcPredictor extends BasePredictor {
  public readonly protocol = 'grpc-v2' as const;
  private readonly client: grpc.Client & Record<string, Unary>;

  constructor(public readonly target: string, private readonly timeoutMs: number) {
    super();
    const Ctor = grpc.makeGenericClientConstructor(serviceDefinition(), 'GRPCInferenceService');
    this.client = new Ctor(target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      'grpc.keepalive_time_ms': 30_000,
    }) as unknown as grpc.Client & Record<string, Unary>;
  }

  public async infer(name: string, version: string | undefined, request: InferRequest, call: CallOptions): Promise<InferResponse> {
    const inputs = request.inputs.map((t) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
      ...(t.parameters ? { parameters: toWireParameters(t.parameters) } : {}),
    }));
    const raw = request.inputs.map((t) => {
      if (!RAW_DATATYPES.has(t.datatype)) {
        throw serverError(ERRORS.UNSUPPORTED_DATATYPE, t.datatype, [...RAW_DATATYPES].join(', '));
      }
      const data = ArrayBuffer.isView(t.data) ? t.data : Array.isArray(t.data) ? (t.data as unknown[]).flat(Infinity) : Array.from(t.data);
      const typed = ArrayBuffer.isView(data) ? data as ArrayLike<unknown> : undefined;
      return encodeRaw({ name: t.name, datatype: t.datatype as Datatype, shape: [...t.shape], data: data as number[], raw: typed });
    });
    const wire: Record<string, unknown> = { model_name: name, model_version: version ?? '', inputs, raw_input_contents: raw };
    if (request.id !== undefined) wire.id = request.id;
    if (request.parameters) wire.parameters = toWireParameters(request.parameters);
    if (request.outputs) wire.outputs = request.outputs.map((o) => ({ name: o.name }));
    const res = await this.unary('ModelInfer', wire, call.headers) as WireResponse;
    const outputs: InferOutputTensor[] = (res.outputs ?? []).map((o, i) => ({
      name: o.name,
      datatype: o.datatype as Datatype,
      shape: (o.shape ?? []).map(Number),
      data: plain(o.datatype, res.raw_output_contents?.[i] ? decodeRaw(o.name, o.datatype, res.raw_output_contents[i]) : []),
    }));
    const out: { -readonly [K in keyof InferResponse]: InferResponse[K] } = { model_name: res.model_name || name, outputs };
    if (res.model_version) out.model_version = res.model_version;
    if (res.id) out.id = res.id;
    return out;
  }

  public async modelReady(name: string): Promise<boolean> {
    try {
      const res = await this.unary('ModelReady', { name }, {}) as { ready?: boolean };
      return res.ready === true;
    } catch {
      return false;
    }
  }

  protected async fetchMetadata(name: string, version?: string): Promise<ModelMetadata> {
    const res = await this.unary('ModelMetadata', { name, version: version ?? '' }, {}) as ModelMetadata;
    const tensors = (list: TensorMetadata[] | undefined) => (list ?? []).map((t) => ({ ...t, shape: t.shape.map(Number) }));
    return { ...res, inputs: tensors(res.inputs), outputs: tensors(res.outputs) };
  }

  public async close(): Promise<void> {
    this.client.close();
  }

  private unary(method: string, request: unknown, headers: Record<string, string>): Promise<unknown> {
    const meta = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) meta.set(k, v);
    const options: grpc.CallOptions = this.timeoutMs > 0 ? { deadline: Date.now() + this.timeoutMs } : {};
    return new Promise((resolve, reject) => {
      this.client[method](request, meta, options, (err, res) => {
        if (!err) {
          resolve(res);
          return;
        }
        if (err.code === grpc.status.UNAVAILABLE && !err.metadata?.get('ms-error-code').length) {
          reject(serverError(ERRORS.PREDICTOR_UNREACHABLE, this.target, err.details || 'UNAVAILABLE'));
        } else if (err.code === grpc.status.DEADLINE_EXCEEDED && !err.metadata?.get('ms-error-code').length) {
          reject(serverError(ERRORS.PREDICTOR_TIMEOUT, this.target, this.timeoutMs));
        } else {
          const code = String(err.metadata?.get('ms-error-code')[0] ?? ERRORS.PREDICTOR_ERROR.code);
          const def: ErrorDefinition = { code, message: err.details, httpStatus: HTTP_OF_GRPC[err.code] ?? 502, grpcStatus: err.code };
          reject(new ServerError(def, err.details || `gRPC status ${err.code}`));
        }
      });
    });
  }
}

interface WireResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs?: Array<{ name: string; datatype: string; shape?: Array<number | string> }>;
  raw_output_contents?: Uint8Array[];
}

/** A decoded raw tensor as the plain JSON-ready array the core's responses carry. */
function plain(datatype: string, data: ArrayLike<unknown>): number[] | boolean[] | string[] {
  if (datatype === 'BOOL') return Array.from(data, (v) => v !== 0 && v !== false);
  if (datatype === 'FP16') return Array.from(data as ArrayLike<number>, fromHalf);
  if (datatype === 'BYTES') return Array.from(data as ArrayLike<string>);
  return Array.from(data, (v) => (typeof v === 'bigint' ? Number(v) : v as number));
}

function toWireParameters(p: Parameters): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) {
    if (typeof v === 'boolean') out[k] = { bool_param: v };
    else if (typeof v === 'number' && Number.isSafeInteger(v)) out[k] = { int64_param: v };
    else out[k] = { string_param: String(v) };
  }
  return out;
}
