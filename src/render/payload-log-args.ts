/**
 * Our server's `--payload-log-*` arguments for one component of an endpoint: the sink and mode,
 * and the CloudEvent attributes KServe's logger sets (`ce-inferenceservicename` the endpoint's
 * name, `ce-namespace`, `ce-endpoint` the CanaryRollout version). `ce-component` follows the
 * server's `--mode` (predictor, transformer or explainer). Internal.
 */
import * as contract from '../contract';
import type { ResolvedPayloadLog } from './resolve/payload-logging';
import type { ResolvedEndpoint } from './resolve/resolved-endpoint';

export function payloadLogArgs(resolved: ResolvedEndpoint, log: ResolvedPayloadLog): string[] {
  const f = contract.SERVER_FLAGS;
  const args = [f.payloadLogUrl, log.url, f.payloadLogMode, log.mode, f.payloadLogInferenceService, resolved.name];
  if (resolved.namespace) args.push(f.payloadLogNamespace, resolved.namespace);
  if (resolved.version !== undefined) args.push(f.payloadLogEndpoint, resolved.version);
  if (log.sampleRate !== undefined) args.push(f.payloadLogSampleRate, String(log.sampleRate));
  return args;
}
