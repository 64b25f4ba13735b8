// A request field sent with another protobuf wire type than grpc_predict_v2.proto declares is
// refused (INVALID_ARGUMENT, naming the field), never decoded into garbage (issue 11, section 6).
// Every field of every request message is covered: one table of fields, a seeded property over
// it in the codec, and real calls through grpc-js to a running server.
/* eslint-disable no-bitwise */
import * as grpc from '@grpc/grpc-js';
import * as fc from 'fast-check';
import { MODELS, RunningServer, startServer } from './server-harness';
import { decodeInferRequest, decodeModelRequest, WireTypeError } from '../../src/server/grpc/codec';

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;
const WIRE_TYPES = [VARINT, I64, LEN, I32];

// --- a minimal protobuf writer (the test's own, so it can write what protobufjs would refuse) ---
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
/** One field: tag, then a value of wire type `wt` (`value` is the varint, or the bytes). */
function field(num: number, wt: number, value: Buffer | number): Buffer {
  const tag = varint(num * 8 + wt);
  switch (wt) {
    case VARINT: return Buffer.concat([tag, varint(value as number)]);
    case I64: return Buffer.concat([tag, (value as Buffer).subarray(0, 8)]);
    case I32: return Buffer.concat([tag, (value as Buffer).subarray(0, 4)]);
    default: return Buffer.concat([tag, varint((value as Buffer).length), value as Buffer]);
  }
}
/** Wraps `inner` in the LEN fields of `path` (outermost first). */
function nest(path: readonly number[], inner: Buffer): Buffer {
  return path.reduceRight((acc, num) => field(num, LEN, acc), inner);
}

/** A request field: where it sits (enclosing LEN fields), its number, its allowed wire types, its name in errors. */
interface FieldSpec { readonly path: readonly number[]; readonly num: number; readonly allowed: readonly number[]; readonly name: string }

const parameterFields = (path: number[]): FieldSpec[] => [
  { path, num: 1, allowed: [LEN], name: 'parameters (map entry key)' },
  { path, num: 2, allowed: [LEN], name: 'parameters (map entry value)' },
  { path: [...path, 2], num: 1, allowed: [VARINT], name: 'InferParameter.bool_param' },
  { path: [...path, 2], num: 2, allowed: [VARINT], name: 'InferParameter.int64_param' },
  { path: [...path, 2], num: 3, allowed: [LEN], name: 'InferParameter.string_param' },
  { path: [...path, 2], num: 4, allowed: [I64], name: 'InferParameter.double_param' },
  { path: [...path, 2], num: 5, allowed: [VARINT], name: 'InferParameter.uint64_param' },
];
const CONTENTS: Array<[string, number]> = [['bool', VARINT], ['int', VARINT], ['int64', VARINT], ['uint', VARINT], ['uint64', VARINT], ['fp32', I32], ['fp64', I64], ['bytes', LEN]];

/** Every field of ModelInferRequest and the messages inside it. */
const INFER_FIELDS: FieldSpec[] = [
  ...['model_name', 'model_version', 'id', 'parameters', 'inputs', 'outputs', 'raw_input_contents']
    .map((name, i) => ({ path: [], num: i + 1, allowed: [LEN], name: `ModelInferRequest.${name}` })),
  { path: [5], num: 1, allowed: [LEN], name: 'ModelInferRequest.inputs.name' },
  { path: [5], num: 2, allowed: [LEN], name: 'ModelInferRequest.inputs.datatype' },
  { path: [5], num: 3, allowed: [LEN, VARINT], name: 'ModelInferRequest.inputs.shape' },
  { path: [5], num: 4, allowed: [LEN], name: 'ModelInferRequest.inputs.parameters' },
  { path: [5], num: 5, allowed: [LEN], name: 'ModelInferRequest.inputs.contents' },
  ...CONTENTS.map(([name, element], i) => ({ path: [5, 5], num: i + 1, allowed: element === LEN ? [LEN] : [LEN, element], name: `InferTensorContents.${name}_contents` })),
  { path: [6], num: 1, allowed: [LEN], name: 'ModelInferRequest.outputs.name' },
  { path: [6], num: 2, allowed: [LEN], name: 'ModelInferRequest.outputs.parameters' },
  ...parameterFields([4]),
  ...parameterFields([5, 4]),
  ...parameterFields([6, 2]),
];

/** A value of wire type `wt` from a seed (any bytes are fine: only the type is wrong). */
const valueOf = (wt: number, seed: number): Buffer | number => (wt === VARINT ? seed : Buffer.alloc(wt === LEN ? seed % 7 : 8, seed % 251));

function wrongField(spec: FieldSpec, wt: number, seed: number): Buffer {
  return nest(spec.path, field(spec.num, wt, valueOf(wt, seed)));
}

/** A valid ModelInferRequest prefix: the wrong field follows real ones. */
const VALID_PREFIX = Buffer.concat([field(1, LEN, Buffer.from('iris-logreg')), field(3, LEN, Buffer.from('req-1'))]);

