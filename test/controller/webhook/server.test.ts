/**
 * The webhook's HTTPS server on loopback (real TLS, real sockets), with its certificates from
 * src/controller/webhook/certificates.ts: answers, bounds and attacks, certificate swap.
 */
import { X509Certificate } from 'crypto';
import * as https from 'https';
import * as net from 'net';
import * as tls from 'tls';
import * as contract from '../../../src/contract';
import {
  createCertificateAuthority, issueServingCertificate, needsRenewal, servesHost, splitPemBundle, validity,
} from '../../../src/controller/webhook/certificates';
import { reviewPod } from '../../../src/controller/webhook/mutate-pods';
import { startWebhookServer, WebhookServer } from '../../../src/controller/webhook/server';

const DAY = 86_400_000;
const MAX_BODY = 64 * 1024;
const PATH = contract.CONTROLLER_PATHS.mutatePods;

let server: WebhookServer;
let caPem: string;

beforeAll(async () => {
  const ca = await createCertificateAuthority('webhook-test-ca', 10 * DAY);
  caPem = ca.certPem;
  const certificate = await issueServingCertificate(ca, ['webhook.test.svc', '127.0.0.1'], DAY);
  server = await startWebhookServer({
    port: 0,
    host: '127.0.0.1',
    certificate,
    maxBodyBytes: MAX_BODY,
    requestTimeoutMs: 1_000,
    handlers: { [PATH]: (body) => reviewPod(body, { image: 'example/server:1' }) },
  });
});
afterAll(() => server.close());

function post(body: string | Buffer, headers: Record<string, string> = {}, path = PATH, method = 'POST'): Promise<{ status: number; body: any; peer: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: server.port,
      path,
      method,
      ca: caPem,
      agent: false,
      headers: { 'content-type': 'application/json', ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* keep the text */ }
        resolve({ status: res.statusCode ?? 0, body: parsed, peer: (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256 });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const review = (object: unknown) => JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', object },
});
const labelledPod = {
  metadata: { labels: { [contract.POD_INJECTION.label]: 'true' }, annotations: { [contract.POD_INJECTION.storageUriAnnotation]: 's3://m/iris' } },
  spec: { containers: [{ name: 'c', image: 'i' }] },
};

describe('answers', () => {
  test('a Pod review over TLS gets an AdmissionReview with the JSONPatch', async () => {
    const r = await post(review(labelledPod));
    expect(r.status).toBe(200);
    expect(r.body.response).toEqual(expect.objectContaining({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' }));
  });
  test('an unlabelled pod is allowed without a patch', async () => {
    const r = await post(review({ metadata: {}, spec: { containers: [{ name: 'c', image: 'i' }] } }));
    expect(r.body.response).toEqual({ uid: 'u-1', allowed: true });
  });
});

describe('attacks and bad requests get a bounded 4xx in our error shape, and the server keeps serving', () => {
  afterEach(async () => {
    expect((await post(review(labelledPod))).status).toBe(200);
  });
  test('fails: a body over the limit, declared in Content-Length, is refused with 413 before it is read', async () => {
    const r = await post(Buffer.alloc(MAX_BODY + 1, 0x20));
    expect(r.status).toBe(413);
    expect(r.body).toEqual({ error: expect.stringMatching(/more than the 65536 allowed \(--webhook-max-body-bytes\)/), code: 'WEBHOOK_BODY_TOO_LARGE' });
  });
  test('fails: a chunked body that grows past the limit is cut off with 413', async () => {
    const r = await new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: server.port, path: PATH, method: 'POST', ca: caPem, agent: false, headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }));
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        // Keeps sending until the server answers: 4x the limit at most.
        while (sent < 4 * MAX_BODY && req.write(chunk)) sent += chunk.length;
        if (sent < 4 * MAX_BODY) req.once('drain', pump); else req.end();
      };
      pump();
    });
    expect(r.status).toBe(413);
    expect(r.body.code).toBe('WEBHOOK_BODY_TOO_LARGE');
  });
  test('fails: a slow client that never finishes its body is disconnected (408 or closed), not waited for', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port: server.port, ca: caPem, servername: undefined }, () => {
        socket.write(`POST ${PATH} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"apiVersion":`);
      });
      let text = '';
      socket.on('data', (d) => { text += d.toString(); });
      socket.on('close', () => resolve(text.split('\r\n')[0] || 'closed'));
      socket.on('error', () => undefined);
    });
    expect(['HTTP/1.1 408 Request Timeout', 'closed']).toContain(outcome);
  });
  test('fails: a connection that never starts the TLS handshake is closed', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('close', () => resolve(true));
      socket.on('error', () => undefined);
    });
    expect(closed).toBe(true);
  });
  test('fails: a body that is not JSON gets 400 WEBHOOK_NOT_JSON', async () => {
    const r = await post('{"apiVersion": "admission.k8s.io/v1", ');
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: expect.stringMatching(/^the body is not JSON/), code: 'WEBHOOK_NOT_JSON' });
  });
  test('fails: JSON that is not an AdmissionReview gets 400 naming what is wrong', async () => {
    const r = await post(JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }));
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: expect.stringMatching(/expected apiVersion admission\.k8s\.io\/v1 and kind AdmissionReview/), code: 'WEBHOOK_NOT_AN_ADMISSION_REVIEW' });
  });
  test('fails: another content type gets 415', async () => {
    expect((await post('x', { 'content-type': 'text/plain' })).status).toBe(415);
  });
  test('fails: GET gets 405 and an unknown path 404', async () => {
    expect((await post('', {}, PATH, 'GET')).status).toBe(405);
    expect((await post(review(labelledPod), {}, '/elsewhere')).body.code).toBe('WEBHOOK_NOT_FOUND');
  });
});

