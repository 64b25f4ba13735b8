import { Testing } from 'cdk8s';
import { CanaryRollout, DeploymentMode, EndpointSecurity, ModelEndpoint, ModelGateway, StorageUri } from '../../src';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');
const GATEWAY_PRINCIPAL = 'cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';

function synthSecurity(mode: DeploymentMode, props: Partial<ConstructorParameters<typeof EndpointSecurity>[2]> = {}) {
  const chart = Testing.chart();
  const endpoint = new ModelEndpoint(chart, 'Endpoint', { name: 'iris', modelName: 'iris', storageUri: IRIS, mode });
  new EndpointSecurity(chart, 'Security', { endpoint, ...props });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests);
  return manifests;
}

describe('EndpointSecurity', () => {
  test('defaults: STRICT mTLS and an ALLOW policy for the ingress gateway and Knative in serverless mode', () => {
    const manifests = synthSecurity(DeploymentMode.SERVERLESS);
    const security = manifests.filter(m => m.apiVersion === 'security.istio.io/v1');
    expect(security).toMatchSnapshot();
    const pa = findOne(manifests, 'PeerAuthentication');
    expect(pa.spec).toEqual({ selector: { matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'iris' } }, mtls: { mode: 'STRICT' } });
    const ap = findOne(manifests, 'AuthorizationPolicy');
    expect(ap.spec.action).toBe('ALLOW');
    expect(ap.spec.rules).toEqual([
      { from: [{ source: { principals: [GATEWAY_PRINCIPAL] } }] },
      { from: [{ source: { namespaces: ['knative-serving'] } }] },
    ]);
  });

  test('raw mode admits only the gateway unless principals or namespaces are named', () => {
    const manifests = synthSecurity(DeploymentMode.RAW, {
      allowedPrincipals: ['cluster.local/ns/web/sa/frontend'],
      allowedNamespaces: ['batch'],
    });
    expect(findOne(manifests, 'AuthorizationPolicy').spec.rules).toEqual([
      { from: [{ source: { principals: [GATEWAY_PRINCIPAL] } }] },
      { from: [{ source: { principals: ['cluster.local/ns/web/sa/frontend'] } }] },
      { from: [{ source: { namespaces: ['batch'] } }] },
    ]);
  });

  test('JWT: a RequestAuthentication, and gateway requests must carry a valid token', () => {
    const manifests = synthSecurity(DeploymentMode.SERVERLESS, {
      jwt: { issuer: 'https://auth.example.com', jwksUri: 'https://auth.example.com/jwks.json', audiences: ['models'] },
    });
    expect(findOne(manifests, 'RequestAuthentication').spec).toEqual({
      selector: { matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'iris' } },
      jwtRules: [{ issuer: 'https://auth.example.com', jwks_uri: 'https://auth.example.com/jwks.json', audiences: ['models'], forwardOriginalToken: true }],
    });
    expect(findOne(manifests, 'AuthorizationPolicy').spec.rules).toEqual([
      { from: [{ source: { principals: [GATEWAY_PRINCIPAL], requestPrincipals: ['*'] } }] },
      { from: [{ source: { namespaces: ['knative-serving'], requestPrincipals: ['*'] } }] },
      { from: [{ source: { namespaces: ['knative-serving'] } }], to: [{ operation: { paths: ['/healthz', '/metrics'] } }] },
    ]);
  });

  test('mTLS can be left to the mesh-wide policy', () => {
    const manifests = synthSecurity(DeploymentMode.RAW, { strictMtls: false });
    expect(manifests.some(m => m.kind === 'PeerAuthentication')).toBe(false);
  });

  test('applies to every version of a CanaryRollout through its endpoint label', () => {
    const chart = Testing.chart();
    const rollout = new CanaryRollout(chart, 'Rollout', {
      name: 'iris',
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      stable: { version: 'v1', storageUri: IRIS },
      canary: { version: 'v2', storageUri: IRIS },
      security: {},
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    expect(rollout.security).toBeDefined();
    expect(findOne(manifests, 'AuthorizationPolicy').spec.selector).toEqual({ matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'iris' } });
    expect(findOne(manifests, 'AuthorizationPolicy').spec.rules).toHaveLength(1);
  });

  test('fails when a principal is not a SPIFFE principal', () => {
    expect(() => synthSecurity(DeploymentMode.RAW, { allowedPrincipals: ['frontend'] })).toThrow(/principal 'frontend' is not a SPIFFE principal/);
  });

  test('fails when the JWKS URI is not a URL', () => {
    expect(() => synthSecurity(DeploymentMode.RAW, { jwt: { issuer: 'x', jwksUri: 'jwks.json' } })).toThrow(/'jwt.jwksUri' must be an http\(s\) URL/);
  });

  test('fails when the gateway principals are empty', () => {
    expect(() => synthSecurity(DeploymentMode.RAW, { ingressGatewayPrincipals: [] })).toThrow(/'ingressGatewayPrincipals' must not be empty/);
  });
});

describe('ModelGateway', () => {
  test('TLS from a secret on 443 and an HTTPS redirect on 80, used by an endpoint', () => {
    const chart = Testing.chart();
    const gateway = new ModelGateway(chart, 'Gateway', { name: 'models', namespace: 'istio-system', hosts: ['*.models.example.com'], tlsSecretName: 'models-tls' });
    new ModelEndpoint(chart, 'Endpoint', { name: 'iris', modelName: 'iris', storageUri: IRIS, host: 'iris.models.example.com', ingress: gateway.ingress() });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const gw = findOne(manifests, 'Gateway');
    expect(gw).toMatchSnapshot();
    expect(gw.spec.selector).toEqual({ istio: 'ingressgateway' });
    expect(gw.spec.servers).toEqual([
      { port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['*.models.example.com'], tls: { mode: 'SIMPLE', credentialName: 'models-tls' } },
      { port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*.models.example.com'], tls: { httpsRedirect: true } },
    ]);
    expect(findOne(manifests, 'VirtualService').spec.gateways).toEqual(['istio-system/models']);
  });

  test('without TLS: plain HTTP only', () => {
    const chart = Testing.chart();
    new ModelGateway(chart, 'Gateway', { hosts: ['iris.example.com'] });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    expect(findOne(manifests, 'Gateway').spec.servers).toEqual([{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['iris.example.com'] }]);
  });

  test('an existing gateway is shared by name', () => {
    const chart = Testing.chart();
    const shared = ModelGateway.fromGatewayName(chart, 'Shared', 'istio-system/public');
    new CanaryRollout(chart, 'Rollout', { name: 'iris', modelName: 'iris', stable: { version: 'v1', storageUri: IRIS }, ingress: shared.ingress() });
    const manifests = Testing.synth(chart);
    expect(findOne(manifests, 'VirtualService').spec.gateways).toEqual(['istio-system/public']);
    expect(manifests.some(m => m.kind === 'Gateway')).toBe(false);
  });

  test('fails without hosts', () => {
    expect(() => new ModelGateway(Testing.chart(), 'Gateway', { hosts: [] })).toThrow(/'hosts' must name at least one host/);
  });

  test('fails with an HTTPS redirect but no TLS', () => {
    expect(() => new ModelGateway(Testing.chart(), 'Gateway', { hosts: ['a.example.com'], httpsRedirect: true })).toThrow(/'httpsRedirect' needs 'tlsSecretName'/);
  });
});
