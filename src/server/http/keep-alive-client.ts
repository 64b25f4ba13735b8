/**
 * Outgoing HTTP/1.1 over keep-alive pools: what a transformer or explainer uses to call its
 * predictor (`../transformer/predictor`) and a mesh member to forward to a peer (`../mesh/forward`).
 *
 * One call sends one request with a buffered body and buffers the answer. A pooled socket the
 * other side closed while idle fails as it is reused (`ECONNRESET` and the like): such a
 * failure can be retried once on a new socket (https://nodejs.org/api/http.html#requestreusedsocket).
 */
import * as http from 'node:http';
import * as https from 'node:https';

/** A keep-alive pool; the most recently freed socket is reused first (`lifo`). */
export function keepAliveAgent(maxSockets: number, maxFreeSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets, scheduling: 'lifo' });
}

/** `host:port` (`[v6]:port` too) as the host and port `http.request` takes. */
export function splitHostPort(target: string): { host: string; port: number } {
  const colon = target.lastIndexOf(':');
  return { host: target.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(target.slice(colon + 1)) };
}

export interface BufferedRequest {
  readonly agent: http.Agent;
  readonly host: string;
  readonly port: number;
  readonly method: string;
  readonly path: string;
  /** Sent as given; `content-length` is added for a body. */
  readonly headers: Record<string, string>;
  readonly body?: Buffer;
  /** Longest wait for the answer; the request is destroyed with `timeoutError()`. 0: no limit. */
  readonly timeoutMs: number;
  /** Whether `timeoutMs` counts from the socket's last activity instead of from the start. */
  readonly idleTimeout?: boolean;
  readonly timeoutError: () => Error;
  /** Whether a failure on a reused socket is tried once more on a new one. */
  readonly retryOnReusedSocket: (failure: RequestFailure) => boolean;
  /** Over TLS (`agent` must then be an `https.Agent`). */
  readonly secure?: boolean;
  /** Most answer bytes buffered; a longer answer is destroyed with `tooLargeError()`. Default: no bound. */
  readonly maxResponseBytes?: number;
  readonly tooLargeError?: () => Error;
}

export interface BufferedAnswer {
  readonly status: number | undefined;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Why a request got no (complete) answer: `cause` is the request's or the response's error. */
export class RequestFailure extends Error {
  constructor(
    public readonly cause: NodeJS.ErrnoException,
    /** The request went out on a pooled socket that had served a request before. */
    public readonly reusedSocket: boolean,
    /** The failure came while the answer was being read (the request had been answered). */
    public readonly whileReading: boolean,
  ) {
    super(cause.message);
  }
}

/** Sends one request and buffers its answer; rejects with a `RequestFailure`. */
export async function sendBuffered(request: BufferedRequest): Promise<BufferedAnswer> {
  try {
    return await sendOnce(request);
  } catch (err) {
    if (err instanceof RequestFailure && err.reusedSocket && request.retryOnReusedSocket(err)) {
      return sendOnce(request);
    }
    throw err;
  }
}

function sendOnce(r: BufferedRequest): Promise<BufferedAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body) headers['content-length'] = r.body.length;
    let timer: NodeJS.Timeout | undefined;
    // The error a deliberate destroy (timeout, size bound) reports, whichever of the request's and
    // the response's error events comes first.
    let forced: Error | undefined;
    const fail = (err: Error) => {
      forced ??= err;
      req.destroy(err);
    };
    const send = r.secure ? https.request : http.request;
    const req = send({ host: r.host, port: r.port, method: r.method, path: r.path, headers, agent: r.agent }, (res) => {
      const chunks: Buffer[] = [];
      let received = 0;
      const limit = r.maxResponseBytes ?? Infinity;
      // A declared length over the bound fails before any byte is buffered.
      if (Number(res.headers['content-length'] ?? 0) > limit) {
        fail(r.tooLargeError?.() ?? new Error(`answer larger than ${limit} bytes`));
        return;
      }
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (received > limit) {
          fail(r.tooLargeError?.() ?? new Error(`answer larger than ${limit} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(new RequestFailure(forced ?? err, req.reusedSocket, true));
      });
    });
    if (r.timeoutMs > 0) {
      if (r.idleTimeout) {
        req.setTimeout(r.timeoutMs, () => fail(r.timeoutError()));
      } else {
        timer = setTimeout(() => fail(r.timeoutError()), r.timeoutMs);
      }
    }
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new RequestFailure(forced ?? err, req.reusedSocket, false));
    });
    req.end(r.body);
  });
}
