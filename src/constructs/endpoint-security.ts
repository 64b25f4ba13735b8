import { ApiObject, Chart, JsonPatch, Names } from 'cdk8s';
import { Construct, IConstruct } from 'constructs';
import * as contract from '../contract';
import { EndpointIngress } from './endpoint-ingress';
import { DeploymentMode } from './endpoint-options';
import { IModelEndpoint } from './model-endpoint';
import { Gateway, GatewaySpecServers, GatewaySpecServersTlsMode } from '../imports/istio-networking.istio.io';
import {
  AuthorizationPolicy,
  AuthorizationPolicySpecAction,
  AuthorizationPolicySpecRules,
  PeerAuthentication,
  PeerAuthenticationSpecMtlsMode,
  RequestAuthentication,
} from '../imports/istio-security.istio.io';
import { admitCallers } from '../render/endpoint-callers';
import { assertDns1123Label, assertDns1123Subdomain } from '../render/resolve/names';

/**
 * An Istio `Gateway` that endpoints can be published through.
 */
export interface IModelGateway extends IConstruct {
  /** The gateway as VirtualServices name it: `namespace/name`, or `name` in the same namespace. */
  readonly gatewayName: string;

  /** An `EndpointIngress` that binds an endpoint's VirtualService to this gateway. */
  ingress(): EndpointIngress;
}

/**
 * Properties of a `ModelGateway`.
 */
export interface ModelGatewayProps {
  /** The hosts the gateway accepts, such as `iris.models.example.com` or `*.models.example.com`. */
  readonly hosts: string[];

  /**
   * A TLS secret (`tls.crt`, `tls.key`) for HTTPS on port 443, in the namespace of the
   * ingress gateway's pods (istio-system in a default install), as Istio's `credentialName`.
   *
   * @default - no TLS: plain HTTP on port 80
   * @see https://istio.io/latest/docs/tasks/traffic-management/ingress/secure-ingress/
   */
  readonly tlsSecretName?: string;

  /**
   * Whether plain HTTP on port 80 redirects to HTTPS. Only with `tlsSecretName`.
   *
   * @default true
   */
  readonly httpsRedirect?: boolean;

  /**
   * Labels of the gateway pods that serve this Gateway.
   *
   * @default { istio: 'ingressgateway' }
   */
  readonly selector?: { [key: string]: string };

  /**
   * The name of the Gateway.
   *
   * @default - a name cdk8s derives from the construct path
   */
  readonly name?: string;

  /**
   * The namespace of the Gateway.
   *
   * @default - the chart's namespace
   */
  readonly namespace?: string;
}

/**
 * An Istio `Gateway` (id `Resource`) with hosts and TLS from a secret, shared by any number
 * of endpoints: pass `gateway.ingress()` as their `ingress`.
 *
 * @example
 * const gateway = new ModelGateway(chart, 'Gateway', {
 *   hosts: ['*.models.example.com'],
 *   tlsSecretName: 'models-example-com-tls',
 * });
 * new CanaryRollout(chart, 'iris', { ..., ingress: gateway.ingress() });
 */
export class ModelGateway extends Construct implements IModelGateway {
  /**
   * Refers to an existing Istio Gateway, such as `knative-serving/knative-ingress-gateway`.
   *
   * @param gatewayName `namespace/name`
   */
  public static fromGatewayName(scope: Construct, id: string, gatewayName: string): IModelGateway {
    return new ImportedModelGateway(scope, id, gatewayName);
  }

  public readonly gatewayName: string;
  /** The name of the Gateway. */
  public readonly name: string;
  /** The namespace of the Gateway, if one was set. */
  public readonly namespace?: string;

  constructor(scope: Construct, id: string, props: ModelGatewayProps) {
    super(scope, id);
    if (props.hosts.length === 0) throw new Error("'hosts' must name at least one host the gateway accepts");
    for (const host of props.hosts) {
      assertDns1123Subdomain('hosts', host.startsWith('*.') ? host.slice(2) : host);
    }
    this.namespace = props.namespace ?? Chart.of(this).namespace;
    this.name = props.name ?? Names.toDnsLabel(this);
    assertDns1123Label('name', this.name);
    if (this.namespace !== undefined) assertDns1123Label('namespace', this.namespace);
    this.gatewayName = this.namespace ? `${this.namespace}/${this.name}` : this.name;
    if (props.httpsRedirect !== undefined && !props.tlsSecretName) {
      throw new Error("'httpsRedirect' needs 'tlsSecretName': without TLS there is no HTTPS to redirect to");
    }

    const hosts = [...props.hosts];
    const servers: GatewaySpecServers[] = [];
    if (props.tlsSecretName) {
      assertDns1123Subdomain('tlsSecretName', props.tlsSecretName);
      servers.push({
        port: { number: 443, name: 'https', protocol: 'HTTPS' },
        hosts,
        tls: { mode: GatewaySpecServersTlsMode.SIMPLE, credentialName: props.tlsSecretName },
      });
    }
    servers.push({
      port: { number: 80, name: 'http', protocol: 'HTTP' },
      hosts,
      ...(props.tlsSecretName && (props.httpsRedirect ?? true) ? { tls: { httpsRedirect: true } } : {}),
    });
    new Gateway(this, 'Resource', {
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { [contract.LABELS.partOf]: contract.PART_OF, [contract.LABELS.managedBy]: contract.MANAGED_BY },
      },
      spec: { selector: props.selector ?? { istio: 'ingressgateway' }, servers },
    });
  }

  public ingress(): EndpointIngress {
    return EndpointIngress.istio({ gateway: this.gatewayName });
  }

  /** The Istio Gateway object. */
  public get apiObject(): ApiObject {
    return ApiObject.of(this);
  }
}

