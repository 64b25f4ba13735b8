// --grpc-max-connections: connections past the cap are closed as soon as they are accepted; the
// ones already open keep working, and a slot freed by a closed connection can be used again.
import * as http2 from 'node:http2';
import { MODELS, RunningServer, startServer } from '../server-harness';
import { connectRaw, expectStillServing } from './grpc-raw-h2';

const CAP = 3;
let server: RunningServer;
let grpcPort: number;

beforeAll(async () => {
  server = await startServer(['--model-dir', MODELS, '--mode', 'multi', '--grpc-max-connections', String(CAP)]);
  grpcPort = Number(server.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
});
afterAll(async () => {
  await server?.stop();
});

/** A node:http2 session that has finished its SETTINGS exchange, or the error that ended it. */
function session(): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`http://127.0.0.1:${grpcPort}`);
    s.once('remoteSettings', () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before SETTINGS')));
  });
}

/** One ServerLive call (an empty request message) over `s`; resolves with grpc-status. */
function live(s: http2.ClientHttp2Session): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const stream = s.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ServerLive', 'content-type': 'application/grpc', 'te': 'trailers' });
    let status: string | undefined;
    stream.on('trailers', (t) => { status = t['grpc-status'] as string; });
    stream.on('data', () => undefined);
    stream.on('error', reject);
    stream.on('close', () => resolve(status));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
}

test('the connection past the cap is closed on accept; the others keep serving; a freed slot is usable', async () => {
  const open = [] as http2.ClientHttp2Session[];
  try {
    for (let i = 0; i < CAP; i++) open.push(await session());
    for (const s of open) expect(await live(s)).toBe('0');

    // One more: the server closes it without a byte (no SETTINGS, no GOAWAY).
    const extra = await connectRaw(grpcPort);
    await extra.closed;
    expect(extra.frames).toEqual([]);
    await expect(session()).rejects.toThrow();

    // The connections inside the cap are unaffected.
    for (const s of open) expect(await live(s)).toBe('0');

    // Closing one frees its slot.
    const gone = open.pop()!;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    let again: http2.ClientHttp2Session | undefined;
    // The server learns of the close asynchronously: retry until the slot is seen free (bounded by jest's timeout).
    while (!again) again = await session().catch(() => undefined);
    open.push(again);
    expect(await live(again)).toBe('0');
  } finally {
    for (const s of open) s.destroy();
  }
  // REST is not counted against the gRPC cap.
  await expectStillServing(server.port, grpcPort);
});
