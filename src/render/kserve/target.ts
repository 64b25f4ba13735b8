/**
 * Which target an endpoint synthesizes for: its `target` prop, else the app's cdk8s context
 * value, else our native objects.
 */
import { IConstruct } from 'constructs';
import { ServingTarget } from '../../constructs/serving-target';
import { KSERVE_EMIT } from '../../contract';

export function resolveTarget(scope: IConstruct, target?: ServingTarget): ServingTarget {
  if (target !== undefined) return target;
  const fromContext = scope.node.tryGetContext(KSERVE_EMIT.targetContextKey);
  if (fromContext === undefined) return ServingTarget.NATIVE;
  const allowed = Object.values(ServingTarget) as string[];
  if (!allowed.includes(fromContext)) {
    throw new Error(`the cdk8s context value '${KSERVE_EMIT.targetContextKey}' must be one of ${allowed.map(v => `'${v}'`).join(', ')}, got '${String(fromContext)}'`);
  }
  return fromContext as ServingTarget;
}
