/**
 * How traffic from outside the cluster reaches an endpoint. Union-like: build one with a
 * static factory.
 *
 * Serverless endpoints default to an Istio VirtualService (as KServe does); raw endpoints
 * default to no ingress at all, so their output holds no Istio or Knative object unless asked.
 */
export class EndpointIngress {
  /**
   * An Istio `VirtualService` bound to an Istio `Gateway`.
   */
  public static istio(options: IstioIngressOptions = {}): EndpointIngress {
    return new EndpointIngress(IngressKind.ISTIO, options.gateway, undefined, undefined, undefined);
  }

  /**
   * A Gateway API `HTTPRoute` attached to an existing `Gateway` (raw mode only).
   */
  public static gatewayApi(options: GatewayApiIngressOptions): EndpointIngress {
    if (!options.gatewayName) {
      throw new Error("'EndpointIngress.gatewayApi' needs 'gatewayName', the Gateway the HTTPRoute attaches to");
    }
    return new EndpointIngress(IngressKind.GATEWAY_API, options.gatewayName, options.gatewayNamespace, undefined, undefined);
  }

  /**
   * A plain Kubernetes `Ingress` (raw mode only).
   */
  public static kubernetes(options: KubernetesIngressOptions = {}): EndpointIngress {
    return new EndpointIngress(IngressKind.KUBERNETES, undefined, undefined, options.className, options.tlsSecretName);
  }

  /**
   * No ingress: the endpoint is reachable inside the cluster only (through its Service, or
   * Knative's own route in serverless mode).
   */
  public static none(): EndpointIngress {
    return new EndpointIngress(IngressKind.NONE, undefined, undefined, undefined, undefined);
  }

  /** @internal */
  public readonly _kind: IngressKind;
  /** @internal */
  public readonly _gateway?: string;
  /** @internal */
  public readonly _gatewayNamespace?: string;
  /** @internal */
  public readonly _className?: string;
  /** @internal */
  public readonly _tlsSecretName?: string;

  private constructor(kind: IngressKind, gateway?: string, gatewayNamespace?: string, className?: string, tlsSecretName?: string) {
    this._kind = kind;
    this._gateway = gateway;
    this._gatewayNamespace = gatewayNamespace;
    this._className = className;
    this._tlsSecretName = tlsSecretName;
  }
}

/** Options of `EndpointIngress.istio()`. */
export interface IstioIngressOptions {
  /**
   * The Istio Gateway, as `namespace/name`.
   *
   * @default - `knative-serving/knative-ingress-gateway` in serverless mode,
   * `istio-system/ingressgateway` in raw mode
   */
  readonly gateway?: string;
}

/** Options of `EndpointIngress.gatewayApi()`. */
export interface GatewayApiIngressOptions {
  /** The name of the Gateway the HTTPRoute attaches to. */
  readonly gatewayName: string;
  /**
   * The namespace of the Gateway.
   *
   * @default - the endpoint's namespace
   */
  readonly gatewayNamespace?: string;
}

/** Options of `EndpointIngress.kubernetes()`. */
export interface KubernetesIngressOptions {
  /**
   * The IngressClass name.
   *
   * @default - the cluster's default IngressClass
   */
  readonly className?: string;
  /**
   * A TLS secret (in the endpoint's namespace) for the host.
   *
   * @default - no TLS
   */
  readonly tlsSecretName?: string;
}

/** @internal */
export enum IngressKind {
  ISTIO = 'istio',
  GATEWAY_API = 'gateway-api',
  KUBERNETES = 'kubernetes',
  NONE = 'none',
}
