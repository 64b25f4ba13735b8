import { ISecret, IServiceAccount, ServiceAccount } from 'cdk8s-plus-33';

/** IRSA: the annotation on a ServiceAccount that names the IAM role its pods assume. */
const AWS_ROLE_ARN_ANNOTATION = 'eks.amazonaws.com/role-arn';
/** GKE Workload Identity: the annotation that names the Google service account to impersonate. */
const GCP_SERVICE_ACCOUNT_ANNOTATION = 'iam.gke.io/gcp-service-account';

/**
 * Options of `StorageAuth.awsWorkloadIdentity()`.
 */
export interface AwsWorkloadIdentityOptions {
  /**
   * The service account the pods run as. EKS gives its pods the IAM role associated with it.
   */
  readonly serviceAccount: IServiceAccount;

  /**
   * The IAM role to assume through IRSA (IAM Roles for Service Accounts): set as the
   * `eks.amazonaws.com/role-arn` annotation on `serviceAccount`, which must then be defined in
   * this app (an imported one cannot be annotated here: annotate it where it is defined).
   *
   * @default - no annotation: EKS Pod Identity, where the role is associated with the service
   * account outside Kubernetes (`aws eks create-pod-identity-association`)
   * @see https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts.html
   */
  readonly roleArn?: string;
}

/**
 * Options of `StorageAuth.gcpWorkloadIdentity()`.
 */
export interface GcpWorkloadIdentityOptions {
  /**
   * The service account the pods run as. GKE's metadata server hands its pods tokens for it.
   */
  readonly serviceAccount: IServiceAccount;

  /**
   * The Google service account (`name@project.iam.gserviceaccount.com`) the pods act as: set as
   * the `iam.gke.io/gcp-service-account` annotation on `serviceAccount`, which must then be
   * defined in this app. The Google service account needs `roles/iam.workloadIdentityUser` for
   * the Kubernetes one.
   *
   * @default - no annotation: Workload Identity Federation for GKE grants the bucket's roles to
   * the Kubernetes service account itself (a `principal://` IAM member)
   * @see https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity
   */
  readonly gcpServiceAccount?: string;
}

/** How the server's storage initializer authenticates (the server's `STORAGE_AUTH` values). */
enum AuthMode {
  SECRET = 'secret',
  WORKLOAD_IDENTITY = 'workload-identity',
  ANONYMOUS = 'anonymous',
}

/**
 * How a model's storage is authenticated: static keys in a Secret, the workload identity of the
 * pods' service account (IRSA or EKS Pod Identity on AWS, Workload Identity on GKE), or none.
 *
 * Union-like: build one with a static factory and pass it as `storageAuth`.
 */
export class StorageAuth {
  /**
   * Static keys from a Secret, mounted read-only (never inlined). Its keys are read as the
   * environment variables of the same name: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
   * `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL`, `AWS_REGION` (HMAC keys for gs://). The same as
   * `storageCredentials`.
   *
   * @param secret the Secret holding the keys
   */
  public static secret(secret: ISecret): StorageAuth {
    return new StorageAuth(AuthMode.SECRET, 'a secret', undefined, secret);
  }

  // ---- rt-storage: hf:// (issue 15) ----
  /**
   * A Hugging Face access token from a Secret, for private or gated `hf://` repos. The Secret
   * must hold it under the key `HF_TOKEN` (the variable Hugging Face's own clients read); it is
   * mounted read-only like `StorageAuth.secret()`, never inlined, and sent only to the Hub (never
   * to the CDN hosts its downloads redirect to).
   *
   * @param secret the Secret with an `HF_TOKEN` key
   * @see https://huggingface.co/docs/hub/security-tokens
   */
  public static huggingFaceToken(secret: ISecret): StorageAuth {
    return new StorageAuth(AuthMode.SECRET, 'StorageAuth.huggingFaceToken()', 'hf', secret);
  }
  // ---- end rt-storage ----

  /**
   * The IAM role of the pods' service account, through the AWS SDK's default credential chain:
   * IRSA (the web identity token file EKS mounts) with `roleArn`, else EKS Pod Identity. For
   * s3:// storage.
   *
   * @param options the service account, and the role for IRSA
   */
  public static awsWorkloadIdentity(options: AwsWorkloadIdentityOptions): StorageAuth {
    if (options.roleArn !== undefined) {
      if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(options.roleArn)) {
        throw new Error(`'roleArn' must be an IAM role ARN such as arn:aws:iam::123456789012:role/model-reader, got '${options.roleArn}'`);
      }
      annotate(options.serviceAccount, AWS_ROLE_ARN_ANNOTATION, options.roleArn, 'roleArn');
    }
    return new StorageAuth(AuthMode.WORKLOAD_IDENTITY, 'StorageAuth.awsWorkloadIdentity()', 's3', undefined, options.serviceAccount);
  }

  /**
   * The Google identity of the pods' service account, through Google Application Default
   * Credentials (GKE's metadata server hands out its tokens). For gs:// storage.
   *
   * @param options the service account, and the Google service account it acts as
   */
  public static gcpWorkloadIdentity(options: GcpWorkloadIdentityOptions): StorageAuth {
    if (options.gcpServiceAccount !== undefined) {
      if (!/^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z0-9.-]+\.iam\.gserviceaccount\.com$/.test(options.gcpServiceAccount)) {
        throw new Error(`'gcpServiceAccount' must be a Google service account email such as model-reader@my-project.iam.gserviceaccount.com, got '${options.gcpServiceAccount}'`);
      }
      annotate(options.serviceAccount, GCP_SERVICE_ACCOUNT_ANNOTATION, options.gcpServiceAccount, 'gcpServiceAccount');
    }
    return new StorageAuth(AuthMode.WORKLOAD_IDENTITY, 'StorageAuth.gcpWorkloadIdentity()', 'gs', undefined, options.serviceAccount);
  }

  /**
   * Unsigned requests, for public buckets and URLs: the server never looks for credentials
   * (no metadata-server probes at start-up).
   */
  public static anonymous(): StorageAuth {
    return new StorageAuth(AuthMode.ANONYMOUS, 'StorageAuth.anonymous()');
  }

  /** @internal the server's `STORAGE_AUTH` value */
  public readonly _mode: string;
  /** @internal for messages */
  public readonly _describe: string;
  /** @internal the only scheme it can read, when it is cloud-specific */
  public readonly _scheme?: string;
  /** @internal */
  public readonly _secret?: ISecret;
  /** @internal */
  public readonly _serviceAccount?: IServiceAccount;

  private constructor(mode: AuthMode, describe: string, scheme?: string, secret?: ISecret, serviceAccount?: IServiceAccount) {
    this._mode = mode;
    this._describe = describe;
    this._scheme = scheme;
    this._secret = secret;
    this._serviceAccount = serviceAccount;
  }
}

/** Adds `key: value` to a ServiceAccount defined in this app; refuses an imported one or a conflicting value. */
function annotate(serviceAccount: IServiceAccount, key: string, value: string, prop: string): void {
  if (!(serviceAccount instanceof ServiceAccount)) {
    throw new Error(`'${prop}' annotates the service account with ${key}, but '${serviceAccount.name}' is imported; ` +
      `annotate it where it is defined and omit '${prop}'`);
  }
  const existing = (serviceAccount.metadata.toJson().annotations ?? {})[key] as string | undefined;
  if (existing !== undefined && existing !== value) {
    throw new Error(`service account '${serviceAccount.name}' already has ${key}: '${existing}'; '${prop}' is '${value}'`);
  }
  serviceAccount.metadata.addAnnotation(key, value);
}
