/**
 * The model registry of a mesh: which models exist, where they are stored, how many copies.
 *
 * A ModelMesh writes it as JSON into a ConfigMap that every member mounts read-only; the kubelet
 * swaps the file (a symlink flip) when the ConfigMap changes, so the member polls the file's
 * content instead of relying on inotify. A file that fails to parse keeps the last good registry.
 *
 * ```json
 * {"models": [{"name": "iris", "storageUri": "s3://models/iris", "format": "onnx",
 *              "memoryEstimateBytes": 67108864, "copies": 2}]}
 * ```
 * `copies` is a number or `"all"` (on every member). Without a registry file the models are the
 * folders of the model directory, one copy each.
 */
import * as fs from 'fs';

/** One registered model. */
export interface RegistryModel {
  readonly name: string;
  readonly storageUri?: string;
  readonly format?: string;
  readonly memoryEstimateBytes?: number;
  readonly copies: number | 'all';
}

/** Parses registry JSON; throws with a message naming the bad entry. */
export function parseRegistry(text: string): Map<string, RegistryModel> {
  const doc = JSON.parse(text) as { models?: unknown };
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.models)) {
    throw new Error('the registry must be a JSON object with a "models" array');
  }
  const out = new Map<string, RegistryModel>();
  for (const m of doc.models as Array<Record<string, unknown>>) {
    const name = m?.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
      throw new Error(`registry entry has an invalid name: ${JSON.stringify(name)}`);
    }
    const copies = m.copies ?? 1;
    if (copies !== 'all' && !(Number.isInteger(copies) && (copies as number) >= 1)) {
      throw new Error(`registry entry '${name}' has invalid copies ${JSON.stringify(copies)} (a positive integer or "all")`);
    }
    if (m.storageUri !== undefined && typeof m.storageUri !== 'string') {
      throw new Error(`registry entry '${name}' has a non-string storageUri`);
    }
    out.set(name, {
      name,
      storageUri: m.storageUri as string | undefined,
      format: typeof m.format === 'string' ? m.format : undefined,
      memoryEstimateBytes: typeof m.memoryEstimateBytes === 'number' ? m.memoryEstimateBytes : undefined,
      copies: copies as number | 'all',
    });
  }
  return out;
}

/** The registry file, re-read every `pollMs` while started. */
export class ModelRegistryFile {
  private models = new Map<string, RegistryModel>();
  private text = '';
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly file: string | undefined,
    private readonly onError: (message: string) => void = () => undefined,
    private readonly pollMs = 2000,
  ) {
    this.reload();
  }

  /** Whether a registry file is in use. */
  public get enabled(): boolean {
    return this.file !== undefined;
  }

  public get(name: string): RegistryModel | undefined {
    return this.models.get(name);
  }

  public names(): string[] {
    return [...this.models.keys()];
  }

  /** Re-reads the file; returns whether the registry changed. */
  public reload(): boolean {
    if (!this.file) {
      return false;
    }
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      this.onError(`cannot read the model registry ${this.file}: ${(err as Error).message}`);
      return false;
    }
    if (text === this.text) {
      return false;
    }
    try {
      this.models = parseRegistry(text);
      this.text = text;
      return true;
    } catch (err) {
      this.onError(`model registry ${this.file} ignored (keeping the previous one): ${(err as Error).message}`);
      return false;
    }
  }

  public start(onChange: () => void): void {
    if (!this.file || this.timer) {
      return;
    }
    this.timer = setInterval(() => {
      if (this.reload()) {
        onChange();
      }
    }, this.pollMs);
    this.timer.unref();
  }

  public stop(): void {
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
