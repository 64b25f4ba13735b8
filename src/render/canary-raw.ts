/**
 * CanaryRollout, raw mode: one Deployment per version (`<name>-<version>`, pods labelled with
 * their version) with its HorizontalPodAutoscaler or KEDA ScaledObject, one Service in front of
 * both, and the split: an Istio DestinationRule with `stable` and `canary` subsets and a VirtualService with weighted routes, header routes and
 * shadow mirroring; or, with Gateway API, one Service per track and a weighted HTTPRoute.
 *
 * Pods carry the version label, not the track: promoting the canary changes only which
 * subset (or Service) selects it, so its pods are not restarted.
 */
import { ApiObject, Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { addAgentSidecar } from './agent-sidecar';
import { CanaryPlan, routePolicy, sharedLabels, stoppedRoute, TRACKS } from './canary-serverless';
import * as contract from '../contract';
import { kedaScaledObject } from './keda';
import { endpointNetworkPolicy } from './network-policy';
import { objectLabels, podSpec, selectorLabels } from './pod-template';
import { endpointAutoscaler, servicePorts } from './raw';
import { ResolvedEndpoint } from './resolve/resolved-endpoint';
import { modelPathMatches } from './serverless';
import { IngressKind } from '../constructs/endpoint-ingress';
import { InferenceProtocol } from '../constructs/endpoint-options';
import { HttpRoute, HttpRouteSpecRules, HttpRouteSpecRulesFiltersType, HttpRouteSpecRulesMatchesHeadersType, HttpRouteSpecRulesMatchesPathType } from '../imports/gateway-gateway.networking.k8s.io';
import { DestinationRule, VirtualService, VirtualServiceSpecHttp } from '../imports/istio-networking.istio.io';

const DEFAULT_ISTIO_GATEWAY = 'istio-system/ingressgateway';

export function synthesizeCanaryRaw(scope: Construct, plan: CanaryPlan): void {
  const { stable } = plan;
  const labels = sharedLabels(stable);
  const metadata = (name: string, extra: Record<string, string> = {}) => ({
    name,
    namespace: stable.namespace,
    labels: { ...labels, ...extra },
    annotations: { ...stable.annotations },
  });
  const ports = sharedServicePorts(plan);

  // The primary object is the one Service both versions share.
  new k8s.KubeService(scope, 'Resource', {
    metadata: metadata(stable.name),
    spec: { type: 'ClusterIP', selector: selectorLabels(stable), ports },
  });

  const tracks = tracksOf(plan);
  for (const [track, resolved] of tracks) {
    const workload = versionWorkload(scope, track, resolved);
    if (resolved.agent) addAgentSidecar(workload, resolved);
  }

  if (stable.networkPolicy) {
    endpointNetworkPolicy(scope, { ...stable, version: undefined }, ports.map(p => p.targetPort?.value as number));
  }

  const grpc = stable.protocol === InferenceProtocol.GRPC_V2;
  const port = grpc ? contract.GRPC_PORT : 80;
  if (stable.ingress._kind === IngressKind.GATEWAY_API) {
    gatewayApiRoute(scope, plan, metadata, port);
  } else {
    istioRoutes(scope, plan, metadata(stable.name), port);
  }
}

/** The versions in play, each with its track. */
function tracksOf(plan: CanaryPlan): Array<[string, ResolvedEndpoint]> {
  const tracks: Array<[string, ResolvedEndpoint]> = [[TRACKS.stable, plan.stable]];
  if (plan.canary) tracks.push([TRACKS.canary, plan.canary]);
  return tracks;
}

function capitalized(track: string): string {
  return track.charAt(0).toUpperCase() + track.slice(1);
}

/**
 * The ports of the Service both versions share. When only one version has the agent sidecar in
 * front of its runtime, the `http` port cannot target both the agent (9081) and the other
 * version's server: it keeps the other version's, and an `agent` port targets the agent, which
 * the routes send that version's traffic to (`trackPort`; with Gateway API each track's Service
 * has its own version's ports, and this one only admits the agent through the NetworkPolicy).
 * Callers outside the mesh bypass the VirtualService, and with it the split, as they always do.
 */
function sharedServicePorts(plan: CanaryPlan): k8s.ServicePort[] {
  if (!agentsDiffer(plan)) return servicePorts(plan.stable);
  const plain = plan.stable.agent ? plan.canary! : plan.stable;
  return [...servicePorts(plain), AGENT_SERVICE_PORT];
}

/** Whether one version has the agent sidecar and the other has not. */
function agentsDiffer(plan: CanaryPlan): boolean {
  return plan.canary !== undefined && (plan.stable.agent === undefined) !== (plan.canary.agent === undefined);
}

/** The shared Service's port to the agent sidecar, when only one version has it. */
const AGENT_SERVICE_PORT: k8s.ServicePort = {
  name: 'agent', port: contract.AGENT.port, targetPort: k8s.IntOrString.fromNumber(contract.AGENT.port), appProtocol: 'http', protocol: 'TCP',
};

/** The shared Service's port the routes send one version's traffic to. */
function trackPort(plan: CanaryPlan, resolved: ResolvedEndpoint, port: number): number {
  return resolved.agent && agentsDiffer(plan) ? AGENT_SERVICE_PORT.port : port;
}

/** The Deployment, HPA and PDB of one version; returns the Deployment. */
function versionWorkload(scope: Construct, track: string, resolved: ResolvedEndpoint): ApiObject {
  const name = `${resolved.name}-${resolved.version}`;
  const podLabels = objectLabels(resolved);
  const selector = { ...selectorLabels(resolved), [contract.LABELS.version]: resolved.version! };
  const metadata = {
    name,
    namespace: resolved.namespace,
    labels: { ...podLabels, [contract.LABELS.track]: track },
    annotations: { ...resolved.annotations },
  };
  // Stopped: no replicas and no autoscaler, as a stopped raw ModelEndpoint.
  const autoscaled = !resolved.stopped && resolved.minReplicas < resolved.maxReplicas;
  const id = capitalized(track);
  // Plain ApiObject: the pod spec is already Kubernetes JSON (as in raw ModelEndpoints).
  const deployment = new ApiObject(scope, id, {
    apiVersion: k8s.KubeDeployment.GVK.apiVersion,
    kind: k8s.KubeDeployment.GVK.kind,
    metadata,
    spec: Lazy.any({
      produce: () => ({
        replicas: resolved.stopped ? 0 : autoscaled ? resolved.initialScale : resolved.minReplicas,
        selector: { matchLabels: selector },
        strategy: resolved.deploymentStrategy,
        progressDeadlineSeconds: Math.max(600, resolved.startupSeconds + 60),
        template: {
          metadata: { labels: podLabels, annotations: { ...resolved.annotations } },
          spec: podSpec(resolved),
        },
      }),
    }),
  });
  // KEDA: one ScaledObject per version, on that version's series (the HPA otherwise).
  if (autoscaled && resolved.keda) kedaScaledObject(scope, `${id}ScaledObject`, resolved, metadata, name);
  else if (autoscaled) endpointAutoscaler(scope, `${id}Autoscaler`, resolved, metadata, name);
  if (!resolved.stopped && resolved.maxReplicas > 1) {
    new k8s.KubePodDisruptionBudget(scope, `${id}DisruptionBudget`, {
      metadata,
      spec: { maxUnavailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: selector } },
    });
  }
  return deployment;
}