class ImportedModelGateway extends Construct implements IModelGateway {
  constructor(scope: Construct, id: string, public readonly gatewayName: string) {
    super(scope, id);
    const parts = gatewayName.split('/');
    if (parts.length > 2) throw new Error(`'gatewayName' must be 'namespace/name' or 'name', got '${gatewayName}'`);
    for (const part of parts) assertDns1123Label('gatewayName', part);
  }

  public ingress(): EndpointIngress {
    return EndpointIngress.istio({ gateway: this.gatewayName });
  }
}

/**
 * JWT end-user authentication, as Istio's `RequestAuthentication`.
 *
 * @see https://istio.io/latest/docs/reference/config/security/request_authentication/
 */
export interface JwtOptions {
  /** The issuer (`iss` claim) of accepted tokens. */
  readonly issuer: string;

  /** The URL of the issuer's JSON Web Key Set. */
  readonly jwksUri: string;

  /**
   * Accepted `aud` claims.
   *
   * @default - any audience
   */
  readonly audiences?: string[];

  /**
   * Whether requests through the gateway must carry a token. Istio's RequestAuthentication
   * alone only rejects INVALID tokens and lets requests without one through; this adds the
   * `requestPrincipals` condition to the AuthorizationPolicy that closes that gap.
   *
   * @default true
   */
  readonly requireToken?: boolean;
}

/**
 * What an `EndpointSecurity` admits, without the endpoint (as `CanaryRollout`'s `security`).
 */
export interface EndpointSecurityOptions {
  /**
   * Whether a `PeerAuthentication` makes the pods accept only mutual-TLS traffic (STRICT).
   *
   * @default true
   */
  readonly strictMtls?: boolean;

  /**
   * The SPIFFE principals of the ingress gateway.
   *
   * @default ['cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account']
   */
  readonly ingressGatewayPrincipals?: string[];

  /**
   * More workloads allowed to call the endpoint, by principal
   * (`cluster.local/ns/<namespace>/sa/<service-account>`).
   *
   * @default - none
   */
  readonly allowedPrincipals?: string[];

  /**
   * Namespaces whose workloads may call the endpoint.
   *
   * @default - none
   */
  readonly allowedNamespaces?: string[];

  /**
   * Whether Knative's activator and autoscaler (namespace knative-serving) may reach the
   * pods; needed in serverless mode.
   *
   * @default - true for a serverless ModelEndpoint or CanaryRollout, else false
   */
  readonly allowKnative?: boolean;

  /**
   * JWT authentication of end users.
   *
   * @default - none: callers are authorized by their mesh identity only
   */
  readonly jwt?: JwtOptions;
}

/**
 * Properties of an `EndpointSecurity`.
 */
export interface EndpointSecurityProps extends EndpointSecurityOptions {
  /** The endpoint (ModelEndpoint or CanaryRollout) whose pods are protected. */
  readonly endpoint: IModelEndpoint;
}

const DEFAULT_GATEWAY_PRINCIPAL = 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
const KNATIVE_NAMESPACE = 'knative-serving';
/** Paths Knative's system components probe and scrape on a revision's pods. */
const KNATIVE_SYSTEM_PATHS = ['/healthz', '/metrics'];

/**
 * Istio mTLS and authorization for an endpoint's pods: a `PeerAuthentication` in STRICT mode,
 * an `AuthorizationPolicy` (ALLOW) that admits only the ingress gateway, Knative's system
 * components (serverless) and the principals and namespaces you name, and, with `jwt`, a
 * `RequestAuthentication`. Every object selects the endpoint's pods by label, so it applies to
 * every version of a CanaryRollout.
 *
 * @example
 * new EndpointSecurity(chart, 'IrisSecurity', {
 *   endpoint: iris,
 *   allowedNamespaces: ['web'],
 *   jwt: { issuer: 'https://auth.example.com', jwksUri: 'https://auth.example.com/jwks.json' },
 * });
 */
