/**
 * `serve --mode agent`: listens on `--http-port` (`AGENT.port` by default) in front of the
 * runtime at `--agent-upstream` (`./app`). It logs `listening` and then `ready` at once: whether
 * the pod is ready is the runtime's answer, which the readiness probe gets through the agent.
 * SIGTERM: `/v2/health/ready` answers 503, then the listener closes as in every mode.
 */
import { buildAgentApp } from './app';
import { ServerConfig } from '../config';
import { listenOn, stopOnSignal } from '../lifecycle';

/** Resolves with the exit code once stopped. */
export async function serveAgent(config: ServerConfig): Promise<number> {
  const agent = config.agent!;
  const state = { draining: false };
  const built = buildAgentApp(config, state);
  const { app } = built;
  const stopped = stopOnSignal(config, {
    log: app.log,
    drain: () => {
      state.draining = true;
    },
    close: async () => {
      await app.close();
      built.close();
    },
  });
  const httpPort = await listenOn(app, config.host, config.httpPort);
  app.log.info({
    event: 'listening',
    httpPort,
    mode: 'agent',
    upstream: agent.upstream.url,
    batching: agent.maxBatchLatencyMs > 0 ? { maxBatchSize: config.maxBatchSize, maxBatchLatencyMs: agent.maxBatchLatencyMs } : false,
    payloadLog: config.payloadLog ? config.payloadLog.url : false,
  }, 'listening');
  app.log.info({ event: 'ready', mode: 'agent' }, 'agent ready (readiness is the runtime\'s)');
  return stopped;
}
