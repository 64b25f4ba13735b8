// The transformer's gRPC predictor client (GrpcPredictor over GrpcUnaryClient, node:http2)
// against a stub predictor on loopback: codec, metadata, status mapping, deadlines, reconnects.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { AddressInfo } from 'node:net';
import { fail, irisHandler, output, reply, startStubPredictor, StubPredictor } from './grpc-predictor-stub';
import { GRPC_STATUS, ServerError } from '../../src/server/errors';
import { decodeInferRequest, encodeInferReply } from '../../src/server/grpc/codec';
import { decodeRaw, encodeRaw } from '../../src/server/grpc/tensors';
import { fromHalf } from '../../src/server/inference';
import { decodeGrpcMessage, GrpcCallError, grpcTimeout, GrpcUnaryClient } from '../../src/server/transformer/grpc-unary-client';
import { GrpcPredictor } from '../../src/server/transformer/predictor';

const IRIS = { inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [6.3, 3.3, 6.0, 2.5] }] };
const noHeaders = { headers: {} };

let stub: StubPredictor;
let predictor: GrpcPredictor;
const closers: Array<() => unknown> = [];

beforeEach(async () => {
  stub = await startStubPredictor();
  predictor = new GrpcPredictor(`127.0.0.1:${stub.port}`, 5000);
});

afterEach(async () => {
  await predictor.close();
  await stub.close();
  while (closers.length) await closers.pop()!();
});

