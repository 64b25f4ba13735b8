// SIGTERM under load: readiness turns false first, every request accepted before SIGTERM is
// answered 2xx, then the process exits 0.
import { expected, MODELS, request, startServer } from './server-harness';

test('SIGTERM drains without dropping accepted requests', async () => {
  const server = await startServer(['--model-dir', `${MODELS}/mlp-wide.onnx`, '--model-name', 'wide'], {
    SHUTDOWN_DELAY_MS: '400',
    SHUTDOWN_GRACE_MS: '10000',
  });
  const { port } = server;
  const body = expected('mlp-wide').v2_request;
  let sigtermSent = false;
  const beforeSigterm: Array<Promise<number>> = [];
  const after: number[] = [];
  let stop = false;

  // 16 client loops keep requests in flight until the server stops answering.
  const loop = async () => {
    while (!stop) {
      const sentBefore = !sigtermSent;
      const p = request(port, 'POST', '/v2/models/wide/infer', body).then((r) => r.status, () => -1);
      if (sentBefore) {
        beforeSigterm.push(p);
      }
      const status = await p;
      if (!sentBefore) {
        after.push(status);
        if (status !== 200) {
          return;
        }
      }
    }
  };
  const loops = Array.from({ length: 16 }, loop);
  await new Promise((r) => setTimeout(r, 300));

  sigtermSent = true;
  server.proc.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  // readiness is off while the listener still answers (the shutdown delay)
  const ready = await request(port, 'GET', '/v2/health/ready');
  expect(ready.status).toBe(503);
  expect((await request(port, 'GET', '/v2/health/live')).status).toBe(200);

  const code = await server.exited;
  stop = true;
  await Promise.all(loops);
  const statuses = await Promise.all(beforeSigterm);
  expect(statuses.length).toBeGreaterThan(16);
  expect(statuses.filter((s) => s !== 200)).toEqual([]);
  expect(code).toBe(0);
  const events = server.logs.map((l) => l.event).filter(Boolean);
  expect(events.indexOf('draining')).toBeGreaterThan(-1);
  expect(events.indexOf('stopped')).toBeGreaterThan(events.indexOf('draining'));
});
