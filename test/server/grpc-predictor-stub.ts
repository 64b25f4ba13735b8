// A stub gRPC predictor on plain node:http2 for the transformer's gRPC client tests: every call
// is recorded and answered by a handler the test gives (by default a working iris predictor).
import * as http2 from 'node:http2';
import { AddressInfo } from 'node:net';
import { serviceDefinition } from '../../src/server/grpc';
import { decodeInferRequest, DecodedInferRequest, encodeInferReply } from '../../src/server/grpc/codec';
import { encodeRaw } from '../../src/server/grpc/tensors';
import { InferOutputTensor } from '../../src/server/inference';

export interface StubCall {
  readonly path: string;
  readonly method: string;
  readonly headers: http2.IncomingHttpHeaders;
  readonly message: Buffer;
  readonly stream: http2.ServerHttp2Stream;
  readonly session: http2.ServerHttp2Session;
}

export type StubHandler = (call: StubCall) => void;

export interface StubPredictor {
  readonly port: number;
  readonly calls: StubCall[];
  /** Every session a client opened, in order. */
  readonly sessions: http2.ServerHttp2Session[];
  handler: StubHandler;
  /** Stops listening and destroys the open sessions (a predictor that went away). */
  close(): Promise<void>;
}

/** Answers with `message` in one length-prefixed DATA frame, then `grpc-status: 0` trailers. */
export function reply(stream: http2.ServerHttp2Stream, message: Uint8Array, trailers: Record<string, string> = {}): void {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', ...trailers }));
  stream.end(frame);
}

/** A trailers-only error answer (the status in the only HEADERS frame). */
export function fail(stream: http2.ServerHttp2Stream, code: number, message: string, metadata: Record<string, string> = {}): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': message, ...metadata }, { endStream: true });
}

/** An output tensor as the core makes it (with its runtime array in `raw`). */
export function output(name: string, datatype: InferOutputTensor['datatype'], shape: number[], data: unknown[], raw?: ArrayLike<unknown>): InferOutputTensor {
  const o = { name, datatype, shape, data } as unknown as InferOutputTensor;
  if (raw) Object.defineProperty(o, 'raw', { value: raw, enumerable: false });
  return o;
}

/** protobufjs serializers for the non-hot RPCs. */
const definition = () => serviceDefinition() as Record<string, { responseSerialize(o: object): Buffer }>;

/** The iris predictor's answers: ready, metadata, and fixed probabilities. */
export const irisHandler: StubHandler = (call) => {
  if (call.method === 'ModelReady') {
    reply(call.stream, definition().ModelReady.responseSerialize({ ready: true }));
  } else if (call.method === 'ModelMetadata') {
    reply(call.stream, definition().ModelMetadata.responseSerialize({ name: 'iris', platform: 'stub', inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }], outputs: [] }));
  } else if (call.method === 'ModelInfer') {
    const req: DecodedInferRequest = decodeInferRequest(call.message);
    const n = req.inputs[0]?.shape[0] ?? 1;
    const probabilities = new Float32Array(n * 3).map((_, i) => (i % 3 === 0 ? 1 : 0));
    reply(call.stream, encodeInferReply({
      model_name: req.model_name,
      id: req.id,
      outputs: [output('probabilities', 'FP32', [n, 3], Array.from(probabilities), probabilities)],
      raw: req.raw_input_contents.length > 0,
      encodeRaw,
    }));
  } else {
    fail(call.stream, 12, `unknown method ${call.path}`);
  }
};

/** Starts a stub on 127.0.0.1 (`port` 0 picks one). */
export async function startStubPredictor(handler: StubHandler = irisHandler, port = 0): Promise<StubPredictor> {
  const server = http2.createServer();
  const stub: StubPredictor = {
    port: 0,
    calls: [],
    sessions: [],
    handler,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of stub.sessions) s.destroy();
    }),
  };
  server.on('session', (session) => {
    stub.sessions.push(session);
    session.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = String(headers[':path']);
      const call: StubCall = { path, method: path.split('/').pop()!, headers, message: body.subarray(5), stream: stream as http2.ServerHttp2Stream, session: stream.session as http2.ServerHttp2Session };
      stub.calls.push(call);
      stub.handler(call);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  (stub as { port: number }).port = (server.address() as AddressInfo).port;
  return stub;
}
