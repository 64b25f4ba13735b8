/**
 * Settings of `serve --mode agent` (parsed by `../config.ts`):
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--agent-upstream` | `AGENT_UPSTREAM` | required: the runtime's base URL in the pod, e.g. `http://127.0.0.1:8080` |
 * | `--max-batch-latency-ms` | `MAX_BATCH_LATENCY_MS` | `0` = no batching; else a batch leaves after this long at the latest |
 * | `--max-batch-size` | `MAX_BATCH_SIZE` | the server's (`1024`); with batching, the most V1 instances / V2 rows in one batch |
 *
 * `--http-port` (default `AGENT.port`, 9081), `--max-body-bytes`, `--request-timeout-ms` and the
 * `--payload-log-*` flags apply as to a predictor.
 */
import { AGENT, SERVER_MODES } from '../../contract';

export interface AgentConfig {
  /** The runtime: `http:` only (it runs in the same pod). */
  readonly upstream: { readonly host: string; readonly port: number; readonly url: string };
  /** 0: every request goes upstream alone. */
  readonly maxBatchLatencyMs: number;
}

/** The flags the agent adds to the server's. */
export const AGENT_FLAGS = [AGENT.upstreamFlag, AGENT.maxBatchLatencyFlag] as const;

/**
 * The agent's settings from its flags (`flag(name)`) or variables (`env`); undefined unless
 * `--mode agent`. `fail` throws the ConfigError.
 */
export function parseAgentConfig(
  mode: string, flag: (name: string) => string | undefined, env: NodeJS.ProcessEnv, fail: (message: string) => never,
): AgentConfig | undefined {
  const read = (name: string, variable: string): string | undefined => {
    const v = flag(name) ?? env[variable];
    return v === '' ? undefined : v;
  };
  const upstreamText = read(AGENT.upstreamFlag, AGENT.upstreamEnv);
  const latencyText = read(AGENT.maxBatchLatencyFlag, AGENT.maxBatchLatencyEnv);
  if (mode !== SERVER_MODES.agent) {
    if (flag(AGENT.upstreamFlag) !== undefined || flag(AGENT.maxBatchLatencyFlag) !== undefined) {
      fail(`'${AGENT.upstreamFlag}' and '${AGENT.maxBatchLatencyFlag}' are flags of --mode agent only`);
    }
    return undefined;
  }
  const where = (f: string, v: string) => `'${f}' (${v})`;
  if (upstreamText === undefined) {
    fail(`--mode agent needs ${where(AGENT.upstreamFlag, AGENT.upstreamEnv)}: the runtime container's URL, e.g. http://127.0.0.1:8080`);
  }
  let url: URL | undefined;
  try {
    url = new URL(upstreamText);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'http:' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.username) {
    fail(`${where(AGENT.upstreamFlag, AGENT.upstreamEnv)} must be an http:// URL with a host and port only, such as http://127.0.0.1:8080, got '${upstreamText}'`);
  }
  let maxBatchLatencyMs = 0;
  if (latencyText !== undefined) {
    maxBatchLatencyMs = Number(latencyText);
    if (!/^\d+$/.test(latencyText.trim()) || maxBatchLatencyMs > 600_000) {
      fail(`${where(AGENT.maxBatchLatencyFlag, AGENT.maxBatchLatencyEnv)} must be an integer between 0 and 600000 (0: no batching), got '${latencyText}'`);
    }
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? 80 : Number(url.port);
  return { upstream: { host, port, url: `http://${url.host}` }, maxBatchLatencyMs };
}
