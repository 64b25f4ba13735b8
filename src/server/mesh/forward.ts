/**
 * One HTTP hop to another member, over keep-alive connections (one pool per process).
 */
import { INFERENCE_HEADER_CONTENT_LENGTH } from '../http/binary-tensors';
import { keepAliveAgent, RequestFailure, sendBuffered, splitHostPort } from '../http/keep-alive-client';

/** The keep-alive pool for every peer. */
export const peerAgent = keepAliveAgent(128, 32);

export interface PeerResponse {
  readonly status: number;
  readonly contentType?: string;
  /** `Inference-Header-Content-Length` of a binary tensor data answer. */
  readonly inferenceHeaderLength?: string;
  readonly body: Buffer;
}


/** A connection-level failure: the peer is gone or did not answer in time. */
export class PeerUnavailableError extends Error {
  constructor(public readonly peer: string, public readonly reason: string, public readonly reusedSocket: boolean) {
    super(`peer ${peer} unavailable: ${reason}`);
  }
}

/**
 * Sends one request to `peer` (`host:port`) and buffers the answer. With `retryReusedSocket`,
 * any failure on a reused keep-alive socket (the peer may have closed it) is retried once on a
 * new one.
 */
export async function requestPeer(
  peer: string, method: string, path: string, headers: Record<string, string>, body: Buffer | undefined, timeoutMs: number,
  retryReusedSocket = false,
): Promise<PeerResponse> {
  try {
    const answer = await sendBuffered({
      agent: peerAgent,
      ...splitHostPort(peer),
      method,
      path,
      headers,
      body,
      timeoutMs,
      timeoutError: () => new Error(`no answer within ${timeoutMs} ms`),
      retryOnReusedSocket: () => retryReusedSocket,
    });
    const headerLength = answer.headers[INFERENCE_HEADER_CONTENT_LENGTH];
    return {
      status: answer.status ?? 502,
      contentType: answer.headers['content-type'],
      inferenceHeaderLength: headerLength === undefined ? undefined : String(headerLength),
      body: answer.body,
    };
  } catch (err) {
    if (!(err instanceof RequestFailure)) throw err;
    const reason = err.whileReading ? err.cause.message : err.cause.code ?? err.cause.message;
    throw new PeerUnavailableError(peer, reason, err.reusedSocket);
  }
}
