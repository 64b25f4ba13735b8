/**
 * A cleartext HTTP/2 server (prior knowledge, no TLS, no HTTP/1.1 upgrade) on `node:net`: one
 * `Http2Connection` per socket, and a graceful close.
 */
import * as net from 'node:net';
import { ConnectionOptions, Http2Connection } from './connection';

export type Http2ServerOptions = ConnectionOptions;

export class Http2Server {
  public readonly server: net.Server;
  private readonly connections = new Set<Http2Connection>();
  private closing = false;

  constructor(private readonly options: Http2ServerOptions) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.onConnection(socket));
  }

  /** Number of open connections. */
  public get connectionCount(): number {
    return this.connections.size;
  }

  /** Binds; resolves with the port. */
  public listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        // Accept failures (EMFILE, a connection reset before accept) must not end the process;
        // the listening socket keeps accepting.
        this.server.on('error', () => undefined);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /**
   * Graceful stop: no new connections; every connection gets GOAWAY, its accepted streams finish
   * and it closes; after `graceMs` the connections left are destroyed.
   */
  public close(graceMs: number): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const c of this.connections) c.destroy();
      }, Math.max(0, graceMs));
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const c of this.connections) c.shutdown();
    });
  }

  private onConnection(socket: net.Socket): void {
    const connection = new Http2Connection(socket, this.options, (c) => this.connections.delete(c));
    this.connections.add(connection);
    if (this.closing) connection.shutdown();
  }
}
