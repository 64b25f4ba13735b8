/**
 * A per-chart registry of endpoints, so a chart that declares two endpoints for one model
 * (the usual way to get a second version "side by side") fails synth and points to
 * CanaryRollout. Internal.
 */
import { Chart } from 'cdk8s';
import { IConstruct } from 'constructs';
import { ResolvedEndpoint } from './resolved-endpoint';
import { IngressKind } from '../../constructs/endpoint-ingress';

interface Entry {
  readonly path: string;
  readonly name: string;
  readonly namespace: string;
  readonly modelName: string;
  readonly host: string;
  /** Where the host is published: the ingress kind and its gateway. */
  readonly entry: string;
}

const REGISTRIES = new WeakMap<Chart, Entry[]>();

/**
 * Records an endpoint in its chart. The first endpoint of a chart adds a validation that
 * compares them all when cdk8s synthesizes the chart.
 */
export function registerEndpoint(endpoint: IConstruct, resolved: Pick<ResolvedEndpoint, 'name' | 'namespace' | 'modelName' | 'host' | 'ingress'>): void {
  const chart = Chart.of(endpoint);
  let entries = REGISTRIES.get(chart);
  if (!entries) {
    const created: Entry[] = [];
    entries = created;
    REGISTRIES.set(chart, created);
    chart.node.addValidation({ validate: () => endpointConflicts(created) });
  }
  const ingress = resolved.ingress;
  entries.push({
    path: endpoint.node.path,
    name: resolved.name,
    namespace: resolved.namespace ?? 'default',
    modelName: resolved.modelName,
    host: resolved.host,
    entry: ingress._kind === IngressKind.NONE ? 'none' : `${ingress._kind}:${ingress._gatewayNamespace ?? ''}/${ingress._gateway ?? 'default'}`,
  });
}

const HINT = 'two versions of one model belong in one CanaryRollout (a stable and a canary version with \'trafficPercent\'), not in two endpoints';

function endpointConflicts(entries: Entry[]): string[] {
  const errors: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      const a = entries[i];
      const b = entries[j];
      const pair = `endpoints '${a.path}' and '${b.path}'`;
      if (a.host === b.host && a.modelName === b.modelName) {
        errors.push(`${pair} both serve model '${a.modelName}' on host '${a.host}': ${HINT}`);
      } else if (a.host === b.host && a.entry === b.entry) {
        errors.push(`${pair} both claim host '${a.host}' through the same ingress: ${HINT}; for two different models, give each its own 'host'`);
      } else if (a.name === b.name && a.namespace === b.namespace) {
        errors.push(`${pair} are both named '${a.name}' in namespace '${a.namespace}': ${HINT}; for two different models, give each its own 'name'`);
      }
    }
  }
  return errors;
}
