/**
 * `--host`: the REST and gRPC listeners bind the given address (`0.0.0.0` by default, so probes
 * reach a pod; `127.0.0.1` keeps a local server local). Checked in the kernel's table of
 * listening sockets (/proc/net/tcp), not by trying other interfaces, which this machine may
 * not have.
 */
import * as fs from 'fs';
import { modelDir, RunningServer, startServer } from './server-harness';

/** The local address (`a.b.c.d`) the kernel lists for a TCP socket listening on `port`. */
function listeningAddress(port: number): string | undefined {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== '0A') continue; // 0A: LISTEN
    const [addrHex, p] = fields[1].split(':');
    if (p !== portHex) continue;
    return [3, 2, 1, 0].map((i) => parseInt(addrHex.slice(i * 2, i * 2 + 2), 16)).join('.');
  }
  return undefined;
}

async function ports(args: string[]): Promise<{ server: RunningServer; http: number; grpc: number }> {
  const dir = modelDir({ 'iris/model.onnx': 'iris-logreg.onnx' });
  const server = await startServer(['--model-dir', dir, '--mode', 'multi', ...args]);
  const grpc = Number(server.logs.find((l) => l.event === 'grpc_listening')!.grpcPort);
  return { server, http: server.port, grpc };
}

test('--host 127.0.0.1 binds REST and gRPC to loopback only', async () => {
  const { server, http, grpc } = await ports(['--host', '127.0.0.1']);
  try {
    expect(listeningAddress(http)).toBe('127.0.0.1');
    expect(listeningAddress(grpc)).toBe('127.0.0.1');
    expect(server.logs.find((l) => l.event === 'listening')!.host).toBe('127.0.0.1');
  } finally {
    await server.stop();
  }
});

test('by default, REST and gRPC listen on all interfaces (0.0.0.0)', async () => {
  const { server, http, grpc } = await ports([]);
  try {
    expect(listeningAddress(http)).toBe('0.0.0.0');
    expect(listeningAddress(grpc)).toBe('0.0.0.0');
  } finally {
    await server.stop();
  }
});

test('SERVER_HOST sets the address too', async () => {
  const dir = modelDir({ 'iris/model.onnx': 'iris-logreg.onnx' });
  const server = await startServer(['--model-dir', dir, '--mode', 'multi'], { SERVER_HOST: '127.0.0.1' });
  try {
    expect(listeningAddress(server.port)).toBe('127.0.0.1');
  } finally {
    await server.stop();
  }
});
