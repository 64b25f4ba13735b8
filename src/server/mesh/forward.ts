/**
 * One HTTP hop to another member, over keep-alive connections (one pool per process).
 */
import * as http from 'http';

/** The keep-alive pool for every peer. */
export const peerAgent = new http.Agent({ keepAlive: true, maxSockets: 128, maxFreeSockets: 32, scheduling: 'lifo' });

export interface PeerResponse {
  readonly status: number;
  readonly contentType?: string;
  readonly body: Buffer;
}

/** A connection-level failure: the peer is gone or did not answer in time. */
export class PeerUnavailableError extends Error {
  constructor(public readonly peer: string, public readonly reason: string, public readonly reusedSocket: boolean) {
    super(`peer ${peer} unavailable: ${reason}`);
  }
}

/** Sends one request to `peer` (`host:port`) and buffers the answer. */
export function requestPeer(
  peer: string, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number,
): Promise<PeerResponse> {
  const sep = peer.lastIndexOf(':');
  const host = peer.slice(0, sep);
  const port = Number(peer.slice(sep + 1));
  return new Promise((resolve, reject) => {
    const h: Record<string, string | number> = { ...headers };
    if (body) {
      h['content-length'] = body.length;
    }
    const req = http.request({ host, port, method, path, headers: h, agent: peerAgent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 502, contentType: res.headers['content-type'], body: Buffer.concat(chunks) });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(new PeerUnavailableError(peer, err.message, req.reusedSocket));
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new PeerUnavailableError(peer, (err as NodeJS.ErrnoException).code ?? err.message, req.reusedSocket));
    });
    req.end(body);
  });
}
