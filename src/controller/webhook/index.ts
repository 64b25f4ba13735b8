/**
 * The admission webhooks (validating for our custom resources, mutating for Pods) inside the
 * controller process. `main.ts` calls `startWebhooks` once at start-up, on every replica (leader or
 * not: all of them serve admission requests), and `close` on shutdown. Only the leader writes the TLS
 * Secret and the caBundles (self-signed mode); becoming leader triggers a pass at once.
 */
import { KubeRequester } from './kube-requester';
import { runWebhooks } from './run';
import { CONTROLLER_FIELD_MANAGER, WEBHOOK_CERT_MODES } from '../../contract';
import type { KubeConfig } from '../client-node';
import type { ControllerConfig } from '../config';
import { Kube, KubeError } from '../kube';
import type { Logger } from '../log';
import { validateCustomResource } from '../spec';

export interface WebhookContext {
  readonly config: ControllerConfig;
  readonly kubeConfig: KubeConfig;
  readonly log: Logger;
  /** True while this replica holds the leader Lease: only the leader writes (Secret, caBundle). */
  readonly isLeader: () => boolean;
  /** Called on every change of leadership. */
  readonly onLeadershipChange: (listener: (leader: boolean) => void) => void;
}

export interface WebhookHandle {
  /** Reasons the webhooks cannot serve yet (empty when they can); part of /readyz. */
  notReady(): string[];
  /** Stops serving (on SIGTERM, after readiness turned false). */
  close(): Promise<void>;
}

/** Starts the webhooks; `undefined` with `--webhook-cert-mode none`. */
export async function startWebhooks(context: WebhookContext): Promise<WebhookHandle | undefined> {
  const { config, log } = context;
  if (config.webhookCertMode === WEBHOOK_CERT_MODES.none) {
    log.info('admission webhooks off (--webhook-cert-mode none)');
    return undefined;
  }
  const kube = new Kube(context.kubeConfig, {
    canWrite: context.isLeader,
    userAgent: `${CONTROLLER_FIELD_MANAGER}/${config.podName}/webhook`,
    maxSockets: 2,
  });
  const webhooks = runWebhooks({
    certMode: config.webhookCertMode,
    port: config.webhookPort,
    host: config.bindAddress,
    namespace: config.namespace,
    service: config.webhookService,
    tlsSecret: config.tlsSecret,
    validatingConfiguration: config.validatingWebhookConfiguration,
    mutatingConfiguration: config.mutatingWebhookConfiguration,
    certHosts: config.webhookCertHosts,
    certDir: config.webhookCertDir,
    certValidityMs: config.webhookCertValidityMs,
    maxBodyBytes: config.webhookMaxBodyBytes,
    requestTimeoutMs: config.webhookRequestTimeoutSeconds * 1000,
    storageInitializerImage: config.storageInitializerImage,
    validateResource: validateCustomResource,
    kube: requester(kube),
    isLeader: context.isLeader,
    log: (level, msg, fields) => log[level](msg, fields),
  });
  context.onLeadershipChange((leader) => {
    if (leader) void webhooks.refresh();
  });
  return {
    notReady: () => webhooks.notReady(),
    close: async () => {
      await webhooks.close();
      kube.close();
    },
  };
}

/** The controller's client as a KubeRequester: error statuses are answers, not exceptions. */
function requester(kube: Kube): KubeRequester {
  return {
    request: async (method, path, options) => {
      try {
        return { status: 200, body: await kube.request(method, path, options) };
      } catch (e) {
        if (e instanceof KubeError) return { status: e.status, body: { reason: e.reason, message: e.message } };
        throw e;
      }
    },
  };
}