describe('codec: every request field with a wrong wire type is a WireTypeError naming the field', () => {
  test.each(INFER_FIELDS.map((f) => [f.name, f.path.join('.') || 'top', f]))('%s (in %s)', (_name, _where, spec) => {
    const wrong = WIRE_TYPES.filter((wt) => !spec.allowed.includes(wt));
    expect(wrong.length).toBeGreaterThan(0);
    for (const wt of wrong) {
      const message = Buffer.concat([VALID_PREFIX, wrongField(spec, wt, 5)]);
      expect(() => decodeInferRequest(message)).toThrow(WireTypeError);
      expect(() => decodeInferRequest(message)).toThrow(`field ${spec.name} has wire type`);
    }
    // The control: the same field with an allowed wire type decodes (an empty message, a varint, 8 bytes).
    for (const wt of spec.allowed) {
      const value = wt === VARINT ? 1 : wt === LEN ? Buffer.alloc(0) : Buffer.alloc(8);
      expect(() => decodeInferRequest(Buffer.concat([VALID_PREFIX, nest(spec.path, field(spec.num, wt, value))]))).not.toThrow();
    }
  });

  test.each([['ModelReadyRequest'], ['ModelMetadataRequest']])('%s: name and version', (what) => {
    for (const [num, name] of [[1, 'name'], [2, 'version']] as const) {
      for (const wt of [VARINT, I64, I32]) {
        expect(() => decodeModelRequest(field(num, wt, valueOf(wt, 3)), what)).toThrow(`field ${what}.${name} has wire type`);
      }
    }
    expect(decodeModelRequest(Buffer.concat([field(1, LEN, Buffer.from('m')), field(2, LEN, Buffer.from('2'))]), what)).toEqual({ name: 'm', version: '2' });
  });

  test('a model name sent as a varint is refused, not read as a length into the next fields', () => {
    // 0x08 0x0a: field 1 as VARINT 10; before the fix this became a 10-byte "model name".
    const message = Buffer.concat([Buffer.from([0x08, 0x0a]), field(3, LEN, Buffer.from('abcdefghij'))]);
    expect(() => decodeInferRequest(message)).toThrow(/ModelInferRequest\.model_name has wire type VARINT \(0\), but the \.proto declares LEN \(2\)/);
  });

  test('property (seed 1101): a wrong wire type anywhere, after valid fields, always throws for that field', () => {
    const spec = fc.constantFrom(...INFER_FIELDS);
    const wireType = fc.constantFrom(...WIRE_TYPES);
    fc.assert(fc.property(spec, wireType, fc.nat(1000), fc.boolean(), (s, wt, seed, after) => {
      fc.pre(!s.allowed.includes(wt));
      const wrong = wrongField(s, wt, seed);
      const message = after ? Buffer.concat([VALID_PREFIX, wrong]) : Buffer.concat([wrong, VALID_PREFIX]);
      let thrown: unknown;
      try {
        decodeInferRequest(message);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(WireTypeError);
      expect((thrown as WireTypeError).field).toBe(s.name);
    }), { seed: 1101, numRuns: 500 });
  });
});

describe('over gRPC (grpc-js client, real server)', () => {
  let server: RunningServer;
  let client: grpc.Client & Record<string, Function>;
  const identity = (b: Buffer) => b;
  const raw = {
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };

  beforeAll(async () => {
    server = await startServer(['--model-dir', MODELS, '--mode', 'multi']);
    const port = Number(server.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
    const Raw = grpc.makeGenericClientConstructor({
      ModelInfer: { path: '/inference.GRPCInferenceService/ModelInfer', ...raw },
      ModelReady: { path: '/inference.GRPCInferenceService/ModelReady', ...raw },
      ModelMetadata: { path: '/inference.GRPCInferenceService/ModelMetadata', ...raw },
    }, 'Raw');
    client = new Raw(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as any;
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  const send = (method: string, message: Buffer) => new Promise<grpc.ServiceError | null>((resolve) => {
    client[method](message, (err: grpc.ServiceError | null) => resolve(err));
  });

  const cases = INFER_FIELDS.map((f) => [f.name, f.path.join('.') || 'top', f] as const);
  test.each(cases)('ModelInfer: %s (in %s) of the wrong wire type is INVALID_ARGUMENT', async (_name, _where, spec) => {
    const wt = WIRE_TYPES.find((w) => !spec.allowed.includes(w))!;
    const err = await send('ModelInfer', Buffer.concat([VALID_PREFIX, wrongField(spec, wt, 3)]));
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toContain(`field ${spec.name} has wire type`);
    expect(err?.metadata.get('ms-error-code')).toEqual(['MS_ERR_INVALID_REQUEST']);
  });

  test.each([['ModelReady'], ['ModelMetadata']])('%s: a name sent as a varint is INVALID_ARGUMENT', async (method) => {
    const err = await send(method, field(1, VARINT, 12));
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.details).toContain(`field ${method}Request.name has wire type VARINT`);
  });

  test('bytes that are not protobuf stay INTERNAL, and the server keeps serving', async () => {
    const err = await send('ModelInfer', Buffer.from([0x0a, 0xff, 0xff, 0xff]));
    expect(err?.code).toBe(grpc.status.INTERNAL);
    expect(await send('ModelReady', field(1, LEN, Buffer.from('iris-logreg')))).toBeNull();
    expect(server.logs.filter((l) => l.event === 'grpc_error')).toEqual([]);
  });
});
