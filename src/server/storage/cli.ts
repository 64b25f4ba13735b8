/** The `storage-initializer` subcommand: an init container's way to run `fetchModel`. */
import { isStorageError } from './errors';
import { fetchModel } from './fetch';
import { EXTRA_ENV } from './s3-config';
import { STORAGE_DEFAULTS, StorageSettings } from './settings';
import { MODEL_DIR, SERVER_COMMANDS, SERVER_ENV, SERVER_FLAGS, STORAGE_CREDENTIALS_DIR } from '../../contract';
import { ConfigError, parseConfig } from '../config';

const F = SERVER_FLAGS;
const USAGE = `usage: cdk8s-model-server ${SERVER_COMMANDS.storageInitializer} <storageUri> [destDir] [flags]

Fetches a model into destDir (default ${MODEL_DIR}).
  storageUri  s3://bucket/key-or-prefix, gs://bucket/object-or-prefix, https://..., http://...,
              hf://org/repo[@revision] (every file of a Hugging Face repo at one commit),
              oci://registry/repository[:tag][@digest] (the image's /models directory);
              pvc:// and local paths are mounted, not fetched. .tar, .tar.gz/.tgz and .gz files
              are unpacked.
Flags (each also read from its environment variable):
  ${F.storageMaxBytes} (${SERVER_ENV.storageMaxBytes})  most bytes written, downloads plus unpacked archives (default 16Gi)
  ${F.storageIdleTimeoutMs} (${SERVER_ENV.storageIdleTimeoutMs})  no byte for this long times an attempt out (default ${STORAGE_DEFAULTS.idleTimeoutMs})
  ${F.storageDeadlineMs} (${SERVER_ENV.storageDeadlineMs})  the whole fetch, retries included (default ${STORAGE_DEFAULTS.deadlineMs})
  ${F.storageMaxAttempts} (${SERVER_ENV.storageMaxAttempts})  attempts per request for network errors, timeouts, 429, 5xx (default ${STORAGE_DEFAULTS.maxAttempts})
  ${F.storageAuth} (${SERVER_ENV.storageAuth})  auto, secret, workload-identity or anonymous (default ${STORAGE_DEFAULTS.auth})
Environment: ${SERVER_ENV.s3Endpoint} (S3-compatible endpoint, path-style), ${SERVER_ENV.s3Region},
  ${SERVER_ENV.s3AccessKeyId}, ${SERVER_ENV.s3SecretAccessKey}, ${EXTRA_ENV.sessionToken},
  ${SERVER_ENV.storageCredentialsDir} (dir of files named like those variables; default
  ${STORAGE_CREDENTIALS_DIR} when present); the AWS default credential chain (AWS_ROLE_ARN and
  AWS_WEB_IDENTITY_TOKEN_FILE, EKS Pod Identity, ...) for s3://; Google Application Default
  Credentials (GOOGLE_APPLICATION_CREDENTIALS, the metadata server) and STORAGE_EMULATOR_HOST for gs://;
  ${SERVER_ENV.hfToken} and ${SERVER_ENV.hfEndpoint} for hf://; ${SERVER_ENV.ociDockerConfig} (a Docker config JSON in
  the credentials dir) for oci:// registries (loopback registries over http, others over https).
`;

/** `storage-initializer <storageUri> [destDir] [flags]`: exit code 0 on success, 1 on failure, 2 on usage errors. */
export async function storageInitializerMain(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const positional: string[] = [];
  const flags: string[] = [];
  const known = new Set<string>([F.storageMaxBytes, F.storageIdleTimeoutMs, F.storageDeadlineMs, F.storageMaxAttempts, F.storageAuth]);
  let settings: StorageSettings;
  try {
    for (let i = 0; i < args.length; i++) {
      const arg = args[i];
      if (!arg.startsWith('-')) {
        positional.push(arg);
        continue;
      }
      const name = arg.split('=')[0];
      if (!known.has(name)) throw new ConfigError(`unknown argument '${arg}' (flags: ${[...known].join(', ')})`);
      flags.push(arg);
      if (!arg.includes('=')) flags.push(args[++i] ?? '');
    }
    // The same parser and messages as `serve`.
    settings = parseConfig(flags).storage;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`cdk8s-model-server ${SERVER_COMMANDS.storageInitializer}: ${err.message}\n`);
    return 2;
  }
  if (positional.length < 1 || positional.length > 2) {
    process.stderr.write(USAGE);
    return 2;
  }
  const [uri, dest = MODEL_DIR] = positional;
  const log = (msg: string) => process.stderr.write(`storage-initializer: ${msg}\n`);
  try {
    const result = await fetchModel(uri, dest, { log, settings });
    if (result.note) log(result.note);
    else process.stdout.write(`${JSON.stringify({ uri, dir: result.dir, files: result.files, bytes: result.bytes, bytesWritten: result.bytesWritten })}\n`);
    return 0;
  } catch (err) {
    const code = isStorageError(err) ? ` [${err.code}]` : '';
    log(`error${code}: ${(err as Error).message}`);
    return 1;
  }
}
