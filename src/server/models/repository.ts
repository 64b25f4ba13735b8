/**
 * The model repository: finds models on disk, loads and unloads them, keeps them within a
 * memory budget, and hands loaded models to requests.
 *
 * Layout of the model directory (`--model-dir`, default `/mnt/models`):
 * - single-model: one `.onnx` file directly in the directory (or the directory *is* a
 *   `.onnx` file), served under `--model-name`. `model.onnx` wins if there are several.
 * - multi-model: one folder per model, `<dir>/<name>/model.onnx` (or any `<dir>/<name>/*.onnx`),
 *   or versioned `<dir>/<name>/<version>/*.onnx` (the highest numeric version is served); in
 *   `multi` mode a top-level `<dir>/<name>.onnx` is also the model `<name>`.
 * `--mode auto` (default) picks single-model if the directory holds a `.onnx` file itself.
 *
 * States: LOADING, READY, UNAVAILABLE (unloaded, evicted or not loaded yet), FAILED (with reason).
 * A model that fails to load is FAILED; every other model keeps serving.
 *
 * Memory: each model is charged `file size x MODEL_MEMORY_FACTOR` bytes from the moment its load
 * starts until its session is released. A load that would exceed the budget first evicts idle
 * READY models, least recently used first; a model with requests in flight is never evicted.
 * Concurrent requests for a model being loaded share one load (single flight).
 * In multi-model mode, a request for a model that was evicted, or did not fit at startup, loads
 * it on demand; a model unloaded through the API stays unloaded until loaded again.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ERRORS, ServerError, serverError } from '../errors';
import { OnnxModel } from './onnx-model';
import { ModelIndexEntry, ModelState } from '../inference/types';

/** Estimated resident bytes of a model per byte of its `.onnx` file. */
export const MODEL_MEMORY_FACTOR = 2;

/** How models are laid out in the model directory. */
export type RepositoryMode = 'auto' | 'single' | 'multi';

/** Things the repository reports (metrics and logs hook in here). */
export interface RepositoryEvents {
  loaded?(name: string, seconds: number, bytes: number): void;
  loadFailed?(name: string, reason: string): void;
  evicted?(name: string): void;
  released?(name: string): void;
}

export interface RepositoryOptions {
  readonly modelDir: string;
  /** Name of the model in single-model mode. */
  readonly modelName: string;
  readonly mode: RepositoryMode;
  /** 0 means no limit. */
  readonly memoryBudgetBytes: number;
  readonly events?: RepositoryEvents;
  /** FAILED reason of the model when the model directory is missing (default: the file system's error). */
  readonly missingDirReason?: string;
  /** Loader, replaceable in tests. */
  readonly loader?: (file: string) => Promise<OnnxModel>;
}

/** A loaded session and the requests using it. */
export interface LoadedModel {
  readonly model: OnnxModel;
  readonly bytes: number;
  inFlight: number;
  retired: boolean;
  freed: boolean;
}

/** One model of the repository. */
export class ModelEntry {
  public state: ModelState = ModelState.UNAVAILABLE;
  public reason = 'not loaded';
  /** Unloaded through the API: not loaded on demand. */
  public unloaded = false;
  public current?: LoadedModel;
  public loading?: Promise<LoadedModel>;
  public lastUsed = 0;
  public loads = 0;

  constructor(public readonly name: string, public file: string | undefined, public version: string | undefined, public sizeBytes: number) {}
}

/** The set of models served. */
export class ModelRepository {
  public readonly single: boolean;
  private readonly entries = new Map<string, ModelEntry>();
  private heldBytes = 0;
  private useCounter = 0;
  private readonly loader: (file: string) => Promise<OnnxModel>;

  constructor(private readonly options: RepositoryOptions) {
    this.loader = options.loader ?? ((file) => OnnxModel.load(file));
    this.single = this.detectSingle();
    this.scan();
  }

  /** Bytes charged to loading and loaded models right now. */
  public get usedBytes(): number {
    return this.heldBytes;
  }

