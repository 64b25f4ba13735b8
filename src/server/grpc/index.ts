/**
 * `inference.GRPCInferenceService` (Open Inference Protocol V2 over gRPC) on its own port.
 *
 * A thin transport over the in-process `InferenceCore` (the REST routes call the same core):
 * wire messages are converted to `InferRequest`, core errors (`ServerError`) become gRPC status
 * codes from the errors table. Requests with `raw_input_contents` get `raw_output_contents`.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { GRPC_PORT } from '../../_contract';
import { ERRORS, GRPC_STATUS, serverError } from '../errors';
import { InferenceCore, InferRequest, InferTensor, isServerError, Parameters } from '../inference';
import type { ServerMetrics } from '../metrics';
import { DecodedInferRequest, DecodedParameters, decodeInferRequest, encodeInferReply, InferReply } from './codec';
import { decodeRaw, encodeRaw } from './tensors';

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
export const PROTO_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: false,
  arrays: true,
  oneofs: true,
};

let cachedDefinition: grpc.ServiceDefinition | undefined;

/** The `GRPCInferenceService` definition from the proto. */
export function serviceDefinition(): grpc.ServiceDefinition {
  if (!cachedDefinition) {
    const pkg = protoLoader.loadSync(protoPath(), PROTO_OPTIONS);
    const def = pkg['inference.GRPCInferenceService'] as grpc.ServiceDefinition;
    // ModelInfer, the hot path, uses the hand-written codec (./codec); the rest proto-loader's.
    cachedDefinition = {
      ...def,
      ModelInfer: {
        ...def.ModelInfer,
        requestDeserialize: decodeInferRequest,
        responseSerialize: (reply: InferReply) => encodeInferReply(reply),
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

/** A gRPC error status from any thrown value (ServerError keeps its table code). */
export function toGrpcError(err: unknown): Partial<grpc.StatusObject> {
  if (isServerError(err)) {
    const metadata = new grpc.Metadata();
    metadata.set('ms-error-code', err.code);
    return { code: err.grpcStatus as grpc.status, details: err.message, metadata };
  }
  return { code: GRPC_STATUS.INTERNAL as grpc.status, details: 'internal server error' };
}

export interface GrpcServiceOptions {
  readonly metrics?: ServerMetrics;
  /** Called for unexpected (non-ServerError) failures. */
  readonly onError?: (err: unknown, method: string) => void;
}

/** Handlers of `GRPCInferenceService` over `core`. */
export function createHandlers(core: InferenceCore, options: GrpcServiceOptions = {}): grpc.UntypedServiceImplementation {
  const metrics = options.metrics;

  function unary<Req, Res>(method: string, fn: (req: Req) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      let result: Res | Promise<Res>;
      try {
        result = fn(call.request);
      } catch (err) {
        fail(err);
        return;
      }
      if (result instanceof Promise) result.then((r) => callback(null, r), fail);
      else callback(null, result);

      function fail(err: unknown) {
        if (!isServerError(err)) options.onError?.(err, method);
        callback(toGrpcError(err) as grpc.ServiceError);
      }
    };
  }

  const modelInfer: grpc.handleUnaryCall<DecodedInferRequest, InferReply> = (call, callback) => {
    const start = performance.now();
    const wire = call.request;
    const name = wire.model_name;
    metrics?.requestsInFlight.inc({ protocol: 'grpc' });
    const done = (code: string) => {
      if (metrics) {
        metrics.requestsInFlight.dec({ protocol: 'grpc' });
        // Unknown names would make the label set unbounded (same labels as the REST routes).
        const model = name === '' ? '' : core.repository.get(name) ? name : '_unknown';
        metrics.recordRequest(model, 'grpc', code, (performance.now() - start) / 1000);
      }
    };
    const fail = (err: unknown) => {
      if (!isServerError(err)) options.onError?.(err, 'ModelInfer');
      const status = toGrpcError(err);
      done(String(status.code));
      callback(status as grpc.ServiceError);
    };
    let converted: { request: InferRequest; raw: boolean };
    try {
      converted = toInferRequest(wire);
    } catch (err) {
      fail(err);
      return;
    }
    core.infer(name, wire.model_version || undefined, converted.request).then((res) => {
      done('0');
      callback(null, {
        model_name: res.model_name,
        model_version: res.model_version,
        id: res.id,
        parameters: res.parameters,
        outputs: res.outputs,
        raw: converted.raw,
        encodeRaw,
      });
    }, fail);
  };

  return {
    ServerLive: unary('ServerLive', () => ({ live: core.isLive() })),
    ServerReady: unary('ServerReady', () => ({ ready: core.isReady() })),
    ModelReady: unary('ModelReady', (req: { name?: string; version?: string }) => ({ ready: core.modelReady(req.name ?? '', req.version || undefined) })),
    ServerMetadata: unary('ServerMetadata', () => core.serverMetadata()),
    ModelMetadata: unary('ModelMetadata', (req: { name?: string; version?: string }) => core.modelMetadata(req.name ?? '', req.version || undefined)),
    ModelInfer: modelInfer,
  };
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
}

/** A running gRPC server. */
export class GrpcInferenceServer {
  /** Binds and starts the service; resolves once the port is bound. */
  public static async start(core: InferenceCore, options: GrpcServerOptions = {}): Promise<GrpcInferenceServer> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxReceiveBytes ?? 64 * 1024 * 1024,
      'grpc.max_send_message_length': options.maxSendBytes ?? 64 * 1024 * 1024,
      // channelz bookkeeping costs every call; nothing here reads it.
      'grpc.enable_channelz': 0,
    });
    server.addService(serviceDefinition(), createHandlers(core, options));
    const host = options.host ?? '0.0.0.0';
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${options.port ?? GRPC_PORT}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    return new GrpcInferenceServer(server, port);
  }

  private constructor(private readonly server: grpc.Server, public readonly port: number) {}

  /**
   * Stops accepting calls and waits for calls in flight (tryShutdown); after `graceMs`, cancels
   * whatever is left (forceShutdown).
   */
  public shutdown(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, Math.max(0, graceMs));
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** The parts of the server config `startGrpc` reads. */
export interface GrpcServeConfig {
  readonly grpcPort: number;
  readonly shutdownGraceMs: number;
  /** Also the gRPC receive limit (larger messages fail with RESOURCE_EXHAUSTED). */
  readonly maxBodyBytes?: number;
}

/** The parts of the HTTP app `startGrpc` shares: metrics registry and logger. */
export interface GrpcServeApp {
  readonly metrics?: ServerMetrics;
  readonly log?: { error(obj: object, msg?: string): void };
}

/**
 * `serve`'s hook (`ServeExtensions.startGrpc`): starts `GRPCInferenceService` on
 * `config.grpcPort` (all interfaces, like HTTP) over the shared core and metrics; `close()`
 * drains calls in flight (tryShutdown) and cancels the rest after `config.shutdownGraceMs`.
 */
export async function startGrpc(core: InferenceCore, config: GrpcServeConfig, app?: GrpcServeApp): Promise<{ port: number; close(): Promise<void> }> {
  const server = await GrpcInferenceServer.start(core, {
    host: '0.0.0.0',
    port: config.grpcPort,
    maxReceiveBytes: config.maxBodyBytes,
    metrics: app?.metrics,
    onError: (err, method) => app?.log?.error({ event: 'grpc_error', method, err }, 'unexpected gRPC error'),
  });
  return { port: server.port, close: () => server.shutdown(config.shutdownGraceMs) };
}
