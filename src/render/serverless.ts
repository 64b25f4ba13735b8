/**
 * Serverless mode: a Knative Service, an Istio VirtualService in front of it and a
 * NetworkPolicy.
 */
import { ApiObject, Lazy } from 'cdk8s';
import { Construct } from 'constructs';
import { endpointNetworkPolicy } from './network-policy';
import { objectLabels, podSpec, storageInjectionMetadata } from './pod-template';
import { ResolvedEndpoint } from './resolve/resolved-endpoint';
import { IngressKind } from '../constructs/endpoint-ingress';
import { InferenceProtocol, ScaleMetric } from '../constructs/endpoint-options';
import { VirtualService, VirtualServiceSpecHttp } from '../imports/istio-networking.istio.io';
import { Service as KnativeService } from '../imports/knative-serving.knative.dev';

const AUTOSCALING = 'autoscaling.knative.dev';
/** Knative's gateways, as KServe's top-level VirtualService uses them. */
const KNATIVE_INGRESS_GATEWAY = 'knative-serving/knative-ingress-gateway';
const KNATIVE_LOCAL_GATEWAY_HOST = 'knative-local-gateway.istio-system.svc.cluster.local';

export function synthesizeServerless(scope: Construct, resolved: ResolvedEndpoint): void {
  const viaIstio = resolved.ingress._kind === IngressKind.ISTIO;
  const labels = objectLabels(resolved);
  new ApiObject(scope, 'Resource', {
    apiVersion: KnativeService.GVK.apiVersion,
    kind: KnativeService.GVK.kind,
    metadata: {
      name: resolved.name,
      namespace: resolved.namespace,
      labels: {
        ...labels,
        // Our VirtualService is the public entry, as in KServe: Knative's own route stays
        // inside the cluster.
        ...(viaIstio ? { 'networking.knative.dev/visibility': 'cluster-local' } : {}),
      },
      annotations: { ...resolved.annotations },
    },
    spec: Lazy.any({ produce: () => knativeServiceSpec(resolved) }),
  });

  if (viaIstio) {
    new VirtualService(scope, 'VirtualService', {
      metadata: {
        name: resolved.name,
        namespace: resolved.namespace,
        labels,
        annotations: { ...resolved.annotations },
      },
      spec: {
        hosts: [resolved.host],
        gateways: [resolved.ingress._gateway ?? KNATIVE_INGRESS_GATEWAY],
        http: serverlessRoutes(resolved),
      },
    });
  }
  if (resolved.networkPolicy) endpointNetworkPolicy(scope, resolved, []);
}

export function knativeServiceSpec(resolved: ResolvedEndpoint): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    ...podSpec(resolved),
    containerConcurrency: resolved.containerConcurrency,
  };
  if (resolved.timeoutSeconds !== undefined) spec.timeoutSeconds = resolved.timeoutSeconds;
  // Knative copies the template's labels and annotations to the pods, where the pod webhook reads them.
  const injection = storageInjectionMetadata(resolved);
  return {
    template: {
      metadata: {
        labels: { ...objectLabels(resolved), ...injection.labels },
        annotations: { ...resolved.annotations, ...autoscalingAnnotations(resolved), ...injection.annotations },
      },
      spec,
    },
  };
}

/** The `autoscaling.knative.dev/*` annotations of the revision template. */
function autoscalingAnnotations(resolved: ResolvedEndpoint): Record<string, string> {
  return knativeAutoscalingAnnotations({ ...resolved, minReplicas: resolved.stopped ? 0 : resolved.minReplicas });
}

/** What a revision (the predictor's or a component's) scales on and between. */
export interface KnativeScaling {
  readonly scaleMetric: ScaleMetric;
  readonly scaleTarget: number;
  readonly minReplicas: number;
  /** 0: no limit. */
  readonly maxReplicas: number;
  readonly initialScale: number;
  readonly scaleDownDelaySeconds?: number;
}

/** The `autoscaling.knative.dev/*` annotations of a revision template. */
export function knativeAutoscalingAnnotations(s: KnativeScaling): Record<string, string> {
  const utilization = s.scaleMetric === ScaleMetric.CPU || s.scaleMetric === ScaleMetric.MEMORY;
  const annotations: Record<string, string> = {
    // CPU and memory scaling need Knative's HPA class; concurrency and rps its own KPA.
    [`${AUTOSCALING}/class`]: utilization ? 'hpa.autoscaling.knative.dev' : 'kpa.autoscaling.knative.dev',
    [`${AUTOSCALING}/metric`]: s.scaleMetric,
    [`${AUTOSCALING}/target`]: String(s.scaleTarget),
    [`${AUTOSCALING}/min-scale`]: String(s.minReplicas),
    // "0" is Knative's "no limit".
    [`${AUTOSCALING}/max-scale`]: String(s.maxReplicas),
    [`${AUTOSCALING}/initial-scale`]: String(s.initialScale),
  };
  if (s.scaleDownDelaySeconds !== undefined) {
    annotations[`${AUTOSCALING}/scale-down-delay`] = `${s.scaleDownDelaySeconds}s`;
  }
  return annotations;
}

/**
 * Routes of the endpoint's host: the model's V1 and V2 paths go through Knative's local
 * gateway to the Knative Service; a stopped endpoint answers 503 instead.
 */
function serverlessRoutes(resolved: ResolvedEndpoint): VirtualServiceSpecHttp[] {
  const match = modelPathMatches(resolved);
  if (resolved.stopped) {
    return [{
      name: 'stopped',
      match,
      directResponse: { status: 503, body: { string: JSON.stringify({ error: `endpoint ${resolved.name} is stopped` }) } },
    }];
  }
  return [{
    name: 'predictor',
    match,
    route: [{
      destination: { host: KNATIVE_LOCAL_GATEWAY_HOST, port: { number: 80 } },
      headers: { request: { set: { Host: `${resolved.name}.${resolved.namespace ?? 'default'}.svc.cluster.local` } } },
      weight: 100,
    }],
    ...(resolved.timeoutSeconds !== undefined ? { timeout: `${resolved.timeoutSeconds}s` } : {}),
  }];
}

/**
 * URI matches for the model's V1 and V2 REST paths, or, for a gRPC endpoint, the V2 gRPC
 * service (gRPC names the model in the message, so the host alone picks the endpoint).
 */
export function modelPathMatches(resolved: Pick<ResolvedEndpoint, 'modelName' | 'protocol'> & { container?: Pick<ResolvedEndpoint['container'], 'runtime'> }): Array<{ uri: { prefix: string } }> {
  // A runtime's gRPC protocol: the services it declares (TF Serving's PredictionService).
  const runtime = resolved.container?.runtime;
  if (runtime?.grpc) return runtime.grpcPrefixes.map(prefix => ({ uri: { prefix } }));
  if (resolved.protocol === InferenceProtocol.GRPC_V2) {
    return [{ uri: { prefix: '/inference.GRPCInferenceService/' } }];
  }
  return [
    { uri: { prefix: `/v1/models/${resolved.modelName}` } },
    { uri: { prefix: `/v2/models/${resolved.modelName}` } },
  ];
}

/** Re-exported for tests and other constructs that need the Knative wiring facts. */
export const KNATIVE = {
  ingressGateway: KNATIVE_INGRESS_GATEWAY,
  localGatewayHost: KNATIVE_LOCAL_GATEWAY_HOST,
};
