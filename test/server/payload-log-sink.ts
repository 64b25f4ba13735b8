/**
 * A real CloudEvents sink on loopback for payload-logging tests, and the waits and metric
 * reads those tests share (test/server/payload-logging.test.ts, component-payload-logging.test.ts).
 */
import * as http from 'http';
import { AddressInfo } from 'net';
import { metricSamples, request } from './server-harness';
import { METRICS } from '../../src/contract';

export interface SinkEvent { headers: http.IncomingHttpHeaders; body: any }

/** A CloudEvents sink on loopback: answers 200 (or never, when `hang`), records every event. */
export class Sink {
  public readonly events: SinkEvent[] = [];
  public received = 0;
  private readonly server: http.Server;
  private readonly hung: http.ServerResponse[] = [];
  constructor(hang = false) {
    this.server = http.createServer((req, res) => {
      this.received++;
      if (hang) {
        this.hung.push(res);
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.events.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) });
        res.writeHead(200).end();
      });
    });
  }
  public async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/events`;
  }
  public async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const sinks: Sink[] = [];

/** A started sink (stopped by `stopSinks()`). */
export async function sink(hang = false): Promise<{ sink: Sink; url: string }> {
  const s = new Sink(hang);
  sinks.push(s);
  return { sink: s, url: await s.start() };
}

/** Stops every sink `sink()` started. */
export async function stopSinks(): Promise<void> {
  for (const s of sinks.splice(0)) await s.stop();
}

/** Waits (event loop turns, no fixed sleep) until `done()`; jest's timeout bounds it. */
export async function until(done: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await done())) await new Promise((r) => setTimeout(r, 5));
}

/** Sum of a metric's samples (those with `reason` if given), read from the server's /metrics. */
export async function metric(port: number, name: string, reason?: string): Promise<number> {
  const samples = metricSamples((await request(port, 'GET', '/metrics')).text, name);
  return [...samples].filter(([labels]) => reason === undefined || labels.includes(`reason="${reason}"`)).reduce((a, [, v]) => a + v, 0);
}

/** Waits until the server has no payload event queued or being sent. */
export async function settled(port: number): Promise<void> {
  await until(async () => (await metric(port, METRICS.payloadLogEventsPending)) === 0);
}

/** Events grouped by `ce-id`. */
export function byEventId(events: SinkEvent[]): Map<string, SinkEvent[]> {
  const out = new Map<string, SinkEvent[]>();
  for (const e of events) out.set(e.headers['ce-id'] as string, [...(out.get(e.headers['ce-id'] as string) ?? []), e]);
  return out;
}
