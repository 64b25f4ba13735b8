/**
 * Request heads that llhttp accepts but a server facing untrusted clients refuses, on both
 * HTTP/1.1 paths (the lean front hands them all to node:http, so the answers must be the same):
 * duplicate `Host`, `Transfer-Encoding` on HTTP/1.0, and `Expect: 100-continue` with a body
 * over the limit (413 at once, no `100 Continue`, so the body is never sent). Also KServe V1's
 * server liveness on `GET /`.
 */
import { modelDir, request, RunningServer, startServer } from '../server-harness';
import { header, parseResponses, RawClient, WireResponse } from './http1-wire';

const MAX_BODY = 4096;
const BODY = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
const INFER = '/v2/models/iris/infer';

/** Sends `bytes`, then collects answers until the server closes (or `most` answers came, or 500 ms pass quietly). */
async function send(port: number, bytes: string, most = 10): Promise<{ all: WireResponse[]; closed: boolean }> {
  const client = new RawClient(port);
  await client.ready();
  client.socket.write(bytes);
  await client.waitFor(most, 500);
  const all = parseResponses(Buffer.concat(client.received), client.closed).responses;
  const closed = client.closed;
  client.socket.destroy();
  return { all, closed };
}

describe.each(['lean', 'node'])('--http-front %s', (front) => {
  let server: RunningServer;
  beforeAll(async () => {
    const dir = modelDir({ 'iris/model.onnx': 'iris-logreg.onnx' });
    server = await startServer(['--model-dir', dir, '--mode', 'multi', '--http-front', front, '--max-body-bytes', String(MAX_BODY)]);
  });
  afterAll(async () => server?.stop());

  test('two Host headers: 400 in the JSON error shape, and the connection closes', async () => {
    const { all, closed } = await send(server.port, `POST ${INFER} HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`);
    expect(all.map((r) => r.status)).toEqual([400]);
    expect(JSON.parse(all[0].body.toString())).toEqual({ error: 'invalid request: the request has 2 Host headers; send exactly one', code: 'MS_ERR_INVALID_REQUEST' });
    expect(header(all[0], 'connection')).toBe('close');
    expect(closed).toBe(true);
  });

  test('Transfer-Encoding on an HTTP/1.0 request: 400, and the connection closes', async () => {
    const half = Math.floor(BODY.length / 2);
    const chunked = `${half.toString(16)}\r\n${BODY.slice(0, half)}\r\n${(BODY.length - half).toString(16)}\r\n${BODY.slice(half)}\r\n0\r\n\r\n`;
    const { all, closed } = await send(server.port, `POST ${INFER} HTTP/1.0\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`);
    expect(all[0].status).toBe(400);
    expect(JSON.parse(all[0].body.toString())).toEqual({
      error: 'invalid request: Transfer-Encoding is not allowed in an HTTP/1.0 request; send Content-Length or use HTTP/1.1',
      code: 'MS_ERR_INVALID_REQUEST',
    });
    expect(all.every((r) => r.status === 400)).toBe(true);
    expect(closed).toBe(true);
  });

  test('Expect: 100-continue with a Content-Length over --max-body-bytes: 413 at once, without 100 Continue', async () => {
    const { all, closed } = await send(server.port, `POST ${INFER} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${MAX_BODY + 1}\r\nExpect: 100-continue\r\n\r\n`);
    expect(all.map((r) => r.status)).toEqual([413]);
    expect(JSON.parse(all[0].body.toString())).toEqual({ error: `request body is larger than the limit of ${MAX_BODY} bytes`, code: 'MS_ERR_BODY_TOO_LARGE' });
    expect(closed).toBe(true);
  });

  test('Expect: 100-continue within the limit: 100 Continue, then the answer', async () => {
    const client = new RawClient(server.port);
    await client.ready();
    client.socket.write(`POST ${INFER} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\nExpect: 100-continue\r\n\r\n`);
    while (!Buffer.concat(client.received).toString().startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
      expect(client.closed).toBe(false);
      await new Promise((r) => setTimeout(r, 10));
    }
    client.socket.write(BODY);
    await client.waitFor(1, 2000);
    expect(client.finals().map((r) => r.status)).toEqual([200]);
    client.socket.destroy();
  });

  test('GET / answers KServe V1 server liveness', async () => {
    const r = await request(server.port, 'GET', '/');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'alive' });
  });
});
