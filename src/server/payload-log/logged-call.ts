/**
 * One inference call logged as KServe's logger does it: the request on arrival, the answer
 * only when the call succeeds, both under one new event id. Used by the transformer and
 * explainer components (the predictor's core logs its own calls, src/server/inference/core.ts).
 */
import { PayloadLogger } from './payload-logger';

export async function loggedCall<T>(
  log: PayloadLogger | undefined, model: string, payload: unknown, run: () => Promise<T>, answerOf: (result: T) => unknown = (r) => r,
): Promise<T> {
  if (!log) return run();
  const id = log.newId();
  log.request(id, model, payload);
  const result = await run();
  log.response(id, model, answerOf(result));
  return result;
}
