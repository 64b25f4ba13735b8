/**
 * One logged payload as a CloudEvent in HTTP binary mode (CloudEvents HTTP protocol binding 1.0:
 * attributes as `ce-*` headers, the payload as the body), with the attributes KServe's logger
 * sets, so sinks written for KServe keep working. Source of the attribute set: kserve/kserve
 * pkg/logger/worker.go at 94b70edde64f309571fabf4996890863b762878a (`sendCloudEvent`: id, type,
 * source, extensions `inferenceservicename`, `namespace`, `component`, `endpoint`, `metadata`
 * as JSON; binary encoding; the time set at send).
 */
import { PayloadLogConfig } from './config';
import { PAYLOAD_LOG_EVENT_TYPES } from '../../contract';

export type PayloadKind = keyof typeof PAYLOAD_LOG_EVENT_TYPES;

/** What the inference path hands over: serialized later, off the request's path. */
export interface PayloadEvent {
  readonly kind: PayloadKind;
  /** Shared by a request and its response (KServe: the `ce-id`). */
  readonly id: string;
  readonly model: string;
  readonly payload: unknown;
}

/** The `ce-*` and content headers of `event`. */
export function cloudEventHeaders(event: PayloadEvent, config: PayloadLogConfig, source: string, now: Date): Record<string, string> {
  return {
    'content-type': 'application/json',
    'ce-specversion': '1.0',
    'ce-id': event.id,
    'ce-type': PAYLOAD_LOG_EVENT_TYPES[event.kind],
    'ce-source': source,
    'ce-time': now.toISOString(),
    'ce-inferenceservicename': config.inferenceService ?? event.model,
    'ce-namespace': config.namespace,
    'ce-component': config.component,
    'ce-endpoint': config.endpoint,
    // KServe sends the request headers it was told to keep; we keep none.
    'ce-metadata': '{}',
  };
}

/** JSON of a payload; typed arrays (binary tensor data) become plain arrays, 64-bit integers numbers or strings. */
export function payloadBody(payload: unknown): string {
  return typeof payload === 'string' ? payload : JSON.stringify(payload, (_key, value: unknown) => {
    if (typeof value === 'bigint') {
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    }
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      return Array.from(value as unknown as ArrayLike<unknown>);
    }
    return value;
  });
}
