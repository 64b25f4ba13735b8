/**
 * oci:// models fetched rather than mounted (`ModelImageMount.FETCH`): the image's manifest and
 * layers over the OCI distribution API, then the image's `/models` directory (KServe's modelcar
 * layout) unpacked from its layers into the model directory.
 *
 * Bounded like every fetch: manifests at most 4 MiB (the spec's limit), layers pre-checked against
 * the write cap by their listed sizes, every blob streamed through the cap, checked against its
 * size and sha256 digest (blobs are content-addressed), and the registry's token sent to the
 * registry only, never to the object store its blob downloads redirect to. Registries on loopback
 * are spoken to over plain http (Docker's rule); all others over https.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { StorageError } from './errors';
import type { ObjectFetchOptions } from './fetch-objects';
import { getFollowing } from './http-get';
import { formatBytes } from './limits';
import { answerChallenge, registryLogin } from './oci-auth';
import { extractLayer, LAYER_TYPES, mergeLayer } from './oci-layers';
import { isLoopbackRegistry, OciUri } from './oci-uri';
import { withRetries } from './retry';
import { credentialsDirOf } from './s3-config';
import { readBody, saveBody, Sent, Transfer } from './transfer';

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MANIFEST_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
};
const ACCEPT = Object.values(MANIFEST_TYPES).join(', ');

interface Descriptor { mediaType?: string; digest: string; size: number; platform?: { os?: string; architecture?: string } }

/** The architecture name images use for this machine's. */
function imageArch(): string {
  return ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
}

function checkDescriptor(d: unknown, what: string): Descriptor {
  const o = d as Descriptor;
  if (!o || typeof o.digest !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(o.digest) || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw new StorageError('HTTP', `${what}: a descriptor without a sha256 digest and a size (${JSON.stringify(d).slice(0, 200)})`);
  }
  return o;
}

