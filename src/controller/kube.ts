/**
 * The controller's requests to the API server. `@kubernetes/client-node` loads the configuration
 * (kubeconfig or in-cluster service account) and authenticates every request (tokens, client
 * certificates, exec and auth-provider plugins, refreshed as it decides); the informers use its
 * Watch and ListWatch (informers.ts).
 *
 * Objects travel as plain JSON here, not through client-node's typed API classes: their
 * serializer keeps only the fields its generated models know, so a server-side apply of a
 * Deployment through them would silently drop a field newer than the client, and the typed
 * objects (Date instances) could not be compared with what the watch delivers (plain JSON).
 *
 * Every write goes through `write`, which refuses when `canWrite()` is false: a replica that is
 * not (or no longer) the leader sends nothing.
 */
import * as https from 'node:https';
import type { KubeConfig } from './client-node';
import { CONTROLLER_FIELD_MANAGER } from '../contract';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KubeObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any }; [k: string]: any };

/** An error answer of the API server: its HTTP status, `Status.reason` and message. */
export class KubeError extends Error {
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(message);
    this.name = 'KubeError';
  }
}

/** A write was refused because this replica does not hold the leader Lease. */
export class NotLeaderError extends Error {
  constructor(what: string) {
    super(`not the leader: ${what} not sent`);
    this.name = 'NotLeaderError';
  }
}

export interface ResourceInfo {
  /** Plural (the REST resource name). */
  readonly name: string;
  readonly namespaced: boolean;
}

export interface KubeOptions {
  /** False while this replica must not write (not the leader, or shutting down). */
  readonly canWrite: () => boolean;
  /** Called after each write is sent (the writes metric): kind of the object, verb. */
  readonly onWrite?: (kind: string, verb: string) => void;
  /** User-Agent of every request (the API server's audit log records it): `cdk8s-model-serving-controller/<pod>`. */
  readonly userAgent?: string;
  /** Most sockets open to the API server at once. */
  readonly maxSockets?: number;
}

