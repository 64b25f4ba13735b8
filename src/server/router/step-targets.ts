/**
 * How the router reaches a step:
 *
 * - `serviceUrl`: POST over a keep-alive pool per origin (`../http/keep-alive-client`), the step's
 *   timeout as the request's, the answer bounded by `maxResponseBytes`;
 * - `model`: the model this process loaded, through the same inference path as the model server's
 *   REST routes (`../http/infer-hot-path`), so the bytes and statuses are the ones the model
 *   server would send over the network. A body with `instances` is a V1 predict, anything else a
 *   V2 infer.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { Answer, StepFailure } from './answers';
import { StepTarget } from './executor';
import { GraphStepSpec } from '../../contract/graph-spec';
import { InferHotPath } from '../http/infer-hot-path';
import { keepAliveAgent, RequestFailure, sendBuffered } from '../http/keep-alive-client';

const MAX_SOCKETS_PER_ORIGIN = 256;

class TimeoutError extends Error {}
class TooLargeError extends Error {}

/** Steps with a `serviceUrl`. */
export class NetworkTarget implements StepTarget {
  private readonly agents = new Map<string, http.Agent>();

  constructor(private readonly maxResponseBytes: number) {}

  public async call(step: GraphStepSpec, body: Buffer, contentType: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
    const url = new URL(step.serviceUrl!);
    const secure = url.protocol === 'https:';
    const port = Number(url.port || (secure ? 443 : 80));
    try {
      const answer = await sendBuffered({
        agent: this.agent(url.protocol, url.host),
        secure,
        host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port,
        method: 'POST',
        path: `${url.pathname}${url.search}`,
        headers: { ...headers, 'content-type': contentType },
        body,
        timeoutMs,
        timeoutError: () => new TimeoutError(),
        maxResponseBytes: this.maxResponseBytes,
        tooLargeError: () => new TooLargeError(),
        // Safe to repeat only when the peer closed an idle pooled socket before reading anything.
        retryOnReusedSocket: (f) => !f.whileReading && f.cause.code === 'ECONNRESET',
      });
      const type = answer.headers['content-type'];
      return { status: answer.status ?? 502, body: answer.body, contentType: typeof type === 'string' ? type : undefined };
    } catch (err) {
      const cause = err instanceof RequestFailure ? err.cause : (err as Error);
      if (cause instanceof TimeoutError) {
        throw new StepFailure('timeout', 504, `step '${step.name}' did not answer within ${timeoutMs} ms (${step.serviceUrl})`);
      }
      if (cause instanceof TooLargeError) {
        throw new StepFailure('too_large', 502, `step '${step.name}' answered more than ${this.maxResponseBytes} bytes (--max-body-bytes)`);
      }
      throw new StepFailure('unreachable', 502, `step '${step.name}' could not be reached at ${step.serviceUrl}: ${cause.message}`);
    }
  }

  public close(): void {
    for (const agent of this.agents.values()) agent.destroy();
  }

  private agent(protocol: string, host: string): http.Agent {
    const key = `${protocol}//${host}`;
    let agent = this.agents.get(key);
    if (!agent) {
      agent = protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_ORIGIN, maxFreeSockets: 64, scheduling: 'lifo' })
        : keepAliveAgent(MAX_SOCKETS_PER_ORIGIN, 64);
      this.agents.set(key, agent);
    }
    return agent;
  }
}

/** Steps with a `model`: run in this process. */
export class InProcessTarget implements StepTarget {
  constructor(private readonly hotPath: InferHotPath) {}

  public call(step: GraphStepSpec, body: Buffer, _contentType: string, _headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
    const text = body.toString('utf8');
    const protocol = /"instances"\s*:/.test(text) && isV1(text) ? 'v1' : 'v2';
    return new Promise<Answer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const call = this.hotPath.begin({ protocol, name: step.model! }, (status, reply) => {
        clearTimeout(timer);
        resolve({ status, body: typeof reply.body === 'string' ? Buffer.from(reply.body) : reply.body, contentType: reply.contentType });
      });
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          // Counted as a 499 by the model metrics, and dropped if still queued for the model.
          call.abort();
          reject(new StepFailure('timeout', 504, `step '${step.name}' (model '${step.model}', in process) did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }
      call.answer(text);
    });
  }
}

/** V1 when the body is an object with `instances` (KServe V1's request key). */
function isV1(text: string): boolean {
  try {
    const body = JSON.parse(text) as unknown;
    return body !== null && typeof body === 'object' && !Array.isArray(body) && 'instances' in body;
  } catch {
    return false;
  }
}

/** Picks the in-process or network target by the step's kind. */
export class StepTargets implements StepTarget {
  constructor(private readonly network: NetworkTarget, private readonly inProcess?: InProcessTarget) {}

  public call(step: GraphStepSpec, body: Buffer, contentType: string, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
    if (step.model !== undefined) {
      if (!this.inProcess) {
        return Promise.reject(new StepFailure('unreachable', 502, `step '${step.name}' names model '${step.model}', but this router holds no models`));
      }
      return this.inProcess.call(step, body, contentType, headers, timeoutMs);
    }
    return this.network.call(step, body, contentType, headers, timeoutMs);
  }
}
