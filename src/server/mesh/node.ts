/**
 * A mesh member: placement, forwarding, on-demand fetch and load, and the mesh metrics.
 *
 * Placement: a model's holders are the first `copies` members of its weighted rendezvous
 * ranking over the live members (`./hrw`, `./membership`). A request for a model this member
 * does not hold is forwarded, body and all, to one holder (round robin over the holders) and
 * marked with `MESH_FORWARDED_HEADER`, so the holder serves it itself: one hop at most. If a
 * holder refuses the connection, times out or answers 503, the next member of the ranking is
 * tried (at most `MAX_FORWARD_ATTEMPTS`); a dead holder is marked dead, so placement moves its
 * models to the next members at once. When this member is next in the ranking, or every
 * attempt failed, it serves the request itself. A holder loads the model on demand (fetching
 * it first when the registry gives a `storageUri`), within its memory budget, evicting idle
 * models least recently used first (`ModelRepository`); a load that finds every other model
 * busy waits and retries within the load timeout instead of failing.
 */
import { IncomingMessage, ServerResponse } from 'http';
import * as path from 'path';
import { FastifyInstance } from 'fastify';
import { MESH_FORWARDED_HEADER, MESH_STATUS_PATH } from '../../contract';
import { ServerConfig } from '../config';
import { ERRORS, ServerError, serverError } from '../errors';
import { peerAgent, PeerResponse, PeerUnavailableError, requestPeer } from './forward';
import { Member, rank } from './hrw';
import { DEFAULT_WEIGHT, Membership } from './membership';
import { MeshMetrics } from './metrics';
import { INFERENCE_HEADER_CONTENT_LENGTH } from '../http/binary-tensors';
import { InferenceCore } from '../inference/core';
import { InferRequest, InferResponse, ModelState } from '../inference/types';
import { logLine } from '../lifecycle';
import { ServerMetrics } from '../metrics';
import { Cancellation } from '../models/batcher';
import { LoadedModel, MODEL_MEMORY_FACTOR, ModelEntry, ModelRepository, RepositoryOptions } from '../models/repository';
import { fetchModel } from '../storage';
import { ModelRegistryFile } from './registry';

/** Members tried for one request before this member serves it itself. */
export const MAX_FORWARD_ATTEMPTS = 3;
/** Response header naming the member that ran the model. */
export const SERVED_BY_HEADER = 'x-model-mesh-served-by';

/** Requests forwarded to a holder: V2 infer (any version) and V1 predict. */
const MESH_ROUTE = /^(?:\/v2\/models\/([^/?]+)(?:\/versions\/[^/?]+)?\/infer|\/v1\/models\/([^/:?]+):predict)\/?(?:\?.*)?$/;
/**
 * Model metadata and readiness (V2, any version; V1 model status): answered by a holder, which
 * loads the model for them as it would for a request (models load on demand in a mesh).
 */
const MESH_STATUS_ROUTE = /^(?:\/v2\/models\/([^/?]+)(?:\/versions\/[^/?]+)?(?:\/ready)?|\/v1\/models\/([^/:?]+))\/?(?:\?.*)?$/;

/** Lazy repository: nothing loads at startup; tracks the peak of the memory charged. */
export class MeshRepository extends ModelRepository {
  public peakBytes = 0;

  constructor(options: RepositoryOptions) {
    super(options);
  }

  public async loadAll(): Promise<void> {
    // Models load on demand on their holders; loading everything here would evict at random.
  }

  public acquire(entry: ModelEntry): Promise<LoadedModel> {
    // `acquire` reserves memory synchronously before its first await: sample right after.
    const p = super.acquire(entry);
    this.sample();
    return p;
  }

  public load(name: string): Promise<ModelEntry> {
    const p = super.load(name);
    this.sample();
    return p;
  }

  public sample(): void {
    if (this.usedBytes > this.peakBytes) {
      this.peakBytes = this.usedBytes;
    }
  }
}

export interface MeshCoreOptions {
  readonly repository: MeshRepository;
  readonly loadTimeoutMs: number;
  readonly limits: { maxBatchSize: number };
  readonly inferenceTimeoutMs: number;
}