  public get memoryBudgetBytes(): number {
    return this.options.memoryBudgetBytes;
  }

  /** The entry called `name`, or undefined. */
  public get(name: string): ModelEntry | undefined {
    return this.entries.get(name);
  }

  /** All entries, sorted by name. */
  public list(): ModelEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The V2 repository index. */
  public index(): ModelIndexEntry[] {
    this.scan();
    return this.list().map((e) => ({ name: e.name, ...(e.version ? { version: e.version } : {}), state: e.state, reason: e.state === ModelState.READY ? '' : e.reason }));
  }

  /** Loads every model at startup; failures mark models FAILED, budget overflow leaves them UNAVAILABLE. */
  public async loadAll(): Promise<void> {
    await Promise.all(this.list().map(async (e) => {
      if (e.file === undefined) {
        return;
      }
      try {
        await this.ensureLoaded(e, false);
      } catch (err) {
        if (err instanceof ServerError && err.code === ERRORS.MEMORY_BUDGET_EXCEEDED.code) {
          e.reason = 'not loaded: memory budget full (loads on first request)';
        }
      }
    }));
  }

  /**
   * A READY model for one request; the caller must call `release(loaded)` when done.
   * Loads on demand in multi-model mode (see the module comment).
   */
  public async acquire(entry: ModelEntry): Promise<LoadedModel> {
    let loaded: LoadedModel;
    const current = entry.current;
    if (entry.state === ModelState.READY && current && !current.retired) {
      loaded = current;
    } else if (entry.state === ModelState.LOADING && entry.loading) {
      loaded = await entry.loading;
    } else if (entry.state === ModelState.UNAVAILABLE && !entry.unloaded && !this.single && entry.file !== undefined) {
      loaded = await this.ensureLoaded(entry, false);
    } else {
      throw notReady(entry);
    }
    loaded.inFlight++;
    entry.lastUsed = ++this.useCounter;
    return loaded;
  }

  /** Ends a request started with `acquire`. */
  public release(entry: ModelEntry, loaded: LoadedModel): void {
    loaded.inFlight--;
    if (loaded.retired && loaded.inFlight === 0) {
      void this.free(entry, loaded);
    }
  }

  /** Loads (or reloads a FAILED/UNAVAILABLE) model through the API; picks up new folders. */
  public async load(name: string): Promise<ModelEntry> {
    this.scan();
    const entry = this.entries.get(name);
    if (!entry) {
      throw serverError(ERRORS.MODEL_NOT_FOUND, name);
    }
    entry.unloaded = false;
    if (entry.file === undefined) {
      throw serverError(ERRORS.MODEL_LOAD_FAILED, name, entry.reason);
    }
    await this.ensureLoaded(entry, true);
    return entry;
  }

