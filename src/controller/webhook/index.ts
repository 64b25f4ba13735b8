/**
 * Extension point: the admission webhooks (validating for our custom resources, mutating for
 * Pods) run inside the controller process. `main.ts` calls `startWebhooks` once at start-up, on
 * every replica (leader or not: all of them serve admission requests), and `close` on shutdown.
 *
 * Owned by the `ctl-webhook` part of issue 14, which replaces this body with its HTTPS server
 * (CONTROLLER_PORTS.webhook, CONTROLLER_PATHS.validate / mutatePods) and its TLS handling
 * (`--webhook-cert-mode`). Until it lands this is a deliberate no-op: no webhook server runs.
 */
import type { KubeConfig } from '../client-node';
import type { ControllerConfig } from '../config';
import type { Logger } from '../log';

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

/** Starts the webhook server; `undefined` when none runs (`--webhook-cert-mode none`, or until ctl-webhook lands). */
export async function startWebhooks(context: WebhookContext): Promise<WebhookHandle | undefined> {
  context.log.debug('admission webhooks are not part of this build yet (src/controller/webhook)', { webhookCertMode: context.config.webhookCertMode });
  return undefined;
}
