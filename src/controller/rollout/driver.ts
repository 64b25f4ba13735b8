/**
 * The I/O of a rollout analysis: asks the state machine whether an analysis is due, runs its
 * queries against Prometheus' HTTP API and calls its webhooks, and returns the machine's
 * decision. Prometheus not configured, unreachable or answering 5xx is `prometheusError` (the
 * rollout pauses); a query Prometheus refuses (4xx), or one with no single number, is no data
 * for that check (it fails).
 */
import { ROLLOUT_ACTION_ANNOTATION, ROLLOUT_ACTIONS } from '../../contract';
import { analysisQueries } from '../../render/analysis/queries';
import type { ResolvedAnalysis, ResolvedWebhook } from '../../render/analysis/resolve';
import type { KubeObject } from '../kube';
import { Action, AnalysisInput, decide, Decision, Measurement, measurementDue, rolloutSpecHash, RolloutStatus } from './state-machine';

const QUERY_TIMEOUT_MS = 5_000;
/** Bound on an answer we read (Prometheus' or a webhook's). */
const MAX_ANSWER_BYTES = 1024 * 1024;

export interface RolloutPlan {
  readonly analysis: ResolvedAnalysis;
  readonly stableVersion: string;
  readonly canaryVersion: string;
}

/** Thrown for an answer we cannot use as a number (the check gets no data). */
class NoNumber extends Error {}
/** Thrown when Prometheus itself failed (the rollout pauses). */
class Unreachable extends Error {}

export class RolloutDriver {
  constructor(private readonly prometheusUrl: string | undefined) {}

  /** One pass of the analysis of `cr` (a CanaryRollout with an analysis). */
  async step(cr: KubeObject, plan: RolloutPlan, previous: RolloutStatus | undefined, now = new Date()): Promise<Decision> {
    const queries = analysisQueries(targetOf(cr, plan), plan.analysis);
    const input: AnalysisInput = {
      analysis: plan.analysis,
      checks: queries.checks,
      specHash: rolloutSpecHash(cr.spec),
      stableVersion: plan.stableVersion,
      canaryVersion: plan.canaryVersion,
      action: actionOf(cr),
      previous,
      now,
    };
    const due = measurementDue(input);
    if (!due) return decide(input);
    const webhooks = await this.callWebhooks(cr, plan, previous, due.webhooks);
    if (!due.metrics) return decide(input, { values: {}, webhooks });
    return decide(input, { ...(await this.measure(queries.requestCount, input)), webhooks });
  }

  private async measure(requestCountQuery: string, input: AnalysisInput): Promise<Omit<Measurement, 'webhooks'>> {
    if (!this.prometheusUrl) return { prometheusError: 'the controller has no --prometheus-url (env PROMETHEUS_URL)', values: {} };
    const values: { [check: string]: number | undefined } = {};
    try {
      const requestCount = await this.number(requestCountQuery).catch((e) => {
        if (e instanceof NoNumber) return 0;
        throw e;
      });
      for (const c of input.checks) {
        values[c.name] = await this.number(c.query).catch((e) => {
          if (e instanceof NoNumber) return undefined;
          throw e;
        });
      }
      return { requestCount, values };
    } catch (e) {
      if (e instanceof Unreachable) return { prometheusError: e.message, values: {} };
      throw e;
    }
  }

  /** The single number a query returns. */
  private async number(query: string): Promise<number> {
    const url = `${this.prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
    } catch (e) {
      throw new Unreachable(`${this.prometheusUrl}: ${(e as Error).cause instanceof Error ? ((e as Error).cause as Error).message : (e as Error).message}`);
    }
    const text = await boundedText(res);
    if (res.status >= 500 || res.status === 429) throw new Unreachable(`${this.prometheusUrl} answered HTTP ${res.status}`);
    let body: { status?: string; data?: { resultType?: string; result?: unknown } };
    try {
      body = JSON.parse(text);
    } catch {
      throw new Unreachable(`${this.prometheusUrl} answered something other than JSON (HTTP ${res.status})`);
    }
    if (res.status >= 400 || body.status !== 'success') throw new NoNumber(`query refused: ${text.slice(0, 200)}`);
    const { resultType, result } = body.data ?? {};
    // https://prometheus.io/docs/prometheus/latest/querying/api/#expression-query-result-formats
    const sample = resultType === 'scalar' ? result as [number, string]
      : resultType === 'vector' && Array.isArray(result) && result.length === 1 ? (result[0] as { value: [number, string] }).value : undefined;
    const value = sample ? Number(sample[1]) : NaN;
    if (!Number.isFinite(value)) throw new NoNumber('no single finite value');
    return value;
  }

  /** Calls each webhook; name -> error message, or undefined when it answered 2xx. */
  private async callWebhooks(
    cr: KubeObject, plan: RolloutPlan, previous: RolloutStatus | undefined, hooks: ResolvedWebhook[],
  ): Promise<WebhookResults> {
    const out: WebhookResults = {};
    for (const hook of hooks) {
      const body = {
        name: cr.metadata.name,
        namespace: cr.metadata.namespace,
        phase: hook.phase,
        stableVersion: plan.stableVersion,
        canaryVersion: plan.canaryVersion,
        weight: previous?.weight ?? 0,
      };
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(hook.timeoutSeconds * 1000),
        });
        const text = await boundedText(res);
        out[hook.name] = res.status >= 200 && res.status < 300 ? undefined : `HTTP ${res.status} ${text.slice(0, 200)}`.trim();
      } catch (e) {
        out[hook.name] = (e as Error).name === 'TimeoutError' ? `no answer within ${hook.timeoutSeconds}s` : (e as Error).message;
      }
    }
    return out;
  }
}

type WebhookResults = { [name: string]: string | undefined };

function targetOf(cr: KubeObject, plan: RolloutPlan) {
  return { name: cr.metadata.name, namespace: cr.metadata.namespace, stableVersion: plan.stableVersion, canaryVersion: plan.canaryVersion };
}

/** The rollout-action annotation's value, if it is one we know. */
export function actionOf(cr: KubeObject): Action | undefined {
  const value = cr.metadata.annotations?.[ROLLOUT_ACTION_ANNOTATION];
  return (Object.values(ROLLOUT_ACTIONS) as string[]).includes(value) ? value as Action : undefined;
}

async function boundedText(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      break;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