describe('certificates', () => {
  test('the serving certificate is signed by the CA and names the service and the IP', async () => {
    const ca = await createCertificateAuthority('ca', DAY);
    const cert = await issueServingCertificate(ca, ['hook.ns.svc', '127.0.0.1'], DAY / 2);
    expect(servesHost(cert.certPem, ca.certPem, 'hook.ns.svc')).toBe(true);
    expect(servesHost(cert.certPem, ca.certPem, '127.0.0.1')).toBe(true);
    expect(servesHost(cert.certPem, ca.certPem, 'other.ns.svc')).toBe(false);
    const other = await createCertificateAuthority('other', DAY);
    expect(servesHost(cert.certPem, other.certPem, 'hook.ns.svc')).toBe(false);
    expect(new X509Certificate(ca.certPem).ca).toBe(true);
    expect(new X509Certificate(cert.certPem).ca).toBe(false);
  });
  test('a certificate needs renewal once less than a third of its lifetime is left', async () => {
    const now = new Date('2026-12-07T00:00:00Z');
    const ca = await createCertificateAuthority('ca', 30 * DAY, now);
    const cert = await issueServingCertificate(ca, ['h'], 30 * DAY, now);
    const { notBefore, notAfter } = validity(cert.certPem);
    const lifetime = notAfter.getTime() - notBefore.getTime();
    expect(needsRenewal(cert.certPem, new Date(notAfter.getTime() - lifetime / 3 - 60_000))).toBe(false);
    expect(needsRenewal(cert.certPem, new Date(notAfter.getTime() - lifetime / 3 + 60_000))).toBe(true);
  });
  test('a PEM bundle splits into its certificates', async () => {
    const a = await createCertificateAuthority('a', DAY);
    const b = await createCertificateAuthority('b', DAY);
    expect(splitPemBundle(a.certPem + b.certPem).map((p) => new X509Certificate(p).subject)).toEqual(['CN=a', 'CN=b']);
  });
  test('setCertificate serves a new certificate to new connections without a restart', async () => {
    const before = (await post(review(labelledPod))).peer;
    const ca2 = await createCertificateAuthority('webhook-test-ca-2', DAY);
    const next = await issueServingCertificate(ca2, ['127.0.0.1'], DAY);
    server.setCertificate(next);
    const r = await new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: server.port, path: PATH, method: 'POST', ca: [caPem, ca2.certPem], agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        resolve((res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256);
        res.resume();
      });
      req.on('error', reject);
      req.end(review(labelledPod));
    });
    expect(r).not.toBe(before);
    expect(r).toBe(new X509Certificate(next.certPem).fingerprint256);
    caPem = `${caPem}${ca2.certPem}`; // later requests trust both
  });
});
