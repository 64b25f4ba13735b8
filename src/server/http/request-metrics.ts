/**
 * Request metrics of a fastify app (predictor, transformer, explainer): in-flight gauge,
 * request counter and latency per model, protocol and status, for routes whose config names a
 * `protocol`; a client that goes away before the answer counts as 499. `/metrics` serves them.
 * (The fast path in front of fastify keeps the same metrics itself: `./fast-path`.)
 */
import { performance } from 'node:perf_hooks';
import { FastifyInstance, FastifyRequest } from 'fastify';
import { PATHS } from '../../contract';
import { MetricProtocol, ServerMetrics } from '../metrics';

declare module 'fastify' {
  interface FastifyRequest {
    startedAt: number;
    metered: boolean;
  }
  interface FastifyContextConfig {
    /** Protocol label of the request metrics; routes without it are not metered. */
    protocol?: MetricProtocol;
  }
}

/**
 * Meters the requests of routes with a `protocol` config. `modelLabel` turns the route's
 * `:name` into the `model` label (only known names, so clients cannot blow up cardinality);
 * routes without a name get `''`.
 */
export function meterRequests(app: FastifyInstance, metrics: ServerMetrics, modelLabel: (name: string) => string): void {
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('metered', false);
  app.addHook('onRequest', (request, _reply, done) => {
    const protocol = request.routeOptions.config.protocol;
    if (protocol) {
      request.startedAt = performance.now();
      request.metered = true;
      metrics.inFlight(protocol).value++;
    }
    done();
  });
  const finish = (request: FastifyRequest, code: number) => {
    if (!request.metered) return;
    request.metered = false;
    const protocol = request.routeOptions.config.protocol!;
    const name = (request.params as { name?: string } | undefined)?.name;
    const model = name === undefined ? '' : modelLabel(name);
    metrics.inFlight(protocol).value--;
    metrics.recordRequest(model, protocol, code, (performance.now() - request.startedAt) / 1000);
  };
  app.addHook('onResponse', (request, reply, done) => {
    finish(request, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    finish(request, 499);
    done();
  });
}

/** `GET /metrics`: the registry in the Prometheus text format. */
export function serveMetrics(app: FastifyInstance, metrics: ServerMetrics): void {
  app.get(PATHS.metrics, async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
}