/** The error `promise` rejects with. */
async function failure(promise: Promise<unknown>): Promise<ServerError> {
  try {
    await promise;
  } catch (err) {
    return err as ServerError;
  }
  throw new Error('expected a rejection');
}

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('inference', () => {
  test('tensors of each kind go as raw contents and come back as plain arrays', async () => {
    stub.handler = (call) => {
      const req = decodeInferRequest(call.message);
      // Echo every input as an output (raw in, raw out), with the request's id and parameters.
      reply(call.stream, encodeInferReply({
        model_name: req.model_name,
        model_version: '7',
        id: req.id,
        parameters: { ...req.parameters, echoed: true },
        outputs: req.inputs.map((t, i) => output(t.name, t.datatype as any, t.shape, [], decodeRaw(t.name, t.datatype, req.raw_input_contents[i]))),
        raw: true,
        encodeRaw,
      }));
    };
    const res = await predictor.infer('iris', '2', {
      id: 'req-1',
      parameters: { top_k: 2, tag: 'x' },
      inputs: [
        { name: 'f32', datatype: 'FP32', shape: [2, 2], data: Float32Array.of(1.5, -2, 0, 4) },
        { name: 'nested', datatype: 'FP64', shape: [2, 2], data: [[1, 2], [3, 4]] },
        { name: 'i64', datatype: 'INT64', shape: [2], data: [-3, 2 ** 40] },
        { name: 'u8', datatype: 'UINT8', shape: [2], data: [0, 255] },
        { name: 'b', datatype: 'BOOL', shape: [3], data: [true, false, true] },
        { name: 'h', datatype: 'FP16', shape: [2], data: [0.5, -2] },
        { name: 's', datatype: 'BYTES', shape: [2], data: ['héllo', ''] },
      ],
    }, noHeaders);
    const sent = decodeInferRequest(stub.calls[0].message);
    expect(sent).toMatchObject({ model_name: 'iris', model_version: '2', id: 'req-1', parameters: { top_k: 2, tag: 'x' } });
    expect(sent.inputs.map((t) => t.hasContents)).toEqual(Array(7).fill(false));
    // FP16 plain numbers travel as IEEE half bits.
    expect(Array.from(decodeRaw('h', 'FP16', sent.raw_input_contents[5]) as Uint16Array, fromHalf)).toEqual([0.5, -2]);
    expect(res).toEqual({
      model_name: 'iris',
      model_version: '7',
      id: 'req-1',
      parameters: { top_k: 2, tag: 'x', echoed: true },
      outputs: [
        { name: 'f32', datatype: 'FP32', shape: [2, 2], data: [1.5, -2, 0, 4] },
        { name: 'nested', datatype: 'FP64', shape: [2, 2], data: [1, 2, 3, 4] },
        { name: 'i64', datatype: 'INT64', shape: [2], data: [-3, 2 ** 40] },
        { name: 'u8', datatype: 'UINT8', shape: [2], data: [0, 255] },
        { name: 'b', datatype: 'BOOL', shape: [3], data: [true, false, true] },
        { name: 'h', datatype: 'FP16', shape: [2], data: [0.5, -2] },
        { name: 's', datatype: 'BYTES', shape: [2], data: ['héllo', ''] },
      ],
    });
  });

  test('a predictor that answers typed contents (not raw) is read too', async () => {
    stub.handler = (call) => reply(call.stream, encodeInferReply({
      model_name: 'iris',
      outputs: [output('p', 'FP32', [1, 2], [0.25, 0.75]), output('l', 'INT64', [1], [2]), output('h', 'FP16', [1], [0.5]), output('b', 'BOOL', [1], [true])],
      raw: false,
      encodeRaw,
    }));
    const res = await predictor.infer('iris', undefined, IRIS, noHeaders);
    expect(res.outputs.map((o) => [o.name, o.data])).toEqual([['p', [0.25, 0.75]], ['l', [2]], ['h', [0.5]], ['b', [true]]]);
  });

  test('requested outputs are sent by name; an unsupported datatype fails before sending', async () => {
    await predictor.infer('iris', undefined, { ...IRIS, outputs: [{ name: 'probabilities', parameters: { binary_data: true } }] }, noHeaders);
    expect(decodeInferRequest(stub.calls[0].message).outputs).toEqual([{ name: 'probabilities' }]);
    const err = await failure(predictor.infer('iris', undefined, { inputs: [{ name: 'x', datatype: 'COMPLEX', shape: [1], data: [1] }] }, noHeaders));
    expect(err.code).toBe('MS_ERR_UNSUPPORTED_DATATYPE');
    expect(stub.calls).toHaveLength(1);
  });

  test('one session carries concurrent calls', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => predictor.infer('iris', undefined, IRIS, noHeaders)));
    expect(results.every((r) => r.outputs[0].data.length === 3)).toBe(true);
    expect(stub.sessions).toHaveLength(1);
  });

  test('readiness and metadata use ModelReady and ModelMetadata', async () => {
    expect(await predictor.modelReady('iris')).toBe(true);
    expect(await predictor.modelMetadata('iris')).toEqual({ name: 'iris', versions: [], platform: 'stub', inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }], outputs: [] });
    expect(stub.calls.map((c) => c.method)).toEqual(['ModelReady', 'ModelMetadata']);
    stub.handler = (call) => reply(call.stream, Buffer.alloc(0));
    expect(await predictor.modelReady('iris')).toBe(false);
  });
});

describe('metadata', () => {
  test('forwarded headers become metadata; the transport headers and grpc-timeout are ours', async () => {
    const headers = {
      'x-request-id': 'req-42',
      'traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'x-b3-sampled': '1',
      // Not valid gRPC ASCII metadata, or owned by the transport: left out.
      'x-name': 'José',
      'grpc-timeout': '1n',
      'content-type': 'text/plain',
      'connection': 'close',
      'Upper': 'x',
    };
    await predictor.infer('iris', undefined, IRIS, { headers });
    const h = stub.calls[0].headers;
    expect(h).toMatchObject({
      ':method': 'POST',
      ':path': '/inference.GRPCInferenceService/ModelInfer',
      'content-type': 'application/grpc',
      'te': 'trailers',
      'grpc-timeout': '5000m',
      'x-request-id': 'req-42',
      'traceparent': headers.traceparent,
      'x-b3-sampled': '1',
    });
    expect(h['x-name']).toBeUndefined();
    expect(h.connection).toBeUndefined();
    expect(h.upper).toBeUndefined();
  });

  test('no deadline: no grpc-timeout', async () => {
    const unbounded = new GrpcPredictor(`127.0.0.1:${stub.port}`, 0);
    closers.push(() => unbounded.close());
    await unbounded.infer('iris', undefined, IRIS, noHeaders);
    expect(stub.calls[0].headers['grpc-timeout']).toBeUndefined();
    expect(grpcTimeout(2.2)).toBe('3m');
    expect(grpcTimeout(1e9)).toBe('1000000S');
  });
});

