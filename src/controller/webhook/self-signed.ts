/**
 * `--webhook-cert-mode self-signed`: the controller is its own CA. The leader creates a CA and a
 * serving certificate for `<webhook-service>.<namespace>.svc` (plus `--webhook-cert-hosts`), keeps
 * them in the TLS Secret, renews the serving certificate once a third of its lifetime is left (the
 * CA likewise, trusting old and new CA during the overlap), and patches the CA bundle into both
 * webhook configurations. Every replica serves whatever certificate the Secret holds and picks up a
 * rotated one on its next pass, without a restart.
 */
import { CertificateAuthority, createCertificateAuthority, issueServingCertificate, needsRenewal, servesHost, splitPemBundle, validity } from './certificates';
import { KubeRequester } from './kube-requester';
import type { ServingCertificate } from './server';

/** Keys of the TLS Secret (`kubernetes.io/tls`, plus the CA as cert-manager writes it, plus the CA's key). */
export const SECRET_KEYS = { cert: 'tls.crt', key: 'tls.key', caBundle: 'ca.crt', caKey: 'ca.key' } as const;

export interface SelfSignedOptions {
  readonly kube: KubeRequester;
  readonly namespace: string;
  readonly secretName: string;
  /** DNS names and IPs of the serving certificate; the first is the Service's `<name>.<namespace>.svc`. */
  readonly hosts: readonly string[];
  readonly validatingConfiguration: string;
  readonly mutatingConfiguration: string;
  /** The serving certificate's lifetime; the CA lives ten times as long. */
  readonly certValidityMs: number;
  readonly isLeader: () => boolean;
  readonly log: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

interface StoredPki {
  readonly ca: CertificateAuthority;
  /** Every CA the API server should trust, newest first. */
  readonly bundle: string[];
  readonly serving: ServingCertificate;
}

/** What one pass found: the certificate to serve (when the Secret has one). */
export interface PassResult {
  readonly serving?: ServingCertificate;
  /** Set when this pass (as leader) wrote a new certificate. */
  readonly rotated: boolean;
}

/** Keeps the Secret and the caBundles current; call `pass()` periodically. */
export class SelfSignedCertificates {
  constructor(private readonly o: SelfSignedOptions) {}

  private get secretPath(): string {
    return `/api/v1/namespaces/${this.o.namespace}/secrets/${this.o.secretName}`;
  }

  /** One pass: as leader, create or rotate what is due and patch the caBundles; then report the Secret's certificate. */
  async pass(now = new Date()): Promise<PassResult> {
    const got = await this.o.kube.request('GET', this.secretPath);
    if (got.status !== 200 && got.status !== 404) throw new Error(`reading Secret ${this.o.namespace}/${this.o.secretName}: HTTP ${got.status} ${got.body?.message ?? ''}`);
    const secret = got.status === 200 ? got.body : undefined;
    let stored = secret ? decode(secret) : undefined;
    let rotated = false;
    if (this.o.isLeader()) {
      const next = await this.renewed(stored, now);
      if (next !== stored) {
        // The API server must trust a new CA before anything is signed by it.
        await this.patchCaBundles(next!.bundle);
        if (!(await this.store(next!, secret))) return { serving: stored?.serving, rotated: false };
        this.o.log('info', secret ? 'rotated the webhook certificate' : 'created the webhook CA and certificate', {
          secret: `${this.o.namespace}/${this.o.secretName}`, notAfter: validity(next!.serving.certPem).notAfter.toISOString(),
        });
        stored = next;
        rotated = true;
      }
      await this.patchCaBundles(stored!.bundle);
    }
    return { serving: stored?.serving, rotated };
  }

  /** `stored` when nothing is due, else the PKI to store. */
  private async renewed(stored: StoredPki | undefined, now: Date): Promise<StoredPki | undefined> {
    const caValidity = this.o.certValidityMs * 10;
    if (!stored) {
      const ca = await createCertificateAuthority(`${this.o.hosts[0]}-ca`, caValidity, now);
      return { ca, bundle: [ca.certPem], serving: await issueServingCertificate(ca, this.o.hosts, this.o.certValidityMs, now) };
    }
    // Drop CAs that expired: nothing they signed is served any more.
    const bundle = stored.bundle.filter((pem) => validity(pem).notAfter > now);
    let ca = stored.ca;
    if (needsRenewal(ca.certPem, now)) {
      ca = await createCertificateAuthority(`${this.o.hosts[0]}-ca`, caValidity, now);
      bundle.unshift(ca.certPem);
    }
    const servingOk = ca === stored.ca && !needsRenewal(stored.serving.certPem, now)
      && this.o.hosts.every((h) => servesHost(stored.serving.certPem, ca.certPem, h));
    if (servingOk && bundle.length === stored.bundle.length) return stored;
    return { ca, bundle, serving: servingOk ? stored.serving : await issueServingCertificate(ca, this.o.hosts, this.o.certValidityMs, now) };
  }

