/**
 * Validation and defaults of the KEDA autoscaler props (`autoscaler: Autoscaler.KEDA`). Internal.
 */
import { assertDns1123Label } from './names';
import { IngressKind } from '../../constructs/endpoint-ingress';
import { Autoscaler, DeploymentMode, InferenceProtocol } from '../../constructs/endpoint-options';

// The HTTP add-on's interceptor proxy as its Helm chart installs it: Service
// `keda-add-ons-http-interceptor-proxy` in namespace `keda`, port 8080
// (https://keda.sh/http-add-on/0.14/user-guide/configure-ingress/).
export const KEDA_INTERCEPTOR_SERVICE = 'keda-add-ons-http-interceptor-proxy';
export const KEDA_INTERCEPTOR_NAMESPACE = 'keda';
export const KEDA_INTERCEPTOR_PORT = 8080;

/** How KEDA scales an endpoint: a Prometheus-triggered ScaledObject, or (from zero) the HTTP add-on. */
export interface ResolvedKeda {
  /** Set when a ScaledObject queries Prometheus (minReplicas 1 or more). */
  readonly prometheusAddress?: string;
  /** True with minReplicas 0: an HTTPScaledObject, and the route through the interceptor. */
  readonly httpAddOn: boolean;
  readonly interceptorService: string;
  readonly interceptorNamespace: string;
}

export interface KedaInput {
  readonly autoscaler?: Autoscaler;
  readonly kedaPrometheusAddress?: string;
  readonly kedaInterceptorService?: string;
  readonly kedaInterceptorNamespace?: string;
}

/** Whether KEDA scales the endpoint; refuses `autoscaler` in serverless mode. Checked before the replica counts. */
export function usesKeda(mode: DeploymentMode, props: KedaInput): boolean {
  if (mode === DeploymentMode.SERVERLESS && props.autoscaler !== undefined) {
    throw new Error("'autoscaler' is for raw mode: in serverless mode Knative's autoscaler scales the endpoint; remove 'autoscaler', or use 'mode: DeploymentMode.RAW'");
  }
  const keda = props.autoscaler === Autoscaler.KEDA;
  if (!keda) {
    for (const prop of ['kedaPrometheusAddress', 'kedaInterceptorService', 'kedaInterceptorNamespace'] as const) {
      if (props[prop] !== undefined) throw new Error(`'${prop}' is only used with 'autoscaler: Autoscaler.KEDA'; set 'autoscaler', or remove '${prop}'`);
    }
  }
  return keda;
}

/** The KEDA settings once the replica counts, protocol and ingress are known. */
export function resolveKeda(
  props: KedaInput, minReplicas: number, scaleTarget: number, protocol: InferenceProtocol, ingress: IngressKind,
): ResolvedKeda {
  const httpAddOn = minReplicas === 0;
  const interceptorService = props.kedaInterceptorService ?? KEDA_INTERCEPTOR_SERVICE;
  const interceptorNamespace = props.kedaInterceptorNamespace ?? KEDA_INTERCEPTOR_NAMESPACE;
  assertDns1123Label('kedaInterceptorService', interceptorService);
  assertDns1123Label('kedaInterceptorNamespace', interceptorNamespace);
  if (!httpAddOn) {
    for (const prop of ['kedaInterceptorService', 'kedaInterceptorNamespace'] as const) {
      if (props[prop] !== undefined) throw new Error(`'${prop}' is only used with 'minReplicas: 0' (KEDA's HTTP add-on scales from zero); remove it, or set 'minReplicas' to 0`);
    }
    if (props.kedaPrometheusAddress === undefined) {
      throw new Error("'kedaPrometheusAddress' is required with 'autoscaler: Autoscaler.KEDA': KEDA's Prometheus trigger queries our server's metrics there; set it to your Prometheus server's URL, e.g. 'http://prometheus-operated.monitoring.svc:9090'");
    }
    return { prometheusAddress: prometheusUrl(props.kedaPrometheusAddress), httpAddOn, interceptorService, interceptorNamespace };
  }
  if (props.kedaPrometheusAddress !== undefined) {
    throw new Error("'kedaPrometheusAddress' is unused with 'minReplicas: 0': KEDA's HTTP add-on scales on the request counts of its interceptor; remove it, or set 'minReplicas' to 1 or more");
  }
  if (protocol === InferenceProtocol.GRPC_V1 || protocol === InferenceProtocol.GRPC_V2) {
    throw new Error(`'minReplicas' is 0 with 'autoscaler: Autoscaler.KEDA' and protocol ${protocol}: only HTTP endpoints are routed through KEDA's HTTP add-on interceptor here; set 'minReplicas' to 1 or more, or use an HTTP protocol`);
  }
  if (ingress === IngressKind.NONE) {
    throw new Error("'minReplicas' is 0 with 'autoscaler: Autoscaler.KEDA', but there is no 'ingress': requests must reach the endpoint through KEDA's HTTP add-on interceptor, which holds them while the first replica starts; set 'ingress' (Istio, Gateway API or Kubernetes Ingress)");
  }
  if (!Number.isInteger(scaleTarget)) {
    throw new Error(`'scaleTarget' must be a whole number with 'minReplicas: 0' and 'autoscaler: Autoscaler.KEDA' (the HTTP add-on's targetValue is an integer), got ${scaleTarget}`);
  }
  return { httpAddOn, interceptorService, interceptorNamespace };
}

function prometheusUrl(address: string): string {
  let url: URL | undefined;
  try { url = new URL(address); } catch { url = undefined; }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error(`'kedaPrometheusAddress' must be an http(s) URL such as 'http://prometheus-operated.monitoring.svc:9090', got '${address}'`);
  }
  return address;
}
