/**
 * Differential test of the lean HTTP/1.1 front against node:http (llhttp): the same byte
 * streams go to a server with the front (`--http-front lean`, the default) and to one without
 * it (`--http-front node`), over real sockets; both must answer the same requests (matched by
 * the `id` each request carries), in the same order, with the same status class. Request
 * smuggling shows up here as a difference: one parser taking bytes as a body that the other
 * takes as the next request. The streams mix ordinary requests with the classic smuggling
 * shapes (CL+TE, duplicate or comma-joined Content-Length, obs-fold, bare LF, chunk extensions,
 * invalid chunk sizes, HTTP/1.0 with Transfer-Encoding, duplicate Host, Expect, oversized
 * bodies), written in random pieces.
 *
 * Seeded: the seed is in the test name and fast-check prints it with the failing case; replay
 * with HTTP1_FUZZ_SEED=<seed>.
 */
import fc from 'fast-check';
import { expected, modelDir, RunningServer, startServer } from '../server-harness';
import { header, RawClient, WireResponse } from './http1-wire';

const SEED = Number(process.env.HTTP1_FUZZ_SEED ?? 20261207);
const RUNS = Number(process.env.HTTP1_FUZZ_RUNS ?? 300);
const MAX_BODY = 4096;
const INFER = '/v2/models/iris/infer';
const iris = expected('iris-logreg');

let lean: RunningServer;
let node: RunningServer;

beforeAll(async () => {
  const dir = modelDir({ 'iris/model.onnx': 'iris-logreg.onnx' });
  const args = ['--model-dir', dir, '--mode', 'multi', '--max-body-bytes', String(MAX_BODY), '--request-timeout-ms', '5000'];
  [lean, node] = await Promise.all([startServer([...args, '--http-front', 'lean']), startServer([...args, '--http-front', 'node'])]);
});
afterAll(async () => {
  await Promise.all([lean?.stop(), node?.stop()]);
});

const body = (id: string) => JSON.stringify({ ...iris.v2_request, id });
const chunked = (b: string, ext = '') => {
  const half = Math.floor(b.length / 2);
  return `${half.toString(16)}${ext}\r\n${b.slice(0, half)}\r\n${(b.length - half).toString(16)}${ext}\r\n${b.slice(half)}\r\n0\r\n\r\n`;
};
const head = (lines: string[], requestLine = `POST ${INFER} HTTP/1.1`) => `${[requestLine, ...lines].join('\r\n')}\r\n\r\n`;
const JSON_TYPE = 'Content-Type: application/json';
const HOST = 'Host: t';

/**
 * Message shapes, each built around a request id. `clean`: both servers answer it and keep the
 * connection, so it may be pipelined behind other requests and written in pieces. The others
 * (parse errors, refusals that close the connection) are written whole and never followed by
 * pipelined bytes: a server that closes a connection with unread bytes in it makes the kernel
 * send a reset, which may destroy the answer before the client reads it, on both paths alike (a
 * matter of timing, not of framing); and node:http drops the answers still in flight when it
 * meets a parse error.
 */