/** InferenceCore whose requests wait for memory instead of failing while every model is busy. */
export class MeshInferenceCore extends InferenceCore {
  constructor(private readonly mesh: MeshCoreOptions) {
    super({ repository: mesh.repository, limits: mesh.limits, inferenceTimeoutMs: mesh.inferenceTimeoutMs });
  }

  public infer(name: string, version: string | undefined, request: InferRequest, cancellation?: Cancellation): Promise<InferResponse> {
    return this.waitForMemory(name, () => super.infer(name, version, request, cancellation));
  }

  public predictV1(name: string, body: unknown, cancellation?: Cancellation): Promise<{ predictions: unknown[] }> {
    return this.waitForMemory(name, () => super.predictV1(name, body, cancellation));
  }

  /** Loads `name` if it is not loaded (waiting for memory as requests do); for metadata and readiness. */
  public async ensureLoaded(name: string): Promise<void> {
    const entry = this.mesh.repository.get(name);
    if (!entry || entry.state === ModelState.READY) return;
    await this.waitForMemory(name, async () => {
      const loaded = await this.mesh.repository.acquire(entry);
      this.mesh.repository.release(entry, loaded);
    });
  }

  private async waitForMemory<T>(name: string, run: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.mesh.loadTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        const entry = this.mesh.repository.get(name);
        const budget = this.mesh.repository.memoryBudgetBytes;
        const fitsAlone = !entry || entry.sizeBytes * MODEL_MEMORY_FACTOR <= budget;
        const delay = Math.min(2 * attempt, 50);
        if (!(err instanceof ServerError) || err.code !== ERRORS.MEMORY_BUDGET_EXCEEDED.code || !fitsAlone || Date.now() + delay > deadline) {
          throw err;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}

type Logger = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string) => void;

/** One member of the mesh. `main.ts` builds the app with `core` and `metrics`, then `install`s it. */
export class MeshNode {
  public readonly metrics: ServerMetrics;
  public readonly meshMetrics: MeshMetrics;
  public readonly repository: MeshRepository;
  public readonly core: MeshInferenceCore;
  public readonly registry: ModelRegistryFile;
  private membership?: Membership;
  private placement = new Map<string, Member[]>();
  private placementVersion = -1;
  private readonly fetches = new Map<string, Promise<void>>();
  private roundRobin = 0;
  private log: Logger = stdoutLogger;

  constructor(private readonly config: ServerConfig, metrics: ServerMetrics = new ServerMetrics()) {
    if (!config.mesh) {
      throw new Error('MeshNode needs a mesh configuration (--mode mesh)');
    }
    this.metrics = metrics;
    this.meshMetrics = new MeshMetrics(metrics.registry, () => {
      const all = this.membership?.all() ?? [];
      return {
        used: this.repository.usedBytes,
        peak: this.repository.peakBytes,
        live: all.filter((m) => m.live).length,
        dead: all.filter((m) => !m.live).length,
      };
    });
    this.meshMetrics.memoryBudget.set(config.memoryBudgetBytes);
    const base = metrics.repositoryEvents((event, fields) => this.log(event === 'model_load_failed' ? 'error' : 'info', { event, ...fields }, event.replace(/_/g, ' ')));
    this.repository = new MeshRepository({
      modelDir: config.modelDir,
      modelName: config.modelName,
      mode: 'multi',
      memoryBudgetBytes: config.memoryBudgetBytes,
      events: {
        ...base,
        loaded: (model, seconds, bytes) => {
          base.loaded?.(model, seconds, bytes);
          this.meshMetrics.loads.inc({ model });
        },
      },
    });
    this.core = new MeshInferenceCore({
      repository: this.repository,
      loadTimeoutMs: config.mesh.loadTimeoutMs,
      limits: { maxBatchSize: config.maxBatchSize },
      inferenceTimeoutMs: config.requestTimeoutMs,
    });
    this.registry = new ModelRegistryFile(config.mesh.modelRegistry, (msg) => this.log('warn', { event: 'mesh_registry_error' }, msg));
  }

  /** This member's id (`host:port`); set by `start`. */
  public get self(): string {
    return this.membership?.self ?? this.config.mesh!.self ?? '';
  }