describe('errors', () => {
  test('a status with ms-error-code keeps its code; the message is percent-decoded', async () => {
    stub.handler = (call) => fail(call.stream, 5, "model 'se%C3%B1al' not found (100%25)", { 'ms-error-code': 'MS_ERR_MODEL_NOT_FOUND' });
    const err = await failure(predictor.infer('señal', undefined, IRIS, noHeaders));
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'MS_ERR_MODEL_NOT_FOUND', statusCode: 404, grpcStatus: 5, message: "model 'señal' not found (100%)" });
  });

  test('a status in trailers after headers counts the same as a trailers-only one', async () => {
    stub.handler = (call) => {
      call.stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      call.stream.once('wantTrailers', () => call.stream.sendTrailers({ 'grpc-status': '3', 'grpc-message': 'bad input', 'ms-error-code': 'MS_ERR_INVALID_DATA' }));
      call.stream.end();
    };
    expect(await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).toMatchObject({ code: 'MS_ERR_INVALID_DATA', statusCode: 400, message: 'bad input' });
  });

  test.each([
    ['UNAVAILABLE without a code is unreachable', 14, {}, { code: 'MS_ERR_PREDICTOR_UNREACHABLE', statusCode: 502, message: 'predictor at TARGET is unreachable (draining)' }],
    ['UNAVAILABLE with a code is passed on', 14, { 'ms-error-code': 'MS_ERR_MODEL_NOT_READY' }, { code: 'MS_ERR_MODEL_NOT_READY', statusCode: 503, message: 'draining' }],
    ['DEADLINE_EXCEEDED without a code is the timeout', 4, {}, { code: 'MS_ERR_PREDICTOR_TIMEOUT', statusCode: 504, message: 'predictor at TARGET did not answer within 5000 ms' }],
    ['an unknown status is a 502', 2, {}, { code: 'MS_ERR_PREDICTOR_ERROR', statusCode: 502, grpcStatus: 2, message: 'draining' }],
    ['a code that is not one of ours is dropped', 13, { 'ms-error-code': 'not a code!' }, { code: 'MS_ERR_PREDICTOR_ERROR', statusCode: 500 }],
  ])('%s', async (_name, code, metadata, want) => {
    stub.handler = (call) => fail(call.stream, code, 'draining', metadata);
    const err = await failure(predictor.infer('iris', undefined, IRIS, noHeaders));
    expect(err).toMatchObject({ ...want, ...('message' in want ? { message: want.message.replace('TARGET', predictor.target) } : {}) });
  });

  test('a non-gRPC HTTP answer maps as the gRPC spec says', async () => {
    stub.handler = (call) => {
      call.stream.respond({ ':status': 503, 'content-type': 'text/plain' });
      call.stream.end('overloaded');
    };
    expect(await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).toMatchObject({ code: 'MS_ERR_PREDICTOR_UNREACHABLE', message: `predictor at ${predictor.target} is unreachable (HTTP status 503)` });
    stub.handler = (call) => {
      call.stream.respond({ ':status': 404 });
      call.stream.end();
    };
    expect(await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).toMatchObject({ code: 'MS_ERR_PREDICTOR_ERROR', statusCode: 501, grpcStatus: 12 });
  });

  test('broken answers: no status, no message, bad framing, a malformed message', async () => {
    const cases: Array<[(s: http2.ServerHttp2Stream) => void, RegExp]> = [
      [(s) => { s.respond({ ':status': 200, 'content-type': 'application/grpc' }); s.end(); }, /the response ended without a grpc-status/],
      [(s) => { s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true }); s.once('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' })); s.end(); }, /no response message/],
      [(s) => reply(s, Buffer.from([0x0a, 0x09, 0x61])), /answered status OK with malformed ModelInferResponse: length-delimited field past the end/],
    ];
    for (const [answer, message] of cases) {
      stub.handler = (call) => answer(call.stream);
      expect((await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).message).toMatch(message);
    }
    stub.handler = (call) => reply(call.stream, encodeInferReply({ model_name: 'iris', outputs: [output('p', 'FP32', [1], [1], Float32Array.of(1))], raw: true, encodeRaw: () => Buffer.from([1, 2, 3]) }));
    expect(await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).toMatchObject({
      code: 'MS_ERR_PREDICTOR_ERROR',
      statusCode: 502,
      message: `predictor at ${predictor.target} answered status OK with a malformed ModelInferResponse: output 'p': raw contents of 3 bytes are not a whole number of FP32 elements (4 bytes each)`,
    });
  });

  test('decodeGrpcMessage keeps a malformed escape as it is', () => {
    expect(decodeGrpcMessage('50%zz %41 %')).toBe('50%zz A %');
    expect(decodeGrpcMessage(undefined)).toBe('');
  });
});

