/**
 * The admission webhooks of one controller replica: the HTTPS server with both handlers, fed by the
 * certificate source of `--webhook-cert-mode` and refreshed every `pollIntervalMs` (and at once when
 * this replica becomes leader). The server starts listening once a certificate exists; until then
 * `notReady()` says why, and /readyz reports it.
 */
import { readCertManagerCertificate } from './cert-manager';
import { KubeRequester } from './kube-requester';
import { reviewPod } from './mutate-pods';
import { SelfSignedCertificates } from './self-signed';
import { ServingCertificate, startWebhookServer, WebhookServer } from './server';
import { ResourceValidator, reviewCustomResource } from './validate-resources';
import { CONTROLLER_PATHS, WEBHOOK_CERT_MODES } from '../../contract';

export type WebhookLog = (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface WebhookRunOptions {
  /** `self-signed` or `cert-manager` (`none` starts nothing: do not call). */
  readonly certMode: string;
  readonly port: number;
  readonly host?: string;
  readonly namespace: string;
  readonly service: string;
  readonly tlsSecret: string;
  readonly validatingConfiguration: string;
  readonly mutatingConfiguration: string;
  /** Extra names and IPs of the self-signed certificate (`--webhook-cert-hosts`). */
  readonly certHosts: readonly string[];
  /** cert-manager's mounted Secret (`--webhook-cert-dir`). */
  readonly certDir?: string;
  readonly certValidityMs: number;
  readonly maxBodyBytes: number;
  readonly requestTimeoutMs: number;
  readonly storageInitializerImage: string;
  readonly validateResource: ResourceValidator;
  readonly kube: KubeRequester;
  readonly isLeader: () => boolean;
  readonly log: WebhookLog;
  /** How often the certificate is checked. @default a tenth of its validity, at most a minute */
  readonly pollIntervalMs?: number;
}

export interface RunningWebhooks {
  /** Reasons the webhooks cannot serve yet (empty when they can). */
  notReady(): string[];
  /** The listening port, once it listens. */
  port(): number | undefined;
  /** Checks the certificate now (the leader also rotates and patches); resolves after the pass. */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/** Starts the certificate loop; the server follows the first certificate. Never throws for a failed pass: it retries. */
export function runWebhooks(o: WebhookRunOptions): RunningWebhooks {
  const hosts = [`${o.service}.${o.namespace}.svc`, `${o.service}.${o.namespace}.svc.cluster.local`, ...o.certHosts];
  const selfSigned = o.certMode === WEBHOOK_CERT_MODES.selfSigned
    ? new SelfSignedCertificates({
      kube: o.kube,
      namespace: o.namespace,
      secretName: o.tlsSecret,
      hosts,
      validatingConfiguration: o.validatingConfiguration,
      mutatingConfiguration: o.mutatingConfiguration,
      certValidityMs: o.certValidityMs,
      isLeader: o.isLeader,
      log: o.log,
    })
    : undefined;
  let server: WebhookServer | undefined;
  let serving: ServingCertificate | undefined;
  let lastError: string | undefined;
  let closed = false;
  let running: Promise<void> | undefined;

  const handlers = {
    [CONTROLLER_PATHS.mutatePods]: (body: unknown) => reviewPod(body, { image: o.storageInitializerImage }),
    [CONTROLLER_PATHS.validate]: (body: unknown) => reviewCustomResource(body, o.validateResource),
  };

  async function pass(): Promise<void> {
    const next = selfSigned
      ? (await selfSigned.pass()).serving
      : await readCertManagerCertificate({ dir: o.certDir, kube: o.kube, namespace: o.namespace, secretName: o.tlsSecret });
    lastError = undefined;
    if (!next || closed) return;
    if (!server) {
      server = await startWebhookServer({
        port: o.port, host: o.host, certificate: next, handlers, maxBodyBytes: o.maxBodyBytes, requestTimeoutMs: o.requestTimeoutMs, log: o.log,
      });
      serving = next;
      o.log('info', 'admission webhooks listening', { port: server.port, certMode: o.certMode });
    } else if (next.certPem !== serving?.certPem || next.keyPem !== serving?.keyPem) {
      server.setCertificate(next);
      serving = next;
      o.log('info', 'serving a new webhook certificate', { certMode: o.certMode });
    }
  }

  /** One pass at a time; a failure is logged and retried on the next tick. */
  function refresh(): Promise<void> {
    running ??= pass().catch((e) => {
      lastError = (e as Error).message;
      o.log('warn', 'webhook certificate pass failed; retrying', { error: lastError });
    }).finally(() => { running = undefined; });
    return running;
  }

  const interval = o.pollIntervalMs ?? Math.max(1_000, Math.min(60_000, o.certValidityMs / 10));
  const timer = setInterval(() => void refresh(), interval);
  timer.unref();
  void refresh();

  return {
    notReady: () => (server ? [] : [`webhook certificate not available yet (${o.certMode}${lastError ? `: ${lastError}` : ''})`]),
    port: () => server?.port,
    refresh,
    close: async () => {
      closed = true;
      clearInterval(timer);
      await running;
      await server?.close();
    },
  };
}
