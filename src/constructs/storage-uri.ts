/**
 * Where a model is stored. Union-like: build one with a static factory.
 *
 * Every scheme except `pvc://` is fetched into `/mnt/models` before the server serves it:
 * by our model server itself at start-up, or by a storage-initializer init container in front
 * of a custom container (raw mode). A `pvc://` model is mounted read-only instead.
 *
 * @see https://kserve.github.io/website/latest/modelserving/storage/storagecontainers/
 */
export class StorageUri {
  /**
   * A model in an S3 or S3-compatible bucket (`s3://bucket/path`).
   *
   * @param bucket the bucket name
   * @param path the object key or prefix of the model; a prefix downloads every object under it
   */
  public static s3(bucket: string, path: string): StorageUri {
    return StorageUri.fromUri(`s3://${bucket}/${trimSlashes(path)}`);
  }

  /**
   * A model in Google Cloud Storage (`gs://bucket/path`), read through its S3-compatible API
   * with HMAC credentials.
   */
  public static gcs(bucket: string, path: string): StorageUri {
    return StorageUri.fromUri(`gs://${bucket}/${trimSlashes(path)}`);
  }

  /** A model file or archive (`.tar`, `.tar.gz`, `.tgz`, `.gz`) served over HTTPS. */
  public static https(url: string): StorageUri {
    if (!url.startsWith('https://')) {
      throw new Error(`'StorageUri.https' takes an https:// URL, got '${url}'`);
    }
    return StorageUri.fromUri(url);
  }

  /**
   * A model on a PersistentVolumeClaim in the endpoint's namespace, mounted read-only.
   *
   * @param claimName the PersistentVolumeClaim name
   * @param path the path of the model inside the volume
   * @default path - the root of the volume
   */
  public static pvc(claimName: string, path?: string): StorageUri {
    const suffix = path ? `/${trimSlashes(path)}` : '';
    return StorageUri.fromUri(`pvc://${claimName}${suffix}`);
  }

  // ---- rt-storage: hf:// and oci:// (issue 15) ----

  /**
   * A Hugging Face Hub model repository (`hf://<org>/<repo>[@<revision>]`): every file of the
   * repo at `revision`, fetched through the Hub's HTTP API (its file listing and `resolve`
   * downloads) under the same bounds as other fetches. A private or gated repo needs a token:
   * `storageAuth: StorageAuth.huggingFaceToken(secret)`.
   *
   * @param repo the repo id, `<org>/<name>` (for example `openai-community/gpt2`)
   * @param revision a branch, tag or commit; pin a 40-character commit for reproducible pods
   * @default revision - `main`
   * @see https://huggingface.co/docs/hub/api
   */
  public static hf(repo: string, revision?: string): StorageUri {
    return StorageUri.fromUri(`hf://${repo}${revision !== undefined ? `@${revision}` : ''}`);
  }

  /**
   * A model in an OCI image (`oci://<image reference>`), KServe's "modelcars": the model files are
   * the image's `/models` directory.
   *
   * @param image the image reference, for example `registry.example.com/models/iris:v1` or `...@sha256:<digest>`
   * @param options how the image reaches the pod
   * @see https://kserve.github.io/website/latest/modelserving/storage/oci/
   */
  public static oci(image: string, options: OciModelOptions = {}): StorageUri {
    const parsed = StorageUri.fromUri(`oci://${image}`);
    const mount = options.mount ?? ModelImageMount.MODELCAR;
    if (!Object.values(ModelImageMount).includes(mount)) {
      throw new Error(`'mount' must be one of ${Object.values(ModelImageMount).join(', ')}, got '${mount}'`);
    }
    return new StorageUri(parsed.uri, parsed.scheme, parsed.authority, parsed.path, mount);
  }
  // ---- end rt-storage ----

