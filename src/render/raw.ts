/**
 * Raw mode (KServe "Standard"): Deployment, Service, HorizontalPodAutoscaler (or KEDA's objects),
 * PodDisruptionBudget, NetworkPolicy and the chosen ingress. No Knative or Istio object
 * unless the user picks Istio as the ingress.
 */
import { ApiObject, Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as contract from '../contract';
import { ingressPaths } from './ingress-paths';
import { interceptorBackend, interceptorExternalName, interceptorReferenceGrant, kedaAutoscaler } from './keda';
import { endpointNetworkPolicy } from './network-policy';
import { objectLabels, podSpec, selectorLabels } from './pod-template';
import { ResolvedEndpoint } from './resolve/resolved-endpoint';
import { runtimeServicePorts } from './runtime/pod';
import { isGrpc } from './runtime/resolve-runtime';
import { modelPathMatches } from './serverless';
import { IngressKind } from '../constructs/endpoint-ingress';
import { ScaleMetric } from '../constructs/endpoint-options';
import { HttpRoute, HttpRouteSpecRulesMatchesPathType } from '../imports/gateway-gateway.networking.k8s.io';
import { VirtualService } from '../imports/istio-networking.istio.io';

const SERVICE_HTTP_PORT = 80;
const DEFAULT_ISTIO_GATEWAY = 'istio-system/ingressgateway';

export function synthesizeRaw(scope: Construct, resolved: ResolvedEndpoint): void {
  const labels = objectLabels(resolved);
  const metadata = () => ({
    name: resolved.name,
    namespace: resolved.namespace,
    labels,
    annotations: { ...resolved.annotations },
  });
  const autoscaled = !resolved.stopped && resolved.minReplicas < resolved.maxReplicas;

  new ApiObject(scope, 'Resource', {
    apiVersion: k8s.KubeDeployment.GVK.apiVersion,
    kind: k8s.KubeDeployment.GVK.kind,
    metadata: metadata(),
    spec: Lazy.any({
      produce: () => ({
        // The HPA (or KEDA) owns the count once it runs; this is the count at creation.
        replicas: resolved.stopped ? 0 : autoscaled ? resolved.initialScale : resolved.minReplicas,
        selector: { matchLabels: selectorLabels(resolved) },
        strategy: resolved.deploymentStrategy,
        progressDeadlineSeconds: Math.max(600, resolved.startupSeconds + 60),
        template: {
          metadata: { labels, annotations: { ...resolved.annotations } },
          spec: podSpec(resolved),
        },
      }),
    }),
  });

  const ports = servicePorts(resolved);
  new k8s.KubeService(scope, 'Service', {
    metadata: metadata(),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(resolved),
      ports,
    },
  });

  if (autoscaled && resolved.keda) {
    kedaAutoscaler(scope, resolved, metadata(), modelPathMatches(resolved).map(m => m.uri.prefix), SERVICE_HTTP_PORT);
  } else if (autoscaled) {
    endpointAutoscaler(scope, 'HorizontalPodAutoscaler', resolved, metadata(), resolved.name);
  }
  if (!resolved.stopped && resolved.maxReplicas > 1) {
    new k8s.KubePodDisruptionBudget(scope, 'PodDisruptionBudget', {
      metadata: metadata(),
      spec: {
        maxUnavailable: k8s.IntOrString.fromNumber(1),
        selector: { matchLabels: selectorLabels(resolved) },
      },
    });
  }
  if (resolved.networkPolicy) {
    endpointNetworkPolicy(scope, resolved, ports.map(p => (p.targetPort?.value as number)));
  }
  rawIngress(scope, resolved, metadata());
}

export function servicePorts(resolved: ResolvedEndpoint): k8s.ServicePort[] {
  const ports = ownServicePorts(resolved);
  // The agent sidecar (./agent-sidecar) takes the REST traffic in front of the runtime.
  if (!resolved.agent) return ports;
  return ports.map((p) => (p.name === 'http' ? { ...p, targetPort: k8s.IntOrString.fromNumber(contract.AGENT.port) } : p));
}

function ownServicePorts(resolved: ResolvedEndpoint): k8s.ServicePort[] {
  const grpc = isGrpc(resolved.protocol);
  if (resolved.container.runtime) return runtimeServicePorts(resolved.container.runtime);
  if (resolved.container.custom) {
    return [{
      name: grpc ? 'grpc' : 'http',
      port: grpc ? contract.GRPC_PORT : SERVICE_HTTP_PORT,
      targetPort: k8s.IntOrString.fromNumber(resolved.container.port),
      appProtocol: grpc ? 'grpc' : 'http',
      protocol: 'TCP',
    }];
  }
  return [
    { name: 'http', port: SERVICE_HTTP_PORT, targetPort: k8s.IntOrString.fromNumber(contract.HTTP_PORT), appProtocol: 'http', protocol: 'TCP' },
    { name: 'grpc', port: contract.GRPC_PORT, targetPort: k8s.IntOrString.fromNumber(contract.GRPC_PORT), appProtocol: 'grpc', protocol: 'TCP' },
  ];
}

/** What a Deployment's HorizontalPodAutoscaler scales on and between. */
export interface AutoscalerSpec {
  readonly metadata: k8s.ObjectMeta;
  /** The Deployment's name. */
  readonly deployment: string;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** Utilization of this resource's request, in percent. */
  readonly resource: 'cpu' | 'memory';
  readonly averageUtilization: number;
  readonly scaleDownDelaySeconds?: number;
}

