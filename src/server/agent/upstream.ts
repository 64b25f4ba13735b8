/**
 * The runtime behind the agent, over one keep-alive pool (`../http/keep-alive-client`): any
 * method and path, the body and the answer buffered and bounded. Hop-by-hop headers stay on
 * their own hop (RFC 9110 section 7.6.1); everything else passes both ways unchanged.
 */
import * as http from 'node:http';
import { AgentConfig } from './config';
import { ERRORS, ServerError, serverError } from '../errors';
import { keepAliveAgent, RequestFailure, sendBuffered } from '../http/keep-alive-client';

/** One answer of the runtime, as it came. */
export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'proxy-authenticate', 'proxy-authorization', 'content-length', 'host', 'expect',
]);

/** `headers` without the hop-by-hop ones (and those `Connection` names). */
export function endToEndHeaders(headers: http.IncomingHttpHeaders): Record<string, string | string[]> {
  const named = String(headers.connection ?? '').toLowerCase().split(',').map((h) => h.trim());
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

export class Upstream {
  private readonly agent = keepAliveAgent(256, 64);

  constructor(private readonly config: AgentConfig['upstream'], private readonly timeoutMs: number) {}

  public get url(): string {
    return this.config.url;
  }

  /** Sends one request; a connection failure, a timeout or an answer over `maxAnswerBytes` throws a `ServerError`. */
  public async send(
    method: string, path: string, headers: Record<string, string | string[]>, body: Buffer | undefined, maxAnswerBytes: number,
  ): Promise<UpstreamAnswer> {
    let answer;
    try {
      answer = await sendBuffered({
        agent: this.agent,
        host: this.config.host,
        port: this.config.port,
        method,
        path,
        headers: headers as Record<string, string>,
        body: body && body.length > 0 ? body : undefined,
        timeoutMs: this.timeoutMs,
        timeoutError: () => serverError(ERRORS.UPSTREAM_TIMEOUT, this.url, this.timeoutMs),
        maxResponseBytes: maxAnswerBytes,
        tooLargeError: (limit) => serverError(ERRORS.UPSTREAM_ANSWER_TOO_LARGE, this.url, limit),
        // The runtime closed an idle keep-alive socket as we reused it: the request never ran.
        retryOnReusedSocket: (f) => !f.whileReading && f.cause.code === 'ECONNRESET',
      });
    } catch (err) {
      if (!(err instanceof RequestFailure)) throw err;
      if (err.cause instanceof ServerError) throw err.cause;
      throw serverError(ERRORS.UPSTREAM_UNREACHABLE, this.url, err.cause.code ?? err.cause.message);
    }
    return { status: answer.status ?? 502, headers: endToEndHeaders(answer.headers), body: answer.body };
  }

  public close(): void {
    this.agent.destroy();
  }
}
