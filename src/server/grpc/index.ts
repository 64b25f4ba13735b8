/**
 * `inference.GRPCInferenceService` (Open Inference Protocol V2 over gRPC) on its own port.
 *
 * A thin layer over the in-process `InferenceCore` (the REST routes call the same core): wire
 * messages are converted to `InferRequest`, core errors (`ServerError`) become gRPC status
 * codes from the errors table. Requests with `raw_input_contents` get `raw_output_contents`.
 *
 * Transport: `./h2`, unary gRPC on node:http2 (nghttp2) with the limits of `./limits`
 * (@grpc/grpc-js costs several times the CPU per call in its own machinery). Codec: `ModelInfer`,
 * the hot RPC, uses the hand-written `./codec` (which checks every request field's wire type,
 * as does `ModelReady`/`ModelMetadata`'s decoder); the other RPCs use protobufjs through
 * @grpc/proto-loader, loaded on their first call
 * (the proto parse stays off the start-up path). The transformer's client has its own codec
 * (`./client-codec`); grpc-js remains only as a client in tests and benchmarks.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import type * as protoLoaderTypes from '@grpc/proto-loader';
import { GRPC_PORT } from '../../contract';
import { ERRORS, GRPC_STATUS, serverError } from '../errors';
import { InferenceCore, InferRequest, InferTensor, isServerError, Parameters } from '../inference';
import type { ServerMetrics } from '../metrics';
import { DecodedInferRequest, DecodedModelRequest, DecodedParameters, decodeInferRequest, decodeModelRequest, encodeInferReply, WireTypeError } from './codec';
import { H2GrpcServer, MESSAGE_PREFIX_BYTES, UnaryCall, UnaryMethod } from './h2';
import type { GrpcTransportLimits } from './limits';
import { decodeRaw, encodeRaw } from './tensors';

/** @grpc/proto-loader (and protobufjs), required on first use: not needed before ready. */
function protoLoader(): typeof protoLoaderTypes {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@grpc/proto-loader');
}

