/**
 * Which workloads of an app call an endpoint, by Istio principal. An InferenceGraph records its
 * router here and every EndpointSecurity of that endpoint admits it, whichever of the two the app
 * creates first, so a graph never meets a 403 from a policy it was not told about. Keyed by the
 * endpoint construct itself.
 */
import type { IConstruct } from 'constructs';

type Admit = (principal: string) => void;

const callers = new WeakMap<IConstruct, string[]>();
const admitters = new WeakMap<IConstruct, Admit[]>();

/** Records that `principal` calls `endpoint`; the endpoint's policies, present and future, admit it. */
export function recordCaller(endpoint: IConstruct, principal: string): void {
  const known = callers.get(endpoint) ?? [];
  if (known.includes(principal)) return;
  callers.set(endpoint, [...known, principal]);
  for (const admit of admitters.get(endpoint) ?? []) admit(principal);
}

/** Calls `admit` for every caller of `endpoint` recorded so far and for each one recorded later. */
export function admitCallers(endpoint: IConstruct, admit: Admit): void {
  for (const principal of callers.get(endpoint) ?? []) admit(principal);
  admitters.set(endpoint, [...(admitters.get(endpoint) ?? []), admit]);
}