const SHAPES: Record<string, { clean: boolean; build(id: string): string }> = {
  plain: { clean: true, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}`]) + body(id) },
  // Bytes after a `Connection: close` request are a parse error for llhttp (it drops the whole
  // connection); the front answers up to the close and drops the rest: not pipelined here.
  connectionClose: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}`, 'Connection: close']) + body(id) },
  chunked: { clean: true, build: (id) => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked']) + chunked(body(id)) },
  chunkExtensions: { clean: true, build: (id) => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked']) + chunked(body(id), ';ext="1"') },
  clLeadingZeros: { clean: true, build: (id) => head([HOST, JSON_TYPE, `Content-Length: 00${body(id).length}`]) + body(id) },
  clSurroundingSpace: { clean: true, build: (id) => head([HOST, JSON_TYPE, `Content-Length:   ${body(id).length}  `]) + body(id) },
  // HTTP/1.0 without keep-alive closes the connection too.
  http10: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}`], `POST ${INFER} HTTP/1.0`) + body(id) },
  http10WithTe: { clean: false, build: (id) => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked'], `POST ${INFER} HTTP/1.0`) + chunked(body(id)) },
  duplicateHost: { clean: false, build: (id) => head([HOST, 'Host: u', JSON_TYPE, `Content-Length: ${body(id).length}`]) + body(id) },
  // node:http refuses a missing Host with a 400 and closes: a refusal, so never pipelined.
  missingHost: { clean: false, build: (id) => head([JSON_TYPE, `Content-Length: ${body(id).length}`]) + body(id) },
  expectContinue: { clean: true, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}`, 'Expect: 100-continue']) + body(id) },
  expectOversized: { clean: false, build: () => head([HOST, JSON_TYPE, `Content-Length: ${MAX_BODY * 100}`, 'Expect: 100-continue']) },
  oversized: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${MAX_BODY + 1}`]) + body(id).padEnd(MAX_BODY + 1, ' ') },
  absoluteForm: { clean: true, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}`], `POST http://t${INFER} HTTP/1.1`) + body(id) },
  health: { clean: true, build: () => head([HOST], 'GET /v2/health/live HTTP/1.1') },
  root: { clean: true, build: () => head([HOST], 'GET / HTTP/1.1') },
  clAndTe: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}`, 'Transfer-Encoding: chunked']) + chunked(body(id)) },
  teAndCl: { clean: false, build: (id) => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked', 'Content-Length: 4']) + chunked(body(id)) },
  duplicateClSame: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}`, `Content-Length: ${body(id).length}`]) + body(id) },
  duplicateClDifferent: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}`, 'Content-Length: 7']) + body(id) },
  clCommaList: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}, ${body(id).length}`]) + body(id) },
  clPlusSign: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: +${body(id).length}`]) + body(id) },
  spaceBeforeColon: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length : ${body(id).length}`]) + body(id) },
  obsFoldOther: { clean: false, build: (id) => head([HOST, JSON_TYPE, 'X-Note: a', ' b', `Content-Length: ${body(id).length}`]) + body(id) },
  obsFoldContentLength: { clean: false, build: (id) => head([HOST, JSON_TYPE, 'Content-Length:', ` ${body(id).length}`]) + body(id) },
  bareLfOneLine: { clean: false, build: (id) => `POST ${INFER} HTTP/1.1\r\n${HOST}\n${JSON_TYPE}\r\nContent-Length: ${body(id).length}\r\n\r\n${body(id)}` },
  bareLfEverywhere: { clean: false, build: (id) => `POST ${INFER} HTTP/1.1\n${HOST}\n${JSON_TYPE}\nContent-Length: ${body(id).length}\n\n${body(id)}` },
  bareLfHeadEnd: { clean: false, build: (id) => `POST ${INFER} HTTP/1.1\r\n${HOST}\r\n${JSON_TYPE}\r\nContent-Length: ${body(id).length}\n\n${body(id)}` },
  chunkSizeNotHex: { clean: false, build: () => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked']) + 'zz\r\n{}\r\n0\r\n\r\n' },
  chunkSizeNegative: { clean: false, build: () => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked']) + '-2\r\n{}\r\n0\r\n\r\n' },
  chunkSizeHexPrefix: { clean: false, build: () => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked']) + '0x2\r\n{}\r\n0\r\n\r\n' },
  chunkSizeOverflow: { clean: false, build: () => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked']) + 'fffffffffffffffff2\r\n{}\r\n0\r\n\r\n' },
  chunkMissingCrlf: { clean: false, build: (id) => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked']) + `${body(id).length.toString(16)}\r\n${body(id)}0\r\n\r\n` },
  teObfuscated: { clean: false, build: (id) => head([HOST, JSON_TYPE, 'Transfer-Encoding: xchunked', `Content-Length: ${body(id).length}`]) + body(id) },
  teTab: { clean: false, build: (id) => head([HOST, JSON_TYPE, 'Transfer-Encoding:\tchunked', `Content-Length: ${body(id).length}`]) + chunked(body(id)) },
  teChunkedNotLast: { clean: false, build: (id) => head([HOST, JSON_TYPE, 'Transfer-Encoding: chunked, identity']) + chunked(body(id)) },
  nulInHeader: { clean: false, build: (id) => head([HOST, JSON_TYPE, 'X-A: a\0b', `Content-Length: ${body(id).length}`]) + body(id) },
  lowercaseMethod: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length}`], `post ${INFER} HTTP/1.1`) + body(id) },
  headerTooLarge: { clean: false, build: (id) => head([HOST, JSON_TYPE, `X-Pad: ${'a'.repeat(20_000)}`, `Content-Length: ${body(id).length}`]) + body(id) },
  // Only ever the last message: the FIN ends it mid-body.
  truncatedBody: { clean: false, build: (id) => head([HOST, JSON_TYPE, `Content-Length: ${body(id).length + 10}`]) + body(id) },
};
const SHAPE_NAMES = Object.keys(SHAPES);

interface Case {
  messages: string[];
  /** Write all messages at once (pipelined) rather than one answer at a time. */
  pipelined: boolean;
  /** Split points, as fractions of each message, where a write ends. */
  cuts: number[][];
}

/** What a server answered, comparable across the two: status class and the request id answered. */
type Outcome = Array<{ statusClass: number; id?: string }>;

function outcome(responses: WireResponse[]): Outcome {
  return responses.map((r) => {
    let id: string | undefined;
    if (r.status === 200 && /json/.test(header(r, 'content-type') ?? '')) {
      id = (JSON.parse(r.body.toString()) as { id?: string }).id;
    }
    return { statusClass: Math.floor(r.status / 100), id };
  });
}

/** A last request that makes both servers close the connection after answering everything before it. */
const CLOSING = 'GET /v2/health/live HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n';

/**
 * Sends the case on a fresh connection and collects every answer until the server closes.
 * One message at a time, the stream ends with the client's FIN; pipelined, with a last
 * `Connection: close` request (a FIN behind pipelined requests makes node:http drop those not
 * yet parsed, which depends on timing, not framing).
 */
async function play(server: RunningServer, c: Case): Promise<Outcome> {
  const client = new RawClient(server.port);
  await client.ready();
  if (c.pipelined) c = { ...c, messages: [...c.messages, CLOSING], cuts: [...c.cuts, []] };
  const pieces = (message: string, cuts: number[]) => {
    const bytes = Buffer.from(message, 'latin1');
    const at = [...new Set(cuts.map((f) => Math.floor(f * bytes.length)))].sort((a, b) => a - b);
    return [0, ...at].map((start, i) => bytes.subarray(start, i < at.length ? at[i] : bytes.length)).filter((b) => b.length > 0);
  };
  for (let i = 0; i < c.messages.length && !client.closed; i++) {
    for (const piece of pieces(c.messages[i], c.cuts[i])) {
      if (client.closed || client.socket.destroyed) break;
      client.socket.write(piece);
      await new Promise((r) => setImmediate(r));
    }
    // Quiet for 600 ms: no answer is coming (an answer that took longer would let the next message
    // pipeline behind it, where node:http may drop it on a parse error).
    if (!c.pipelined) await client.waitFor(i + 1, 600);
  }
  if (c.pipelined) await client.waitFor(Number.MAX_SAFE_INTEGER, 500);
  if (!client.socket.destroyed) client.socket.end();
  await client.untilClosed(4000);
  return outcome(client.finals());
}

async function compare(c: Case): Promise<void> {
  const [viaLean, viaNode] = await Promise.all([play(lean, c), play(node, c)]);
  expect({ names: c.messages.map((m) => m.slice(0, 60)), viaLean }).toEqual({ names: c.messages.map((m) => m.slice(0, 60)), viaLean: viaNode });
}

test.each(SHAPE_NAMES)('shape %s alone, and behind an ordinary request, gets the same answers from the lean front and node:http', async (name) => {
  const shape = SHAPES[name];
  await compare({ messages: [shape.build('a')], pipelined: false, cuts: [[]] });
  await compare({ messages: [SHAPES.plain.build('p'), shape.build('a')], pipelined: false, cuts: [[0.5], shape.clean ? [0.5] : []] });
  if (shape.clean) {
    await compare({ messages: [SHAPES.plain.build('p'), shape.build('a'), SHAPES.plain.build('q')], pipelined: true, cuts: [[], [], []] });
  }
});

test(`fuzz: random streams of these shapes get the same answers from the lean front and node:http (seed ${SEED}, replay with HTTP1_FUZZ_SEED)`, async () => {
  const shapeName = (clean: boolean) => fc.constantFrom(...SHAPE_NAMES.filter((n) => n !== 'truncatedBody' && (!clean || SHAPES[n].clean)));
  const arbitrary = fc.boolean().chain((pipelined) => fc.record({
    pipelined: fc.constant(pipelined),
    names: fc.array(shapeName(pipelined), { minLength: 1, maxLength: 3 }),
    truncateLast: pipelined ? fc.constant(false) : fc.boolean(),
    cuts: fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }), { minLength: 5, maxLength: 5 }),
  }));
  await fc.assert(fc.asyncProperty(arbitrary, async ({ pipelined, names, truncateLast, cuts }) => {
    const all = truncateLast ? [...names, 'truncatedBody'] : names;
    await compare({ messages: all.map((n, i) => SHAPES[n].build(`r${i}`)), pipelined, cuts: all.map((n, i) => (SHAPES[n].clean ? cuts[i] : [])) });
  }), { seed: SEED, numRuns: RUNS });
}, 300_000);

test('both servers still serve an ordinary request after the fuzzing', async () => {
  for (const server of [lean, node]) {
    const client = new RawClient(server.port);
    await client.ready();
    client.socket.write(SHAPES.plain.build('last'));
    await client.waitFor(1, 2000);
    expect(outcome(client.finals())).toEqual([{ statusClass: 2, id: 'last' }]);
    client.socket.destroy();
  }
});
