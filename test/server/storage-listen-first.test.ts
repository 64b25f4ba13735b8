// `serve --storage-uri`: the HTTP port listens while the model downloads (live, not ready), then
// the model loads and readiness turns true; a failed download still exits 1.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, logEvents, MODELS, request, SERVER_NODE } from './server-harness';

test('live during the download, ready after it', async () => {
  let release: (() => void) | undefined;
  let got: () => void = () => undefined;
  const requested = new Promise<void>((r) => { got = r; });
  const model = fs.readFileSync(path.join(MODELS, 'iris-logreg.onnx'));
  const origin = http.createServer((req, res) => {
    if (req.url !== '/models/iris.onnx') {
      res.writeHead(404).end();
      return;
    }
    // Held until the test has seen the probes.
    release = () => res.writeHead(200, { 'content-length': model.length }).end(model);
    got();
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'listen-first-'));
  const uri = `http://127.0.0.1:${(origin.address() as AddressInfo).port}/models/iris.onnx`;
  const child = spawn(SERVER_NODE, [CLI, 'serve', '--storage-uri', uri, '--model-dir', dir, '--model-name', 'iris', '--http-port', '0', '--grpc-port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { waitFor } = logEvents(child);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const port = Number((await waitFor('listening')).httpPort);
    await requested;
    expect((await request(port, 'GET', '/v2/health/live')).status).toBe(200);
    expect((await request(port, 'GET', '/v2/health/ready')).status).toBe(503);
    expect((await request(port, 'POST', '/v2/models/iris/infer', { inputs: [] })).status).toBe(503);
    release!();
    await waitFor('ready');
    expect((await request(port, 'GET', '/v2/health/ready')).status).toBe(200);
    const res = await request(port, 'POST', '/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
    expect(res.status).toBe(200);
    expect(res.body.outputs.find((o: any) => o.name === 'label').data).toEqual([0]);
  } finally {
    child.kill('SIGKILL');
    await exited;
    origin.closeAllConnections();
    await new Promise((r) => origin.close(r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
