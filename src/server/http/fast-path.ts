/**
 * The inference hot path on `node:http`, in front of fastify.
 *
 * For a small model, fastify's routing, hook and reply pipeline cost more CPU than the model
 * itself, and a CPU-bound server's throughput is its CPU per request. So the two inference
 * routes (`./infer-hot-path`) are answered here when the request is an ordinary one: a JSON body
 * with a Content-Length within the limit, while the server is not draining. Everything else
 * (other routes and methods, query strings, other content types, chunked bodies, oversized
 * bodies, the binary tensor extension, shutdown) is handed to fastify untouched, so every error
 * path keeps one implementation.
 *
 * Most connections never get here: the lean HTTP/1.1 front (`./lean-http1`) answers them first.
 * This path serves the connections the front handed to `node:http` (after a request it does
 * not serve, such as a health check on the same keep-alive connection).
 */
import { IncomingMessage, ServerResponse } from 'http';
import { INFERENCE_HEADER_CONTENT_LENGTH } from './binary-tensors';
import { InferHotPath, JSON_CONTENT_TYPE_PATTERN, matchInferRoute } from './infer-hot-path';
import { ERRORS, serverError } from '../errors';


export interface FastPathOptions {
  readonly hotPath: InferHotPath;
  readonly maxBodyBytes: number;
}

/** Returns a handler that answers a request and returns true, or returns false to pass it on. */
export function createFastPath(options: FastPathOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { hotPath, maxBodyBytes } = options;

  return (req, res) => {
    if (req.method !== 'POST' || hotPath.draining) return false;
    const route = matchInferRoute(req.url!);
    if (!route) return false;
    const headers = req.headers;
    const length = Number(headers['content-length']);
    if (!(length > 0) || length > maxBodyBytes || !JSON_CONTENT_TYPE_PATTERN.test(headers['content-type'] ?? '')
      || headers[INFERENCE_HEADER_CONTENT_LENGTH] !== undefined) {
      return false;
    }

    const call = hotPath.begin(route, (status, reply) => {
      // A Content-Length, not chunked encoding: the answer is one write.
      const head: Record<string, string | number> = { 'content-type': reply.contentType, 'content-length': Buffer.byteLength(reply.body) };
      if (reply.headerLength !== undefined) head[INFERENCE_HEADER_CONTENT_LENGTH] = reply.headerLength;
      res.writeHead(status, head);
      res.end(reply.body);
    });
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    });
    res.on('close', () => call.abort());
    req.on('end', () => {
      if (received !== length) {
        call.fail(serverError(ERRORS.INVALID_REQUEST, 'body length does not match Content-Length'));
        return;
      }
      call.answer(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    return true;
  };
}
