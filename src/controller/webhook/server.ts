/**
 * The admission webhooks' HTTPS server: POST an AdmissionReview to a path, get one back. Built on
 * node:https (llhttp), with every buffer a client can fill bounded: the body (`--webhook-max-body-bytes`,
 * 413), the time to send a whole request (`--webhook-request-timeout-seconds`, then 408 and the socket
 * closed), the headers (node's 16 KiB default) and the TLS handshake. The certificate is swapped in place
 * (`setCertificate`), so a rotated certificate is served without a restart.
 */
import * as https from 'https';
import type { AddressInfo } from 'net';
import { AdmissionReviewError, AdmissionReviewResponse } from './admission-review';
import { WEBHOOK_ERRORS, WebhookErrorDefinition, WebhookHttpError } from './errors';

/** A PEM certificate chain and its private key. */
export interface ServingCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

/** One webhook: an AdmissionReview body in, the answer out (throws AdmissionReviewError on a bad review). */
export type AdmissionHandler = (body: unknown) => AdmissionReviewResponse | Promise<AdmissionReviewResponse>;

export interface WebhookServerOptions {
  readonly port: number;
  /** @default '0.0.0.0' (in a pod the API server reaches it through the Service) */
  readonly host?: string;
  readonly certificate: ServingCertificate;
  /** Path → handler. */
  readonly handlers: Readonly<Record<string, AdmissionHandler>>;
  readonly maxBodyBytes: number;
  readonly requestTimeoutMs: number;
  /** Structured log line. */
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export interface WebhookServer {
  readonly port: number;
  /** Serves `certificate` to every new connection from now on. */
  setCertificate(certificate: ServingCertificate): void;
  /** Stops accepting, lets requests in flight finish, then closes idle connections. */
  close(): Promise<void>;
}

/** Starts the server and resolves once it listens. */
export function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const log = options.log ?? (() => undefined);
  const server = https.createServer({
    cert: options.certificate.certPem,
    key: options.certificate.keyPem,
    minVersion: 'TLSv1.2',
    // A client that opens a connection and never finishes the handshake holds it this long at most.
    handshakeTimeout: options.requestTimeoutMs,
    // Headers and body must both arrive within the request timeout (slow clients are cut off).
    requestTimeout: options.requestTimeoutMs,
    headersTimeout: Math.min(options.requestTimeoutMs, 5_000),
    // Node checks the two timeouts above only this often (30 s by default).
    connectionsCheckingInterval: Math.max(100, Math.min(options.requestTimeoutMs / 4, 2_000)),
    keepAliveTimeout: 30_000,
  }, (req, res) => {
    handle(req, res).catch((e) => {
      log('error', 'webhook request failed', { path: req.url, error: (e as Error).message });
      sendError(res, WEBHOOK_ERRORS.INTERNAL, 'internal error');
    });
  });

  async function handle(req: import('http').IncomingMessage, res: import('http').ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const handler = Object.prototype.hasOwnProperty.call(options.handlers, path) ? options.handlers[path] : undefined;
    if (!handler) return refuseUnread(res, WEBHOOK_ERRORS.NOT_FOUND, `no webhook at ${path}`);
    if (req.method !== 'POST') return refuseUnread(res, WEBHOOK_ERRORS.METHOD_NOT_ALLOWED, 'webhooks take POST');
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') {
      return refuseUnread(res, WEBHOOK_ERRORS.UNSUPPORTED_MEDIA_TYPE, `content-type must be application/json, got '${type}'`);
    }
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req, options.maxBodyBytes)).toString('utf8'));
    } catch (e) {
      if (e instanceof WebhookHttpError) return sendError(res, e.definition, e.message, true);
      if (e instanceof SyntaxError) return sendError(res, WEBHOOK_ERRORS.NOT_JSON, `the body is not JSON: ${e.message}`);
      throw e;
    }
    let answer: AdmissionReviewResponse;
    try {
      answer = await handler(body);
    } catch (e) {
      if (e instanceof AdmissionReviewError) return sendError(res, WEBHOOK_ERRORS.NOT_AN_ADMISSION_REVIEW, e.message);
      throw e;
    }
    const payload = Buffer.from(JSON.stringify(answer));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': payload.length });
    res.end(payload);
  }

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      server.on('error', (e) => log('error', 'webhook server error', { error: e.message }));
      server.on('tlsClientError', (e) => log('warn', 'webhook TLS handshake failed', { error: e.message }));
      resolve({
        port: (server.address() as AddressInfo).port,
        setCertificate: (c) => server.setSecureContext({ cert: c.certPem, key: c.keyPem, minVersion: 'TLSv1.2' }),
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeIdleConnections();
        }),
      });
    });
  });
}

/** The whole body, or a WebhookHttpError once it passes `limit` bytes (checked on Content-Length first). */
function readBody(req: import('http').IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new WebhookHttpError(WEBHOOK_ERRORS.BODY_TOO_LARGE, `the body has ${declared} bytes, more than the ${limit} allowed (--webhook-max-body-bytes)`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        reject(new WebhookHttpError(WEBHOOK_ERRORS.BODY_TOO_LARGE, `the body is larger than the ${limit} bytes allowed (--webhook-max-body-bytes)`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Refuses a request whose body we do not read: answers, then closes the connection. */
function refuseUnread(res: import('http').ServerResponse, definition: WebhookErrorDefinition, message: string): void {
  sendError(res, definition, message, true);
}

function sendError(res: import('http').ServerResponse, definition: WebhookErrorDefinition, message: string, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = Buffer.from(JSON.stringify({ error: message, code: definition.code }));
  res.writeHead(definition.httpStatus, {
    'content-type': 'application/json',
    'content-length': payload.length,
    // The rest of an unread body would be parsed as the next request: close instead.
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(payload);
}