export class EndpointSecurity extends Construct {
  /** The STRICT mTLS policy, unless `strictMtls` is false. */
  public readonly peerAuthentication?: ApiObject;
  /** The ALLOW policy. */
  public readonly authorizationPolicy: ApiObject;
  /** The JWT policy, if `jwt` was set. */
  public readonly requestAuthentication?: ApiObject;

  constructor(scope: Construct, id: string, props: EndpointSecurityProps) {
    super(scope, id);
    const endpoint = props.endpoint;
    const selector = { matchLabels: { [contract.LABELS.endpoint]: endpoint.name } };
    const metadata = {
      name: endpoint.name,
      namespace: endpoint.namespace,
      labels: {
        [contract.LABELS.name]: endpoint.name,
        [contract.LABELS.partOf]: contract.PART_OF,
        [contract.LABELS.managedBy]: contract.MANAGED_BY,
        [contract.LABELS.endpoint]: endpoint.name,
      },
    };
    const serverless = (endpoint as { mode?: DeploymentMode }).mode === DeploymentMode.SERVERLESS;
    const allowKnative = props.allowKnative ?? serverless;
    const gatewayPrincipals = props.ingressGatewayPrincipals ?? [DEFAULT_GATEWAY_PRINCIPAL];
    if (gatewayPrincipals.length === 0) throw new Error("'ingressGatewayPrincipals' must not be empty: without the gateway no external request reaches the endpoint");
    for (const ns of props.allowedNamespaces ?? []) assertDns1123Label('allowedNamespaces', ns);
    for (const p of [...gatewayPrincipals, ...(props.allowedPrincipals ?? [])]) {
      if (!/^[^/\s]+\/ns\/[a-z0-9-]+\/sa\/[a-z0-9.-]+$/.test(p) && p !== '*') {
        throw new Error(`principal '${p}' is not a SPIFFE principal of the form '<trust-domain>/ns/<namespace>/sa/<service-account>'`);
      }
    }

    if (props.strictMtls ?? true) {
      this.peerAuthentication = new PeerAuthentication(this, 'PeerAuthentication', {
        metadata,
        spec: { selector, mtls: { mode: PeerAuthenticationSpecMtlsMode.STRICT } },
      });
    }

    const requireToken = props.jwt !== undefined && (props.jwt.requireToken ?? true);
    const withToken = requireToken ? { requestPrincipals: ['*'] } : {};
    const rules: AuthorizationPolicySpecRules[] = [
      { from: [{ source: { principals: [...gatewayPrincipals], ...withToken } }] },
    ];
    if (allowKnative) {
      // The activator forwards user requests (token required like the gateway's); the
      // autoscaler and activator also probe and scrape without one.
      rules.push({ from: [{ source: { namespaces: [KNATIVE_NAMESPACE], ...withToken } }] });
      if (requireToken) {
        rules.push({ from: [{ source: { namespaces: [KNATIVE_NAMESPACE] } }], to: [{ operation: { paths: [...KNATIVE_SYSTEM_PATHS] } }] });
      }
    }
    if (props.allowedPrincipals && props.allowedPrincipals.length > 0) {
      rules.push({ from: [{ source: { principals: [...props.allowedPrincipals] } }] });
    }
    if (props.allowedNamespaces && props.allowedNamespaces.length > 0) {
      rules.push({ from: [{ source: { namespaces: [...props.allowedNamespaces] } }] });
    }
    this.authorizationPolicy = new AuthorizationPolicy(this, 'AuthorizationPolicy', {
      metadata,
      spec: { selector, action: AuthorizationPolicySpecAction.ALLOW, rules },
    });
    // The app's own callers (an InferenceGraph's router) are admitted by principal, like allowedPrincipals.
    const listed = new Set([...(props.allowedPrincipals ?? [])]);
    admitCallers(endpoint, (principal) => {
      if (listed.has(principal) || listed.has('*')) return;
      listed.add(principal);
      this.authorizationPolicy.addJsonPatch(JsonPatch.add('/spec/rules/-', { from: [{ source: { principals: [principal] } }] }));
    });

    if (props.jwt) {
      if (!/^https?:\/\//.test(props.jwt.jwksUri)) throw new Error(`'jwt.jwksUri' must be an http(s) URL, got '${props.jwt.jwksUri}'`);
      if (!props.jwt.issuer) throw new Error("'jwt.issuer' must not be empty");
      this.requestAuthentication = new RequestAuthentication(this, 'RequestAuthentication', {
        metadata,
        spec: {
          selector,
          jwtRules: [{
            issuer: props.jwt.issuer,
            jwksUri: props.jwt.jwksUri,
            ...(props.jwt.audiences ? { audiences: [...props.jwt.audiences] } : {}),
            forwardOriginalToken: true,
          }],
        },
      });
    }
  }
}
