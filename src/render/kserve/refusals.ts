/**
 * The props KServe has no field for: each one set with `target: ServingTarget.KSERVE` is a
 * synth-time error naming the prop, why KServe cannot carry it, and the fix. The README's
 * "Deploying to a cluster that runs KServe" table lists the same decisions.
 */
import { Duration } from 'cdk8s';
import { DeploymentStrategy } from 'cdk8s-plus-33';
import { EndpointIngress, IngressKind } from '../../constructs/endpoint-ingress';
import { ScaleMetric } from '../../constructs/endpoint-options';
import { StorageAuth } from '../../constructs/storage-auth';
import { ResolvedEndpoint } from '../resolve/resolved-endpoint';

/** What every message ends with: the other way out. */
const OR_NATIVE = "or use 'target: ServingTarget.NATIVE'";

/** The endpoint-level props a ModelEndpoint or a CanaryRollout version passes, as the user set them. */
export interface KServeEndpointInput {
  readonly host?: string;
  readonly domain?: string;
  readonly ingress?: EndpointIngress;
  readonly storageCredentials?: unknown;
  readonly storageAuth?: StorageAuth;
  readonly deploymentStrategy?: DeploymentStrategy;
  readonly scaleDownDelay?: Duration;
  readonly initialScale?: number;
  readonly startupTimeout?: Duration;
  readonly runtimeShippedByKServe: boolean;
}

/** Throws on the first endpoint prop KServe cannot express. */
export function assertEndpointExpressible(p: KServeEndpointInput, r: ResolvedEndpoint): void {
  if (p.host !== undefined) {
    throw new Error(`'host' has no KServe field: KServe names the host from 'ingress.domainTemplate' in its inferenceservice-config ConfigMap; remove 'host', ${OR_NATIVE}`);
  }
  if (p.domain !== undefined) {
    throw new Error(`'domain' has no KServe field: KServe takes it from 'ingress.ingressDomain' in its inferenceservice-config ConfigMap; remove 'domain', ${OR_NATIVE}`);
  }
  const ingress = p.ingress;
  if (ingress && ingress._kind !== IngressKind.ISTIO && ingress._kind !== IngressKind.NONE) {
    throw new Error(`'ingress' must be EndpointIngress.istio() or EndpointIngress.none() with KServe: KServe creates the ingress objects itself, choosing Gateway API or an Ingress class from its inferenceservice-config ConfigMap; ${OR_NATIVE}`);
  }
  if (ingress?._gateway !== undefined) {
    throw new Error(`'ingress' names the Istio gateway '${ingress._gateway}', which KServe takes from 'ingress.ingressGateway' in its inferenceservice-config ConfigMap, not per InferenceService; use EndpointIngress.istio() without a gateway, ${OR_NATIVE}`);
  }
  if (p.storageCredentials !== undefined || p.storageAuth?._secret !== undefined) {
    const prop = p.storageCredentials !== undefined ? "'storageCredentials'" : `'storageAuth' ${p.storageAuth!._describe}`;
    throw new Error(`${prop} mounts a secret into our pods, which KServe has no field for: KServe's storage initializer reads the credentials of the secrets listed on the pods' service account; set 'serviceAccount' to one that lists the secret (https://kserve.github.io/website/latest/modelserving/storage/s3/s3/), ${OR_NATIVE}`);
  }
  if (!r.serverless && p.scaleDownDelay !== undefined) {
    throw new Error(`'scaleDownDelay' has no KServe field in raw mode (KServe's HorizontalPodAutoscaler has no behavior settings); remove it, use 'mode: DeploymentMode.SERVERLESS' (where it becomes Knative's scale-down-delay annotation), ${OR_NATIVE}`);
  }
  if (!r.serverless && p.initialScale !== undefined) {
    throw new Error(`'initialScale' has no KServe field in raw mode: KServe starts the Deployment at 'minReplicas'; remove it, ${OR_NATIVE}`);
  }
  if (p.startupTimeout !== undefined && p.runtimeShippedByKServe) {
    throw new Error(`'startupTimeout' sets our startup probe, but runtime '${r.servingRuntime?.name}' is one KServe ships, with its own probes; remove it, set 'runtime' to a ServingRuntime.custom() (emitted as a ServingRuntime with the probe), ${OR_NATIVE}`);
  }
  if (r.keda !== undefined) {
    // KServe's KEDA mode (annotation serving.kserve.io/autoscalerClass: keda, with Prometheus queries
    // in 'autoScaling.metrics[].external.metric', imports/kserve-inferenceservices.yaml) makes the
    // ScaledObject itself, over KServe's pods; it has no HTTP add-on route for scale from zero.
    throw new Error(`'autoscaler: Autoscaler.KEDA' is not emitted for KServe yet: KServe makes its own ScaledObject from 'serving.kserve.io/autoscalerClass: keda' and 'autoScaling.metrics', and has no route through KEDA's HTTP add-on for 'minReplicas: 0'; remove 'autoscaler' (KServe then uses its HorizontalPodAutoscaler), ${OR_NATIVE}`);
  }
  if (!Number.isInteger(r.scaleTarget)) {
    throw new Error(`'scaleTarget' must be an integer with KServe (its 'scaleTarget' is an int32), got ${r.scaleTarget}`);
  }
  if (!r.serverless && (r.scaleMetric === ScaleMetric.CONCURRENCY || r.scaleMetric === ScaleMetric.RPS)) {
    // resolveScaling refuses this already; kept for the table's completeness.
    throw new Error(`'scaleMetric' ${r.scaleMetric} needs Knative (serverless mode)`);
  }
}

