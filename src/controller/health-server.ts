/**
 * `/healthz`, `/readyz` and `/metrics` on one plain HTTP listener (CONTROLLER_PATHS). Liveness is
 * "the event loop answers"; readiness is the caller's check (informers synced, webhooks serving).
 * Nothing is read from request bodies, so there is no buffer a client can fill.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { CONTROLLER_PATHS } from '../contract';

export interface HealthServerOptions {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  /** Empty when ready; otherwise the reasons, shown in the /readyz body. */
  readonly notReady: () => string[];
}

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (path === CONTROLLER_PATHS.healthz) return send(200, 'ok\n');
    if (path === CONTROLLER_PATHS.readyz) {
      const reasons = options.notReady();
      return reasons.length === 0 ? send(200, 'ok\n') : send(503, `not ready: ${reasons.join('; ')}\n`);
    }
    if (path === CONTROLLER_PATHS.metrics) {
      options.registry.metrics().then((text) => send(200, text, options.registry.contentType), (e) => send(500, `${e}\n`));
      return;
    }
    send(404, 'not found\n');
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
