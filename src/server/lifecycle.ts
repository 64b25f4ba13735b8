/**
 * The process side of `serve`, one implementation for every mode (predictor, mesh member,
 * transformer, explainer): listening on `--host` (all interfaces by default), and the graceful
 * stop on SIGTERM/SIGINT.
 *
 * Stop: readiness turns false at once (`drain`); after `shutdownDelayMs` (SIGTERM only, so
 * endpoints drop the pod before its listeners close) `close` runs (listeners refuse new
 * connections, accepted requests finish, then the rest is released). The stop resolves 0 once
 * `close` is done, or 1 when `shutdownGraceMs` runs out first.
 */
import { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { ServerConfig } from './config';

/** `shutdownDelayMs`: wait between readiness off and closing (SIGTERM only); `shutdownGraceMs`: longest stop. */
export type StopTiming = Pick<ServerConfig, 'shutdownDelayMs' | 'shutdownGraceMs'>;

export interface GracefulStopSteps {
  readonly log: FastifyBaseLogger;
  /** Turns readiness off; called at once on the signal. */
  drain(): void;
  /** Closes the listeners, then whatever else runs; an error is logged as `shutdown_error`. */
  close(signal: string): Promise<void>;
}

/**
 * Installs the SIGTERM/SIGINT handlers (once each) and resolves with the exit code once the
 * server stopped: 0, or 1 when the grace period expired.
 */
export function stopOnSignal(timing: StopTiming, steps: GracefulStopSteps): Promise<number> {
  const { log } = steps;
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      steps.drain();
      log.info({ event: 'draining', signal }, 'readiness off, draining');
      const grace = setTimeout(() => {
        log.warn({ event: 'shutdown_grace_expired', graceMs: timing.shutdownGraceMs }, 'grace period over, exiting');
        resolve(1);
      }, timing.shutdownGraceMs);
      grace.unref();
      if (timing.shutdownDelayMs > 0 && signal === 'SIGTERM') {
        await new Promise((r) => setTimeout(r, timing.shutdownDelayMs));
      }
      try {
        await steps.close(signal);
      } catch (err) {
        log.error({ event: 'shutdown_error', err }, 'error during shutdown');
      }
      clearTimeout(grace);
      log.info({ event: 'stopped' }, 'stopped');
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });
}

/**
 * Listens on `host` (`--host`: 0.0.0.0 by default, so probes reach the pod; 127.0.0.1 keeps a
 * local server local) and resolves with the bound port.
 */
export async function listenOn(app: FastifyInstance, host: string, port: number): Promise<number> {
  await app.listen({ host, port });
  const address = app.server.address();
  return typeof address === 'object' && address ? address.port : port;
}

/** One JSON log line on stdout, in the logger's shape, for the times before the app's logger exists. */
export function logLine(level: number, fields: object, msg: string): void {
  process.stdout.write(`${JSON.stringify({ level, time: Date.now(), pid: process.pid, ...fields, msg })}\n`);
}
