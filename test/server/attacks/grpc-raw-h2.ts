// Raw HTTP/2 for the gRPC attack tests: frames written byte by byte over a net.Socket (what an
// attacker sends, which node:http2's client would refuse to), the frames the server answers,
// and the server process's resident memory from /proc.
/* eslint-disable no-bitwise */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { request, ROOT } from '../server-harness';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
/** HTTP/2 error codes (RFC 9113 §7) by number, for messages. */
const ERROR_NAMES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];
export const errorName = (code: number): string => ERROR_NAMES[code] ?? `0x${code.toString(16)}`;

/** One frame: 9-byte header, then the payload. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK "literal header field without indexing, new name", no Huffman (RFC 7541 §6.2.2); strings under 127 bytes. */
export function literal(name: string, value: string): Buffer {
  const n = Buffer.from(name);
  const v = Buffer.from(value);
  if (n.length > 126 || v.length > 126) throw new Error('literal(): use short strings');
  return Buffer.concat([Buffer.from([0x00, n.length]), n, Buffer.from([v.length]), v]);
}

/** The header block of a gRPC ModelInfer request (all literals: no HPACK state needed). */
export function grpcRequestBlock(path = '/inference.GRPCInferenceService/ModelInfer'): Buffer {
  return Buffer.concat([
    literal(':method', 'POST'), literal(':scheme', 'http'), literal(':path', path), literal(':authority', 'localhost'),
    literal('content-type', 'application/grpc'), literal('te', 'trailers'),
  ]);
}

/** What the server sent on a raw connection, parsed into frames as it arrives. */
export interface RawConnection {
  readonly socket: net.Socket;
  readonly frames: Array<{ type: number; flags: number; stream: number; payload: Buffer }>;
  /** Resolves when the server closes the connection (or it errors). */
  readonly closed: Promise<void>;
  /** The first GOAWAY's error code, if one came. */
  goawayCode(): number | undefined;
  /** Writes `data`; resolves false once the connection is gone instead of throwing. */
  write(data: Buffer): Promise<boolean>;
}

/** Opens a TCP connection to the gRPC port; `preface` sends the client preface and an empty SETTINGS. */
export function connectRaw(port: number, preface = true): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const frames: RawConnection['frames'] = [];
    let pending = Buffer.alloc(0);
    let gone = false;
    const closed = new Promise<void>((done) => {
      socket.on('close', () => { gone = true; done(); });
    });
    socket.on('error', () => { gone = true; });
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        frames.push({ type: pending[3], flags: pending[4], stream: pending.readUInt32BE(5) & 0x7fffffff, payload: pending.subarray(9, 9 + length) });
        pending = pending.subarray(9 + length);
      }
    });
    const conn: RawConnection = {
      socket,
      frames,
      closed,
      goawayCode: () => {
        const g = frames.find((f) => f.type === FRAME.GOAWAY);
        return g ? g.payload.readUInt32BE(4) : undefined;
      },
      write: (data) => new Promise((done) => {
        if (gone || socket.destroyed) {
          done(false);
          return;
        }
        socket.write(data, (err) => done(!err && !gone));
      }),
    };
    socket.once('connect', () => {
      socket.off('error', reject);
      if (preface) socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
      resolve(conn);
    });
    socket.once('error', reject);
  });
}

/** Resident memory of a process, in bytes (VmRSS in /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** Resolves after `ms` (waiting for the server, never asserting on time). */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The server still serves after an attack: REST readiness is 200 and a gRPC ModelInfer on a new
 * connection (grpc-js) gets iris's label for a known row.
 */
export async function expectStillServing(httpPort: number, grpcPort: number): Promise<void> {
  expect((await request(httpPort, 'GET', '/v2/health/ready')).status).toBe(200);
  const def = protoLoader.loadSync(`${ROOT}/src/server/protocol/grpc_predict_v2.proto`, { keepCase: true, longs: Number, enums: String, defaults: false, arrays: true, oneofs: true });
  const Service = (grpc.loadPackageDefinition(def).inference as any).GRPCInferenceService;
  const client = new Service(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  try {
    const res: any = await new Promise((resolve, reject) => client.ModelInfer({
      model_name: 'iris-logreg',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [6.3, 3.3, 6.0, 2.5] } }],
    }, { deadline: Date.now() + 20_000, waitForReady: true }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))));
    expect(res.outputs.find((o: any) => o.name === 'label').contents.int64_contents).toEqual([2]);
  } finally {
    client.close();
  }
}