/** The CanaryRollout props beyond the versions, as the user set them. */
export interface KServeCanaryInput {
  readonly serverless: boolean;
  readonly hasCanary: boolean;
  readonly shadow?: boolean;
  readonly versionHeader?: string;
  readonly retries?: unknown;
  readonly security?: unknown;
  readonly stopped?: boolean;
}

/** Throws on the first CanaryRollout prop KServe's canary cannot express. */
export function assertCanaryExpressible(p: KServeCanaryInput): void {
  if (p.hasCanary && !p.serverless) {
    throw new Error(`'canary' needs serverless mode with KServe: 'canaryTrafficPercent' splits traffic between Knative revisions, and KServe's raw deployments have no canary; use 'mode: DeploymentMode.SERVERLESS', ${OR_NATIVE}`);
  }
  if (p.shadow) {
    throw new Error(`'shadow' has no KServe field: KServe's canary splits traffic, it cannot mirror it; remove 'shadow', ${OR_NATIVE}`);
  }
  if (p.versionHeader !== undefined) {
    throw new Error(`'versionHeader' has no KServe field: KServe pins a request to a revision by its tagged host (annotation serving.kserve.io/enable-tag-routing), not by a header; remove it, ${OR_NATIVE}`);
  }
  if (p.retries !== undefined) {
    throw new Error(`'retries' has no KServe field: KServe writes the routes itself; remove it, ${OR_NATIVE}`);
  }
  if (p.security !== undefined) {
    throw new Error(`'security' has no KServe field: KServe has no mTLS or authorization settings per InferenceService; add an EndpointSecurity aimed at the pods yourself, remove it, ${OR_NATIVE}`);
  }
}

/** Throws when a transformer's or explainer's option has no KServe counterpart. */
export function assertComponentExpressible(kind: string, options: { readonly inProcess?: boolean; readonly collocated?: boolean }): void {
  if (options.inProcess) {
    throw new Error(`the ${kind}'s 'inProcess' runs it inside our predictor, which an InferenceService cannot say (its ${kind} is a component of its own); remove 'inProcess', ${OR_NATIVE}`);
  }
  if (options.collocated) {
    throw new Error(`the ${kind}'s 'collocated' is not emitted for KServe yet (KServe's own collocation names the container 'transformer-container' in the predictor and needs its ServingRuntime's cooperation); remove 'collocated', ${OR_NATIVE}`);
  }
}