  /** Adds the forwarding hook and the status route; call before `listen`. */
  public install(app: FastifyInstance): void {
    this.log = (level, fields, msg) => app.log[level](fields, msg);
    // Wrap the HTTP server's request listeners: mesh routes are decided before fastify (and any
    // fast path in front of it) sees them; everything else goes straight through.
    const server = app.server;
    const listeners = server.listeners('request') as Array<(req: IncomingMessage, res: ServerResponse) => void>;
    server.removeAllListeners('request');
    const pass = (req: IncomingMessage, res: ServerResponse) => {
      for (const l of listeners) {
        l.call(server, req, res);
      }
    };
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!this.intercept(app, req, res, () => pass(req, res))) {
        pass(req, res);
      }
    });
    app.get<{ Querystring: { model?: string } }>(MESH_STATUS_PATH, async (request, reply) => {
      if (this.core.isDraining) {
        return reply.code(503).send({ error: 'server is shutting down', code: ERRORS.SHUTTING_DOWN.code });
      }
      const model = request.query.model;
      return {
        self: this.self,
        budgetBytes: this.repository.memoryBudgetBytes,
        usedBytes: this.repository.usedBytes,
        peakBytes: this.repository.peakBytes,
        members: this.membership?.all() ?? [],
        loaded: this.repository.list().filter((e) => e.state === ModelState.READY).map((e) => e.name),
        ...(model ? { model, holders: this.holders(model).map((m) => m.id) } : {}),
      };
    });
  }

  /** Starts membership and the registry watch, once the HTTP port is known. */
  public start(httpPort: number): void {
    const mesh = this.config.mesh!;
    const budget = this.config.memoryBudgetBytes;
    this.membership = new Membership({
      self: mesh.self ?? `127.0.0.1:${httpPort}`,
      selfWeight: budget > 0 ? budget : DEFAULT_WEIGHT,
      peers: mesh.peers,
      peerDns: mesh.peerDns,
      port: httpPort,
      onChange: () => this.log('info', { event: 'mesh_members', members: this.membership?.all().map((m) => `${m.id}${m.live ? '' : ' (dead)'}`) }, 'mesh members changed'),
      onError: (msg) => this.log('warn', { event: 'mesh_dns_error' }, msg),
    });
    this.membership.start();
    this.registry.start(() => {
      this.placement.clear();
      this.log('info', { event: 'mesh_registry_reloaded', models: this.registry.names().length }, 'model registry reloaded');
    });
  }

  public async close(): Promise<void> {
    this.membership?.stop();
    this.registry.stop();
    peerAgent.destroy();
  }

  /** Whether `name` is a model of the mesh (registered, or in the model directory). */
  public known(name: string): boolean {
    return this.registry.get(name) !== undefined || this.repository.get(name) !== undefined;
  }

  /** Copies of `name`: from the registry, else one. */
  public copies(name: string): number | 'all' {
    return this.registry.get(name)?.copies ?? 1;
  }

  /** Live members, best first, for `name`. */
  public ranking(name: string): Member[] {
    const m = this.membership;
    if (!m) {
      return [];
    }
    if (this.placementVersion !== m.version) {
      this.placement.clear();
      this.placementVersion = m.version;
    }
    let r = this.placement.get(name);
    if (!r) {
      r = rank(name, m.live());
      this.placement.set(name, r);
    }
    return r;
  }

  /** The members that hold `name` now. */
  public holders(name: string): Member[] {
    const ranked = this.ranking(name);
    const copies = this.copies(name);
    return copies === 'all' ? ranked : ranked.slice(0, copies);
  }

  /** Mesh routes handled at the HTTP server, in front of fastify and any fast path. */
  private intercept(app: FastifyInstance, req: IncomingMessage, res: ServerResponse, next: () => void): boolean {
    if ((req.method !== 'POST' && req.method !== 'GET') || !req.url) {
      return false;
    }
    const match = (req.method === 'POST' ? MESH_ROUTE : MESH_STATUS_ROUTE).exec(req.url);
    if (!match) {
      return false;
    }
    let name: string;
    try {
      name = decodeURIComponent(match[1] ?? match[2]);
    } catch {
      return false;
    }
    if (!this.known(name)) {
      return false; // the route answers 404
    }
    const handled = req.method === 'POST' ? this.handle(app, name, req, res, next) : this.handleStatus(name, req, res, next);
    handled.catch((err: unknown) => {
      const e = err instanceof ServerError ? err : serverError(ERRORS.INTERNAL);
      if (!(err instanceof ServerError)) {
        this.log('error', { event: 'mesh_error', model: name, err: String(err) }, 'mesh request failed');
      }
      if (!res.headersSent) {
        res.writeHead(e.statusCode, { 'content-type': 'application/json' });
      }
      res.end(JSON.stringify(e.toJSON()));
    });
    return true;
  }

  private async handle(app: FastifyInstance, name: string, req: IncomingMessage, res: ServerResponse, next: () => void): Promise<void> {
    const self = this.self;
    const marker = req.headers[MESH_FORWARDED_HEADER];
    if (marker !== undefined) {
      await this.prepareLocal(name, 'from_peer', res);
      next();
      return;
    }
    const ranked = this.ranking(name);
    const holders = this.holders(name);
    if (ranked.length === 0 || holders.some((m) => m.id === self)) {
      await this.prepareLocal(name, 'local', res);
      next();
      return;
    }
    const body = await readBody(req, this.config.maxBodyBytes);
    const start = this.roundRobin++ % holders.length;
    const candidates = [...holders.slice(start), ...holders.slice(0, start), ...ranked.slice(holders.length)];
    let attempts = 0;
    for (const member of candidates) {
      if (member.id === self || attempts >= MAX_FORWARD_ATTEMPTS) {
        break; // we are next in the ranking (or out of attempts): serve it here
      }
      attempts++;
      let answer: PeerResponse;
      try {
        answer = await this.forward(member.id, req, body);
      } catch (err) {
        if (!(err instanceof PeerUnavailableError)) {
          throw err;
        }
        this.membership?.markDead(member.id);
        this.meshMetrics.forwards.inc({ outcome: 'error' });
        this.log('warn', { event: 'mesh_forward_failed', model: name, peer: member.id, reason: err.reason }, 'forward failed, trying the next member');
        continue;
      }
      if (answer.status === 503) {
        this.meshMetrics.forwards.inc({ outcome: 'error' });
        continue;
      }
      this.meshMetrics.forwards.inc({ outcome: 'ok' });
      this.meshMetrics.requests.inc({ model: name, via: 'forwarded' });
      const head: Record<string, string | number> = { [SERVED_BY_HEADER]: member.id, 'content-type': answer.contentType ?? 'application/json', 'content-length': answer.body.length };
      if (answer.inferenceHeaderLength !== undefined) head[INFERENCE_HEADER_CONTENT_LENGTH] = answer.inferenceHeaderLength;
      res.writeHead(answer.status, head);
      res.end(answer.body);
      return;
    }
    this.meshMetrics.forwards.inc({ outcome: 'fallback' });
    await this.prepareLocal(name, 'fallback', res);
    // The body is consumed: run the request through fastify in-process.
    const local = await app.inject({
      method: 'POST',
      url: req.url!,
      headers: { ...bodyHeaders(req), [MESH_FORWARDED_HEADER]: 'fallback' },
      payload: body,
    });
    const head: Record<string, string> = { 'content-type': String(local.headers['content-type'] ?? 'application/json') };
    const headerLength = local.headers[INFERENCE_HEADER_CONTENT_LENGTH];
    if (headerLength !== undefined) head[INFERENCE_HEADER_CONTENT_LENGTH] = String(headerLength);
    res.writeHead(local.statusCode, head);
    res.end(local.rawPayload);
  }

  /**
   * Metadata and readiness: a holder (or the member a peer forwarded to) loads the model and lets
   * fastify answer; any other member asks a holder, and answers itself only when none answers.
   */
  private async handleStatus(name: string, req: IncomingMessage, res: ServerResponse, next: () => void): Promise<void> {
    const self = this.self;
    const holders = this.holders(name);
    const local = req.headers[MESH_FORWARDED_HEADER] !== undefined || holders.length === 0
      || holders.some((m) => m.id === self) || this.repository.get(name)?.state === ModelState.READY;
    if (!local) {
      for (const member of holders.slice(0, MAX_FORWARD_ATTEMPTS)) {
        let answer: PeerResponse;
        try {
          answer = await this.forwardGet(member.id, req.url!);
        } catch (err) {
          if (!(err instanceof PeerUnavailableError)) throw err;
          this.membership?.markDead(member.id);
          continue;
        }
        res.writeHead(answer.status, { [SERVED_BY_HEADER]: member.id, 'content-type': answer.contentType ?? 'application/json', 'content-length': answer.body.length });
        res.end(answer.body);
        return;
      }
    }
    res.setHeader(SERVED_BY_HEADER, self);
    await this.ensureLocal(name);
    try {
      await this.core.ensureLoaded(name);
    } catch {
      // The route answers with the model's state (503 and the reason).
    }
    next();
  }

  private forwardGet(peer: string, url: string): Promise<PeerResponse> {
    const timeoutMs = this.config.mesh!.loadTimeoutMs + (this.config.requestTimeoutMs || 30_000);
    return requestPeer(peer, 'GET', url, { [MESH_FORWARDED_HEADER]: this.self }, undefined, timeoutMs, true);
  }

  /** One forward; a reused keep-alive socket the peer had closed is retried once on a new one. */
  private forward(peer: string, request: IncomingMessage, body: Buffer): Promise<PeerResponse> {
    const headers: Record<string, string> = { ...bodyHeaders(request), [MESH_FORWARDED_HEADER]: this.self };
    const timeoutMs = this.config.mesh!.loadTimeoutMs + (this.config.requestTimeoutMs || 30_000);
    return requestPeer(peer, 'POST', request.url!, headers, body, timeoutMs, true);
  }

  private async prepareLocal(name: string, via: string, res: ServerResponse): Promise<void> {
    this.meshMetrics.requests.inc({ model: name, via });
    res.setHeader(SERVED_BY_HEADER, this.self);
    await this.ensureLocal(name);
    const entry = this.repository.get(name);
    if (entry?.state === ModelState.READY) {
      this.meshMetrics.cacheHits.inc({ model: name });
    } else {
      this.meshMetrics.cacheMisses.inc({ model: name });
    }
  }

  /** Makes the model's files local: fetched from its `storageUri` once (single flight). */
  private async ensureLocal(name: string): Promise<void> {
    if (this.repository.get(name)) {
      return;
    }
    const uri = this.registry.get(name)?.storageUri;
    if (!uri) {
      this.repository.index(); // rescan: the files may have appeared
      return;
    }
    let pending = this.fetches.get(name);
    if (!pending) {
      const timeoutMs = this.config.mesh!.loadTimeoutMs;
      pending = (async () => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const fetched = fetchModel(uri, path.join(this.config.modelDir, name), { settings: this.config.storage, log: (msg) => this.log('info', { event: 'storage', model: name }, msg) });
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`not fetched within ${timeoutMs} ms`)), timeoutMs);
          });
          await Promise.race([fetched, timeout]);
          this.repository.index();
          this.log('info', { event: 'model_fetched', model: name, storageUri: uri }, 'model fetched');
        } catch (err) {
          this.log('error', { event: 'model_fetch_failed', model: name, storageUri: uri }, (err as Error).message);
          throw serverError(ERRORS.MODEL_LOAD_FAILED, name, (err as Error).message);
        } finally {
          clearTimeout(timer);
          this.fetches.delete(name);
        }
      })();
      this.fetches.set(name, pending);
    }
    await pending;
  }
}

/** Logs until `install` hands over the app's logger. */
function stdoutLogger(level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, msg: string): void {
  logLine(level === 'info' ? 30 : level === 'warn' ? 40 : 50, fields, msg);
}

async function readBody(raw: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of raw) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      throw serverError(ERRORS.BODY_TOO_LARGE, limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The headers that describe a forwarded body: its type, and the binary tensor data extension's
 * JSON header length (without it a binary body is not understood).
 */
function bodyHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  const type = request.headers['content-type'];
  if (type) headers['content-type'] = String(type);
  const headerLength = request.headers[INFERENCE_HEADER_CONTENT_LENGTH];
  if (headerLength !== undefined) headers[INFERENCE_HEADER_CONTENT_LENGTH] = String(headerLength);
  return headers;
}
