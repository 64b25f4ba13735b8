/**
 * Storage initializer: fetches a model from `s3://`, `gs://`, `https://`, `http://`, `hf://`
 * (`./hf`) or `oci://` (`./oci`) into a directory, bounded (bytes written, idle timeout, deadline,
 * attempts) and verified (length, checksums, no https-to-http redirects).
 *
 * Used two ways, with the same code:
 * - `cdk8s-model-server storage-initializer <storageUri> <destDir>` in an init container
 *   (see {@link storageInitializerMain} in `./cli`);
 * - in process, `serve --storage-uri` calls {@link fetchModel} (`./fetch`) before it reports ready.
 *
 * The AWS SDK and google-auth-library are loaded only for s3:// and gs:// (`./fetch-objects`).
 */
export { storageInitializerMain } from './cli';
export { isStorageError, StorageError } from './errors';
export type { StorageErrorCode } from './errors';
export { fetchModel, STAGING_PREFIX } from './fetch';
export type { FetchModelOptions, FetchModelResult } from './fetch';
export { GCS_XML_API, gcsConfig, resolveS3Config } from './s3-config';
export type { S3Location } from './s3-config';
export { STORAGE_DEFAULTS } from './settings';
export type { StorageSettings } from './settings';
export { parseStorageUri } from './uri';
export type { ParsedUri } from './uri';
