/**
 * The I/O of a rollout analysis (src/controller/rollout/driver.ts) against real HTTP servers on
 * loopback: the webhooks a user runs (a load test, an acceptance test) gate each step; a failing,
 * silent or flooding hook fails the check with a message naming it and is never read past the
 * answer bound; a Prometheus that cannot be reached pauses the rollout instead of failing it.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { Duration } from 'cdk8s';
import { WebhookPhase } from '../../../src';
import { RolloutDriver } from '../../../src/controller/rollout/driver';
import { resolveAnalysis } from '../../../src/render/analysis/resolve';

type Handler = (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;

/** A webhook server on a free loopback port; records what it was sent. */
async function hookServer(handler: Handler): Promise<{ url: string; received: any[]; close: () => Promise<void> }> {
  const received: any[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ method: req.method, contentType: req.headers['content-type'], body: JSON.parse(body) });
      handler(req, body, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/run`;
  return { url, received, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const cr = { apiVersion: 'serving.cdk8s-model-serving.io/v1alpha1', kind: 'CanaryRollout', metadata: { name: 'iris', namespace: 'models', generation: 1 }, spec: { modelName: 'iris' } };
const plan = (url: string, extra: { timeout?: Duration; failureLimit?: number } = {}) => ({
  analysis: resolveAnalysis({
    stepWeights: [10, 100],
    interval: Duration.seconds(30),
    failureLimit: extra.failureLimit ?? 2,
    webhooks: [{ name: 'load-test', url, phase: WebhookPhase.PRE_STEP, timeout: extra.timeout }],
  }),
  stableVersion: 'v1',
  canaryVersion: 'v2',
});
const NOW = new Date('2026-12-07T10:00:00Z');

describe('rollout driver: webhooks as real HTTP servers on loopback', () => {
  test('a hook answering 2xx lets the first step go ahead; it is posted the rollout as JSON', async () => {
    const hook = await hookServer((_req, _body, res) => res.writeHead(204).end());
    try {
      const decision = await new RolloutDriver(undefined).step(cr as never, plan(hook.url), undefined, NOW);
      expect(decision.status).toMatchObject({ phase: 'Progressing', step: 1, weight: 10, failedChecks: 0 });
      expect(decision.status.checks).toEqual([{ name: 'webhook:load-test', result: 'Passed' }]);
      expect(hook.received).toEqual([{
        method: 'POST',
        contentType: 'application/json',
        body: { name: 'iris', namespace: 'models', phase: 'PreStep', stableVersion: 'v1', canaryVersion: 'v2', weight: 0 },
      }]);
    } finally {
      await hook.close();
    }
  });

  test('a hook answering 500 holds the step, counts a failed check, and names the hook and its answer', async () => {
    const hook = await hookServer((_req, _body, res) => res.writeHead(500).end('load test: p99 over budget'));
    try {
      const decision = await new RolloutDriver(undefined).step(cr as never, plan(hook.url), undefined, NOW);
      expect(decision.status).toMatchObject({ phase: 'Progressing', step: 0, weight: 0, failedChecks: 1 });
      expect(decision.status.message).toContain('webhook load-test: HTTP 500 load test: p99 over budget');
      expect(decision.events.map((e) => e.reason)).toContain('AnalysisFailed');
    } finally {
      await hook.close();
    }
  });

  test('at the failure limit a failing hook rolls back, with a Warning Event', async () => {
    const hook = await hookServer((_req, _body, res) => res.writeHead(503).end());
    try {
      const decision = await new RolloutDriver(undefined).step(cr as never, plan(hook.url, { failureLimit: 1 }), undefined, NOW);
      expect(decision.status).toMatchObject({ phase: 'Failed', weight: 0 });
      expect(decision.events).toEqual(expect.arrayContaining([expect.objectContaining({ type: 'Warning', reason: 'RolloutFailed' })]));
    } finally {
      await hook.close();
    }
  });

  test('a hook that never answers fails after its timeout, saying so', async () => {
    const hook = await hookServer(() => { /* never answers */ });
    try {
      const decision = await new RolloutDriver(undefined).step(cr as never, plan(hook.url, { timeout: Duration.seconds(1) }), undefined, NOW);
      expect(decision.status.failedChecks).toBe(1);
      expect(decision.status.message).toContain('webhook load-test: no answer within 1s');
    } finally {
      await hook.close();
    }
  });

  test('a hook flooding its answer is read only up to the bound (1 MiB), and its error message is short', async () => {
    let written = 0;
    const hook = await hookServer((_req, _body, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = () => {
        // 64 MiB offered; the driver must stop reading long before.
        while (written < 64 * 1024 * 1024 && res.write(chunk)) written += chunk.length;
        if (written < 64 * 1024 * 1024) res.once('drain', pump); else res.end();
      };
      res.on('error', () => undefined);
      pump();
    });
    try {
      const decision = await new RolloutDriver(undefined).step(cr as never, plan(hook.url), undefined, NOW);
      expect(decision.status.failedChecks).toBe(1);
      const message = decision.status.message;
      expect(message).toMatch(/webhook load-test: HTTP 500 x+/);
      expect(message.length).toBeLessThan(600);
      expect(written).toBeLessThan(64 * 1024 * 1024);
    } finally {
      await hook.close();
    }
  });
});

describe('rollout driver: Prometheus', () => {
  test('unreachable (nothing listens): the rollout pauses with the reason, it does not fail', async () => {
    const hook = await hookServer((_req, _body, res) => res.writeHead(200).end());
    try {
      const driver = new RolloutDriver(`http://127.0.0.1:${await closedPort()}`);
      const first = await driver.step(cr as never, plan(hook.url), undefined, NOW);
      expect(first.status).toMatchObject({ step: 1, weight: 10 });
      // One interval later the metrics are due: Prometheus cannot be reached.
      const later = new Date(NOW.getTime() + 31_000);
      const second = await driver.step(cr as never, plan(hook.url), first.status, later);
      expect(second.status).toMatchObject({ phase: 'Paused', pauseReason: 'PrometheusUnreachable', weight: 10, failedChecks: 0 });
    } finally {
      await hook.close();
    }
  });

  test('not configured: the rollout pauses and the message names the flag to set', async () => {
    const hook = await hookServer((_req, _body, res) => res.writeHead(200).end());
    try {
      const driver = new RolloutDriver(undefined);
      const first = await driver.step(cr as never, plan(hook.url), undefined, NOW);
      const second = await driver.step(cr as never, plan(hook.url), first.status, new Date(NOW.getTime() + 31_000));
      expect(second.status.phase).toBe('Paused');
      expect(second.status.message).toContain('--prometheus-url');
    } finally {
      await hook.close();
    }
  });
});
