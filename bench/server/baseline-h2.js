// Baseline (a2) of the server benchmark: a bare node:http2 server that answers any unary gRPC
// call with a fixed framed message and grpc-status 0 in trailers, without decoding the request:
// the ceiling of a gRPC server on node:http2 here (what the HTTP/2 stack itself costs). Prints its port.
const http2 = require('node:http2');

const MESSAGE = Buffer.from([0x0a, 0x08, ...Buffer.from('baseline')]);
const FRAME = Buffer.concat([Buffer.from([0, 0, 0, 0, MESSAGE.length]), MESSAGE]);
const HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const TRAILERS = { 'grpc-status': '0' };

const server = http2.createServer();
server.on('stream', (stream) => {
  stream.on('error', () => undefined);
  stream.on('data', () => undefined);
  stream.on('end', () => {
    stream.respond(HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers(TRAILERS));
    stream.end(FRAME);
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
