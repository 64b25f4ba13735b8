/**
 * Informers: client-node's ListWatch (list, then watch from the list's resourceVersion; it lists
 * again when the watch expires with 410 Gone) keeps a cache of each watched kind and calls our
 * handlers on add, update and delete. One informer per kind: our three custom resource kinds,
 * started up front, and each kind of child, started the first time a custom resource renders it
 * (or names it in its applyset inventory), filtered to objects carrying the applyset part-of label.
 * An informer that fails (the watch or list errors) is restarted after a backoff.
 */
import type { ClientNode, Informer, KubeConfig, ObjectCache } from './client-node';
import { Kube, kubePath, type KubeObject } from './kube';
import type { Logger } from './log';

export interface InformerHandlers {
  readonly add?: (obj: KubeObject) => void;
  readonly update?: (obj: KubeObject) => void;
  readonly delete?: (obj: KubeObject) => void;
}

interface Entry {
  readonly informer: Informer<KubeObject> & ObjectCache<KubeObject>;
  readonly synced: Promise<void>;
  isSynced: boolean;
  failures: number;
}

export const gvkKey = (apiVersion: string, kind: string) => `${kind}.${apiVersion}`;

export class InformerSet {
  private readonly entries = new Map<string, Entry>();
  private stopped = false;

  constructor(
    private readonly client: ClientNode,
    private readonly kubeConfig: KubeConfig,
    private readonly kube: Kube,
    private readonly log: Logger,
    private readonly namespace: string,
  ) {}

  /** The cache of `kind`, once its informer exists. */
  cache(apiVersion: string, kind: string): ObjectCache<KubeObject> | undefined {
    return this.entries.get(gvkKey(apiVersion, kind))?.informer;
  }

  /** Kinds whose first list has not finished (for /readyz). */
  notSynced(): string[] {
    return [...this.entries].filter(([, e]) => !e.isSynced).map(([k]) => k);
  }

  /** Starts an informer for `kind` unless one runs; resolves when its cache holds the first list. */
  ensure(apiVersion: string, kind: string, handlers: InformerHandlers, labelSelector?: string): Promise<void> {
    const key = gvkKey(apiVersion, kind);
    const existing = this.entries.get(key);
    if (existing) return existing.synced;
    let markSynced!: () => void;
    const synced = new Promise<void>((r) => { markSynced = r; });
    const entry: Entry = { informer: undefined as never, synced, isSynced: false, failures: 0 };
    this.entries.set(key, entry);
    const create = async () => {
      const resource = await this.kube.resourceFor(apiVersion, kind);
      const path = kubePath(apiVersion, resource, this.namespace || undefined);
      const query = labelSelector ? `?${new URLSearchParams({ labelSelector })}` : '';
      const list = async () => {
        const body = await this.kube.request('GET', `${path}${query}`);
        // List items carry no apiVersion/kind; the watch's objects do. The caches hold them alike.
        for (const item of body.items ?? []) {
          item.apiVersion ??= apiVersion;
          item.kind ??= kind;
        }
        return body;
      };
      const informer = this.client.makeInformer<KubeObject>(this.kubeConfig, path, list, labelSelector);
      if (handlers.add) informer.on('add', handlers.add);
      if (handlers.update) informer.on('update', handlers.update);
      if (handlers.delete) informer.on('delete', handlers.delete);
      informer.on('connect', () => { entry.failures = 0; });
      informer.on('error', (err) => {
        if (this.stopped) return;
        const delay = this.backoff(entry);
        this.log.warn('informer failed; restarting it', { kind, error: err, retryInMs: delay });
        setTimeout(() => { if (!this.stopped) informer.start().catch(() => { /* reported through 'error' */ }); }, delay).unref();
      });
      return informer;
    };
    const start = async (): Promise<void> => {
      try {
        (entry as { informer: Entry['informer'] }).informer ??= await create();
        await entry.informer.start();
      } catch (e) {
        if (this.stopped) return;
        const delay = this.backoff(entry);
        this.log.warn('informer could not start; retrying', { kind, error: e, retryInMs: delay });
        await new Promise((r) => setTimeout(r, delay));
        return start();
      }
    };
    void start().then(() => {
      entry.isSynced = true;
      markSynced();
    });
    return synced;
  }

  /** Exponential backoff with jitter: 0.5 s doubling to 30 s, times 0.5 to 1.5. */
  private backoff(entry: Entry): number {
    entry.failures++;
    return Math.round(Math.min(30_000, 500 * 2 ** Math.min(entry.failures - 1, 6)) * (0.5 + Math.random()));
  }

  /** Stops every informer. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.entries.values()].map((e) => e.informer?.stop().catch(() => undefined)));
  }
}
