/**
 * Checks on the request head that node:http's parser (llhttp) lets through but a server facing
 * untrusted clients must refuse, since proxies in front may read such a request differently
 * (request smuggling, RFC 9112 §6.1 and §3.2):
 * - more than one `Host` header: 400;
 * - `Transfer-Encoding` on an HTTP/1.0 request: 400;
 * - `Expect: 100-continue` with a `Content-Length` over the body limit: 413 at once, without
 *   `100 Continue`, so the client never sends the body.
 * Each refusal is our JSON error shape and closes the connection. The lean front
 * (`./lean-http1`) hands all of these requests to node:http, so both paths answer alike.
 */
import * as http from 'http';
import { ERRORS, ServerError, serverError } from '../errors';

/** Refuses a request whose head is unsafe (see above); true when it answered. */
export function refuseUnsafeHead(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1) {
    refuse(res, serverError(ERRORS.INVALID_REQUEST, `the request has ${hosts} Host headers; send exactly one`));
    return true;
  }
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined) {
    refuse(res, serverError(ERRORS.INVALID_REQUEST, 'Transfer-Encoding is not allowed in an HTTP/1.0 request; send Content-Length or use HTTP/1.1'));
    return true;
  }
  return false;
}

/**
 * Answers `Expect: 100-continue` (node:http's `checkContinue` event): an unsafe head or an
 * oversized `Content-Length` is refused before the body is sent; otherwise `100 Continue`,
 * then the request goes to the server's `request` listeners as usual.
 */
export function answerExpectContinue(server: http.Server, maxBodyBytes: number): void {
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (refuseUnsafeHead(req, res)) return;
    const length = Number(req.headers['content-length']);
    if (length > maxBodyBytes) {
      refuse(res, serverError(ERRORS.BODY_TOO_LARGE, maxBodyBytes));
      return;
    }
    res.writeContinue();
    server.emit('request', req, res);
  });
}

function refuse(res: http.ServerResponse, error: ServerError): void {
  const body = JSON.stringify(error.toJSON());
  res.writeHead(error.statusCode, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'connection': 'close' });
  res.end(body);
}