describe('deadlines and connections', () => {
  test('a deadline that expires cancels the call and is the timeout error', async () => {
    stub.handler = () => {};
    const quick = new GrpcPredictor(`127.0.0.1:${stub.port}`, 150);
    closers.push(() => quick.close());
    const started = Date.now();
    const err = await failure(quick.infer('iris', undefined, IRIS, noHeaders));
    expect(err).toMatchObject({ code: 'MS_ERR_PREDICTOR_TIMEOUT', statusCode: 504, message: `predictor at ${quick.target} did not answer within 150 ms` });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(stub.calls[0].headers['grpc-timeout']).toBe('150m');
    // The predictor sees the stream cancelled.
    await new Promise((r) => setTimeout(r, 50));
    expect(stub.calls[0].stream.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  test('a predictor that is down is unreachable (ECONNREFUSED) and not ready', async () => {
    const port = await closedPort();
    const down = new GrpcPredictor(`127.0.0.1:${port}`, 5000);
    closers.push(() => down.close());
    expect(await failure(down.infer('iris', undefined, IRIS, noHeaders))).toMatchObject({
      code: 'MS_ERR_PREDICTOR_UNREACHABLE', statusCode: 502, message: `predictor at 127.0.0.1:${port} is unreachable (ECONNREFUSED)`,
    });
    expect(await down.modelReady('iris')).toBe(false);
    expect((await failure(down.modelMetadata('iris'))).code).toBe('MS_ERR_PREDICTOR_UNREACHABLE');
  });

  test('a host that does not resolve is unreachable with the resolver\'s code', async () => {
    const nowhere = new GrpcPredictor('no-such-predictor.invalid:8081', 5000);
    closers.push(() => nowhere.close());
    expect((await failure(nowhere.infer('iris', undefined, IRIS, noHeaders))).message).toMatch(/^predictor at no-such-predictor\.invalid:8081 is unreachable \((ENOTFOUND|EAI_AGAIN)\)$/);
  });

  test('the predictor restarted on the same port: the client connects again', async () => {
    await predictor.infer('iris', undefined, IRIS, noHeaders);
    const port = stub.port;
    await stub.close();
    expect((await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).code).toBe('MS_ERR_PREDICTOR_UNREACHABLE');
    stub = await startStubPredictor(irisHandler, port);
    const res = await predictor.infer('iris', undefined, IRIS, noHeaders);
    expect(res.outputs[0].data).toEqual([1, 0, 0]);
    expect(stub.sessions).toHaveLength(1);
  });

  test('the connection lost mid-call is unreachable', async () => {
    stub.handler = (call) => call.session.destroy();
    expect(await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).toMatchObject({ code: 'MS_ERR_PREDICTOR_UNREACHABLE' });
    stub.handler = irisHandler;
    await predictor.infer('iris', undefined, IRIS, noHeaders);
  });

  test('after GOAWAY new calls go to a new session', async () => {
    await predictor.infer('iris', undefined, IRIS, noHeaders);
    stub.sessions[0].goaway(http2.constants.NGHTTP2_NO_ERROR);
    await new Promise((r) => setTimeout(r, 50));
    await predictor.infer('iris', undefined, IRIS, noHeaders);
    expect(stub.sessions).toHaveLength(2);
  });

  test('a call beyond the last stream id of a GOAWAY is retried on a new session', async () => {
    await predictor.infer('iris', undefined, IRIS, noHeaders);
    stub.handler = (call) => {
      stub.handler = irisHandler;
      // "Streams after the first were not processed": the client must send this call again.
      call.session.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    };
    const res = await predictor.infer('iris', undefined, IRIS, noHeaders);
    expect(res.outputs[0].data).toEqual([1, 0, 0]);
    expect(stub.sessions).toHaveLength(2);
    expect(stub.calls[1].session).toBe(stub.sessions[0]);
    expect(stub.calls[2].session).toBe(stub.sessions[1]);
  });

  test('a call the predictor refused on a reused session is retried once', async () => {
    await predictor.infer('iris', undefined, IRIS, noHeaders);
    let refused = 0;
    stub.handler = (call) => {
      if (refused++ === 0) call.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else irisHandler(call);
    };
    const res = await predictor.infer('iris', undefined, IRIS, noHeaders);
    expect(res.outputs[0].data).toEqual([1, 0, 0]);
    expect(stub.calls).toHaveLength(3);
    // Refused again on the retry: the error is passed on.
    refused = 0;
    stub.handler = (call) => call.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    expect(await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).toMatchObject({ code: 'MS_ERR_PREDICTOR_UNREACHABLE', message: expect.stringContaining('stream refused') });
  });

  test('a stream the predictor resets is an error with the HTTP/2 code', async () => {
    stub.handler = (call) => call.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    expect(await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).toMatchObject({ code: 'MS_ERR_PREDICTOR_ERROR', statusCode: 500, message: 'stream reset by the server (HTTP/2 error code 2)' });
  });

  test('close() ends the session; later calls fail', async () => {
    await predictor.infer('iris', undefined, IRIS, noHeaders);
    await predictor.close();
    expect(await failure(predictor.infer('iris', undefined, IRIS, noHeaders))).toMatchObject({ code: 'MS_ERR_PREDICTOR_UNREACHABLE', message: expect.stringContaining('client closed') });
  });
});

describe('GrpcUnaryClient limits', () => {
  const call = (client: GrpcUnaryClient, message = Buffer.alloc(0), timeoutMs = 0) => client.call('/inference.GRPCInferenceService/ModelReady', message, {}, timeoutMs);

  test('messages over the limits fail with RESOURCE_EXHAUSTED', async () => {
    const client = new GrpcUnaryClient(`127.0.0.1:${stub.port}`, { maxReceiveBytes: 16, maxSendBytes: 8 });
    closers.push(() => client.close());
    await expect(call(client, Buffer.alloc(9))).rejects.toMatchObject({ code: GRPC_STATUS.RESOURCE_EXHAUSTED, details: 'request message of 9 bytes is larger than the limit of 8' });
    stub.handler = (c) => reply(c.stream, Buffer.alloc(64));
    await expect(call(client)).rejects.toMatchObject({ code: GRPC_STATUS.RESOURCE_EXHAUSTED, details: 'response message is larger than the limit of 16 bytes' });
    stub.handler = (c) => reply(c.stream, Buffer.alloc(16, 7));
    expect(await call(client)).toEqual(Buffer.alloc(16, 7));
  });

  test('a connection that never answers PINGs is dropped by the keepalive', async () => {
    // Accepts TCP and reads, but never speaks HTTP/2 back.
    const silent = net.createServer((socket) => socket.resume());
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => silent.close(() => r())));
    const sockets: net.Socket[] = [];
    silent.on('connection', (s) => sockets.push(s));
    closers.push(() => sockets.forEach((s) => s.destroy()));
    const client = new GrpcUnaryClient(`127.0.0.1:${(silent.address() as AddressInfo).port}`, { maxReceiveBytes: 1024, maxSendBytes: 1024, keepaliveMs: 100, keepaliveTimeoutMs: 100 });
    closers.push(() => client.close());
    const err = await call(client).catch((e: GrpcCallError) => e);
    expect(err).toBeInstanceOf(GrpcCallError);
    expect(err).toMatchObject({ code: GRPC_STATUS.UNAVAILABLE, details: 'ETIMEDOUT' });
  });
});
