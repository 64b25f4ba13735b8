/**
 * The in-process inference API. gRPC and REST both call this.
 *
 * `InferenceCore` answers health, metadata, readiness, inference and repository requests with
 * protocol-neutral V2 types (`./types`) and throws `ServerError` (`../errors`), which carries
 * both the HTTP status and the gRPC status code. Transport layers only convert wire formats.
 */
import { PACKAGE_VERSION } from '../../contract';
import { ERRORS, serverError } from '../errors';
import { fromOrtTensor, prepareRequest, TensorLimits } from './tensors';
import {
  InferOutputTensor, InferRequest, InferResponse, ModelIndexEntry, ModelMetadata, ModelState, ServerMetadata,
} from './types';
import { outputsToPredictions, v1ToInferRequest } from './v1';
import { Cancellation } from '../models/batcher';
import { ONNX_PLATFORM, OnnxModel } from '../models/onnx-model';
import { ModelEntry, ModelRepository, notReady } from '../models/repository';
import { PayloadLogger } from '../payload-log/payload-logger';

/** Name and version in V2 server metadata. */
export const SERVER_NAME = 'cdk8s-model-server';
/** The package version (src/package-version.ts, stamped from package.json at build). */
export const SERVER_VERSION = PACKAGE_VERSION;
/** V2 extensions we implement. */
export const SERVER_EXTENSIONS = ['model_repository', 'binary_tensor_data'];

export interface InferenceCoreOptions {
  readonly repository: ModelRepository;
  readonly limits: TensorLimits;
  /** Longest time one inference may take (0 = no limit). */
  readonly inferenceTimeoutMs: number;
  /** TEST-ONLY fault injection (`--fault-error-ratio`, `--fault-delay-ms`). */
  readonly faults?: { readonly errorRatio: number; readonly delayMs: number };
  /** Sends request and response payloads to a sink (`--payload-log-url`); never slows inference. */
  readonly payloadLog?: PayloadLogger;
}

/** Protocol-neutral model server core. */
export class InferenceCore {
  public readonly repository: ModelRepository;
  private draining = false;
  private started = false;
  private readonly metadataCache = new WeakMap<OnnxModel, ModelMetadata>();
  /** Requests seen by the fault injector (faults spread evenly, no randomness: reproducible). */
  private faultCounter = 0;

  constructor(private readonly options: InferenceCoreOptions) {
    this.repository = options.repository;
  }

  /**
   * Loads the models found at startup; the server is ready when this is done, and `alsoWaitFor`
   * (the gRPC listener, started meanwhile) too.
   */
  public async start(alsoWaitFor?: Promise<unknown>): Promise<void> {
    await Promise.all([this.repository.loadAll(), alsoWaitFor]);
    this.started = true;
  }

  /** The payload logger (`--payload-log-url`), if any. */
  public get payloadLog(): PayloadLogger | undefined {
    return this.options.payloadLog;
  }

  /** Stops payload logging (on shutdown): events not sent yet are dropped. */
  public closePayloadLog(): void {
    this.options.payloadLog?.close();
  }

  /** Turns readiness off (first step of a graceful shutdown). */
  public beginDrain(): void {
    this.draining = true;
  }

  public get isDraining(): boolean {
    return this.draining;
  }

  /** V2 server metadata. */
  public serverMetadata(): ServerMetadata {
    return { name: SERVER_NAME, version: SERVER_VERSION, extensions: SERVER_EXTENSIONS };
  }

  /** Liveness: the process can answer. */
  public isLive(): boolean {
    return true;
  }

  /**
   * Readiness: startup loading finished and we are not shutting down. In single-model mode the
   * model must also be READY; in multi-model mode FAILED or unloaded models do not hold the
   * server back (their own `/ready` says so).
   */
  public isReady(): boolean {
    if (!this.started || this.draining) {
      return false;
    }
    if (this.repository.single) {
      return this.repository.list().every((e) => e.state === ModelState.READY);
    }
    return true;
  }

  /** The model entry for `name`/`version`, or a 404 error. */
  public resolve(name: string, version?: string): ModelEntry {
    const entry = this.repository.get(name);
    if (!entry) {
      throw serverError(ERRORS.MODEL_NOT_FOUND, name);
    }
    if (version !== undefined && version !== entry.version) {
      throw serverError(ERRORS.MODEL_VERSION_NOT_FOUND, name, version);
    }
    return entry;
  }

  /** Whether a model is ready (404 error if unknown). */
  public modelReady(name: string, version?: string): boolean {
    return this.resolve(name, version).state === ModelState.READY && !this.draining;
  }

  /** Names of all known models. */
  public modelNames(): string[] {
    return this.repository.list().map((e) => e.name);
  }

  /** V2 model metadata; the model must be loaded (503 otherwise). */
  public modelMetadata(name: string, version?: string): ModelMetadata {
    const entry = this.resolve(name, version);
    const current = entry.current;
    if (entry.state !== ModelState.READY || !current) {
      throw notReady(entry);
    }
    return this.metadataOf(entry, current.model);
  }

