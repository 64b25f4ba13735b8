/**
 * The API server's own record of writes: the test cluster's audit log (test/cluster/cluster.js
 * turns it on for every request that changes something). Counts what the controller sent, from
 * the server's side, by its User-Agent (`cdk8s-model-serving-controller/<pod name>`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { CONTROLLER_FIELD_MANAGER } from '../../src/contract';
import type { ClusterState } from '../cluster/server-check';

export interface AuditedWrite {
  readonly verb: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly userAgent: string;
  readonly code: number;
}

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

/** Every write in the audit log so far (ResponseComplete stage). */
export function auditedWrites(state: ClusterState): AuditedWrite[] {
  const file = path.join(state.dir, 'logs', 'audit.log');
  if (!fs.existsSync(file)) throw new Error(`no audit log at ${file}: test/cluster/cluster.js starts kube-apiserver with --audit-log-path`);
  const out: AuditedWrite[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line);
    if (e.stage !== 'ResponseComplete' || !WRITE_VERBS.has(e.verb)) continue;
    out.push({
      verb: e.verb,
      resource: e.objectRef?.resource ?? '',
      subresource: e.objectRef?.subresource,
      namespace: e.objectRef?.namespace,
      name: e.objectRef?.name,
      userAgent: e.userAgent ?? '',
      code: e.responseStatus?.code ?? 0,
    });
  }
  return out;
}

/** Writes a controller (any replica, or the one named `pod`) sent about objects in `namespace`; Leases excluded. */
export function controllerWrites(state: ClusterState, namespace: string, pod?: string): AuditedWrite[] {
  const agent = pod ? `${CONTROLLER_FIELD_MANAGER}/${pod}` : `${CONTROLLER_FIELD_MANAGER}/`;
  return auditedWrites(state).filter((w) => (pod ? w.userAgent === agent : w.userAgent.startsWith(agent))
    && w.namespace === namespace && w.resource !== 'leases');
}