/** Pulls `/models` of the image into `out`; returns the bytes downloaded. */
export async function fetchOci(parsed: OciUri, stage: string, out: string, t: Transfer, env: NodeJS.ProcessEnv,
  options: ObjectFetchOptions): Promise<number> {
  const target = `oci://${parsed.registry}/${parsed.repository}${parsed.digest ? `@${parsed.digest}` : `:${parsed.reference}`}`;
  const base = new URL(`${isLoopbackRegistry(parsed.registry) ? 'http' : 'https'}://${parsed.registry}/v2/`);
  const login = registryLogin(parsed.registry, credentialsDirOf(env, options.credentialsDir));
  let authorization: string | undefined;

  /** A GET on the registry, answering its auth challenge once. */
  const registryGet = async (p: string, what: string, accept?: string): Promise<Sent> => {
    const url = new URL(`${parsed.repository}/${p}`, base);
    const o = { target: what, authOrigin: base.origin, headers: accept ? { accept } : undefined, pass: [401] };
    let sent = await getFollowing(url, t, { ...o, authorization });
    if (sent.res.statusCode === 401) {
      const challenge = sent.res.headers['www-authenticate'];
      sent.timers.stop();
      sent.res.resume();
      if (authorization) throw new StorageError('AUTH', `${what}: the registry refused our credentials (HTTP 401)${login ? `; check ${login.source}` : ''}`, { status: 401 });
      authorization = await answerChallenge(challenge, parsed.repository, login, t, what);
      sent = await getFollowing(url, t, { ...o, authorization });
      if (sent.res.statusCode === 401) {
        sent.timers.stop();
        sent.res.resume();
        throw new StorageError('AUTH', `${what}: access denied (HTTP 401 with a token)${login ? `; check ${login.source}` : '; add a login (.dockerconfigjson in STORAGE_CREDENTIALS_DIR)'}`, { status: 401 });
      }
    }
    return sent;
  };

  /** A manifest by tag or digest, checked against the digest when one is known. */
  const manifest = async (reference: string, digest: string | undefined): Promise<{ json: Record<string, any>; mediaType: string }> => {
    const what = `${target} (manifest ${reference})`;
    return withRetries(`get ${what}`, t.retry, async () => {
      const { res, timers } = await registryGet(`manifests/${reference}`, what, ACCEPT);
      const body = await readBody(res, timers, MAX_MANIFEST_BYTES).catch((err) => {
        throw new StorageError('TOO_LARGE', `${what}: ${(err as Error).message} (manifests are at most ${MAX_MANIFEST_BYTES} bytes)`);
      });
      if (digest) {
        const got = `sha256:${createHash('sha256').update(body).digest('hex')}`;
        if (got !== digest) throw new StorageError('CHECKSUM', `${what}: the manifest hashes to ${got}, not ${digest}`, { retryable: true });
      }
      let json: Record<string, any>;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        throw new StorageError('HTTP', `${what}: the manifest is not JSON`);
      }
      const mediaType = String(json.mediaType ?? res.headers['content-type'] ?? '').split(';')[0].trim();
      return { json, mediaType };
    });
  };

  let m = await manifest(parsed.reference, parsed.digest);
  if (m.mediaType === MANIFEST_TYPES.ociIndex || m.mediaType === MANIFEST_TYPES.dockerList || (!m.mediaType && Array.isArray(m.json.manifests))) {
    const entries = (Array.isArray(m.json.manifests) ? m.json.manifests : []).map((d: unknown) => checkDescriptor(d, target));
    const arch = imageArch();
    const chosen = entries.find((d: Descriptor) => d.platform?.os === 'linux' && d.platform?.architecture === arch);
    if (!chosen) {
      const have = entries.map((d: Descriptor) => `${d.platform?.os}/${d.platform?.architecture}`).join(', ');
      throw new StorageError('NOT_FOUND', `${target}: the image index has no linux/${arch} image (it has ${have || 'none'})`);
    }
    t.log(`${target}: linux/${arch} is ${chosen.digest}`);
    m = await manifest(chosen.digest, chosen.digest);
  }
  if (!Array.isArray(m.json.layers)) throw new StorageError('HTTP', `${target}: the manifest (${m.mediaType || 'no media type'}) lists no layers`);
  const layers: Descriptor[] = m.json.layers.map((d: unknown) => checkDescriptor(d, target));
  for (const l of layers) {
    if (l.mediaType && !LAYER_TYPES.has(l.mediaType)) {
      throw new StorageError('UNSUPPORTED', `${target}: layer ${l.digest} is ${l.mediaType}; supported layers: ${[...LAYER_TYPES].join(', ')}`);
    }
  }
  const listed = layers.reduce((n, l) => n + l.size, 0);
  if (listed > t.budget.maxBytes) t.budget.take(listed, `${target} (${layers.length} layers, ${formatBytes(listed)} listed)`);
  t.log(`${target}: ${layers.length} layers, ${formatBytes(listed)}`);

  let bytes = 0;
  let found = false;
  for (const [i, layer] of layers.entries()) {
    const what = `${target} (layer ${layer.digest})`;
    const blob = path.join(stage, `layer-${i}`);
    bytes += await withRetries(`get ${what}`, t.retry, async () => {
      const { res, timers } = await registryGet(`blobs/${layer.digest}`, what);
      return saveBody(res, blob, what, t, timers, {
        length: layer.size,
        checksums: [{ algorithm: 'sha256', expected: Buffer.from(layer.digest.slice('sha256:'.length), 'hex').toString('base64'), header: 'the layer digest' }],
      });
    });
    const dir = path.join(stage, `layer-${i}.d`);
    await fs.mkdir(dir);
    found = await extractLayer(blob, dir, what, t.budget) || found;
    await fs.rm(blob, { force: true });
    await mergeLayer(dir, out);
    await fs.rm(dir, { recursive: true, force: true });
  }
  if (!found) throw new StorageError('NOT_FOUND', `${target}: the image has no /models directory (KServe's modelcar layout puts the model files there)`);
  return bytes;
}