  /**
   * Runs one V2 inference request. Set `cancellation.cancelled` when nobody waits for the answer
   * any more (deadline, client gone): if the request is still queued, it never runs.
   */
  public async infer(name: string, version: string | undefined, request: InferRequest, cancellation?: Cancellation): Promise<InferResponse> {
    if (request === null || typeof request !== 'object' || Array.isArray(request)) {
      throw serverError(ERRORS.INVALID_REQUEST, 'the body must be a JSON object');
    }
    const log = this.options.payloadLog;
    if (!log) return this.run(name, version, () => request, cancellation);
    // As KServe's logger: the request is logged on arrival, the response only on success, both under one id.
    const id = log.newId();
    log.request(id, name, request);
    const response = await this.run(name, version, () => request, cancellation);
    log.response(id, name, response);
    return response;
  }

  /** Runs one KServe V1 predict request (mapping documented in `./v1`); `cancellation` as for `infer`. */
  public async predictV1(name: string, body: unknown, cancellation?: Cancellation): Promise<{ predictions: unknown[] }> {
    const log = this.options.payloadLog;
    const id = log?.newId();
    if (log) log.request(id!, name, body);
    const response = await this.run(name, undefined, (model) => v1ToInferRequest(model, body), cancellation);
    const answer = { predictions: outputsToPredictions(response.outputs) };
    if (log) log.response(id!, name, answer);
    return answer;
  }

  private async run(
    name: string, version: string | undefined, build: (model: OnnxModel) => InferRequest, cancellation: Cancellation = { cancelled: false },
  ): Promise<InferResponse> {
    // While draining we still serve: load balancers may route to us until readiness propagates;
    // the listener closing (after the shutdown delay) is what stops new requests.
    const entry = this.resolve(name, version);
    if (this.options.faults) await this.injectFault(name);
    const loaded = await this.repository.acquire(entry);
    try {
      const model = loaded.model;
      const request = build(model);
      const prepared = prepareRequest(name, model, request, this.options.limits);
      const results = await this.withTimeout(model.run(prepared.feeds, prepared.outputNames, cancellation), name, cancellation);
      const outputs: InferOutputTensor[] = new Array(prepared.outputNames.length);
      for (let i = 0; i < prepared.outputNames.length; i++) {
        const out = prepared.outputNames[i];
        outputs[i] = fromOrtTensor(out, results[out], model.outputsByName.get(out)!);
      }
      const response: { -readonly [K in keyof InferResponse]: InferResponse[K] } = { model_name: name, outputs };
      if (entry.version !== undefined) {
        response.model_version = entry.version;
      }
      if (request.id !== undefined) {
        response.id = String(request.id);
      }
      if (request.parameters !== undefined) {
        response.parameters = request.parameters;
      }
      return response;
    } finally {
      this.repository.release(entry, loaded);
    }
  }

  /** TEST-ONLY: waits `delayMs`, then fails request n when floor(n x ratio) steps up (exactly `ratio` of them, evenly). */
  private async injectFault(name: string): Promise<void> {
    const { errorRatio, delayMs } = this.options.faults!;
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    const n = ++this.faultCounter;
    if (Math.floor(n * errorRatio) > Math.floor((n - 1) * errorRatio)) {
      throw serverError(ERRORS.INFERENCE_FAILED, name, 'fault injected by --fault-error-ratio (test only)');
    }
  }

  /** V2 repository index (rescans the model directory). */
  public index(): ModelIndexEntry[] {
    return this.repository.index();
  }

  /** Loads a model (repository extension). */
  public async load(name: string): Promise<void> {
    await this.repository.load(name);
  }

  /** Unloads a model (repository extension). */
  public async unload(name: string): Promise<void> {
    await this.repository.unload(name);
  }

  private metadataOf(entry: ModelEntry, model: OnnxModel): ModelMetadata {
    let md = this.metadataCache.get(model);
    if (!md) {
      md = {
        name: entry.name,
        ...(entry.version !== undefined ? { versions: [entry.version] } : {}),
        platform: ONNX_PLATFORM,
        inputs: model.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
        outputs: model.outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
      };
      this.metadataCache.set(model, md);
    }
    return md;
  }

  /** Bounds `promise` by the inference timeout; on expiry the request is also cancelled if still queued. */
  private withTimeout<T>(promise: Promise<T>, name: string, cancellation: Cancellation): Promise<T> {
    const ms = this.options.inferenceTimeoutMs;
    if (!(ms > 0)) {
      return promise.catch((err) => { throw inferenceFailed(name, err); });
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        cancellation.cancelled = true;
        reject(serverError(ERRORS.INFERENCE_TIMEOUT, ms));
      }, ms);
      promise.then(
        (v) => { clearTimeout(timer); resolve(v); },
        (err) => { clearTimeout(timer); reject(inferenceFailed(name, err)); },
      );
    });
  }
}

function inferenceFailed(name: string, err: unknown) {
  // onnxruntime's message can be long and may name internal nodes: keep its first line.
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 300);
  return serverError(ERRORS.INFERENCE_FAILED, name, message);
}
