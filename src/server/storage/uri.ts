/** Storage URIs: what the initializer accepts, parsed, with errors that say what is accepted. */
import * as path from 'node:path';
import { StorageError } from './errors';
import { HfUri, parseHfUri } from './hf-uri';
import { OciUri, parseOciUri } from './oci-uri';

/** A parsed storage URI. */
export type ParsedUri =
  | { kind: 's3'; bucket: string; key: string; gcs?: boolean }
  | { kind: 'http'; url: URL }
  | { kind: 'pvc'; claim: string; subPath: string }
  | HfUri
  | OciUri
  | { kind: 'local'; path: string };

/** Parses a storage URI, or throws a StorageError that says what is accepted. */
export function parseStorageUri(uri: string): ParsedUri {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(.*)$/.exec(uri.trim());
  if (!m) {
    if (uri.trim() === '') throw new StorageError('INVALID_URI', 'storage URI is empty');
    return { kind: 'local', path: path.resolve(uri.trim()) };
  }
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  switch (scheme) {
    case 's3': {
      const slash = rest.indexOf('/');
      const bucket = slash < 0 ? rest : rest.slice(0, slash);
      const key = slash < 0 ? '' : rest.slice(slash + 1);
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
        throw new StorageError('INVALID_URI', `invalid S3 URI '${uri}': expected s3://<bucket>/<key or prefix> with a valid bucket name, got bucket '${bucket}'`);
      }
      return { kind: 's3', bucket, key };
    }
    case 'http':
    case 'https': {
      let url: URL;
      try {
        url = new URL(uri.trim());
      } catch {
        throw new StorageError('INVALID_URI', `invalid URL '${uri}'`);
      }
      return { kind: 'http', url };
    }
    case 'pvc': {
      const slash = rest.indexOf('/');
      const claim = slash < 0 ? rest : rest.slice(0, slash);
      if (!claim) throw new StorageError('INVALID_URI', `invalid PVC URI '${uri}': expected pvc://<claim>/<path>`);
      return { kind: 'pvc', claim, subPath: slash < 0 ? '' : rest.slice(slash + 1) };
    }
    case 'file':
      return { kind: 'local', path: path.resolve(decodeUriPart(new URL(uri.trim()).pathname, uri)) };
    case 'gs': {
      // Google Cloud Storage through its S3-compatible XML API: public objects need nothing,
      // private ones HMAC keys in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (as KServe documents).
      const slash = rest.indexOf('/');
      const bucket = slash < 0 ? rest : rest.slice(0, slash);
      if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) {
        throw new StorageError('INVALID_URI', `invalid GCS URI '${uri}': expected gs://<bucket>/<object or prefix> with a valid bucket name, got bucket '${bucket}'`);
      }
      return { kind: 's3', bucket, key: slash < 0 ? '' : rest.slice(slash + 1), gcs: true };
    }
    case 'hf':
      return parseHfUri(uri.trim());
    case 'oci':
      return parseOciUri(uri.trim());
    default:
      throw new StorageError('UNSUPPORTED',
        `'${uri}': scheme ${scheme}:// is not supported by this initializer; supported: s3://, gs://, https://, http://, hf://, oci://, pvc:// and local paths (file:// or plain)`);
  }
}

/** `decodeURIComponent`, with a malformed escape reported as an invalid storage URI. */
export function decodeUriPart(part: string, uri: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new StorageError('INVALID_URI', `invalid URI '${uri}': malformed percent-escape in '${part}'`);
  }
}
