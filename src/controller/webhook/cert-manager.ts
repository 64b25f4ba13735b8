/**
 * `--webhook-cert-mode cert-manager`: cert-manager's `Certificate` writes the serving certificate into
 * the TLS Secret and its CA injector patches the caBundles. The controller only reads the Secret: from
 * the directory where it is mounted (`--webhook-cert-dir`, as the kubelet refreshes it) or through the
 * API, and serves each new version without a restart.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { KubeRequester } from './kube-requester';
import { SECRET_KEYS } from './self-signed';
import type { ServingCertificate } from './server';

export interface CertManagerSource {
  /** The directory of the mounted Secret; read through the API when undefined. */
  readonly dir?: string;
  readonly kube: KubeRequester;
  readonly namespace: string;
  readonly secretName: string;
}

/** The certificate cert-manager has written so far, or undefined while it has not. */
export async function readCertManagerCertificate(source: CertManagerSource): Promise<ServingCertificate | undefined> {
  if (source.dir) {
    try {
      const [certPem, keyPem] = await Promise.all([
        fs.readFile(path.join(source.dir, SECRET_KEYS.cert), 'utf8'),
        fs.readFile(path.join(source.dir, SECRET_KEYS.key), 'utf8'),
      ]);
      return certPem && keyPem ? { certPem, keyPem } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }
  const r = await source.kube.request('GET', `/api/v1/namespaces/${source.namespace}/secrets/${source.secretName}`);
  if (r.status === 404) return undefined;
  if (r.status !== 200) throw new Error(`reading Secret ${source.namespace}/${source.secretName}: HTTP ${r.status} ${r.body?.message ?? ''}`);
  const data = r.body.data ?? {};
  if (typeof data[SECRET_KEYS.cert] !== 'string' || typeof data[SECRET_KEYS.key] !== 'string') return undefined;
  return {
    certPem: Buffer.from(data[SECRET_KEYS.cert], 'base64').toString('utf8'),
    keyPem: Buffer.from(data[SECRET_KEYS.key], 'base64').toString('utf8'),
  };
}