  /** Creates or replaces the Secret (optimistic: a conflict leaves it to the next pass). Returns whether it was written. */
  private async store(pki: StoredPki, previous: any | undefined): Promise<boolean> {
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: this.o.secretName,
        namespace: this.o.namespace,
        ...(previous ? { resourceVersion: previous.metadata.resourceVersion } : {}),
        labels: { ...(previous?.metadata?.labels ?? {}), 'app.kubernetes.io/managed-by': 'cdk8s-model-serving-controller' },
      },
      data: {
        [SECRET_KEYS.cert]: b64(pki.serving.certPem),
        [SECRET_KEYS.key]: b64(pki.serving.keyPem),
        [SECRET_KEYS.caBundle]: b64(pki.bundle.join('')),
        [SECRET_KEYS.caKey]: b64(pki.ca.keyPem),
      },
    };
    const r = previous
      ? await this.o.kube.request('PUT', this.secretPath, { body })
      : await this.o.kube.request('POST', `/api/v1/namespaces/${this.o.namespace}/secrets`, { body });
    if (r.status === 409) {
      this.o.log('info', 'the webhook Secret changed under us; next pass', { secret: this.o.secretName });
      return false;
    }
    if (r.status >= 300) throw new Error(`writing Secret ${this.o.namespace}/${this.o.secretName}: HTTP ${r.status} ${r.body?.message ?? ''}`);
    return true;
  }

  /** Sets `clientConfig.caBundle` of every webhook in both configurations where it differs. A missing configuration is logged, not fatal. */
  private async patchCaBundles(bundle: readonly string[]): Promise<void> {
    const caBundle = b64(bundle.join(''));
    for (const [kind, name] of [['validatingwebhookconfigurations', this.o.validatingConfiguration], ['mutatingwebhookconfigurations', this.o.mutatingConfiguration]]) {
      const path = `/apis/admissionregistration.k8s.io/v1/${kind}/${name}`;
      const got = await this.o.kube.request('GET', path);
      if (got.status === 404) {
        this.o.log('warn', 'webhook configuration not found; its caBundle is set once it exists', { kind, name });
        continue;
      }
      if (got.status !== 200) throw new Error(`reading ${kind}/${name}: HTTP ${got.status} ${got.body?.message ?? ''}`);
      const webhooks: any[] = got.body.webhooks ?? [];
      const ops = webhooks.flatMap((w, i) => (w.clientConfig?.caBundle === caBundle ? [] : [
        // The test guards against the list changing between our GET and PATCH.
        { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
        { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle },
      ]));
      if (ops.length === 0) continue;
      const r = await this.o.kube.request('PATCH', path, { body: ops, contentType: 'application/json-patch+json' });
      if (r.status >= 300) throw new Error(`patching caBundle into ${kind}/${name}: HTTP ${r.status} ${r.body?.message ?? ''}`);
      this.o.log('info', 'patched caBundle', { kind, name, webhooks: ops.length / 2 });
    }
  }
}

/** The PKI a Secret holds, or undefined when it lacks a part (the leader then makes a new one). */
function decode(secret: any): StoredPki | undefined {
  const d = secret.data ?? {};
  const text = (k: string) => (typeof d[k] === 'string' ? Buffer.from(d[k], 'base64').toString('utf8') : undefined);
  const [cert, key, bundle, caKey] = [text(SECRET_KEYS.cert), text(SECRET_KEYS.key), text(SECRET_KEYS.caBundle), text(SECRET_KEYS.caKey)];
  if (!cert || !key || !bundle || !caKey) return undefined;
  const cas = splitPemBundle(bundle);
  if (cas.length === 0) return undefined;
  try {
    validity(cert);
    cas.forEach(validity);
  } catch {
    return undefined;
  }
  return { ca: { certPem: cas[0], keyPem: caKey }, bundle: cas, serving: { certPem: cert, keyPem: key } };
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
