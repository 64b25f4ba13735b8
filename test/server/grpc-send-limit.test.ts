/**
 * The gRPC layer's answer-size limit (src/server/grpc/h2.ts): an answer larger than
 * `maxSendBytes` is never sent; the call ends RESOURCE_EXHAUSTED instead. Both ways of answering
 * are checked: `ok` (a message) and `okFramed` (a message behind room for its prefix).
 */
import * as http2 from 'node:http2';
import { GRPC_STATUS } from '../../src/server/errors';
import { H2GrpcServer, MESSAGE_PREFIX_BYTES, UnaryMethod } from '../../src/server/grpc/h2';

const LIMIT = 1000;
let server: H2GrpcServer;
let session: http2.ClientHttp2Session;

const answerWith = (size: number, framed: boolean): UnaryMethod => (call) => () => {
  if (framed) call.okFramed(Buffer.alloc(MESSAGE_PREFIX_BYTES + size, 7));
  else call.ok(Buffer.alloc(size, 7));
};

beforeAll(async () => {
  server = new H2GrpcServer({
    methods: new Map([
      ['/t.S/Small', answerWith(LIMIT, false)],
      ['/t.S/Big', answerWith(LIMIT + 1, false)],
      ['/t.S/SmallFramed', answerWith(LIMIT, true)],
      ['/t.S/BigFramed', answerWith(LIMIT + 1, true)],
    ]),
    maxReceiveBytes: LIMIT,
    maxSendBytes: LIMIT,
  });
  const port = await server.listen(0, '127.0.0.1');
  session = http2.connect(`http://127.0.0.1:${port}`);
});
afterAll(async () => {
  session?.destroy();
  await server?.close(100);
});

function send(path: string): Promise<{ status: string; message?: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', 'te': 'trailers' });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    stream.on('response', (h) => { headers = { ...headers, ...h }; });
    stream.on('trailers', (t) => { headers = { ...headers, ...t }; });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => resolve({ status: String(headers['grpc-status']), message: headers['grpc-message'] as string | undefined, body: Buffer.concat(chunks) }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

test.each([['Small', false], ['SmallFramed', true]])('an answer at the limit is sent whole (%s)', async (method) => {
  const r = await send(`/t.S/${method}`);
  expect(r.status).toBe(String(GRPC_STATUS.OK));
  expect(r.body.readUInt32BE(1)).toBe(LIMIT);
  expect(r.body.subarray(MESSAGE_PREFIX_BYTES)).toEqual(Buffer.alloc(LIMIT, 7));
});

test.each([['Big'], ['BigFramed']])('an answer over the limit is RESOURCE_EXHAUSTED with no message (%s)', async (method) => {
  const r = await send(`/t.S/${method}`);
  expect(r.status).toBe(String(GRPC_STATUS.RESOURCE_EXHAUSTED));
  expect(decodeURIComponent(r.message!)).toBe(`response message of ${LIMIT + 1} bytes is larger than the limit of ${LIMIT}`);
  expect(r.body).toHaveLength(0);
});