/** A HorizontalPodAutoscaler on a Deployment, scaling on CPU or memory utilization. */
export function deploymentAutoscaler(scope: Construct, id: string, a: AutoscalerSpec): k8s.KubeHorizontalPodAutoscalerV2 {
  return new k8s.KubeHorizontalPodAutoscalerV2(scope, id, {
    metadata: a.metadata,
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: a.deployment },
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [{
        type: 'Resource',
        resource: { name: a.resource, target: { type: 'Utilization', averageUtilization: a.averageUtilization } },
      }],
      ...(a.scaleDownDelaySeconds !== undefined
        ? { behavior: { scaleDown: { stabilizationWindowSeconds: a.scaleDownDelaySeconds } } }
        : {}),
    },
  });
}

/** The autoscaler of an endpoint's (or a CanaryRollout version's) Deployment `deployment`. */
export function endpointAutoscaler(scope: Construct, id: string, resolved: ResolvedEndpoint, metadata: k8s.ObjectMeta, deployment: string): void {
  deploymentAutoscaler(scope, id, {
    metadata,
    deployment,
    minReplicas: resolved.minReplicas,
    maxReplicas: resolved.maxReplicas,
    resource: resolved.scaleMetric === ScaleMetric.MEMORY ? 'memory' : 'cpu',
    averageUtilization: resolved.scaleTarget,
    scaleDownDelaySeconds: resolved.scaleDownDelaySeconds,
  });
}

function rawIngress(scope: Construct, resolved: ResolvedEndpoint, metadata: k8s.ObjectMeta): void {
  const serviceHost = `${resolved.name}.${resolved.namespace ?? 'default'}.svc.cluster.local`;
  const grpc = isGrpc(resolved.protocol);
  const port = grpc ? contract.GRPC_PORT : SERVICE_HTTP_PORT;
  const prefixes = modelPathMatches(resolved).map(m => m.uri.prefix);
  // Scale from zero: the route goes to KEDA's interceptor, which routes on the Host header and
  // path (the HTTPScaledObject's hosts and pathPrefixes) to the Service once a replica is ready.
  const interceptor = resolved.keda?.httpAddOn && !resolved.stopped ? interceptorBackend(resolved.keda) : undefined;
  switch (resolved.ingress._kind) {
    case IngressKind.ISTIO:
      new VirtualService(scope, 'VirtualService', {
        metadata,
        spec: {
          hosts: [resolved.host],
          gateways: [resolved.ingress._gateway ?? DEFAULT_ISTIO_GATEWAY],
          http: [resolved.stopped
            ? {
              name: 'stopped',
              match: prefixes.map(prefix => ({ uri: { prefix } })),
              directResponse: { status: 503, body: { string: JSON.stringify({ error: `endpoint ${resolved.name} is stopped` }) } },
            }
            : {
              name: 'predictor',
              match: prefixes.map(prefix => ({ uri: { prefix } })),
              route: [{
                destination: { host: interceptor?.host ?? serviceHost, port: { number: interceptor?.port ?? port } },
                weight: 100,
              }],
              ...(resolved.timeoutSeconds !== undefined ? { timeout: `${resolved.timeoutSeconds}s` } : {}),
            }],
        },
      });
      return;
    case IngressKind.GATEWAY_API:
      new HttpRoute(scope, 'HTTPRoute', {
        metadata,
        spec: {
          parentRefs: [{
            name: resolved.ingress._gateway!,
            ...(resolved.ingress._gatewayNamespace ? { namespace: resolved.ingress._gatewayNamespace } : {}),
          }],
          hostnames: [resolved.host],
          rules: [{
            matches: prefixes.map(value => ({ path: { type: HttpRouteSpecRulesMatchesPathType.PATH_PREFIX, value } })),
            // A cross-namespace backend needs a ReferenceGrant in the interceptor's namespace (below;
            // https://keda.sh/http-add-on/0.14/user-guide/configure-ingress/).
            backendRefs: [interceptor
              ? { name: interceptor.service, namespace: interceptor.namespace, port: interceptor.port }
              : { name: resolved.name, port }],
            ...(resolved.timeoutSeconds !== undefined ? { timeouts: { request: `${resolved.timeoutSeconds}s` } } : {}),
          }],
        },
      });
      if (interceptor) interceptorReferenceGrant(scope, resolved, metadata.labels ?? {});
      return;
    case IngressKind.KUBERNETES: {
      const backendService = interceptor ? interceptorExternalName(scope, resolved, metadata) : resolved.name;
      new k8s.KubeIngress(scope, 'Ingress', {
        metadata,
        spec: {
          ...(resolved.ingress._className ? { ingressClassName: resolved.ingress._className } : {}),
          ...(resolved.ingress._tlsSecretName ? { tls: [{ hosts: [resolved.host], secretName: resolved.ingress._tlsSecretName }] } : {}),
          rules: [{
            host: resolved.host,
            http: {
              paths: prefixes.flatMap(prefix => ingressPaths(prefix).map(p => ({
                ...p,
                backend: { service: { name: backendService, port: { number: interceptor?.port ?? port } } },
              }))),
            },
          }],
        },
      });
      return;
    }
    default:
      return;
  }
}
