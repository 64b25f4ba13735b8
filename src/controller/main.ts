/**
 * `cdk8s-model-serving controller`: wires the process together. Loads the Kubernetes
 * configuration (`--kubeconfig`, else in-cluster), serves /healthz, /readyz and /metrics, starts
 * the admission webhooks (./webhook, on every replica), campaigns for the leader Lease (or not,
 * with `--leader-elect=false`), and while leader runs the reconcilers (./controller.ts).
 *
 * SIGTERM/SIGINT: readiness turns false, the queue stops handing out keys, in-flight reconciles
 * finish (up to `--shutdown-grace-seconds`), the Lease is released, then the process exits 0.
 * Losing the Lease stops every write at once (the write guard in ./kube.ts) and exits 1, as
 * controller-runtime does: the restarted process campaigns again from a clean state.
 */
import { CONTROLLER_FIELD_MANAGER } from '../contract';
import { loadClientNode, type ClientNode, type KubeConfig } from './client-node';
import type { ControllerConfig } from './config';
import { Controller } from './controller';
import { startHealthServer } from './health-server';
import { Kube } from './kube';
import { LeaderElector } from './leader';
import { jsonLogger } from './log';
import { createMetrics } from './metrics';
import { startWebhooks } from './webhook';

/** Kubeconfig from a file (development, tests) or the pod's service account. */
export function loadKubeConfig(client: ClientNode, config: ControllerConfig): KubeConfig {
  const kc = new client.KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromCluster();
  return kc;
}

/** Runs until SIGTERM/SIGINT (exit code 0) or the loss of leadership (1). */
export async function runController(config: ControllerConfig): Promise<number> {
  const log = jsonLogger(config.logLevel, { component: 'controller', pod: config.podName });
  const metrics = createMetrics();
  const identity = `${config.podName}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  let shuttingDown = false;
  /** Set once in-flight reconciles are done (or the grace period is over): nothing is written after. */
  let writesStopped = false;
  let elector: LeaderElector | undefined;
  const isLeader = () => !writesStopped && (elector ? elector.isLeader() : true);

  const client = await loadClientNode();
  let kubeConfig: KubeConfig;
  try {
    kubeConfig = loadKubeConfig(client, config);
  } catch (e) {
    log.error('could not load the Kubernetes configuration', { kubeconfig: config.kubeconfig ?? 'in-cluster', error: e });
    return 2;
  }
  const kube = new Kube(kubeConfig, {
    canWrite: isLeader,
    userAgent: `${CONTROLLER_FIELD_MANAGER}/${config.podName}`,
    onWrite: (kind, verb) => metrics.writes.inc({ kind, verb }),
  });
  const controller = new Controller(client, kubeConfig, kube, config, log, metrics);

  // ---- the admission webhooks (src/controller/webhook, the ctl-webhook part): every replica serves them ----
  const leadershipListeners: Array<(leader: boolean) => void> = [];
  const webhooks = await startWebhooks({
    config,
    kubeConfig,
    log: log.child({ component: 'webhook' }),
    isLeader,
    onLeadershipChange: (listener) => leadershipListeners.push(listener),
  });
  // ---- end of webhooks ----

  const health = await startHealthServer({
    host: config.bindAddress,
    port: config.metricsPort,
    registry: metrics.registry,
    notReady: () => [
      ...(shuttingDown ? ['shutting down'] : []),
      ...controller.notReady(),
      ...(webhooks?.notReady() ?? []),
    ],
  });
  log.info('controller started', {
    metricsPort: health.port,
    fieldManager: CONTROLLER_FIELD_MANAGER,
    leaderElect: config.leaderElect,
    watchNamespace: config.watchNamespace || '*',
    server: kube.server.origin,
  });

  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => { resolveExit = r; });
  const shutdown = async (code: number, why: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info('shutting down', { reason: why });
    await controller.stop(config.shutdownGraceSeconds * 1000);
    writesStopped = true;
    await elector?.stop();
    await webhooks?.close();
    await health.close();
    kube.close();
    log.info('stopped', { exitCode: code });
    resolveExit(code);
  };
  process.once('SIGTERM', () => void shutdown(0, 'SIGTERM'));
  process.once('SIGINT', () => void shutdown(0, 'SIGINT'));

  // Every replica keeps its caches warm, so a new leader reconciles at once.
  await controller.startInformers();
  const onLeader = (leader: boolean) => {
    metrics.leader.set(leader ? 1 : 0);
    for (const l of leadershipListeners) l(leader);
    if (leader) controller.startWorkers();
  };
  if (config.leaderElect) {
    elector = new LeaderElector(kube, {
      namespace: config.namespace,
      name: config.leaseName,
      identity,
      leaseDurationMs: config.leaseDurationSeconds * 1000,
      renewDeadlineMs: config.renewDeadlineSeconds * 1000,
      retryPeriodMs: config.retryPeriodSeconds * 1000,
    }, log.child({ component: 'leader-election' }));
    elector.onChange(onLeader);
    void elector.run().then(() => {
      if (!shuttingDown) void shutdown(1, 'lost the leader Lease');
    });
  } else {
    onLeader(true);
  }
  return exited;
}
