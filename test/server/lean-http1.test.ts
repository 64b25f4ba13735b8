/**
 * The lean HTTP/1.1 front (src/server/http/lean-http1.ts) against a real `serve` process, over
 * raw TCP so every byte is ours: what it serves, how it splits and pipelines, and that every
 * request it does not serve reaches node:http intact on the same connection.
 *
 * Which path answered shows in the head: the front writes `Content-Type` then `Content-Length`,
 * capitalised; fastify and node:http's fast path write lower-case names, and node:http's own
 * parse-error answers start with `Content-Length`.
 */
import * as net from 'net';
import fc from 'fast-check';
import { expected, expectClose, metricSamples, modelDir, request, RunningServer, startServer } from './server-harness';
import { seeded } from '../seeded';

let server: RunningServer;
const iris = expected('iris-logreg');
const BODY = JSON.stringify(iris.v2_request);
const INFER = '/v2/models/iris/infer';

beforeAll(async () => {
  const dir = modelDir({ 'iris/model.onnx': 'iris-logreg.onnx' });
  server = await startServer(['--model-dir', dir, '--mode', 'multi', '--max-body-bytes', '4096', '--request-timeout-ms', '400']);
});
afterAll(async () => server?.stop());

function inferRequest(body = BODY, extraHeaders = ''): string {
  return `POST ${INFER} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`;
}

interface Parsed { status: number; headers: string[]; body: string }

/** Splits a byte stream into HTTP/1.1 responses (Content-Length or chunked bodies). */
function parseResponses(raw: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let text = raw.toString('latin1');
  while (text.length > 0) {
    const headEnd = text.indexOf('\r\n\r\n');
    if (headEnd < 0) throw new Error(`incomplete response head: ${JSON.stringify(text.slice(0, 200))}`);
    const [statusLine, ...headers] = text.slice(0, headEnd).split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)![1]);
    let rest = text.slice(headEnd + 4);
    const lengthHeader = headers.find((h) => /^content-length:/i.test(h));
    let body = '';
    if (status === 100) {
      // interim response: no body
    } else if (lengthHeader) {
      const n = Number(lengthHeader.split(':')[1]);
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else if (headers.some((h) => /^transfer-encoding:\s*chunked/i.test(h))) {
      for (;;) {
        const lineEnd = rest.indexOf('\r\n');
        const size = parseInt(rest.slice(0, lineEnd), 16);
        rest = rest.slice(lineEnd + 2);
        if (size === 0) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    }
    out.push({ status, headers, body: Buffer.from(body, 'latin1').toString('utf8') });
    text = rest;
  }
  return out;
}

/**
 * Opens a connection, writes `parts` (with a pause between them), and collects what comes back
 * until `expect` responses arrived (then closes) or the server closes the connection.
 */