  /** Unloads a model: new requests get 503, requests in flight finish first. */
  public async unload(name: string): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) {
      throw serverError(ERRORS.MODEL_NOT_FOUND, name);
    }
    entry.unloaded = true;
    if (entry.loading) {
      try {
        await entry.loading;
      } catch {
        // a failed load has nothing to unload
      }
    }
    if (entry.state === ModelState.FAILED) {
      return;
    }
    entry.state = ModelState.UNAVAILABLE;
    entry.reason = 'unloaded';
    this.retire(entry);
  }

  /** Releases every session (shutdown). */
  public async close(): Promise<void> {
    await Promise.all(this.list().map(async (e) => {
      if (e.loading) {
        await e.loading.catch(() => undefined);
      }
      e.state = ModelState.UNAVAILABLE;
      e.reason = 'server stopped';
      this.retire(e);
    }));
  }

  private retire(entry: ModelEntry): void {
    const current = entry.current;
    entry.current = undefined;
    if (current && !current.retired) {
      current.retired = true;
      if (current.inFlight === 0) {
        void this.free(entry, current);
      }
    }
  }

  private async free(entry: ModelEntry, loaded: LoadedModel): Promise<void> {
    if (loaded.freed) {
      return;
    }
    loaded.freed = true;
    this.heldBytes -= loaded.bytes;
    this.options.events?.released?.(entry.name);
    await loaded.model.release().catch(() => undefined);
  }

  /** Single-flight load of `entry`, evicting idle models to fit the budget. */
  private ensureLoaded(entry: ModelEntry, reloadFailed: boolean): Promise<LoadedModel> {
    if (entry.loading) {
      return entry.loading;
    }
    if (entry.state === ModelState.READY && entry.current) {
      return Promise.resolve(entry.current);
    }
    if (entry.state === ModelState.FAILED && !reloadFailed) {
      return Promise.reject(notReady(entry));
    }
    const file = entry.file!;
    const bytes = Math.ceil(entry.sizeBytes * MODEL_MEMORY_FACTOR);
    this.reserve(entry, bytes); // throws if the budget cannot fit it
    entry.state = ModelState.LOADING;
    entry.reason = 'loading';
    entry.loads++;
    const started = process.hrtime.bigint();
    const promise = (async () => {
      let model: OnnxModel;
      try {
        model = await this.loader(file);
      } catch (err) {
        this.heldBytes -= bytes;
        entry.state = ModelState.FAILED;
        entry.reason = loadErrorReason(err);
        entry.loading = undefined;
        this.options.events?.loadFailed?.(entry.name, entry.reason);
        throw serverError(ERRORS.MODEL_LOAD_FAILED, entry.name, entry.reason);
      }
      const loaded: LoadedModel = { model, bytes, inFlight: 0, retired: false, freed: false };
      entry.loading = undefined;
      if (entry.unloaded) {
        // unloaded while loading: keep it unloaded
        loaded.retired = true;
        void this.free(entry, loaded);
        throw notReady(entry);
      }
      entry.current = loaded;
      entry.state = ModelState.READY;
      entry.reason = '';
      entry.lastUsed = ++this.useCounter;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.options.events?.loaded?.(entry.name, seconds, bytes);
      return loaded;
    })();
    entry.loading = promise;
    // Nobody may be waiting (startup): avoid an unhandled rejection.
    promise.catch(() => undefined);
    return promise;
  }

  private reserve(entry: ModelEntry, bytes: number): void {
    const budget = this.options.memoryBudgetBytes;
    if (budget > 0) {
      while (this.heldBytes + bytes > budget) {
        const victim = this.leastRecentlyUsedIdle(entry);
        if (!victim) {
          throw serverError(ERRORS.MEMORY_BUDGET_EXCEEDED, entry.name, bytes, budget - this.heldBytes + this.evictableBytes(entry), budget);
        }
        victim.state = ModelState.UNAVAILABLE;
        victim.reason = 'evicted to stay within the memory budget (loads on next request)';
        this.options.events?.evicted?.(victim.name);
        this.retire(victim);
      }
    }
    this.heldBytes += bytes;
  }

  private evictableBytes(except: ModelEntry): number {
    let sum = 0;
    for (const e of this.entries.values()) {
      if (e !== except && e.state === ModelState.READY && e.current && e.current.inFlight === 0) {
        sum += e.current.bytes;
      }
    }
    return sum;
  }

  private leastRecentlyUsedIdle(except: ModelEntry): ModelEntry | undefined {
    let best: ModelEntry | undefined;
    for (const e of this.entries.values()) {
      if (e === except || e.state !== ModelState.READY || !e.current || e.current.inFlight > 0) {
        continue;
      }
      if (!best || e.lastUsed < best.lastUsed) {
        best = e;
      }
    }
    return best;
  }

  private detectSingle(): boolean {
    const { mode, modelDir } = this.options;
    if (mode !== 'auto') {
      return mode === 'single';
    }
    try {
      const st = fs.statSync(modelDir);
      if (st.isFile()) {
        return true;
      }
      return fs.readdirSync(modelDir).some((f) => f.endsWith('.onnx'));
    } catch {
      return true; // missing directory: the one model is FAILED, which says why
    }
  }

  /** Finds models on disk; adds new ones and updates files of models not loaded. */
  private scan(): void {
    const discovered = this.single ? this.scanSingle() : this.scanMulti();
    for (const f of discovered) {
      const existing = this.entries.get(f.name);
      if (!existing) {
        const e = new ModelEntry(f.name, f.file, f.version, f.size);
        if (f.file === undefined) {
          e.state = ModelState.FAILED;
          e.reason = f.error ?? 'no model file';
        }
        this.entries.set(f.name, e);
      } else if (existing.state !== ModelState.READY && existing.state !== ModelState.LOADING) {
        const hadFile = existing.file !== undefined;
        existing.file = f.file;
        existing.version = f.version;
        existing.sizeBytes = f.size;
        if (f.file === undefined) {
          existing.state = ModelState.FAILED;
          existing.reason = f.error ?? 'no model file';
        } else if (!hadFile) {
          existing.state = ModelState.UNAVAILABLE;
          existing.reason = 'not loaded';
        }
      }
    }
  }

  private scanSingle(): Found[] {
    const { modelDir, modelName } = this.options;
    try {
      const st = fs.statSync(modelDir);
      if (st.isFile()) {
        return [found(modelName, modelDir, undefined)];
      }
      const files = fs.readdirSync(modelDir).filter((f) => f.endsWith('.onnx')).sort();
      if (files.length === 0) {
        return [{ name: modelName, size: 0, error: `no .onnx file in ${modelDir}` }];
      }
      const file = files.includes('model.onnx') ? 'model.onnx' : files[0];
      return [found(modelName, path.join(modelDir, file), undefined)];
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' ? this.options.missingDirReason : undefined;
      return [{ name: modelName, size: 0, error: missing ?? `cannot read ${modelDir}: ${(err as Error).message}` }];
    }
  }

  private scanMulti(): Found[] {
    const { modelDir } = this.options;
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(modelDir, { withFileTypes: true });
    } catch {
      return [];
    }
    const out: Found[] = [];
    for (const d of names) {
      if (d.name.startsWith('.') || d.name === 'lost+found') {
        continue;
      }
      const full = path.join(modelDir, d.name);
      if (d.isFile() && d.name.endsWith('.onnx')) {
        out.push(found(d.name.slice(0, -'.onnx'.length), full, undefined));
      } else if (d.isDirectory()) {
        out.push(scanModelFolder(d.name, full));
      }
    }
    return out;
  }
}