/** The proto file: next to the bundle (assets/server/), else in the source tree. */
export function protoPath(): string {
  const candidates = [
    path.join(__dirname, 'grpc_predict_v2.proto'),
    path.join(__dirname, '..', 'protocol', 'grpc_predict_v2.proto'),
    path.join(__dirname, 'protocol', 'grpc_predict_v2.proto'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`grpc_predict_v2.proto not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** proto-loader options shared by the server and the clients in tests and benchmarks. */
export const PROTO_OPTIONS: protoLoaderTypes.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: true,
  oneofs: true,
};

let cachedDefinition: grpc.ServiceDefinition | undefined;

/**
 * The `GRPCInferenceService` definition from the proto, in grpc-js's shape: the server's codec for
 * its less-used RPCs (`ModelInfer` uses the hand-written one).
 */
export function serviceDefinition(): grpc.ServiceDefinition {
  if (!cachedDefinition) {
    const pkg = protoLoader().loadSync(protoPath(), PROTO_OPTIONS);
    const def = pkg['inference.GRPCInferenceService'] as grpc.ServiceDefinition;
    // ModelInfer, the hot path, uses the hand-written codec (./codec); the rest proto-loader's.
    cachedDefinition = {
      ...def,
      ModelInfer: {
        ...def.ModelInfer,
        requestDeserialize: decodeInferRequest,
        responseSerialize: encodeInferReply,
      },
    };
  }
  return cachedDefinition;
}

/** Converts a decoded `ModelInferRequest` to the core's request; says whether raw contents were used. */
export function toInferRequest(req: DecodedInferRequest): { request: InferRequest; raw: boolean } {
  const inputs = req.inputs;
  const raws = req.raw_input_contents;
  const raw = raws.length > 0;
  if (raw && raws.length !== inputs.length) {
    throw serverError(ERRORS.INVALID_REQUEST, `raw_input_contents has ${raws.length} entries, but there are ${inputs.length} inputs: give one per input, in order`);
  }
  const tensors: InferTensor[] = new Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const t = inputs[i];
    if (raw && t.hasContents) {
      throw serverError(ERRORS.INVALID_REQUEST, `input '${t.name}' has contents, but the request uses raw_input_contents: use one or the other`);
    }
    tensors[i] = {
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
      parameters: t.parameters,
      data: raw ? decodeRaw(t.name, t.datatype, raws[i]) : (t.contents ?? []),
    };
  }
  const request: { -readonly [K in keyof InferRequest]: InferRequest[K] } = { inputs: tensors };
  if (req.id) request.id = req.id;
  if (req.parameters) request.parameters = req.parameters as Parameters;
  if (req.outputs.length > 0) {
    request.outputs = req.outputs.map((o) => ({ name: o.name, parameters: o.parameters as DecodedParameters | undefined }));
  }
  return { request, raw };
}

/** The gRPC status, message and metadata of any thrown value (ServerError keeps its table code). */
export function toGrpcStatus(err: unknown): { code: number; details: string; metadata?: Record<string, string> } {
  if (isServerError(err)) {
    return { code: err.grpcStatus, details: err.message, metadata: { 'ms-error-code': err.code } };
  }
  return { code: GRPC_STATUS.INTERNAL, details: 'internal server error' };
}

export interface GrpcServiceOptions {
  readonly metrics?: ServerMetrics;
  /** Called for unexpected (non-ServerError) failures. */
  readonly onError?: (err: unknown, method: string) => void;
}

const SERVICE = '/inference.GRPCInferenceService/';

/** The unary methods of `GRPCInferenceService` over `core`, by request path. */
export function createMethods(core: InferenceCore, options: GrpcServiceOptions = {}): Map<string, UnaryMethod> {
  const { metrics, onError } = options;

  const fail = (call: UnaryCall, method: string, err: unknown) => {
    if (!isServerError(err)) onError?.(err, method);
    const status = toGrpcStatus(err);
    call.fail(status.code, status.details, status.metadata);
  };

  /**
   * A request that cannot be decoded: a field of the wrong wire type is the client's mistake
   * (INVALID_ARGUMENT, naming the field); bytes that are not protobuf at all are INTERNAL, as
   * grpc-js and the gRPC status code guide answer for a message that does not parse.
   */
  const malformed = (call: UnaryCall, method: string, err: unknown) => {
    if (err instanceof WireTypeError) fail(call, method, serverError(ERRORS.INVALID_REQUEST, err.message));
    else call.fail(GRPC_STATUS.INTERNAL, `malformed ${method}Request: ${(err as Error).message}`);
  };

  /**
   * A non-hot method: protobufjs encodes the reply. Requests with fields (ModelReady,
   * ModelMetadata: name and version) are decoded by `./codec`, which checks wire types; the
   * others are empty messages, whose unknown fields are skipped.
   */
  function simple(method: string, fn: (req: Partial<DecodedModelRequest>) => object, hasFields = false): UnaryMethod {
    let codec: grpc.MethodDefinition<object, object> | undefined;
    return (call) => (message) => {
      let reply: Buffer;
      try {
        codec ??= serviceDefinition()[method] as grpc.MethodDefinition<object, object>;
        let req: Partial<DecodedModelRequest>;
        try {
          req = hasFields ? decodeModelRequest(message, `${method}Request`) : codec.requestDeserialize(message) as typeof req;
        } catch (err) {
          malformed(call, method, err);
          return;
        }
        reply = codec.responseSerialize(fn(req));
      } catch (err) {
        fail(call, method, err);
        return;
      }
      call.ok(reply);
    };
  }

  const modelInfer: UnaryMethod = (call) => {
    const start = performance.now();
    let name = '';
    if (metrics) {
      const inFlight = metrics.inFlight('grpc');
      inFlight.value++;
      call.onEnd = (code) => {
        inFlight.value--;
        // Unknown names would make the label set unbounded (same labels as the REST routes).
        const model = name === '' ? '' : core.repository.get(name) ? name : '_unknown';
        metrics.recordRequest(model, 'grpc', String(code), (performance.now() - start) / 1000);
      };
    }
    return (message) => {
      let wire: DecodedInferRequest;
      try {
        wire = decodeInferRequest(message);
      } catch (err) {
        malformed(call, 'ModelInfer', err);
        return;
      }
      name = wire.model_name;
      let converted: { request: InferRequest; raw: boolean };
      try {
        converted = toInferRequest(wire);
      } catch (err) {
        fail(call, 'ModelInfer', err);
        return;
      }
      // A call that ended (deadline, client reset) before its turn is dropped from the model's
      // queue: the call is the Cancellation (its `cancelled` follows `finished`, and the core may set it).
      core.infer(name, wire.model_version || undefined, converted.request, call).then((res) => {
        if (call.finished) return;
        let reply: Buffer;
        try {
          reply = encodeInferReply({
            model_name: res.model_name,
            model_version: res.model_version,
            id: res.id,
            parameters: res.parameters,
            outputs: res.outputs,
            raw: converted.raw,
            encodeRaw,
          }, MESSAGE_PREFIX_BYTES);
        } catch (err) {
          fail(call, 'ModelInfer', err);
          return;
        }
        call.okFramed(reply);
      }, (err) => fail(call, 'ModelInfer', err));
    };
  };

  const byName = (req: { name?: string; version?: string }) => [req.name ?? '', req.version || undefined] as const;
  return new Map<string, UnaryMethod>([
    [`${SERVICE}ServerLive`, simple('ServerLive', () => ({ live: core.isLive() }))],
    [`${SERVICE}ServerReady`, simple('ServerReady', () => ({ ready: core.isReady() }))],
    [`${SERVICE}ModelReady`, simple('ModelReady', (req) => ({ ready: core.modelReady(...byName(req)) }), true)],
    [`${SERVICE}ServerMetadata`, simple('ServerMetadata', () => core.serverMetadata())],
    [`${SERVICE}ModelMetadata`, simple('ModelMetadata', (req) => core.modelMetadata(...byName(req)), true)],
    [`${SERVICE}ModelInfer`, modelInfer],
  ]);
}

export interface GrpcServerOptions extends GrpcServiceOptions {
  /** @default '0.0.0.0' */
  readonly host?: string;
  /** 0 picks a free port. @default GRPC_PORT (8081) */
  readonly port?: number;
  /** Largest request message; larger ones fail with RESOURCE_EXHAUSTED. @default 64 MiB */
  readonly maxReceiveBytes?: number;
  /** Largest response message. @default 64 MiB */
  readonly maxSendBytes?: number;
  /** HTTP/2 limits per client. @default DEFAULT_GRPC_LIMITS (./limits) */
  readonly limits?: Partial<GrpcTransportLimits>;
}

/** A running gRPC server. */
export class GrpcInferenceServer {
  /** Binds and starts the service; resolves once the port is bound. */
  public static async start(core: InferenceCore, options: GrpcServerOptions = {}): Promise<GrpcInferenceServer> {
    const server = new H2GrpcServer({
      methods: createMethods(core, options),
      maxReceiveBytes: options.maxReceiveBytes ?? 64 * 1024 * 1024,
      maxSendBytes: options.maxSendBytes ?? 64 * 1024 * 1024,
      limits: options.limits,
    });
    const port = await server.listen(options.port ?? GRPC_PORT, options.host ?? '0.0.0.0');
    return new GrpcInferenceServer(server, port);
  }

  private constructor(private readonly server: H2GrpcServer, public readonly port: number) {}

  /**
   * Stops accepting connections, sends GOAWAY and waits for calls in flight; after `graceMs`,
   * cancels whatever is left.
   */
  public shutdown(graceMs: number): Promise<void> {
    return this.server.close(graceMs);
  }
}

/** The parts of the server config `startGrpc` reads. */
export interface GrpcServeConfig {
  readonly grpcPort: number;
  /** Listen address (`--host`). @default '0.0.0.0' */
  readonly host?: string;
  readonly shutdownGraceMs: number;
  /** Also the gRPC receive limit (larger messages fail with RESOURCE_EXHAUSTED). */
  readonly maxBodyBytes?: number;
  /** HTTP/2 limits per client (the `--grpc-*` flags). @default DEFAULT_GRPC_LIMITS (./limits) */
  readonly grpcLimits?: Partial<GrpcTransportLimits>;
}

/** The parts of the HTTP app `startGrpc` shares: metrics registry and logger. */
export interface GrpcServeApp {
  readonly metrics?: ServerMetrics;
  readonly log?: { error(obj: object, msg?: string): void };
}

/**
 * `serve`'s hook (`ServeExtensions.startGrpc`): starts `GRPCInferenceService` on
 * `config.grpcPort` (all interfaces, like HTTP) over the shared core and metrics; `close()`
 * drains calls in flight (GOAWAY) and cancels the rest after `config.shutdownGraceMs`.
 */
export async function startGrpc(core: InferenceCore, config: GrpcServeConfig, app?: GrpcServeApp): Promise<{ port: number; close(): Promise<void> }> {
  const server = await GrpcInferenceServer.start(core, {
    host: config.host ?? '0.0.0.0',
    port: config.grpcPort,
    maxReceiveBytes: config.maxBodyBytes,
    limits: config.grpcLimits,
    metrics: app?.metrics,
    onError: (err, method) => app?.log?.error({ event: 'grpc_error', method, err }, 'unexpected gRPC error'),
  });
  return { port: server.port, close: () => server.shutdown(config.shutdownGraceMs) };
}
