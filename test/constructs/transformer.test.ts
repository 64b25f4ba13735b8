import * as path from 'path';
import { ApiObject, Chart, JsonPatch, Testing } from 'cdk8s';
import { ConfigMap, Cpu, EnvValue } from 'cdk8s-plus-33';
import {
  DeploymentMode, EndpointIngress, InferenceProtocol, ModelEndpoint, ModelEndpointProps, StorageUri, TransformerModule, TransformerOptions,
} from '../../src';
import { parseConfig } from '../../src/server/config';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');
const MODULE = TransformerModule.fromCode('exports.preprocess = async (r) => r;\n', 'iris.js');
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'transformer', 'passthrough.mjs');

function endpoint(props: Partial<ModelEndpointProps> = {}) {
  const app = Testing.app();
  const chart = new Chart(app, 'test');
  const e = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', name: 'iris', storageUri: IRIS, ...props });
  return { chart, endpoint: e };
}

function synth(props: Partial<ModelEndpointProps>, options: TransformerOptions) {
  const { chart, endpoint: e } = endpoint(props);
  const transformer = e.addTransformer(options);
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return { manifests, transformer, endpoint: e };
}

/** What the transformer adds or changes: its own objects and the routes (snapshots stay off others' objects). */
const mine = (manifests: any[]) => manifests.filter((m) => m.metadata?.labels?.['app.kubernetes.io/component'] === 'transformer'
  || ['VirtualService', 'HTTPRoute', 'Ingress'].includes(m.kind)
  || (m.metadata?.name === 'iris' && ['Service', 'Deployment'].includes(m.kind)));
const ksvc = (manifests: any[], name: string) => findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name });
const container = (workload: any) => workload.spec.template.spec.containers[0];

