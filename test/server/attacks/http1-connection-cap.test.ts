/**
 * `--http-max-connections`: past the cap, a new REST connection is closed at once, unanswered,
 * so the per-connection bounds add up to a fixed figure; once a connection leaves, a new one is
 * served again.
 */
import { modelDir, RunningServer, startServer } from '../server-harness';
import { RawClient } from './http1-wire';

const CAP = 4;
const HEALTH = 'GET /v2/health/live HTTP/1.1\r\nHost: t\r\n\r\n';

let server: RunningServer;
beforeAll(async () => {
  const dir = modelDir({ 'iris/model.onnx': 'iris-logreg.onnx' });
  server = await startServer(['--model-dir', dir, '--mode', 'multi', '--http-max-connections', String(CAP)]);
});
afterAll(async () => server?.stop());

async function served(): Promise<RawClient> {
  const client = new RawClient(server.port);
  await client.ready();
  client.socket.write(HEALTH);
  await client.waitFor(1, 2000);
  return client;
}

test(`with --http-max-connections ${CAP}, connection ${CAP + 1} is closed unanswered; after one leaves, a new one is served`, async () => {
  const open: RawClient[] = [];
  for (let i = 0; i < CAP; i++) {
    const client = await served();
    expect(client.finals().map((r) => r.status)).toEqual([200]);
    open.push(client);
  }

  const extra = new RawClient(server.port);
  await extra.ready();
  extra.socket.write(HEALTH);
  await extra.untilClosed(5000);
  expect(extra.closed).toBe(true);
  expect(extra.finals()).toEqual([]);

  open.shift()!.socket.destroy();
  // The server counts the connection gone once it sees the close: retry until it does.
  let again: RawClient | undefined;
  for (let attempt = 0; attempt < 50 && !again; attempt++) {
    const client = await served();
    if (client.finals().length === 1) again = client;
    else await new Promise((r) => setTimeout(r, 20));
  }
  expect(again?.finals().map((r) => r.status)).toEqual([200]);
  for (const client of [...open, again!]) client.socket.destroy();
});
