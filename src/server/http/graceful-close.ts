/**
 * The REST server's close: every request whose bytes reached the server before its listening
 * socket closed gets an answer, with `Connection: close`.
 *
 * `node:http`'s `server.close()` (and fastify's close, with `forceCloseConnections: 'idle'`)
 * destroys idle keep-alive connections at once, before the listener closes. A request the
 * client wrote just before sits unread in the kernel's socket buffer and is lost: the client
 * sees a reset. Here an idle connection is closed only after the listener closed, a linger
 * passed (`lingerMs`, set on SIGTERM so busy keep-alive clients get one more answer each, with
 * `Connection: close`), and one more poll of the sockets found nothing new on it. Connections
 * with a request in flight close after their answer. The lean front (`./lean-http1`) hands its
 * idle connections to node:http at the start, so this one rule covers both paths.
 */
import * as http from 'http';

/** How long idle keep-alive connections stay open after the listener closed on SIGTERM. */
export const SIGTERM_IDLE_LINGER_MS = 1000;

export interface GracefulCloseOptions {
  /** Runs once, when the close begins (before the listener closes). */
  onClosing?(): void;
}

/** The close state of one REST server; `installGracefulClose` makes it. */
export class GracefulClose {
  /** Set while the server closes: every answer from then on carries `Connection: close`. */
  public closing = false;
  /** How long idle connections may still send one more request after the listener closed. */
  public lingerMs = 0;
}

/** Replaces `server.closeIdleConnections` with the deferred close above; call before listening. */
export function installGracefulClose(server: http.Server, options: GracefulCloseOptions = {}): GracefulClose {
  const state = new GracefulClose();
  const closeIdleNow = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => {
    // fastify calls this, then `server.close()` calls it again: the first call starts the close.
    if (state.closing) return;
    state.closing = true;
    options.onClosing?.();
    // The timer does not hold the process: once every connection closed, `server.close` is done.
    setTimeout(() => afterOnePoll(closeIdleNow), state.lingerMs).unref();
  };
  // Answers written while closing end their connection (fastify says so on its routes; this
  // covers the hot path in front of it).
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (state.closing) res.setHeader('Connection', 'close');
  });
  return state;
}

/**
 * Runs `fn` after the event loop polled the sockets once more: bytes already in a socket's
 * kernel buffer are read (and start a request) before `fn` decides which connections are idle.
 * A timer alone does not ensure that: after a busy stretch, timers run before the poll.
 */
function afterOnePoll(fn: () => void): void {
  setImmediate(() => setImmediate(fn));
}