  /**
   * Parses a storage URI as KServe's `storageUri` field takes it.
   *
   * Accepted schemes: `s3://`, `gs://`, `https://`, `http://`, `pvc://`, `hf://` and `oci://`
   * (an `oci://` URI gets `ModelImageMount.MODELCAR`; `StorageUri.oci()` chooses another mount).
   */
  public static fromUri(uri: string): StorageUri {
    const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri);
    if (schemeMatch && !SCHEMES.includes(schemeMatch[1] as StorageScheme)) {
      throw new Error(`'storageUri' has an unknown scheme '${schemeMatch[1]}://' in '${uri}': it is not supported; use one of ${SCHEMES.map(s => `${s}://`).join(', ')}`);
    }
    const match = /^([a-z0-9]+):\/\/([^/]+)(\/.*)?$/.exec(uri);
    if (!match) {
      throw new Error(`'storageUri' must look like 'scheme://host-or-bucket/path' with one of the schemes ${SCHEMES.map(s => `${s}://`).join(', ')}, got '${uri}'`);
    }
    const [, scheme, authority, rest] = match;
    const path = rest ? trimSlashes(rest) : '';
    if ((scheme === 's3' || scheme === 'gs') && !path) {
      throw new Error(`'storageUri' must name an object or prefix inside the bucket, got '${uri}'; for example '${scheme}://${authority}/models/iris'`);
    }
    if (scheme === 'pvc' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(authority)) {
      throw new Error(`'storageUri' must name a PersistentVolumeClaim that is a DNS-1123 label, got '${authority}' in '${uri}'`);
    }
    if (scheme === 'hf') checkHfUri(uri);
    if (scheme === 'oci') checkImageReference(uri.slice('oci://'.length), uri);
    return new StorageUri(uri, scheme, authority, path, scheme === 'oci' ? ModelImageMount.MODELCAR : undefined);
  }

  /** The URI as the server and KServe take it. */
  public readonly uri: string;
  /** The scheme, without `://` (`s3`, `gs`, `https`, `http`, `pvc`, `hf` or `oci`). */
  public readonly scheme: string;
  /** The bucket, host or claim name. */
  public readonly authority: string;
  /** The path after the authority, without leading or trailing slashes. */
  public readonly path: string;
  /** How an `oci://` model reaches the pod; undefined for other schemes. */
  public readonly modelImageMount?: ModelImageMount;

  private constructor(uri: string, scheme: string, authority: string, path: string, modelImageMount?: ModelImageMount) {
    this.uri = uri;
    this.scheme = scheme;
    this.authority = authority;
    this.path = path;
    this.modelImageMount = modelImageMount;
  }

  /**
   * Whether the model is mounted rather than downloaded: a `pvc://` volume, or an `oci://` image
   * through a modelcar sidecar or an image volume.
   */
  public get isMounted(): boolean {
    return this.scheme === 'pvc' || (this.scheme === 'oci' && this.modelImageMount !== ModelImageMount.FETCH);
  }
}

// ---- rt-storage: hf:// and oci:// (issue 15) ----

/**
 * How the image of an `oci://` model reaches the pod.
 */
export enum ModelImageMount {
  /**
   * KServe's modelcar: the image runs as a sidecar in the predictor's pod, which shares its
   * process namespace (`shareProcessNamespace: true`); the sidecar links the model directory to
   * its own `/models` through `/proc/<pid>/root`. Nothing is copied. In raw mode it is a native
   * sidecar (an init container with `restartPolicy: Always`) whose startup probe holds the model
   * server back until the link resolves; Knative takes only plain containers, so there the server
   * may look before the link exists on a slow start. Costs: the image needs a
   * shell (`sh`, `ln`, `sleep`) and world-readable files, since it runs as the pod's non-root user
   * under the restricted profile; every container of the pod sees the others' processes (and,
   * as the same user, their environment); Knative needs its
   * `kubernetes.podspec-shareprocessnamespace` flag.
   */
  MODELCAR = 'modelcar',
  /**
   * An `image` volume: the kubelet pulls the image and mounts it read-only, the model directory
   * being its `/models` (a `subPath`). Needs Kubernetes 1.33 or later (declare it with the
   * endpoint's `kubernetesVersion`), whose Pod Security admission allows image volumes under the
   * restricted profile; Knative needs its `kubernetes.podspec-volumes-image` flag.
   *
   * @see https://kubernetes.io/docs/tasks/configure-pod-container/image-volumes/
   */
  IMAGE_VOLUME = 'image-volume',
  /**
   * Our storage initializer pulls the image's layers from the registry (the OCI distribution
   * API) and unpacks its `/models` into the model directory, under the same bounds as every
   * fetch. Works on any cluster and under Knative's default flags; costs the download at every
   * start, like s3://.
   */
  FETCH = 'fetch',
}

/**
 * Options of `StorageUri.oci()`.
 */
export interface OciModelOptions {
  /**
   * How the image reaches the pod.
   *
   * @default ModelImageMount.MODELCAR (KServe's way)
   */
  readonly mount?: ModelImageMount;
}

/** `hf://<org>/<repo>[@revision]` (KServe's `:revision` is taken too): the Hub's own id rules. */
function checkHfUri(uri: string): void {
  const m = /^hf:\/\/([^/@:]+)\/([^/@:]+)(?:[@:](.+))?$/.exec(uri);
  const fix = "use 'hf://<org>/<repo>' or 'hf://<org>/<repo>@<revision>', for example 'hf://openai-community/gpt2@main'";
  if (!m) throw new Error(`'storageUri' '${uri}' is not a Hugging Face repo; ${fix}`);
  const [, org, name, revision] = m;
  for (const [what, part] of [['org', org], ['repo name', name]]) {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/.test(part) || part.includes('..') || part.includes('--')) {
      throw new Error(`'storageUri' '${uri}' has an invalid ${what} '${part}': letters, digits, '-', '_' and '.', at most 96, not starting or ending with '-' or '.'; ${fix}`);
    }
  }
  if (revision !== undefined && (!/^[A-Za-z0-9._/-]{1,255}$/.test(revision) || revision.split('/').some(p => p === '' || p === '.' || p === '..'))) {
    throw new Error(`'storageUri' '${uri}' has an invalid revision '${revision}': a branch, tag or commit such as 'main', 'v1.0' or a 40-character commit id`);
  }
}

/** An OCI image reference as the distribution spec writes it: `[registry/]path[:tag][@digest]`. */
function checkImageReference(ref: string, uri: string): void {
  const component = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
  const domain = '(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\\[[0-9A-Fa-f:]+\\])(?::[0-9]+)?';
  const re = new RegExp(`^(?:${domain}/)?${component}(?:/${component})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$`);
  if (ref.length > 255 || !re.test(ref)) {
    throw new Error(`'storageUri' '${uri}' is not an OCI image reference; use 'oci://<registry>/<repository>:<tag>' or '...@sha256:<digest>', ` +
      "lowercase repository names, for example 'oci://registry.example.com/models/iris:v1'");
  }
}
// ---- end rt-storage ----

type StorageScheme = 's3' | 'gs' | 'https' | 'http' | 'pvc' | 'hf' | 'oci';
const SCHEMES: StorageScheme[] = ['s3', 'gs', 'https', 'http', 'pvc', 'hf', 'oci'];

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}
