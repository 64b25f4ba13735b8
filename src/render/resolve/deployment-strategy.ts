/**
 * The raw Deployments' rollout strategy (`deploymentStrategy`) as Kubernetes JSON. Internal.
 *
 * cdk8s-plus's `DeploymentStrategy` keeps its fields private (only its `@internal` `_toKube()`
 * reads them), so the strategy is read through cdk8s-plus's public path instead: a `Deployment`
 * with that strategy, in an app of its own that is never synthesized, rendered by
 * `ApiObject.toJson()`. The JSON is then checked as Kubernetes would.
 */
import { ApiObject, App, Chart } from 'cdk8s';
import { Deployment, DeploymentStrategy } from 'cdk8s-plus-33';

/** Our default: never below the serving capacity during a rollout (start one new pod, then stop an old one). */
export const DEFAULT_DEPLOYMENT_STRATEGY = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } };

/** A strategy's `spec.strategy` as cdk8s-plus renders it into a Deployment. */
export function renderedStrategy(strategy: DeploymentStrategy): { type: string; rollingUpdate?: { maxSurge?: unknown; maxUnavailable?: unknown } } {
  const chart = new Chart(new App(), 'strategy');
  const deployment = new Deployment(chart, 'Probe', { strategy, containers: [{ image: 'strategy-probe' }] });
  return ApiObject.of(deployment).toJson().spec.strategy;
}

/**
 * The raw Deployments' `strategy`; serverless mode refuses one (Knative rolls out revisions).
 *
 * @throws if a rolling update's maxSurge or maxUnavailable is not a non-negative integer or a percent up to 100%
 */
export function resolveDeploymentStrategy(serverless: boolean, strategy?: DeploymentStrategy): Record<string, unknown> {
  if (!strategy) return structuredClone(DEFAULT_DEPLOYMENT_STRATEGY);
  if (serverless) {
    throw new Error("'deploymentStrategy' sets how raw mode's Deployments roll out; in serverless mode Knative rolls out each revision itself (with traffic split through a CanaryRollout): remove it, or use 'mode: DeploymentMode.RAW'");
  }
  const kube = renderedStrategy(strategy);
  if (!kube.rollingUpdate) return { type: kube.type };
  const { maxSurge, maxUnavailable } = kube.rollingUpdate;
  for (const [name, v] of [['maxSurge', maxSurge], ['maxUnavailable', maxUnavailable]] as const) {
    const ok = typeof v === 'number' ? Number.isInteger(v) && v >= 0 : /^(100|[1-9]?[0-9])%$/.test(String(v));
    if (!ok) throw new Error(`'deploymentStrategy' ${name} must be a non-negative integer or a percent from 0% to 100%, got ${String(v)}`);
  }
  return { type: kube.type, rollingUpdate: { maxSurge, maxUnavailable } };
}
