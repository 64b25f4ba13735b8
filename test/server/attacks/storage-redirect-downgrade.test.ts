// Attack: an https model URL that redirects to plain http would hand the model (and anything the
// redirect chain leaks) to whoever sits on the network. The initializer refuses it before
// connecting. An https server with a self-signed certificate on loopback plays the store; the
// CLI trusts it through NODE_EXTRA_CA_CERTS.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { LoopbackServer, runCli, startServer, tempDir, tree } from './storage-helpers';

const MODEL = Buffer.from('not really onnx, but bytes to compare');
let plain: LoopbackServer;
let tls: https.Server;
let tlsBase: string;
let caFile: string;

beforeAll(async () => {
  const dir = tempDir('tls');
  caFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', caFile], { stdio: 'ignore' });
  plain = await startServer((_req, res) => {
    res.writeHead(200, { 'content-length': MODEL.length });
    res.end(MODEL);
  });
  tls = https.createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (req, res) => {
    if (req.url === '/downgrade/model.onnx') {
      res.writeHead(302, { location: `${plain.base}/model.onnx` });
      res.end();
    } else if (req.url === '/other-scheme/model.onnx') {
      res.writeHead(302, { location: 'file:///etc/passwd' });
      res.end();
    } else if (req.url === '/same-scheme/model.onnx') {
      res.writeHead(301, { location: '/real/model.onnx' });
      res.end();
    } else if (req.url === '/loop/model.onnx') {
      res.writeHead(302, { location: '/loop/model.onnx' });
      res.end();
    } else {
      res.writeHead(200, { 'content-length': MODEL.length });
      res.end(MODEL);
    }
  });
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  tlsBase = `https://127.0.0.1:${(tls.address() as AddressInfo).port}`;
});

afterAll(async () => {
  tls.closeAllConnections();
  await new Promise((r) => tls.close(r));
  await plain.close();
});

const cli = (uri: string, dir: string) => runCli(['storage-initializer', uri, dir], { NODE_EXTRA_CA_CERTS: caFile });

test('an https to https redirect is followed (the control)', async () => {
  const dir = tempDir('same');
  const r = await cli(`${tlsBase}/same-scheme/model.onnx`, dir);
  expect(r.code).toBe(0);
  expect(readFileSync(path.join(dir, 'model.onnx')).equals(MODEL)).toBe(true);
});

test('an https to http redirect is refused with REDIRECT, and the http server is never contacted', async () => {
  const dir = tempDir('downgrade');
  const r = await cli(`${tlsBase}/downgrade/model.onnx`, dir);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/error \[REDIRECT\]: GET https:\/\/127\.0\.0\.1:\d+\/downgrade\/model\.onnx: refusing the redirect to GET http:\/\/127\.0\.0\.1:\d+\/model\.onnx: it downgrades https to http/);
  expect(plain.hits['/model.onnx']).toBeUndefined();
  expect(tree(dir)).toEqual([]);
});

test('a redirect to another scheme and a redirect loop are refused', async () => {
  const other = await cli(`${tlsBase}/other-scheme/model.onnx`, tempDir('scheme'));
  expect(other.code).toBe(1);
  expect(other.stderr).toMatch(/error \[REDIRECT\]: .*refusing the redirect to a file: URL/);
  const loop = await cli(`${tlsBase}/loop/model.onnx`, tempDir('loop'));
  expect(loop.code).toBe(1);
  expect(loop.stderr).toMatch(/error \[REDIRECT\]: .*more than 5 redirects/);
});