interface Found {
  name: string;
  file?: string;
  version?: string;
  size: number;
  error?: string;
}

function found(name: string, file: string, version: string | undefined): Found {
  let size = 0;
  try {
    size = fs.statSync(file).size;
  } catch {
    // load reports the real error
  }
  return { name, file, version, size };
}

function scanModelFolder(name: string, dir: string): Found {
  const entries = fs.readdirSync(dir, { withFileTypes: true });
  const files = entries.filter((e) => e.isFile() && e.name.endsWith('.onnx')).map((e) => e.name).sort();
  if (files.length > 0) {
    return found(name, path.join(dir, files.includes('model.onnx') ? 'model.onnx' : files[0]), undefined);
  }
  const versions = entries.filter((e) => e.isDirectory() && /^\d+$/.test(e.name)).map((e) => e.name).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const vfiles = fs.readdirSync(path.join(dir, v)).filter((f) => f.endsWith('.onnx')).sort();
    if (vfiles.length > 0) {
      return found(name, path.join(dir, v, vfiles.includes('model.onnx') ? 'model.onnx' : vfiles[0]), v);
    }
  }
  return { name, size: 0, error: `no .onnx file in ${dir}` };
}

function loadErrorReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // First line only: onnxruntime messages may carry native detail.
  return message.split('\n')[0].slice(0, 500);
}

/** The 503 for a model that cannot serve right now. */
export function notReady(entry: ModelEntry): ServerError {
  return serverError(ERRORS.MODEL_NOT_READY, entry.name, entry.state, entry.reason ? `: ${entry.reason}` : '');
}
