/**
 * Registry authentication for oci:// pulls, as the distribution spec and Docker do it: anonymous
 * first; on a 401, the `WWW-Authenticate` challenge says how (a Bearer token from the realm, with
 * Basic credentials from a Docker config if there are any, or Basic directly).
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from './errors';
import { getFollowing } from './http-get';
import { DOCKER_HUB_REGISTRY } from './oci-uri';
import { readBody, Transfer } from './transfer';
import { SERVER_ENV } from '../../contract';

/** Basic credentials for one registry, from a Docker config JSON. */
export interface RegistryLogin {
  readonly username: string;
  readonly password: string;
  readonly source: string;
}

/** The login for `registry` in `<credentialsDir>/.dockerconfigjson`, if any. */
export function registryLogin(registry: string, dir: string | undefined): RegistryLogin | undefined {
  if (!dir) return undefined;
  const file = path.join(dir, SERVER_ENV.ociDockerConfig);
  if (!existsSync(file)) return undefined;
  let auths: Record<string, { auth?: string; username?: string; password?: string }>;
  try {
    auths = (JSON.parse(readFileSync(file, 'utf8')) as { auths?: typeof auths }).auths ?? {};
  } catch {
    throw new StorageError('AUTH', `${file} is not a Docker config JSON ({"auths": {"<registry>": {"auth": "<base64 user:password>"}}})`);
  }
  const names = registry === DOCKER_HUB_REGISTRY ? [registry, 'docker.io', 'index.docker.io', 'https://index.docker.io/v1/'] : [registry, `https://${registry}`];
  for (const name of names) {
    const e = auths[name];
    if (!e) continue;
    if (e.username !== undefined && e.password !== undefined) return { username: e.username, password: e.password, source: `${file} (${name})` };
    if (e.auth) {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source: `${file} (${name})` };
    }
    throw new StorageError('AUTH', `${file}: the entry for ${name} has neither "auth" nor "username" and "password"`);
  }
  return undefined;
}

/** `Bearer realm="...",service="...",scope="..."` as a map, or undefined for another scheme. */
export function parseChallenge(header: string | undefined): { scheme: string; params: Record<string, string> } | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/(\w+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) params[p[1].toLowerCase()] = p[2] ?? p[3];
  return { scheme: m[1].toLowerCase(), params };
}

/** The `Authorization` value answering a registry's challenge for pulling `repository`. */
export async function answerChallenge(challenge: string | undefined, repository: string, login: RegistryLogin | undefined,
  t: Transfer, target: string): Promise<string> {
  const parsed = parseChallenge(challenge);
  const basic = login ? `Basic ${Buffer.from(`${login.username}:${login.password}`).toString('base64')}` : undefined;
  if (parsed?.scheme === 'basic') {
    if (!basic) throw new StorageError('AUTH', `${target}: the registry wants a login, and ${SERVER_ENV.ociDockerConfig} in STORAGE_CREDENTIALS_DIR has none for it`);
    return basic;
  }
  if (parsed?.scheme !== 'bearer' || !parsed.params.realm) {
    throw new StorageError('AUTH', `${target}: the registry answered 401 without a Bearer or Basic challenge (WWW-Authenticate: ${String(challenge).slice(0, 200)})`);
  }
  let realm: URL;
  try {
    realm = new URL(parsed.params.realm);
  } catch {
    throw new StorageError('AUTH', `${target}: the registry's token realm '${parsed.params.realm.slice(0, 200)}' is not a URL`);
  }
  if (realm.protocol !== 'https:' && realm.protocol !== 'http:') throw new StorageError('AUTH', `${target}: the token realm must be http(s), got ${realm.protocol}`);
  if (parsed.params.service) realm.searchParams.set('service', parsed.params.service);
  realm.searchParams.set('scope', parsed.params.scope ?? `repository:${repository}:pull`);
  const { res, timers } = await getFollowing(realm, t, {
    target: `${target} (token from ${realm.origin})`,
    authorization: basic,
    authOrigin: realm.origin,
    hint: () => login ? `; check the login for this registry in ${login.source}` : `; add a login for this registry (${SERVER_ENV.ociDockerConfig} in STORAGE_CREDENTIALS_DIR)`,
  });
  let token: unknown;
  try {
    const body = JSON.parse((await readBody(res, timers, 1024 * 1024)).toString('utf8')) as { token?: unknown; access_token?: unknown };
    token = body.token ?? body.access_token;
  } catch {
    throw new StorageError('AUTH', `${target}: the token endpoint ${realm.origin} did not answer JSON`);
  }
  if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) throw new StorageError('AUTH', `${target}: the token endpoint ${realm.origin} returned no token`);
  return `Bearer ${token}`;
}
