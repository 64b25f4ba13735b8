/**
 * CanaryRollout, serverless mode: ONE Knative Service whose template is the newest version
 * (explicit revision name `<name>-<version>`) and whose traffic block pins the stable and the
 * canary revisions by name, with tags; an Istio VirtualService in front (header routes to the
 * tagged routes, shadow mirroring) and a NetworkPolicy.
 *
 * A Knative template describes one revision only: the stable revision of a canary step
 * exists because an earlier deploy created it. See the README, "CanaryRollout".
 */
import { ApiObject, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { addAgentSidecar } from './agent-sidecar';
import { endpointNetworkPolicy } from './network-policy';
import { objectLabels } from './pod-template';
import { ResolvedEndpoint } from './resolve/resolved-endpoint';
import { KNATIVE, knativeServiceSpec, modelPathMatches } from './serverless';
import { IngressKind } from '../constructs/endpoint-ingress';
import { VirtualService, VirtualServiceSpecHttp } from '../imports/istio-networking.istio.io';
import { Service as KnativeService } from '../imports/knative-serving.knative.dev';

export interface ResolvedRetries {
  readonly attempts: number;
  readonly perTryTimeout?: string;
  readonly retryOn: string;
}

/** Everything a canary synthesizer reads: both versions resolved, and the split. */
export interface CanaryPlan {
  readonly stable: ResolvedEndpoint;
  readonly canary?: ResolvedEndpoint;
  /** The canary's share (or mirrored share, with `shadow`). */
  readonly percent: number;
  readonly shadow: boolean;
  readonly header: string;
  readonly timeoutSeconds: number;
  readonly retries: ResolvedRetries;
}

/** Tags of the Knative traffic targets, also the header values and the DestinationRule subsets. */
export const TRACKS = { stable: 'stable', canary: 'canary' };

/** The labels of objects shared by both versions: no version label. */
export function sharedLabels(resolved: ResolvedEndpoint): Record<string, string> {
  return objectLabels({ ...resolved, version: undefined });
}

/** Istio's retry and timeout settings of one route. */
export function routePolicy(plan: CanaryPlan): Pick<VirtualServiceSpecHttp, 'timeout' | 'retries'> {
  return {
    timeout: `${plan.timeoutSeconds}s`,
    retries: plan.retries.attempts === 0
      ? { attempts: 0 }
      : {
        attempts: plan.retries.attempts,
        retryOn: plan.retries.retryOn,
        ...(plan.retries.perTryTimeout ? { perTryTimeout: plan.retries.perTryTimeout } : {}),
      },
  };
}

/**
 * The one route of a stopped endpoint: the model's paths answer 503, as a stopped
 * ModelEndpoint's do.
 */
export function stoppedRoute(resolved: ResolvedEndpoint): VirtualServiceSpecHttp {
  return {
    name: 'stopped',
    match: modelPathMatches(resolved),
    directResponse: { status: 503, body: { string: JSON.stringify({ error: `endpoint ${resolved.name} is stopped` }) } },
  };
}

/** The Knative revision name of a version: `<service>-<version>`, as Knative requires. */
export function revisionName(resolved: ResolvedEndpoint): string {
  return `${resolved.name}-${resolved.version}`;
}

export function synthesizeCanaryServerless(scope: Construct, plan: CanaryPlan): void {
  const { stable, canary } = plan;
  const viaIstio = stable.ingress._kind === IngressKind.ISTIO;
  const labels = sharedLabels(stable);
  const namespace = stable.namespace ?? 'default';
  const service = new ApiObject(scope, 'Resource', {
    apiVersion: KnativeService.GVK.apiVersion,
    kind: KnativeService.GVK.kind,
    metadata: {
      name: stable.name,
      namespace: stable.namespace,
      labels: { ...labels, ...(viaIstio ? { 'networking.knative.dev/visibility': 'cluster-local' } : {}) },
      annotations: { ...stable.annotations },
    },
    spec: Lazy.any({ produce: () => serviceSpec(plan) }),
  });
  // The template is the newest version's: the agent joins its revision; Knative routes each
  // revision to the port its own pod declares, so the split needs nothing more.
  const newest = canary ?? stable;
  if (newest.agent) addAgentSidecar(service, newest);

  if (viaIstio) {
    const tagHost = (tag: string) => `${tag}-${stable.name}.${namespace}.svc.cluster.local`;
    const toHost = (host: string) => [{
      destination: { host: KNATIVE.localGatewayHost, port: { number: 80 } },
      headers: { request: { set: { Host: host } } },
      weight: 100,
    }];
    const paths = modelPathMatches(stable);
    const http: VirtualServiceSpecHttp[] = [];
    for (const track of canary ? [TRACKS.canary, TRACKS.stable] : [TRACKS.stable]) {
      http.push({
        name: `${track}-by-header`,
        match: paths.map(m => ({ ...m, headers: { [plan.header]: { exact: track } } })),
        route: toHost(tagHost(track)),
        ...routePolicy(plan),
      });
    }
    http.push({
      name: 'predictor',
      match: paths,
      // Knative's route splits by the traffic block; Istio only mirrors.
      route: toHost(`${stable.name}.${namespace}.svc.cluster.local`),
      ...routePolicy(plan),
      ...(canary && plan.shadow
        ? {
          // Istio appends "-shadow" to the Host of mirrored requests, so Knative's gateway
          // could not route them by host: mirror straight to the canary revision's Service.
          mirror: { host: `${revisionName(canary)}.${namespace}.svc.cluster.local`, port: { number: 80 } },
          mirrorPercentage: { value: plan.percent },
        }
        : {}),
    });
    new VirtualService(scope, 'VirtualService', {
      metadata: { name: stable.name, namespace: stable.namespace, labels, annotations: { ...stable.annotations } },
      spec: {
        hosts: [stable.host],
        gateways: [stable.ingress._gateway ?? KNATIVE.ingressGateway],
        http: stable.stopped ? [stoppedRoute(stable)] : http,
      },
    });
  }
  if (stable.networkPolicy) endpointNetworkPolicy(scope, { ...stable, version: undefined }, []);
}

function serviceSpec(plan: CanaryPlan): Record<string, unknown> {
  const { stable, canary } = plan;
  // The template is the newest version: the canary while there is one, else the stable.
  const newest = canary ?? stable;
  const spec = knativeServiceSpec(newest) as { template: { metadata: Record<string, unknown>; spec: unknown } };
  const template = { ...spec.template, metadata: { name: revisionName(newest), ...spec.template.metadata } };
  const traffic: Array<Record<string, unknown>> = [];
  if (!canary) {
    traffic.push({ revisionName: revisionName(stable), percent: 100, tag: TRACKS.stable });
  } else {
    const canaryPercent = plan.shadow ? 0 : plan.percent;
    traffic.push({ revisionName: revisionName(stable), percent: 100 - canaryPercent, tag: TRACKS.stable });
    traffic.push({ revisionName: revisionName(canary), percent: canaryPercent, tag: TRACKS.canary });
  }
  return { template, traffic };
}
