/**
 * KEDA instead of the HorizontalPodAutoscaler in raw mode (`autoscaler: Autoscaler.KEDA`): a
 * ScaledObject with a Prometheus trigger on our server's metrics, or, to scale from zero, the
 * HTTP add-on's HTTPScaledObject, whose interceptor the route goes through and which holds
 * requests while the first replica starts.
 */
import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { kedaScalingQuery } from './monitoring/queries';
import { KEDA_INTERCEPTOR_PORT, ResolvedKeda } from './resolve/keda';
import { assertDerivedLength } from './resolve/names';
import { ResolvedEndpoint } from './resolve/resolved-endpoint';
import { ScaleMetric } from '../constructs/endpoint-options';
import { KEDA_REFERENCE_GRANT } from '../contract';

/** keda.sh/v1alpha1 ScaledObject (imports/keda-scaledobjects.yaml). */
export const SCALED_OBJECT = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject' };
/** http.keda.sh/v1alpha1 HTTPScaledObject (imports/keda-httpscaledobjects.yaml). */
export const HTTP_SCALED_OBJECT = { apiVersion: 'http.keda.sh/v1alpha1', kind: 'HTTPScaledObject' };

/** Where the route sends requests instead of the endpoint's Service. */
export interface InterceptorBackend {
  /** The interceptor's in-cluster host name, for Istio. */
  readonly host: string;
  readonly service: string;
  readonly namespace: string;
  readonly port: number;
}

export function interceptorBackend(keda: ResolvedKeda): InterceptorBackend {
  return {
    host: `${keda.interceptorService}.${keda.interceptorNamespace}.svc.cluster.local`,
    service: keda.interceptorService,
    namespace: keda.interceptorNamespace,
    port: KEDA_INTERCEPTOR_PORT,
  };
}

/**
 * The KEDA object that scales Deployment `resolved.name`. `pathPrefixes` are the model paths the
 * route sends to the interceptor; `servicePort` the endpoint Service's HTTP port.
 */
export function kedaAutoscaler(
  scope: Construct, resolved: ResolvedEndpoint, metadata: k8s.ObjectMeta, pathPrefixes: string[], servicePort: number,
): ApiObject {
  const keda = resolved.keda!;
  const metric = resolved.scaleMetric === ScaleMetric.RPS ? 'rps' : 'concurrency';
  if (keda.httpAddOn) {
    // Field meanings from the vendored CRD's descriptions (imports/keda-httpscaledobjects.yaml).
    const target = resolved.scaleTarget;
    return new ApiObject(scope, 'HTTPScaledObject', {
      ...HTTP_SCALED_OBJECT,
      metadata,
      spec: {
        hosts: [resolved.host],
        pathPrefixes,
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: resolved.name, service: resolved.name, port: servicePort },
        replicas: { min: 0, max: resolved.maxReplicas },
        scalingMetric: metric === 'rps'
          ? { requestRate: { targetValue: target, window: '1m', granularity: '1s' } }
          : { concurrency: { targetValue: target } },
        ...(resolved.scaleDownDelaySeconds !== undefined ? { scaledownPeriod: resolved.scaleDownDelaySeconds } : {}),
      },
    });
  }
  return kedaScaledObject(scope, 'ScaledObject', resolved, metadata, resolved.name);
}

/**
 * The ScaledObject that scales Deployment `deployment` on our server's series in Prometheus.
 * `resolved.version` set (a CanaryRollout's version): on that version's pods only.
 */
export function kedaScaledObject(scope: Construct, id: string, resolved: ResolvedEndpoint, metadata: k8s.ObjectMeta, deployment: string): ApiObject {
  const keda = resolved.keda!;
  const metric = resolved.scaleMetric === ScaleMetric.RPS ? 'rps' : 'concurrency';
  return new ApiObject(scope, id, {
    ...SCALED_OBJECT,
    metadata,
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment },
      minReplicaCount: resolved.minReplicas,
      maxReplicaCount: resolved.maxReplicas,
      triggers: [{
        type: 'prometheus',
        // AverageValue: KEDA divides the query's value by the replica count, so the threshold
        // is per replica, like scaleTarget (https://keda.sh/docs/latest/reference/scaledobject-spec/#triggers).
        metricType: 'AverageValue',
        metadata: {
          serverAddress: keda.prometheusAddress!,
          query: kedaScalingQuery({ endpoint: resolved.name, namespace: resolved.namespace }, metric, resolved.version),
          threshold: String(resolved.scaleTarget),
        },
      }],
      ...(resolved.scaleDownDelaySeconds !== undefined
        ? { advanced: { horizontalPodAutoscalerConfig: { behavior: { scaleDown: { stabilizationWindowSeconds: resolved.scaleDownDelaySeconds } } } } }
        : {}),
    },
  });
}

/**
 * A Kubernetes Ingress can only name a Service in its own namespace: an ExternalName Service
 * `<name>-interceptor` there stands for the interceptor.
 */
export function interceptorExternalName(scope: Construct, resolved: ResolvedEndpoint, metadata: k8s.ObjectMeta): string {
  const name = `${resolved.name}-interceptor`;
  assertDerivedLength('name', resolved.name, name);
  const backend = interceptorBackend(resolved.keda!);
  new k8s.KubeService(scope, 'InterceptorService', {
    metadata: { ...metadata, name },
    spec: { type: 'ExternalName', externalName: backend.host, ports: [{ name: 'http', port: backend.port, protocol: 'TCP' }] },
  });
  return name;
}

/**
 * A Gateway API HTTPRoute may name a Service in another namespace only when a ReferenceGrant
 * there allows it (https://gateway-api.sigs.k8s.io/api-types/referencegrant/): one in the
 * interceptor's namespace, from HTTPRoutes of the endpoint's namespace to the interceptor
 * Service alone. Named `<namespace>-<name>`, so endpoints of the same name in different
 * namespaces do not overwrite each other's grant. Undefined when both share a namespace.
 */
export function interceptorReferenceGrant(scope: Construct, resolved: ResolvedEndpoint, labels: Record<string, string>): ApiObject | undefined {
  const backend = interceptorBackend(resolved.keda!);
  // The namespace the route lands in; the Service host names assume `default` too when the chart sets none.
  const routeNamespace = resolved.namespace ?? 'default';
  if (backend.namespace === routeNamespace) return undefined;
  return new ApiObject(scope, 'InterceptorReferenceGrant', {
    ...KEDA_REFERENCE_GRANT,
    metadata: { name: `${routeNamespace}-${resolved.name}`, namespace: backend.namespace, labels },
    spec: {
      from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: routeNamespace }],
      to: [{ group: '', kind: 'Service', name: backend.service }],
    },
  });
}
