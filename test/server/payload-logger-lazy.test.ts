/**
 * PayloadLogger takes a payload or a function that makes it: the function runs only for an event
 * that is kept (mode, sampling) and queued, so the router and the agent parse raw bodies only then.
 * The sink is a real loopback HTTP server that answers 200.
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import * as client from 'prom-client';
import { PayloadLogger } from '../../src/server/payload-log/payload-logger';

describe('PayloadLogger with payload functions', () => {
  let sink: http.Server;
  let url: string;
  beforeAll(async () => {
    sink = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end()); });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/`;
  });
  afterAll(async () => { await new Promise((resolve) => sink.close(resolve)); });

  const logger = (mode: 'all' | 'request' | 'response', sampleRate: number) => new PayloadLogger({
    url, mode, queueSize: 16, timeoutMs: 1000, namespace: '', endpoint: '', component: 'predictor', sampleRate,
  }, new client.Registry());

  test('a kept event calls the function once; a sampled-out one and a mode that skips the kind never call it', () => {
    const kept = logger('all', 1);
    const made: string[] = [];
    const id = kept.newId();
    kept.request(id, 'm', () => { made.push('request'); return { instances: [1] }; });
    kept.response(id, 'm', () => { made.push('response'); return { predictions: [0] }; });
    expect(made).toEqual(['request', 'response']);
    kept.close();

    const none = logger('all', 0);
    none.request(none.newId(), 'm', () => { made.push('sampled out'); return {}; });
    none.close();
    const requestsOnly = logger('request', 1);
    requestsOnly.response(requestsOnly.newId(), 'm', () => { made.push('response in request mode'); return {}; });
    requestsOnly.close();
    expect(made).toEqual(['request', 'response']);
  });
});