/** The DestinationRule with a subset per track and the VirtualService that splits between them. */
function istioRoutes(scope: Construct, plan: CanaryPlan, metadata: k8s.ObjectMeta, port: number): void {
  const { stable, canary } = plan;
  const serviceHost = `${stable.name}.${stable.namespace ?? 'default'}.svc.cluster.local`;
  const tracks = tracksOf(plan);
  new DestinationRule(scope, 'DestinationRule', {
    metadata,
    spec: {
      host: serviceHost,
      subsets: tracks.map(([track, r]) => ({ name: track, labels: { [contract.LABELS.version]: r.version! } })),
    },
  });

  const trackPorts: Record<string, number> = Object.fromEntries(tracks.map(([track, r]) => [track, trackPort(plan, r, port)]));
  const destination = (track: string) => ({ host: serviceHost, subset: track, port: { number: trackPorts[track] } });
  const paths = modelPathMatches(stable);
  const http: VirtualServiceSpecHttp[] = [];
  for (const [track] of canary ? [[TRACKS.canary], [TRACKS.stable]] : [[TRACKS.stable]]) {
    http.push({
      name: `${track}-by-header`,
      match: paths.map(m => ({ ...m, headers: { [plan.header]: { exact: track } } })),
      route: [{ destination: destination(track), weight: 100 }],
      ...routePolicy(plan),
    });
  }
  let route;
  if (!canary) {
    route = [{ destination: destination(TRACKS.stable), weight: 100 }];
  } else if (plan.shadow) {
    route = [{ destination: destination(TRACKS.stable), weight: 100 }];
  } else {
    route = [
      { destination: destination(TRACKS.stable), weight: 100 - plan.percent },
      { destination: destination(TRACKS.canary), weight: plan.percent },
    ];
  }
  http.push({
    name: 'predictor',
    match: paths,
    route,
    ...routePolicy(plan),
    ...(canary && plan.shadow ? { mirror: destination(TRACKS.canary), mirrorPercentage: { value: plan.percent } } : {}),
  });

  // Callers inside the mesh reach the Service by name; the `mesh` gateway splits their traffic too.
  const external = stable.ingress._kind === IngressKind.ISTIO;
  new VirtualService(scope, 'VirtualService', {
    metadata,
    spec: {
      hosts: external ? [stable.host, serviceHost] : [serviceHost],
      gateways: external ? [stable.ingress._gateway ?? DEFAULT_ISTIO_GATEWAY, 'mesh'] : ['mesh'],
      http: stable.stopped ? [stoppedRoute(stable)] : http,
    },
  });
}

