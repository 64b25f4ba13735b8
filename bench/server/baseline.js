// Baseline (a) of the server benchmark: a bare node:http server that reads and parses the same
// JSON body as the model server and answers a fixed V2-shaped response. Prints its port.
const http = require('node:http');

const ANSWER = JSON.stringify({
  model_name: 'baseline',
  outputs: [{ name: 'label', datatype: 'INT64', shape: [1], data: [0] }],
});

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":"bad json"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(ANSWER) });
    res.end(ANSWER);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