/** URL path of a collection (`name` omitted) or of one object. */
export function kubePath(apiVersion: string, resource: ResourceInfo, namespace: string | undefined, name?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const ns = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${resource.name}${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;
}

export class Kube {
  private agent?: https.Agent;
  private readonly discovery = new Map<string, Promise<Map<string, ResourceInfo>>>();
  readonly server: URL;

  constructor(readonly kubeConfig: KubeConfig, private readonly options: KubeOptions) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  /** One request; resolves with the parsed JSON body, throws KubeError for a status of 400 or more. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async request(method: string, path: string, options: { body?: unknown; contentType?: string; timeoutMs?: number } = {}): Promise<any> {
    // client-node adds the credentials (and refreshes them); the keep-alive agent is ours, built
    // once from the same TLS settings, so requests reuse their connections.
    const opts: https.RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(opts);
    this.agent ??= new https.Agent({
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: opts.rejectUnauthorized,
      keepAlive: true,
      maxSockets: this.options.maxSockets ?? 16,
    });
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const req = https.request({
        protocol: this.server.protocol,
        host: this.server.hostname,
        port: this.server.port,
        path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
        method,
        agent: this.agent,
        auth: opts.auth,
        timeout: timeoutMs,
        headers: {
          ...(opts.headers as Record<string, string>),
          'accept': 'application/json',
          'user-agent': this.options.userAgent ?? CONTROLLER_FIELD_MANAGER,
          ...(payload ? { 'content-type': options.contentType ?? 'application/json', 'content-length': payload.length } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try { body = JSON.parse(text); } catch { /* not JSON */ }
          const status = res.statusCode ?? 0;
          if (status >= 400) {
            const s = (typeof body === 'object' && body !== null ? body : {}) as { reason?: string; message?: string };
            reject(new KubeError(status, s.reason ?? '', s.message ?? `${method} ${path}: HTTP ${status}`));
          } else {
            resolve(body);
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /** The REST resource of `kind` in `apiVersion`, from API discovery (cached; looked up again once on a miss). */
  async resourceFor(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const lookup = async (fresh: boolean) => {
      if (fresh) this.discovery.delete(apiVersion);
      let kinds = this.discovery.get(apiVersion);
      if (!kinds) {
        kinds = this.request('GET', apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`).then(
          (body: { resources?: Array<{ name: string; kind: string; namespaced: boolean }> }) =>
            new Map((body.resources ?? []).filter((r) => !r.name.includes('/')).map((r) => [r.kind, { name: r.name, namespaced: r.namespaced }])),
          () => new Map<string, ResourceInfo>());
        this.discovery.set(apiVersion, kinds);
      }
      return (await kinds).get(kind);
    };
    const found = (await lookup(false)) ?? (await lookup(true));
    if (!found) throw new KubeError(404, 'NotFound', `the API server does not serve ${kind} in ${apiVersion} (is its CRD installed?)`);
    return found;
  }


  async pathOf(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }, subresource = ''): Promise<string> {
    const resource = await this.resourceFor(obj.apiVersion, obj.kind);
    return `${kubePath(obj.apiVersion, resource, obj.metadata.namespace, obj.metadata.name)}${subresource ? `/${subresource}` : ''}`;
  }

  /** Sends one write, unless this replica may not write now. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private async write(kind: string, verb: string, method: string, path: string, options: { body?: unknown; contentType?: string }): Promise<any> {
    if (!this.options.canWrite()) throw new NotLeaderError(`${verb} of ${kind} ${path}`);
    this.options.onWrite?.(kind, verb);
    return this.request(method, path, options);
  }

  /**
   * Server-side apply with the controller's field manager. `force`: the controller takes over
   * fields another manager set (a hand edit of a field the CR decides is put back).
   */
  async apply(obj: KubeObject, options: { force?: boolean; subresource?: string } = {}): Promise<KubeObject> {
    const query = new URLSearchParams({ fieldManager: CONTROLLER_FIELD_MANAGER, fieldValidation: 'Strict' });
    if (options.force) query.set('force', 'true');
    const path = `${await this.pathOf(obj, options.subresource)}?${query}`;
    return this.write(obj.kind, options.subresource === 'status' ? 'status' : 'apply', 'PATCH', path, { body: obj, contentType: 'application/apply-patch+yaml' });
  }

  /** Deletes one object (background propagation: the garbage collector removes its dependents). A 404 counts as done. */
  async delete(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; uid?: string } }): Promise<void> {
    const body = { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', ...(obj.metadata.uid ? { preconditions: { uid: obj.metadata.uid } } : {}) };
    try {
      await this.write(obj.kind, 'delete', 'DELETE', await this.pathOf(obj), { body });
    } catch (e) {
      if (!(e instanceof KubeError && (e.status === 404 || e.status === 409))) throw e;
    }
  }

  /** Creates an object (Events, Leases). */
  async create(obj: KubeObject): Promise<KubeObject> {
    const resource = await this.resourceFor(obj.apiVersion, obj.kind);
    return this.write(obj.kind, 'create', 'POST', kubePath(obj.apiVersion, resource, obj.metadata.namespace), { body: obj });
  }

  /** Replaces an object, with its resourceVersion as the optimistic lock (Leases). Not guarded: leader election itself uses it. */
  async replaceUnguarded(obj: KubeObject): Promise<KubeObject> {
    this.options.onWrite?.(obj.kind, 'replace');
    return this.request('PUT', await this.pathOf(obj), { body: obj });
  }

  /** Creates an object without the leader guard (the Lease a candidate creates to become leader). */
  async createUnguarded(obj: KubeObject): Promise<KubeObject> {
    const resource = await this.resourceFor(obj.apiVersion, obj.kind);
    this.options.onWrite?.(obj.kind, 'create');
    return this.request('POST', kubePath(obj.apiVersion, resource, obj.metadata.namespace), { body: obj });
  }

  /** Reads one object; undefined when it does not exist. */
  async get(apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
    try {
      return await this.request('GET', await this.pathOf({ apiVersion, kind, metadata: { name, namespace } }));
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) return undefined;
      throw e;
    }
  }

  /** Closes idle keep-alive sockets. */
  close(): void {
    this.agent?.destroy();
  }
}