/** One Service per track and an HTTPRoute with weighted backends, header rules and a mirror filter. */
function gatewayApiRoute(
  scope: Construct,
  plan: CanaryPlan,
  metadata: (name: string, extra?: Record<string, string>) => k8s.ObjectMeta,
  port: number,
): void {
  const { stable, canary } = plan;
  const tracks = tracksOf(plan);
  const serviceName = (track: string) => `${stable.name}-${track}`;
  for (const [track, r] of tracks) {
    new k8s.KubeService(scope, `${capitalized(track)}Service`, {
      metadata: metadata(serviceName(track), { [contract.LABELS.track]: track }),
      spec: {
        type: 'ClusterIP',
        selector: { ...selectorLabels(r), [contract.LABELS.version]: r.version! },
        // Its own version's ports: `http` targets the agent sidecar where that version has one.
        ports: servicePorts(r),
      },
    });
  }
  const prefixes = modelPathMatches(stable).map(m => m.uri.prefix);
  const timeouts = { timeouts: { request: `${plan.timeoutSeconds}s` } };
  const rules: HttpRouteSpecRules[] = [];
  for (const [track] of canary ? [[TRACKS.canary], [TRACKS.stable]] : [[TRACKS.stable]]) {
    rules.push({
      matches: prefixes.map(value => ({
        path: { type: HttpRouteSpecRulesMatchesPathType.PATH_PREFIX, value },
        headers: [{ type: HttpRouteSpecRulesMatchesHeadersType.EXACT, name: plan.header, value: track }],
      })),
      backendRefs: [{ name: serviceName(track), port, weight: 1 }],
      ...timeouts,
    });
  }
  const split = canary && !plan.shadow
    ? [
      { name: serviceName(TRACKS.stable), port, weight: 100 - plan.percent },
      { name: serviceName(TRACKS.canary), port, weight: plan.percent },
    ]
    : [{ name: serviceName(TRACKS.stable), port, weight: 100 }];
  rules.push({
    matches: prefixes.map(value => ({ path: { type: HttpRouteSpecRulesMatchesPathType.PATH_PREFIX, value } })),
    backendRefs: split,
    ...(canary && plan.shadow
      ? {
        filters: [{
          type: HttpRouteSpecRulesFiltersType.REQUEST_MIRROR,
          requestMirror: { backendRef: { name: serviceName(TRACKS.canary), port }, percent: plan.percent },
        }],
      }
      : {}),
    ...timeouts,
  });
  new HttpRoute(scope, 'HTTPRoute', {
    metadata: metadata(stable.name),
    spec: {
      parentRefs: [{
        name: stable.ingress._gateway!,
        ...(stable.ingress._gatewayNamespace ? { namespace: stable.ingress._gatewayNamespace } : {}),
      }],
      hostnames: [stable.host],
      rules,
    },
  });
}
