/**
 * A `logger` (PayloadLogging) validated into the settings our server's `--payload-log-*` flags
 * or KServe's `logger` field take: the endpoint's own (resolve-endpoint.ts) and a transformer's
 * or explainer's (issue 18: "on an endpoint and per component").
 */
import type { PayloadLogging } from '../../constructs/payload-logging';
import * as contract from '../../contract';

/** What a component sends, and where. `sampleRate` is set only below 1. */
export interface ResolvedPayloadLog {
  readonly url: string;
  readonly mode: string;
  readonly sampleRate?: number;
}

/**
 * `logger`, validated.
 *
 * @param kserve KServe's logger has no sampling, so a `sampleRate` below 1 is refused there
 * @param owner whose `logger` it is in messages: '' for the endpoint, "the transformer's " for a component
 */
export function resolveLoggerSettings(logger: PayloadLogging, kserve: boolean | undefined, owner: string = ''): ResolvedPayloadLog {
  const prop = 'logger';
  let url: URL | undefined;
  try {
    url = new URL(logger.url);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error(`${owner}'${prop}.url' must be an http:// or https:// URL, got '${logger.url}'`);
  }
  const mode = logger.mode ?? 'all';
  if (!Object.values(contract.PAYLOAD_LOG_MODES).includes(mode)) {
    throw new Error(`${owner}'${prop}.mode' must be one of ${Object.values(contract.PAYLOAD_LOG_MODES).join(', ')}, got '${mode}'`);
  }
  const rate = logger.sampleRate;
  if (rate !== undefined && (!Number.isFinite(rate) || rate < 0 || rate > 1)) {
    throw new Error(`${owner}'${prop}.sampleRate' must be a number from 0 to 1 (the share of inferences logged), got ${rate}`);
  }
  if (rate !== undefined && rate < 1 && kserve) {
    throw new Error(`${owner}'${prop}.sampleRate' is ${rate}, but KServe's logger has no sampling (target: ServingTarget.KSERVE logs every inference); remove 'sampleRate', or use ServingTarget.NATIVE`);
  }
  return { url: logger.url, mode, ...(rate !== undefined && rate < 1 ? { sampleRate: rate } : {}) };
}
