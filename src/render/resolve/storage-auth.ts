/**
 * Internal: resolves `storageAuth` (and the older `storageCredentials` / `serviceAccount`) into
 * what the pods get: the service account, the credentials secret, and the storage env vars.
 */
import { Size } from 'cdk8s';
import { ISecret, IServiceAccount } from 'cdk8s-plus-33';
import { sizeBytes } from './quantities';
import { StorageAuth } from '../../constructs/storage-auth';
import { StorageUri } from '../../constructs/storage-uri';
import * as contract from '../../contract';

/** What the pods of a model need for its storage. */
export interface ResolvedStorageAuth {
  readonly serviceAccountName?: string;
  readonly storageCredentialsSecret?: string;
  /** `STORAGE_AUTH` and `STORAGE_MAX_BYTES` for the container that fetches the model. */
  readonly storageEnv: Array<{ name: string; value: string }>;
}

export interface StorageAuthInput {
  readonly storageAuth?: StorageAuth;
  readonly storageCredentials?: ISecret;
  readonly serviceAccount?: IServiceAccount;
  /** Where the model comes from; undefined for a mesh, whose models come and go. */
  readonly storageUri?: StorageUri;
  /** The model volume's size limit, when there is one: the initializer's write cap. */
  readonly modelVolumeLimit?: Size;
}

/** Validates the combination and resolves it; errors name the props and the fix. */
export function resolveStorageAuth(p: StorageAuthInput): ResolvedStorageAuth {
  const auth = p.storageAuth;
  if (auth && p.storageCredentials) {
    throw new Error("set either 'storageAuth' or 'storageCredentials', not both; 'storageAuth: StorageAuth.secret(secret)' is the same as 'storageCredentials: secret'");
  }
  if (auth?._serviceAccount && p.serviceAccount && p.serviceAccount.name !== auth._serviceAccount.name) {
    throw new Error(`'serviceAccount' is '${p.serviceAccount.name}' but 'storageAuth' (${auth._describe}) runs the pods as '${auth._serviceAccount.name}'; ` +
      "omit 'serviceAccount', or pass the same one to both");
  }
  if (auth && p.storageUri) {
    const scheme = p.storageUri.scheme;
    if (p.storageUri.isMounted) {
      // rt-storage: an oci:// image that is mounted is pulled by the kubelet, with the pod's image pull secrets.
      const pulled = scheme === 'oci' ? " the kubelet pulls the image with the pod's image pull secrets; pass the registry's Secret as 'imagePullSecrets', use ModelImageMount.FETCH to pull it with these credentials, or" : '';
      throw new Error(`'storageAuth' has no effect on a ${scheme}:// 'storageUri' (${p.storageUri.uri}): the model is mounted, not fetched;${pulled} omit 'storageAuth'`);
    }
    if (auth._scheme && auth._scheme !== scheme) {
      const other = auth._scheme === 's3' ? 'StorageAuth.gcpWorkloadIdentity() for gs://'
        : auth._scheme === 'gs' ? 'StorageAuth.awsWorkloadIdentity() for s3://' : 'StorageAuth.secret() for other schemes';
      throw new Error(`'storageAuth' ${auth._describe} reads ${auth._scheme}:// storage, but 'storageUri' is '${p.storageUri.uri}'; use ${other}, or StorageAuth.anonymous() for a public URL`);
    }
  }
  const storageEnv: Array<{ name: string; value: string }> = [];
  if (auth) storageEnv.push({ name: contract.SERVER_ENV.storageAuth, value: auth._mode });
  if (p.modelVolumeLimit) storageEnv.push({ name: contract.SERVER_ENV.storageMaxBytes, value: String(sizeBytes(p.modelVolumeLimit)) });
  return {
    serviceAccountName: p.serviceAccount?.name ?? auth?._serviceAccount?.name,
    storageCredentialsSecret: p.storageCredentials?.name ?? auth?._secret?.name,
    storageEnv,
  };
}
