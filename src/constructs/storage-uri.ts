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

  /**
   * Parses a storage URI as KServe's `storageUri` field takes it.
   *
   * Accepted schemes: `s3://`, `gs://`, `https://`, `http://` and `pvc://`.
   */
  public static fromUri(uri: string): StorageUri {
    const match = /^([a-z0-9]+):\/\/([^/]+)(\/.*)?$/.exec(uri);
    if (!match) {
      throw new Error(`'storageUri' must look like 'scheme://host-or-bucket/path', got '${uri}'`);
    }
    const [, scheme, authority, rest] = match;
    if (!SCHEMES.includes(scheme as StorageScheme)) {
      throw new Error(`'storageUri' has an unknown scheme '${scheme}://' in '${uri}'; use one of ${SCHEMES.map(s => `${s}://`).join(', ')}`);
    }
    const path = rest ? trimSlashes(rest) : '';
    if ((scheme === 's3' || scheme === 'gs') && !path) {
      throw new Error(`'storageUri' must name an object or prefix inside the bucket, got '${uri}'; for example '${scheme}://${authority}/models/iris'`);
    }
    if (scheme === 'pvc' && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(authority)) {
      throw new Error(`'storageUri' must name a PersistentVolumeClaim that is a DNS-1123 label, got '${authority}' in '${uri}'`);
    }
    return new StorageUri(uri, scheme, authority, path);
  }

  /** The URI as the server and KServe take it. */
  public readonly uri: string;
  /** The scheme, without `://` (`s3`, `gs`, `https`, `http` or `pvc`). */
  public readonly scheme: string;
  /** The bucket, host or claim name. */
  public readonly authority: string;
  /** The path after the authority, without leading or trailing slashes. */
  public readonly path: string;

  private constructor(uri: string, scheme: string, authority: string, path: string) {
    this.uri = uri;
    this.scheme = scheme;
    this.authority = authority;
    this.path = path;
  }

  /** Whether the model is mounted from a volume rather than downloaded. */
  public get isMounted(): boolean {
    return this.scheme === 'pvc';
  }
}

type StorageScheme = 's3' | 'gs' | 'https' | 'http' | 'pvc';
const SCHEMES: StorageScheme[] = ['s3', 'gs', 'https', 'http', 'pvc'];

function trimSlashes(value: string): string {
  return value.replace(/^\/+|\/+$/g, '');
}