describe('serverless mode', () => {
  test('defaults: a transformer Knative Service that runs the module from a ConfigMap and calls the predictor over V2 REST', () => {
    // GIVEN / WHEN
    const { manifests, transformer } = synth({}, { module: MODULE });

    // THEN
    expect(mine(manifests)).toMatchSnapshot();
    const t = ksvc(manifests, 'iris-transformer');
    expect(t.metadata.labels).toMatchObject({
      'app.kubernetes.io/component': 'transformer',
      'serving.cdk8s-model-serving.io/endpoint': 'iris',
      'networking.knative.dev/visibility': 'cluster-local',
    });
    expect(container(t).args).toEqual([
      'serve', '--mode', 'transformer', '--model-name', 'iris', '--http-port', '8080',
      '--predictor-host', 'iris.default.svc.cluster.local:80', '--predictor-protocol', 'v2',
      '--transformer-module', '/etc/model-server/transformer/iris.js',
    ]);
    const cm = findOne(manifests, 'ConfigMap', { name: t.spec.template.spec.volumes.find((v: any) => v.configMap).configMap.name });
    expect(cm.data).toEqual({ 'iris.js': 'exports.preprocess = async (r) => r;\n' });
    expect(container(t).readinessProbe.httpGet.path).toBe('/v2/health/ready');
    expect(transformer.predictorHost).toBe('iris.default.svc.cluster.local:80');
    expect(transformer.apiObject?.kind).toBe('Service');
    // Scraped by a PodMonitor of its own, which selects its pods and no predictor pod.
    const pm = findOne(manifests, 'PodMonitor', { name: 'iris-transformer' });
    expect(transformer.monitor?.name).toBe('iris-transformer');
    expect(pm.spec.selector.matchLabels).toEqual({ 'serving.cdk8s-model-serving.io/endpoint': 'iris', 'app.kubernetes.io/component': 'transformer' });
    expect(t.spec.template.metadata.labels).toMatchObject(pm.spec.selector.matchLabels);
    expect(pm.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'user-port', path: '/metrics' });
  });

  test('the VirtualService sends the model routes to the transformer', () => {
    const { manifests } = synth({}, { module: MODULE });
    const http = findOne(manifests, 'VirtualService').spec.http;
    expect(http).toHaveLength(1);
    expect(http[0].name).toBe('transformer');
    expect(http[0].match).toEqual([{ uri: { prefix: '/v1/models/iris' } }, { uri: { prefix: '/v2/models/iris' } }]);
    expect(http[0].route[0].headers.request.set.Host).toBe('iris-transformer.default.svc.cluster.local');
    expect(http[0].route[0].destination.host).toBe('knative-local-gateway.istio-system.svc.cluster.local');
  });

  test('a gRPC endpoint: the transformer calls the predictor over gRPC, clients reach it over REST', () => {
    const { manifests } = synth({ protocol: InferenceProtocol.GRPC_V2 }, { module: MODULE });
    const args = container(ksvc(manifests, 'iris-transformer')).args;
    expect(args).toContain('grpc-v2');
    expect(findOne(manifests, 'VirtualService').spec.http[0].match).toEqual([{ uri: { prefix: '/v1/models/iris' } }, { uri: { prefix: '/v2/models/iris' } }]);
  });

  test('the NetworkPolicy admits the transformer: its pods carry the endpoint label the policy selects and admits', () => {
    const { manifests } = synth({}, { module: MODULE });
    const policy = findOne(manifests, 'NetworkPolicy');
    const labels = ksvc(manifests, 'iris-transformer').spec.template.metadata.labels;
    expect(labels).toMatchObject(policy.spec.podSelector.matchLabels);
    expect(policy.spec.ingress[0].from).toContainEqual({ podSelector: { matchLabels: policy.spec.podSelector.matchLabels } });
  });

  test('in process: the predictor runs the module, no second component', () => {
    const { manifests, transformer } = synth({}, { module: MODULE, inProcess: true, propagateHeaders: ['x-request-id', 'authorization'] });
    expect(mine(manifests)).toMatchSnapshot();
    expect(findByKind(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' })).toHaveLength(1);
    const predictor = ksvc(manifests, 'iris');
    expect(container(predictor).args.slice(-4)).toEqual(['--transformer-module', '/etc/model-server/transformer/iris.js', '--propagate-headers', 'x-request-id,authorization']);
    expect(container(predictor).volumeMounts).toContainEqual({ name: 'transformer-module', mountPath: '/etc/model-server/transformer', readOnly: true });
    expect(findOne(manifests, 'VirtualService').spec.http[0].name).toBe('predictor');
    expect(transformer.inProcess).toBe(true);
    expect(transformer.apiObject).toBeUndefined();
    // The predictor's monitor scrapes the module's metrics; there is nothing else to scrape.
    expect(transformer.monitor).toBeUndefined();
    expect(findByKind(manifests, 'PodMonitor').map((m) => m.metadata.name)).toEqual(['iris']);
  });

  test('a custom container gets the predictor host and protocol in its environment', () => {
    const { manifests } = synth({}, { container: { image: 'example.com/my-transformer:1', args: ['--predictor_host', '$(PREDICTOR_HOST)'], port: 9000, readinessPath: '/ready' } });
    const c = container(ksvc(manifests, 'iris-transformer'));
    expect(c.image).toBe('example.com/my-transformer:1');
    expect(c.args).toEqual(['--predictor_host', '$(PREDICTOR_HOST)']);
    expect(c.env).toEqual(expect.arrayContaining([
      { name: 'PREDICTOR_HOST', value: 'iris.default.svc.cluster.local:80' },
      { name: 'PREDICTOR_PROTOCOL', value: 'v2' },
      { name: 'MODEL_NAME', value: 'iris' },
    ]));
    expect(c.ports).toEqual([{ name: 'http1', containerPort: 9000, protocol: 'TCP' }]);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/ready' });
    expect(findByKind(manifests, 'ConfigMap').filter((m) => m.data?.['iris.js'])).toHaveLength(0);
    // Its metrics, if any, are unknown: it is not scraped.
    expect(findByKind(manifests, 'PodMonitor').map((m) => m.metadata.name)).toEqual(['iris']);
  });

  test('modules from a file, an existing ConfigMap, or baked into the image', () => {
    const fromFile = synth({}, { module: TransformerModule.fromFile(FIXTURE) }).manifests;
    expect(container(ksvc(fromFile, 'iris-transformer')).args).toContain('/etc/model-server/transformer/passthrough.mjs');

    const { chart, endpoint: e } = endpoint();
    e.addTransformer({ module: TransformerModule.fromConfigMap(ConfigMap.fromConfigMapName(chart, 'Existing', 'my-modules'), 'm.js') });
    const fromConfigMap = Testing.synth(chart);
    expectValidManifests(fromConfigMap);
    expect(ksvc(fromConfigMap, 'iris-transformer').spec.template.spec.volumes).toContainEqual({ name: 'transformer-module', configMap: { name: 'my-modules', items: [{ key: 'm.js', path: 'm.js' }] } });

    const baked = synth({}, { module: TransformerModule.fromImagePath('/app/transformer.js'), serverImage: 'example.com/server-with-module:1' }).manifests;
    const c = container(ksvc(baked, 'iris-transformer'));
    expect(c.image).toBe('example.com/server-with-module:1');
    expect(c.args).toContain('/app/transformer.js');
    expect(c.volumeMounts).toEqual([{ name: 'scratch', mountPath: '/tmp/scratch' }]);
  });

  test('escape hatch: the transformer\'s Knative Service can be patched', () => {
    const { chart, endpoint: e } = endpoint();
    const t = e.addTransformer({ module: MODULE });
    t.apiObject!.addJsonPatch(JsonPatch.add('/spec/template/metadata/annotations/example.com~1team', 'ml'));
    const manifests = Testing.synth(chart);
    expect(ksvc(manifests, 'iris-transformer').spec.template.metadata.annotations['example.com/team']).toBe('ml');
    expect(ApiObject.of(e.transformer!.node.findChild('Resource')).kind).toBe('Service');
  });
});

test('the server accepts the synthesized arguments: separate and in-process transformers, and explainers', () => {
  const { manifests } = synth({}, { module: MODULE, propagateHeaders: ['x-request-id'] });
  const t = parseConfig(container(ksvc(manifests, 'iris-transformer')).args.slice(1), {});
  expect(t.component).toMatchObject({ kind: 'transformer', predictorHost: 'iris.default.svc.cluster.local:80', predictorProtocol: 'v2', transformerModule: '/etc/model-server/transformer/iris.js', propagateHeaders: ['x-request-id'] });

  const { chart, endpoint: e } = endpoint({ mode: DeploymentMode.RAW });
  e.addTransformer({ module: MODULE, inProcess: true });
  e.addExplainer({});
  const raw = Testing.synth(chart);
  const p = parseConfig(container(findOne(raw, 'Deployment', { name: 'iris' })).args.slice(1), {});
  expect(p.component).toMatchObject({ kind: 'predictor', transformerModule: '/etc/model-server/transformer/iris.js' });
  const x = parseConfig(container(findOne(raw, 'Deployment', { name: 'iris-explainer' })).args.slice(1), {});
  expect(x.component).toMatchObject({ kind: 'explainer', predictorHost: 'iris.default.svc.cluster.local:80', explainer: { method: 'kernel_shap', background: 'background.json' } });
  expect(x.modelDir).toBe('/mnt/models');
});

describe('raw mode', () => {
  test('full: Deployment, Service and HorizontalPodAutoscaler of its own, routes through the Istio VirtualService', () => {
    // GIVEN / WHEN
    const { manifests } = synth({ mode: DeploymentMode.RAW, ingress: EndpointIngress.istio(), namespace: 'ml' }, {
      module: MODULE,
      predictorProtocol: InferenceProtocol.GRPC_V2,
      resources: { cpu: { request: Cpu.millis(200), limit: Cpu.units(2) } },
      minReplicas: 2,
      maxReplicas: 5,
      scaleTarget: 60,
      propagateHeaders: ['x-request-id'],
      env: { NODE_OPTIONS: EnvValue.fromValue('--max-old-space-size=256') },
      serverImage: 'example.com/model-server:2',
    });

    // THEN
    expect(mine(manifests)).toMatchSnapshot();
    const deployment = findOne(manifests, 'Deployment', { name: 'iris-transformer' });
    expect(deployment.metadata.namespace).toBe('ml');
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.selector.matchLabels).toEqual({ 'serving.cdk8s-model-serving.io/endpoint': 'iris', 'app.kubernetes.io/component': 'transformer' });
    const c = container(deployment);
    expect(c.image).toBe('example.com/model-server:2');
    expect(c.resources).toEqual({ requests: { cpu: '200m', memory: '256Mi' }, limits: { cpu: '2', memory: '512Mi' } });
    expect(c.args).toEqual(expect.arrayContaining(['--predictor-host', 'iris.ml.svc.cluster.local:8081', '--predictor-protocol', 'grpc-v2']));
    expect(c.env).toContainEqual({ name: 'NODE_OPTIONS', value: '--max-old-space-size=256' });
    const service = findOne(manifests, 'Service', { apiVersion: 'v1', name: 'iris-transformer' });
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    const hpa = findOne(manifests, 'HorizontalPodAutoscaler', { name: 'iris-transformer' });
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 5, scaleTargetRef: { kind: 'Deployment', name: 'iris-transformer' } });
    expect(hpa.spec.metrics[0].resource.target.averageUtilization).toBe(60);
    const route = findOne(manifests, 'VirtualService').spec.http[0];
    expect(route.route[0].destination).toEqual({ host: 'iris-transformer.ml.svc.cluster.local', port: { number: 80 } });
    // The predictor's NetworkPolicy ports include the transformer's container port.
    const ports = findOne(manifests, 'NetworkPolicy').spec.ingress[0].ports.map((p: any) => p.port);
    expect(ports).toContain(c.ports[0].containerPort);
    // A ServiceMonitor of its own on its Service's http port, in its namespace.
    const sm = findOne(manifests, 'ServiceMonitor', { name: 'iris-transformer' });
    expect(sm.metadata.namespace).toBe('ml');
    expect(sm.spec.selector.matchLabels).toEqual(service.spec.selector);
    expect(service.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(sm.spec.endpoints[0]).toMatchObject({ port: service.spec.ports[0].name, path: '/metrics' });
    expect(service.spec.ports[0].targetPort).toBe(8080);
  });

  test('Gateway API and Ingress routes point to the transformer Service', () => {
    const gw = synth({ mode: DeploymentMode.RAW, ingress: EndpointIngress.gatewayApi({ gatewayName: 'gateway', gatewayNamespace: 'infra' }) }, { module: MODULE }).manifests;
    expect(findOne(gw, 'HTTPRoute').spec.rules[0].backendRefs).toEqual([{ name: 'iris-transformer', port: 80 }]);
    const ing = synth({ mode: DeploymentMode.RAW, ingress: EndpointIngress.kubernetes({ className: 'nginx' }) }, { module: MODULE }).manifests;
    expect(findOne(ing, 'Ingress').spec.rules[0].http.paths.map((p: any) => [p.path, p.pathType, p.backend.service.name])).toEqual([
      ['/v1/models/iris', 'Exact', 'iris-transformer'],
      ['/v1/models/iris:predict', 'Exact', 'iris-transformer'],
      ['/v2/models/iris', 'Prefix', 'iris-transformer'],
    ]);
  });
});

