/**
 * Sends inference payloads to a sink as CloudEvents (`./cloud-event.ts`), like KServe's logger,
 * without ever slowing or failing inference: events wait in a bounded queue, a few senders POST
 * them with a bounded timeout and no retries, and anything that cannot be sent (queue full, sink
 * down, slow or refusing) is dropped and counted by reason.
 */
import { randomUUID } from 'crypto';
import * as http from 'http';
import * as https from 'https';
import { hostname } from 'os';
import * as client from 'prom-client';
import { cloudEventHeaders, PayloadEvent, PayloadKind, payloadBody } from './cloud-event';
import { PayloadLogConfig } from './config';
import { sampledIn } from './sampling';
import { METRICS } from '../../contract';

/** Sends at once; more events wait in the queue. */
export const PAYLOAD_LOG_SENDERS = 4;

/** A payload, or a function that makes it (a JSON payload is never a function). */
export type Payload = unknown | (() => unknown);

export type DropReason = 'queue_full' | 'timeout' | 'send_failed' | 'rejected' | 'unserializable' | 'closed';

export class PayloadLogger {
  private readonly queue: PayloadEvent[] = [];
  private sending = 0;
  private closed = false;
  private readonly shutdown = new AbortController();
  private readonly sent: client.Counter;
  private readonly dropped: client.Counter<'reason'>;
  private readonly logsRequests: boolean;
  private readonly logsResponses: boolean;
  /** KServe's agent sets `ce-source` from its pod; we name the pod (host name). */
  private readonly source = `http://${hostname()}/`;
  private readonly url: URL;
  /** One connection per sender, kept alive between events. */
  private readonly agent: http.Agent;

  constructor(private readonly config: PayloadLogConfig, registry: client.Registry) {
    this.url = new URL(config.url);
    const agentOptions = { keepAlive: true, maxSockets: PAYLOAD_LOG_SENDERS };
    this.agent = this.url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
    this.logsRequests = config.mode !== 'response';
    this.logsResponses = config.mode !== 'request';
    const registers = [registry];
    this.sent = new client.Counter({ name: METRICS.payloadLogEventsSentTotal, help: 'Payload-log events the sink accepted.', registers });
    const pending = () => this.queue.length + this.sending;
    new client.Gauge({ name: METRICS.payloadLogEventsPending, help: 'Payload-log events queued or being sent.', registers, collect() { this.set(pending()); } });
    this.dropped = new client.Counter({ name: METRICS.payloadLogEventsDroppedTotal, help: 'Payload-log events dropped, by reason.', labelNames: ['reason'], registers });
  }

  /** A new id shared by one request and its response. */
  public newId(): string {
    return randomUUID();
  }

  /**
   * Queues the request payload (mode `all` or `request`, and `id` sampled in). Never throws, never waits.
   * `payload` may be a function that makes it: called only for an event that is kept and queued, so a
   * caller holding raw bytes parses them only then.
   */
  public request(id: string, model: string, payload: Payload): void {
    if (this.logsRequests && sampledIn(id, this.config.sampleRate)) this.enqueue('request', id, model, payload);
  }

  /** Queues the response payload of a successful inference (mode `all` or `response`, and `id` sampled in). */
  public response(id: string, model: string, payload: Payload): void {
    if (this.logsResponses && sampledIn(id, this.config.sampleRate)) this.enqueue('response', id, model, payload);
  }

  /** Events waiting (not counting the ones being sent). */
  public get queued(): number {
    return this.queue.length;
  }

  /** Events being sent now (at most `PAYLOAD_LOG_SENDERS`). */
  public get inFlight(): number {
    return this.sending;
  }

  /** Stops: sends in progress are aborted, waiting events dropped (reason `closed`). */
  public close(): void {
    if (this.closed) return;
    this.closed = true;
    this.drop('closed', this.queue.length);
    this.queue.length = 0;
    this.shutdown.abort();
    this.agent.destroy();
  }

  private enqueue(kind: PayloadKind, id: string, model: string, payload: Payload): void {
    if (this.closed) return this.drop('closed');
    if (this.queue.length >= this.config.queueSize) return this.drop('queue_full');
    this.queue.push({ kind, id, model, payload: typeof payload === 'function' ? payload() : payload });
    this.pump();
  }

  private pump(): void {
    while (this.sending < PAYLOAD_LOG_SENDERS && this.queue.length > 0) {
      const event = this.queue.shift()!;
      this.sending++;
      void this.send(event).finally(() => {
        this.sending--;
        this.pump();
      });
    }
  }

  private send(event: PayloadEvent): Promise<void> {
    let body: string;
    try {
      // Serialized here, not on the request's path.
      body = payloadBody(event.payload);
    } catch {
      this.drop('unserializable');
      return Promise.resolve();
    }
    // node:http with a keep-alive agent, not fetch: fetch costs several times the CPU per event,
    // which a server at full load pays in inference latency (measured by `npx projen bench:logging`).
    return new Promise((resolve) => {
      let settled = false;
      const done = (outcome: 'sent' | DropReason) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.shutdown.signal.removeEventListener('abort', onShutdown);
        if (outcome === 'sent') this.sent.inc();
        else this.drop(outcome);
        resolve();
      };
      const headers = { ...cloudEventHeaders(event, this.config, this.source, new Date()), 'content-length': Buffer.byteLength(body) };
      const req = (this.url.protocol === 'https:' ? https : http).request(this.url, { method: 'POST', headers, agent: this.agent }, (res) => {
        // Read (and discard) the answer so the connection can be reused.
        res.resume();
        res.on('end', () => done(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300 ? 'sent' : 'rejected'));
        res.on('error', () => done('send_failed'));
      });
      const timer = setTimeout(() => {
        done('timeout');
        req.destroy();
      }, this.config.timeoutMs);
      const onShutdown = () => {
        done('closed');
        req.destroy();
      };
      this.shutdown.signal.addEventListener('abort', onShutdown);
      req.on('error', () => done('send_failed'));
      req.end(body);
    });
  }

  private drop(reason: DropReason, count = 1): void {
    if (count > 0) this.dropped.inc({ reason }, count);
  }
}
