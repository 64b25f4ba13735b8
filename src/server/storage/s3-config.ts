/**
 * Where an S3 (or S3-compatible, or GCS XML API) store is and the static keys for it, from the
 * environment and the credentials dir (a mounted Secret, files named like the variables).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from './errors';
import type { S3Config, StaticKeys } from './s3';
import { SERVER_ENV, STORAGE_CREDENTIALS_DIR } from '../../contract';

/** Environment variables read besides the contract's (standard AWS names). */
export const EXTRA_ENV = {
  sessionToken: 'AWS_SESSION_TOKEN',
  defaultRegion: 'AWS_DEFAULT_REGION',
  s3EndpointOverride: 'AWS_ENDPOINT_URL_S3',
};

/** Google Cloud Storage's S3-compatible XML API. */
export const GCS_XML_API = 'https://storage.googleapis.com';

/**
 * The S3 settings for a gs:// URI: GCS's XML API unless an endpoint is set explicitly (an
 * emulator, a proxy), and the region `auto` unless one is set.
 */
export function gcsConfig(config: S3Location, env: NodeJS.ProcessEnv): S3Location {
  return { ...config, endpoint: config.endpoint ?? new URL(GCS_XML_API), region: env[SERVER_ENV.s3Region] ? config.region : 'auto' };
}

/** Where an S3 store is and the static keys for it, when given (before the auth mode is applied). */
export type S3Location = Omit<S3Config, 'auth' | 'scheme'>;

/** The credentials dir: the option, else `$STORAGE_CREDENTIALS_DIR`, else the default mount when it exists. */
export function credentialsDirOf(env: NodeJS.ProcessEnv, credentialsDir?: string): string | undefined {
  return credentialsDir ?? env[SERVER_ENV.storageCredentialsDir] ?? (existsSync(STORAGE_CREDENTIALS_DIR) ? STORAGE_CREDENTIALS_DIR : undefined);
}

/** Reads a setting from the environment, else from a file of the same name in the credentials dir. */
export function setting(env: NodeJS.ProcessEnv, dir: string | undefined, name: string): { value?: string; source?: string } {
  const v = env[name];
  if (v !== undefined && v.trim() !== '') return { value: v.trim(), source: `env ${name}` };
  if (dir) {
    const file = path.join(dir, name);
    if (existsSync(file)) {
      const content = readFileSync(file, 'utf8').trim();
      if (content !== '') return { value: content, source: file };
    }
  }
  return {};
}

/** The S3 endpoint, region and credentials from env and the credentials dir. */
export function resolveS3Config(env: NodeJS.ProcessEnv, credentialsDir?: string): S3Location {
  const dir = credentialsDirOf(env, credentialsDir);
  const get = (name: string) => setting(env, dir, name);

  // Key id and secret come as a pair from one source: env first, then files.
  let credentials: StaticKeys | undefined;
  let credentialsSource: string | undefined;
  const envId = env[SERVER_ENV.s3AccessKeyId]?.trim();
  const envSecret = env[SERVER_ENV.s3SecretAccessKey]?.trim();
  if (envId && envSecret) {
    credentials = { accessKeyId: envId, secretAccessKey: envSecret, sessionToken: env[EXTRA_ENV.sessionToken]?.trim() || undefined };
    credentialsSource = `env ${SERVER_ENV.s3AccessKeyId}/${SERVER_ENV.s3SecretAccessKey}`;
  } else if (dir) {
    const read = (n: string) => (existsSync(path.join(dir, n)) ? readFileSync(path.join(dir, n), 'utf8').trim() : '');
    const id = read(SERVER_ENV.s3AccessKeyId);
    const secret = read(SERVER_ENV.s3SecretAccessKey);
    if (id && secret) {
      credentials = { accessKeyId: id, secretAccessKey: secret, sessionToken: read(EXTRA_ENV.sessionToken) || undefined };
      credentialsSource = `files in ${dir}`;
    } else if (id || secret) {
      throw new StorageError('AUTH', `incomplete S3 credentials in ${dir}: need both ${SERVER_ENV.s3AccessKeyId} and ${SERVER_ENV.s3SecretAccessKey} files`);
    }
  }
  if (!credentials && (envId || envSecret)) {
    throw new StorageError('AUTH', `incomplete S3 credentials in the environment: set both ${SERVER_ENV.s3AccessKeyId} and ${SERVER_ENV.s3SecretAccessKey}`);
  }

  const endpointRaw = get(EXTRA_ENV.s3EndpointOverride).value ?? get(SERVER_ENV.s3Endpoint).value;
  let endpoint: URL | undefined;
  if (endpointRaw) {
    try {
      endpoint = new URL(/^[a-z]+:\/\//i.test(endpointRaw) ? endpointRaw : `https://${endpointRaw}`);
    } catch {
      throw new StorageError('INVALID_URI', `invalid ${SERVER_ENV.s3Endpoint} '${endpointRaw}': expected a URL such as http://minio:9000`);
    }
  }
  const region = get(SERVER_ENV.s3Region).value ?? get(EXTRA_ENV.defaultRegion).value ?? 'us-east-1';
  return { endpoint, region, credentials, credentialsSource };
}
