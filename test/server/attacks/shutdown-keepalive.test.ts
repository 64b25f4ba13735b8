/**
 * SIGTERM under REST load on keep-alive connections: every request whose bytes reached the
 * server before its listening socket closed gets an answer, with `Connection: close`. Before
 * the fix, idle keep-alive connections were destroyed at once, with a request the client had
 * just written still unread in the kernel (1, 1 and 8 lost in three runs; 7 resets with
 * `--shutdown-delay-ms`).
 *
 * Eight raw keep-alive clients send one request after another on their own connection and count
 * each request that got no complete answer (the connection closed or was reset after the
 * request was written). A client whose connection the server closed connects again; a refused
 * connection means the listener is closed, and that client stops (nothing was sent).
 */
import * as net from 'net';
import { expected, modelDir, request, RunningServer, startServer, waitForLog } from '../server-harness';
import { header, parseResponses } from './http1-wire';

const iris = expected('iris-logreg');
const BODY = JSON.stringify(iris.v2_request);
const REQUEST = `POST /v2/models/iris/infer HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`;
const CLIENTS = 8;

interface Tally { answered: number; unanswered: number; resets: number; statuses: Set<number>; closeAnswers: number }

/** One keep-alive client: requests back to back until the server's listener refuses it. */
async function client(port: number, tally: Tally, stop: () => boolean): Promise<void> {
  for (;;) {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const connected = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
    });
    if (!connected) return; // refused: the listener is closed
    let open = true;
    /** The last answer said `Connection: close`: send nothing more on this connection. */
    let closing = false;
    let outstanding = false;
    let received: Buffer = Buffer.alloc(0);
    let onAnswer: (() => void) | undefined;
    socket.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c]);
      const { responses, rest } = parseResponses(received);
      received = rest;
      for (const r of responses) {
        outstanding = false;
        tally.answered++;
        tally.statuses.add(r.status);
        if (header(r, 'connection') === 'close') {
          tally.closeAnswers++;
          closing = true;
        }
        onAnswer?.();
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') tally.resets++;
    });
    const closed = new Promise<void>((resolve) => socket.on('close', () => {
      open = false;
      if (outstanding) tally.unanswered++;
      onAnswer?.();
      resolve();
    }));
    while (open && !closing && !stop()) {
      outstanding = true;
      const answered = new Promise<void>((resolve) => { onAnswer = resolve; });
      socket.write(REQUEST);
      await answered;
    }
    if (open && !closing) socket.destroy();
    await closed;
    if (stop()) return;
  }
}

async function sigtermUnderLoad(front: string, delayMs: number): Promise<{ tally: Tally; code: number | null; server: RunningServer }> {
  const dir = modelDir({ 'iris/model.onnx': 'iris-logreg.onnx' });
  const server = await startServer(['--model-dir', dir, '--mode', 'multi', '--http-front', front], {
    SHUTDOWN_DELAY_MS: String(delayMs),
    SHUTDOWN_GRACE_MS: '15000',
  });
  const tally: Tally = { answered: 0, unanswered: 0, resets: 0, statuses: new Set(), closeAnswers: 0 };
  let exited = false;
  void server.exited.then(() => { exited = true; });
  const clients = Array.from({ length: CLIENTS }, () => client(server.port, tally, () => exited));
  await new Promise((r) => setTimeout(r, 300));
  server.proc.kill('SIGTERM');
  const code = await server.exited;
  await Promise.all(clients);
  return { tally, code, server };
}

describe.each(['lean', 'node'])('--http-front %s', (front) => {
  test.each([
    [0, 1], [0, 2], [0, 3],
    [300, 1], [300, 2], [300, 3],
  ])(`SIGTERM with --shutdown-delay-ms %i under ${CLIENTS} keep-alive clients (run %i): no request unanswered, no reset`, async (delayMs) => {
    const { tally, code, server } = await sigtermUnderLoad(front, delayMs);
    process.stdout.write(`--http-front ${front}, delay ${delayMs} ms: ${tally.answered} answered (${tally.closeAnswers} with Connection: close), ${tally.unanswered} unanswered, ${tally.resets} resets\n`);
    expect(code).toBe(0);
    expect(tally.answered).toBeGreaterThan(CLIENTS);
    expect({ unanswered: tally.unanswered, resets: tally.resets }).toEqual({ unanswered: 0, resets: 0 });
    expect([...tally.statuses]).toEqual([200]);
    // Busy clients get their last answer with Connection: close (a client idle for the whole
    // linger is closed without one, which loses nothing).
    expect(tally.closeAnswers).toBeGreaterThan(0);
    // Log lines come through a pipe and may arrive after the exit.
    await waitForLog(server, (l) => l.event === 'stopped');
    expect(server.logs.some((l) => l.event === 'draining')).toBe(true);
  }, 30_000);
});

test('a request on an idle keep-alive connection after the listener closed is still answered, with Connection: close', async () => {
  const dir = modelDir({ 'iris/model.onnx': 'iris-logreg.onnx' });
  const server = await startServer(['--model-dir', dir, '--mode', 'multi'], { SHUTDOWN_GRACE_MS: '15000' });
  const socket = net.connect(server.port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  let received: Buffer = Buffer.alloc(0);
  socket.on('data', (c: Buffer) => { received = Buffer.concat([received, c]); });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(REQUEST);
  while (parseResponses(received).responses.length < 1) await new Promise((r) => setTimeout(r, 10));

  server.proc.kill('SIGTERM');
  // The listener closes at once (no shutdown delay): wait until new connections are refused.
  for (;;) {
    const refused = await request(server.port, 'GET', '/v2/health/live').then(() => false, () => true);
    if (refused) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  socket.write(REQUEST);
  await closed;
  const { responses } = parseResponses(received);
  expect(responses.map((r) => r.status)).toEqual([200, 200]);
  expect(header(responses[0], 'connection')).toBe('keep-alive');
  expect(header(responses[1], 'connection')).toBe('close');
  expect(await server.exited).toBe(0);
}, 30_000);