function exchange(parts: Array<string | Buffer>, expect: number, pauseMs = 5): Promise<{ responses: Parsed[]; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(server.port, '127.0.0.1');
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    let closedByServer = true;
    const finish = () => {
      clearTimeout(timer);
      try {
        resolve({ responses: parseResponses(Buffer.concat(chunks)), closedByServer });
      } catch (err) {
        reject(err);
      }
    };
    const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(Buffer.concat(chunks).toString())}`)), 5000);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      try {
        if (parseResponses(Buffer.concat(chunks)).filter((r) => r.status !== 100).length >= expect) {
          closedByServer = false;
          socket.destroy();
          finish();
        }
      } catch {
        // incomplete: wait for more
      }
    });
    socket.on('close', () => { if (closedByServer) finish(); });
    socket.on('error', () => undefined);
    socket.on('connect', async () => {
      for (const part of parts) {
        if (socket.destroyed) return;
        socket.write(part);
        if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
      }
    });
  });
}

const servedByFront = (r: Parsed) => r.headers[0] === 'Content-Type: application/json; charset=utf-8'
  && r.headers[1] === `Content-Length: ${Buffer.byteLength(r.body)}`;
const servedByNode = (r: Parsed) => !servedByFront(r);

function expectIrisAnswer(r: Parsed): void {
  expect(r.status).toBe(200);
  const answer = JSON.parse(r.body);
  const probs = answer.outputs.find((o: any) => o.name === 'probabilities');
  expectClose(probs.data, iris.outputs.find((o: any) => o.name === 'probabilities').data, iris.tolerance);
}

test('an ordinary inference request is answered by the front, with keep-alive', async () => {
  const { responses: [r] } = await exchange([inferRequest()], 1);
  expectIrisAnswer(r);
  expect(servedByFront(r)).toBe(true);
  expect(r.headers).toContain('Content-Type: application/json; charset=utf-8');
  expect(r.headers).toContain('Connection: keep-alive');
  expect(r.headers.find((h) => h.startsWith('Date: '))).toMatch(/^Date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
});

test('a request that arrives one byte at a time gets the same answer', async () => {
  const bytes = [...Buffer.from(inferRequest())].map((b) => Buffer.from([b]));
  const { responses: [r] } = await exchange(bytes, 1, 0);
  expectIrisAnswer(r);
  expect(servedByFront(r)).toBe(true);
});

test('pipelined requests are answered in order, across the hand-off to node:http', async () => {
  const health = 'GET /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n';
  const { responses } = await exchange([inferRequest() + inferRequest() + health + inferRequest()], 4);
  expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  expectIrisAnswer(responses[0]);
  expectIrisAnswer(responses[1]);
  expect(JSON.parse(responses[2].body)).toEqual({ live: true });
  expectIrisAnswer(responses[3]);
  expect(responses.map(servedByFront)).toEqual([true, true, false, false]);
  // After the hand-off the connection stays on node:http, whose fast path answers inference.
  expect(servedByNode(responses[3])).toBe(true);
  expect(responses[3].headers).toContain(`content-length: ${Buffer.byteLength(responses[3].body)}`);
});

test('a request with a body in several segments, split inside the head, is served', async () => {
  const req = inferRequest();
  const { responses: [r] } = await exchange([req.slice(0, 20), req.slice(20, 90), req.slice(90, req.length - 10), req.slice(req.length - 10)], 1);
  expectIrisAnswer(r);
  expect(servedByFront(r)).toBe(true);
});

test('errors keep the server JSON shape and status', async () => {
  const { responses } = await exchange([[
    inferRequest('{"inputs": ['),
    inferRequest(JSON.stringify({ inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] })),
    inferRequest(BODY).replace(INFER, '/v2/models/nope/infer'),
  ].join('')], 3);
  expect(responses.map((r) => r.status)).toEqual([400, 400, 404]);
  expect(responses.map((r) => JSON.parse(r.body).code)).toEqual(['MS_ERR_INVALID_JSON', 'MS_ERR_INVALID_SHAPE', 'MS_ERR_MODEL_NOT_FOUND']);
  expect(responses.every(servedByFront)).toBe(true);
});

test('Connection: close is honoured: the answer says so and the server ends the connection', async () => {
  const { responses, closedByServer } = await exchange([inferRequest(BODY, 'Connection: close\r\n') + inferRequest()], 2);
  expect(responses).toHaveLength(1);
  expectIrisAnswer(responses[0]);
  expect(responses[0].headers).toContain('Connection: close');
  expect(closedByServer).toBe(true);
});

// Requests the front leaves to node:http, and what node:http (and fastify) answer.
const HANDED_OFF: Array<[string, string, number, string | undefined]> = [
  ['a chunked body', `POST ${INFER} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(BODY).toString(16)}\r\n${BODY}\r\n0\r\n\r\n`, 200, undefined],
  ['HTTP/1.0', `POST ${INFER} HTTP/1.0\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`, 200, undefined],
  ['a query string', inferRequest().replace(INFER, `${INFER}?x=1`), 200, undefined],
  ['no Host header', inferRequest().replace('Host: test\r\n', ''), 400, undefined],
  ['two Content-Length headers', inferRequest().replace('Content-Type', `Content-Length: ${BODY.length}\r\nContent-Type`), 400, undefined],
  ['a body over --max-body-bytes', inferRequest(JSON.stringify({ ...iris.v2_request, pad: 'x'.repeat(5000) })), 413, 'MS_ERR_BODY_TOO_LARGE'],
  ['another content type', inferRequest().replace('application/json', 'text/plain'), 415, 'MS_ERR_UNSUPPORTED_MEDIA_TYPE'],
  ['an empty body', inferRequest(''), 400, undefined],
  ['a control character in a header value', inferRequest(BODY, 'X-A: a\x01b\r\n'), 400, undefined],
  ['a folded header line', inferRequest(BODY, 'X-A: a\r\n  b\r\n'), 400, undefined],
  ['a space before the colon', inferRequest(BODY, 'X-A : a\r\n'), 400, undefined],
  ['GET on the inference route', `GET ${INFER} HTTP/1.1\r\nHost: t\r\n\r\n`, 404, 'MS_ERR_ROUTE_NOT_FOUND'],
  ['a garbage request line', 'HELLO\r\n\r\n', 400, undefined],
  ['a malformed percent-escape in the model name', inferRequest().replace(INFER, '/v2/models/iris%ZZ/infer'), 400, 'MS_ERR_INVALID_REQUEST'],
];

test.each(HANDED_OFF)('%s goes to node:http, which answers it', async (_name, raw, status, code) => {
  const { responses: [r] } = await exchange([raw], 1);
  expect(r.status).toBe(status);
  expect(servedByNode(r)).toBe(true);
  if (code) expect(JSON.parse(r.body).code).toBe(code);
  if (status === 200) expectIrisAnswer(r);
});

test('a malformed percent-escape on a node:http connection is a 400 as well, and the server stays up', async () => {
  const health = 'GET /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n';
  const bad = inferRequest().replace(INFER, '/v1/models/iris%E0%A4%A:predict');
  const { responses } = await exchange([health + bad + inferRequest()], 3);
  expect(responses.map((r) => r.status)).toEqual([200, 400, 200]);
  expect(JSON.parse(responses[1].body).code).toBe('MS_ERR_INVALID_REQUEST');
  expectIrisAnswer(responses[2]);
});

test('Expect: 100-continue goes to node:http: 100 Continue, then the answer', async () => {
  const req = inferRequest(BODY, 'Expect: 100-continue\r\n');
  const head = req.slice(0, req.indexOf('\r\n\r\n') + 4);
  const { responses } = await exchange([head, BODY], 1, 50);
  expect(responses[0].status).toBe(100);
  expectIrisAnswer(responses[1]);
});

test('a body that stops arriving gets a 408 after --request-timeout-ms, and the connection closes', async () => {
  const req = inferRequest();
  // Two answers never come: this waits for the server to close the connection.
  const { responses, closedByServer } = await exchange([req.slice(0, req.length - 5)], 2);
  expect(responses.map((r) => r.status)).toEqual([408]);
  expect(closedByServer).toBe(true);
});

test('a head that stops arriving gets a 408 after --request-timeout-ms too (no slow-loris hold)', async () => {
  const req = inferRequest();
  const { responses, closedByServer } = await exchange([req.slice(0, 40)], 2);
  expect(responses.map((r) => r.status)).toEqual([408]);
  expect(closedByServer).toBe(true);
});

test('a client that leaves mid-body is counted as 499 and the server serves on', async () => {
  const before = metricSamples((await request(server.port, 'GET', '/metrics')).text, 'model_server_requests_total');
  const key = [...before.keys()].find((k) => k.includes('code="499"') && k.includes('protocol="v2"'));
  const count499 = key ? before.get(key)! : 0;
  await new Promise<void>((resolve) => {
    const s = net.connect(server.port, '127.0.0.1', () => {
      const req = inferRequest();
      s.write(req.slice(0, req.length - 5));
      setTimeout(() => { s.destroy(); resolve(); }, 50);
    });
  });
  await new Promise((r) => setTimeout(r, 50));
  const after = metricSamples((await request(server.port, 'GET', '/metrics')).text, 'model_server_requests_total');
  const afterKey = [...after.keys()].find((k) => k.includes('code="499"') && k.includes('protocol="v2"'));
  expect(after.get(afterKey!)).toBe(count499 + 1);
  const { responses: [r] } = await exchange([inferRequest()], 1);
  expectIrisAnswer(r);
});

test('a client that pipelines without reading gets no more work done than the socket can hold, then every answer in order', async () => {
  const N = 30000;
  const countV2 = async () => {
    const samples = metricSamples((await request(server.port, 'GET', '/metrics')).text, 'model_server_requests_total');
    return [...samples].filter(([k]) => k.includes('protocol="v2"')).reduce((a, [, v]) => a + v, 0);
  };
  const before = await countV2();
  const socket = net.connect(server.port, '127.0.0.1');
  socket.pause(); // read nothing yet
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(inferRequest().repeat(N));
  await new Promise((r) => setTimeout(r, 2500));
  const servedWhileUnread = (await countV2()) - before;
  // The kernel's socket buffers hold a few thousand answers (about 6,000 here); then the server stops.
  expect(servedWhileUnread).toBeGreaterThan(0);
  expect(servedWhileUnread).toBeLessThan(N);

  const chunks: Buffer[] = [];
  const all = new Promise<Parsed[]>((resolve) => {
    // Status lines counted per chunk (with the previous chunk's last bytes, where one may start), not by
    // re-reading every byte so far on each chunk: that was quadratic in the ~10 MB of answers.
    const STATUS = 'HTTP/1.1 ';
    let statusLines = 0;
    let carry = '';
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const text = carry + c.toString('latin1');
      statusLines += text.split(STATUS).length - 1;
      carry = text.slice(-(STATUS.length - 1));
      if (statusLines >= N && text.endsWith(']}')) resolve(parseResponses(Buffer.concat(chunks)));
    });
  });
  socket.resume();
  const responses = await all;
  socket.destroy();
  expect(responses).toHaveLength(N);
  expect(responses.every((r) => r.status === 200)).toBe(true);
  expectIrisAnswer(responses[N - 1]);
}, 30_000);

test('fuzz: any request target on the inference routes gets a JSON answer below 500, on either path', async () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9%:._~/-]{0,24}$/);
  await fc.assert(fc.asyncProperty(segment, fc.constantFrom('/v2/models/', '/v1/models/', '/v2/models/iris/versions/'), fc.boolean(), async (tail, prefix, viaNode) => {
    const target = `${prefix}${tail}${prefix.startsWith('/v1') ? ':predict' : '/infer'}`;
    const health = 'GET /v2/health/live HTTP/1.1\r\nHost: test\r\n\r\n';
    const { responses } = await exchange([(viaNode ? health : '') + inferRequest().replace(INFER, target)], viaNode ? 2 : 1);
    const r = responses[responses.length - 1];
    expect(r.status).toBeLessThan(500);
    if (r.body) expect(() => JSON.parse(r.body)).not.toThrow();
  }), seeded({ numRuns: 150, seed: 11 }));
  const { responses: [r] } = await exchange([inferRequest()], 1);
  expectIrisAnswer(r);
}, 60_000);

test('fuzz: mangled requests always get a well-formed answer or a closed connection, and the server stays up', async () => {
  const valid = Buffer.from(inferRequest() + inferRequest());
  await fc.assert(fc.asyncProperty(
    fc.array(fc.record({ at: fc.nat(valid.length - 1), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
    fc.nat(valid.length),
    async (edits, cut) => {
      const bytes = Buffer.from(valid);
      for (const e of edits) bytes[e.at] = e.byte;
      const sent = bytes.subarray(0, Math.max(cut, 1));
      const raw = await new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const s = net.connect(server.port, '127.0.0.1', () => s.end(sent));
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('error', () => undefined);
        s.on('close', () => resolve(Buffer.concat(chunks)));
        setTimeout(() => s.destroy(), 600);
      });
      // Whatever came back is a sequence of HTTP/1.1 responses (possibly none).
      if (raw.length > 0) {
        for (const r of parseResponses(raw)) {
          expect(r.status).toBeGreaterThanOrEqual(200);
          expect(r.status).toBeLessThan(500);
        }
      }
    },
  ), seeded({ numRuns: 60, seed: 31 }));
  const { responses: [r] } = await exchange([inferRequest()], 1);
  expectIrisAnswer(r);
}, 60_000);