describe('validation', () => {
  test('fails without a module or a container, or with both', () => {
    expect(() => endpoint().endpoint.addTransformer({})).toThrow(/set exactly one of 'module'.*and 'container'/);
    expect(() => endpoint().endpoint.addTransformer({ module: MODULE, container: { image: 'x' } })).toThrow(/set exactly one of 'module'/);
  });

  test('fails in process with a container', () => {
    expect(() => endpoint().endpoint.addTransformer({ container: { image: 'x' }, inProcess: true })).toThrow(/'inProcess' runs 'module' in our model server/);
  });

  test('fails in process with a custom predictor', () => {
    const { endpoint: e } = endpoint({ container: { image: 'example.com/predictor:1' }, knativeFeatures: ['kubernetes.podspec-init-containers' as any] });
    expect(() => e.addTransformer({ module: MODULE, inProcess: true })).toThrow(/'inProcess' needs our model server as the predictor/);
  });

  test('fails when the transformer and predictor protocols do not match', () => {
    expect(() => endpoint().endpoint.addTransformer({ module: MODULE, predictorProtocol: InferenceProtocol.GRPC_V2 }))
      .toThrow(/'predictorProtocol' is grpc-v2, but the predictor serves v1 and v2 \(in serverless mode/);
    const { endpoint: custom } = endpoint({ mode: DeploymentMode.RAW, container: { image: 'example.com/predictor:1' } });
    expect(() => custom.addTransformer({ container: { image: 'x' }, predictorProtocol: InferenceProtocol.V1 }))
      .toThrow(/'predictorProtocol' is v1, but the predictor serves v2 \(a custom 'container' speaks the endpoint's 'protocol'\)/);
  });

  test('fails when the longest derived name is too long', () => {
    const { endpoint: e } = endpoint({ name: 'a'.repeat(40) });
    expect(() => e.addTransformer({ module: MODULE })).toThrow(`'name' is too long for a transformer: '${'a'.repeat(40)}' derives '${'a'.repeat(40)}-transformer-00001-private', which has 66 characters`);
  });

  test('fails on a second transformer', () => {
    const { endpoint: e } = endpoint();
    e.addTransformer({ module: MODULE });
    expect(() => e.addTransformer({ module: MODULE })).toThrow('this endpoint already has a transformer');
  });

  test('fails with minReplicas 0 in raw mode', () => {
    expect(() => endpoint({ mode: DeploymentMode.RAW }).endpoint.addTransformer({ module: MODULE, minReplicas: 0 })).toThrow(/'minReplicas' is 0, but scale to zero needs serverless mode/);
  });

  test('fails with a header name that is not one', () => {
    expect(() => endpoint().endpoint.addTransformer({ module: MODULE, propagateHeaders: ['x request'] })).toThrow("'propagateHeaders' must hold header names, got 'x request'");
  });

  test('fails with a module file that is not JavaScript', () => {
    expect(() => TransformerModule.fromFile('transformer.ts')).toThrow(/'module' must be a JavaScript file/);
    expect(() => TransformerModule.fromFile('/nope/transformer.js')).toThrow("'module' file '/nope/transformer.js' does not exist");
    expect(() => TransformerModule.fromImagePath('transformer.js')).toThrow(/must be an absolute path/);
  });

  test('fails when env overrides what the transformer sets', () => {
    expect(() => endpoint().endpoint.addTransformer({ container: { image: 'x' }, env: { PREDICTOR_HOST: EnvValue.fromValue('elsewhere:80') } }))
      .toThrow("environment variable 'PREDICTOR_HOST' is set by the transformer itself");
  });
});
