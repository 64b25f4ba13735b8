import { Chart, Testing } from 'cdk8s';
import { ConfigMap, Secret } from 'cdk8s-plus-33';
import {
  DeploymentMode, EndpointIngress, ExplainerBackground, ExplainerMethod, ExplainerOptions, InferenceProtocol, ModelEndpoint,
  ModelEndpointProps, StorageUri, TransformerModule,
} from '../../src';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris');

function endpoint(props: Partial<ModelEndpointProps> = {}) {
  const app = Testing.app();
  const chart = new Chart(app, 'test');
  const e = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', name: 'iris', storageUri: IRIS, ...props });
  return { chart, endpoint: e };
}

function synth(props: Partial<ModelEndpointProps>, options: ExplainerOptions, transformer = false) {
  const { chart, endpoint: e } = endpoint(props);
  if (transformer) e.addTransformer({ module: TransformerModule.fromCode('exports.preprocess = (r) => r;') });
  const explainer = e.addExplainer(options);
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return { manifests, explainer };
}

/** What the explainer adds or changes: its own objects and the routes. */
const mine = (manifests: any[]) => manifests.filter((m) => m.metadata?.labels?.['app.kubernetes.io/component'] === 'explainer'
  || ['VirtualService', 'HTTPRoute', 'Ingress'].includes(m.kind));
const ksvc = (manifests: any[], name: string) => findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name });
const container = (workload: any) => workload.spec.template.spec.containers[0];

describe('serverless mode', () => {
  test('defaults: an explainer Knative Service with KernelSHAP over the background file of the model', () => {
    // GIVEN / WHEN
    const { manifests, explainer } = synth({}, {});

    // THEN
    expect(mine(manifests)).toMatchSnapshot();
    const e = ksvc(manifests, 'iris-explainer');
    expect(e.metadata.labels['app.kubernetes.io/component']).toBe('explainer');
    expect(container(e).args).toEqual([
      'serve', '--mode', 'explainer', '--model-name', 'iris', '--http-port', '8080',
      '--predictor-host', 'iris.default.svc.cluster.local:80', '--predictor-protocol', 'v2',
      '--storage-uri', 's3://models/iris', '--model-dir', '/mnt/models',
      '--explainer-method', 'kernel_shap', '--explainer-samples', '0', '--explainer-seed', '0', '--explainer-batch-size', '1024',
      '--explainer-background', 'background.json',
    ]);
    expect(container(e).volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models' });
    expect(explainer.predictorProtocol).toBe(InferenceProtocol.V2);
    // Scraped by a PodMonitor of its own, which selects its pods.
    const pm = findOne(manifests, 'PodMonitor', { name: 'iris-explainer' });
    expect(explainer.monitor?.kind).toBe('PodMonitor');
    expect(pm.spec.selector.matchLabels).toEqual({ 'serving.cdk8s-model-serving.io/endpoint': 'iris', 'app.kubernetes.io/component': 'explainer' });
    expect(e.spec.template.metadata.labels).toMatchObject(pm.spec.selector.matchLabels);
  });

  test('the VirtualService sends :explain to the explainer, ahead of the model routes', () => {
    const { manifests } = synth({}, {});
    const http = findOne(manifests, 'VirtualService').spec.http;
    expect(http.map((r: any) => r.name)).toEqual(['explainer', 'predictor']);
    expect(http[0].match).toEqual([{ uri: { prefix: '/v1/models/iris:explain' } }, { uri: { prefix: '/v2/models/iris/explain' } }]);
    expect(http[0].route[0].headers.request.set.Host).toBe('iris-explainer.default.svc.cluster.local');
  });

  test('with a transformer: :explain goes to the explainer, the rest to the transformer; the explainer calls the predictor directly', () => {
    const { manifests } = synth({}, { method: ExplainerMethod.LIME, samples: 500, seed: 7, output: 'probabilities' }, true);
    const http = findOne(manifests, 'VirtualService').spec.http;
    expect(http.map((r: any) => [r.name, r.route[0].headers.request.set.Host])).toEqual([
      ['explainer', 'iris-explainer.default.svc.cluster.local'],
      ['transformer', 'iris-transformer.default.svc.cluster.local'],
    ]);
    const args = container(ksvc(manifests, 'iris-explainer')).args;
    expect(args).toEqual(expect.arrayContaining(['--predictor-host', 'iris.default.svc.cluster.local:80', '--explainer-method', 'lime', '--explainer-samples', '500', '--explainer-seed', '7', '--explainer-output', 'probabilities']));
  });

  test('in process: the predictor serves :explain itself, no second component', () => {
    const background = ExplainerBackground.fromRows([[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5]]);
    const { manifests, explainer } = synth({}, { inProcess: true, background });
    expect(findByKind(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' })).toHaveLength(1);
    const c = container(ksvc(manifests, 'iris'));
    expect(c.args).toEqual(expect.arrayContaining(['--explainer-method', 'kernel_shap']));
    expect(c.env).toContainEqual({ name: 'EXPLAINER_BACKGROUND', value: '[[5.1,3.5,1.4,0.2],[6.3,3.3,6,2.5]]' });
    expect(findOne(manifests, 'VirtualService').spec.http.map((r: any) => r.name)).toEqual(['predictor']);
    expect(explainer.apiObject).toBeUndefined();
    expect(explainer.monitor).toBeUndefined();
    expect(findByKind(manifests, 'PodMonitor').map((m) => m.metadata.name)).toEqual(['iris']);
  });

  test('a gRPC endpoint: the explainer calls the predictor over gRPC', () => {
    const { manifests } = synth({ protocol: InferenceProtocol.GRPC_V2 }, {});
    expect(container(ksvc(manifests, 'iris-explainer')).args).toEqual(expect.arrayContaining(['--predictor-protocol', 'grpc-v2']));
  });

  test('background from a ConfigMap, and storage credentials for the model directory', () => {
    const { chart, endpoint: e } = endpoint({ storageCredentials: Secret.fromSecretName(Testing.chart(), 'Creds', 's3-creds') });
    e.addExplainer({ background: ExplainerBackground.fromConfigMap(ConfigMap.fromConfigMapName(chart, 'Bg', 'iris-background'), 'rows.csv') });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const spec = ksvc(manifests, 'iris-explainer').spec.template.spec;
    expect(spec.volumes).toContainEqual({ name: 'explainer-background', configMap: { name: 'iris-background', items: [{ key: 'rows.csv', path: 'rows.csv' }] } });
    expect(container({ spec: { template: { spec } } }).args).toEqual(expect.arrayContaining(['--explainer-background', '/etc/model-server/explainer/rows.csv']));

    const { chart: c2, endpoint: e2 } = endpoint({ storageCredentials: Secret.fromSecretName(Testing.chart(), 'Creds', 's3-creds') });
    e2.addExplainer({});
    const m2 = Testing.synth(c2);
    expectValidManifests(m2);
    expect(ksvc(m2, 'iris-explainer').spec.template.spec.volumes).toContainEqual({ name: 'storage-credentials', secret: { secretName: 's3-creds', defaultMode: 0o444 } });
  });
});

describe('raw mode', () => {
  test('full: Deployment, Service and HorizontalPodAutoscaler; the Istio route to the explainer Service', () => {
    const { manifests } = synth({ mode: DeploymentMode.RAW, ingress: EndpointIngress.istio(), protocol: InferenceProtocol.GRPC_V2 }, {
      method: ExplainerMethod.KERNEL_SHAP,
      samples: 2048,
      seed: 1,
      batchSize: 4096,
      minReplicas: 1,
      maxReplicas: 2,
      background: ExplainerBackground.fromModelDir('data/background.csv'),
    });
    expect(mine(manifests)).toMatchSnapshot();
    const d = findOne(manifests, 'Deployment', { name: 'iris-explainer' });
    expect(container(d).args).toEqual(expect.arrayContaining(['--predictor-host', 'iris.default.svc.cluster.local:8081', '--predictor-protocol', 'grpc-v2', '--explainer-background', 'data/background.csv']));
    expect(findOne(manifests, 'HorizontalPodAutoscaler', { name: 'iris-explainer' }).spec.maxReplicas).toBe(2);
    const route = findOne(manifests, 'VirtualService').spec.http[0];
    expect(route).toMatchObject({ name: 'explainer', route: [{ destination: { host: 'iris-explainer.default.svc.cluster.local', port: { number: 80 } } }] });
    // A ServiceMonitor of its own on its Service's http port (HTTP, although the predictor speaks gRPC).
    const sm = findOne(manifests, 'ServiceMonitor', { name: 'iris-explainer' });
    const service = findOne(manifests, 'Service', { apiVersion: 'v1', name: 'iris-explainer' });
    expect(sm.spec.selector.matchLabels).toEqual(service.spec.selector);
    expect(service.metadata.labels).toMatchObject(sm.spec.selector.matchLabels);
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
  });

  test('Gateway API and Ingress get an explain rule to the explainer Service', () => {
    const gw = synth({ mode: DeploymentMode.RAW, ingress: EndpointIngress.gatewayApi({ gatewayName: 'gateway' }) }, {}).manifests;
    expect(findOne(gw, 'HTTPRoute').spec.rules.map((r: any) => r.backendRefs[0].name)).toEqual(['iris', 'iris-explainer']);
    const ing = synth({ mode: DeploymentMode.RAW, ingress: EndpointIngress.kubernetes() }, {}).manifests;
    expect(findOne(ing, 'Ingress').spec.rules[0].http.paths.map((p: any) => [p.path, p.backend.service.name])).toEqual([
      ['/v2/models/iris/explain', 'iris-explainer'],
      ['/v1/models/iris:explain', 'iris-explainer'],
      ['/v1/models/iris', 'iris'],
      ['/v1/models/iris:predict', 'iris'],
      ['/v2/models/iris', 'iris'],
    ]);
  });
});

describe('validation', () => {
  test('fails when our explainer faces a custom predictor that speaks only V1', () => {
    const { endpoint: e } = endpoint({ mode: DeploymentMode.RAW, protocol: InferenceProtocol.V1, container: { image: 'example.com/predictor:1' } });
    expect(() => e.addExplainer({})).toThrow(/our explainer calls the predictor over V2 \(REST or gRPC\).*speaks v1/);
  });

  test('fails in process with a container or a custom predictor', () => {
    expect(() => endpoint().endpoint.addExplainer({ inProcess: true, container: { image: 'x' } })).toThrow(/cannot be combined with 'container'/);
    const { endpoint: e } = endpoint({ mode: DeploymentMode.RAW, container: { image: 'example.com/predictor:1' } });
    expect(() => e.addExplainer({ inProcess: true })).toThrow(/'inProcess' needs our model server as the predictor/);
  });

  test('fails with samples, seed or batch size out of range', () => {
    expect(() => endpoint().endpoint.addExplainer({ samples: -1 })).toThrow("'samples' must be an integer from 0 to 1000000, got -1");
    expect(() => endpoint().endpoint.addExplainer({ seed: 1.5 })).toThrow("'seed' must be an integer from 0 to 2147483647, got 1.5");
    expect(() => endpoint().endpoint.addExplainer({ batchSize: 0 })).toThrow("'batchSize' must be a positive integer, got 0");
  });

  test('fails with a background that is not a data set', () => {
    expect(() => ExplainerBackground.fromRows([])).toThrow(/'rows' must be a non-empty list/);
    expect(() => ExplainerBackground.fromRows([[1, 2], [3]])).toThrow(/all of the same length/);
    expect(() => ExplainerBackground.fromModelDir('../secrets.json')).toThrow(/must be a path inside the model directory/);
    expect(() => ExplainerBackground.fromConfigMap(ConfigMap.fromConfigMapName(Testing.chart(), 'x', 'x'), 'rows.txt')).toThrow(/ending in .json or .csv/);
  });

  test('fails on a second explainer', () => {
    const { endpoint: e } = endpoint();
    e.addExplainer({});
    expect(() => e.addExplainer({})).toThrow('this endpoint already has an explainer');
  });

  test('fails when the longest derived name is too long', () => {
    expect(() => endpoint({ name: 'b'.repeat(45) }).endpoint.addExplainer({})).toThrow(`derives '${'b'.repeat(45)}-explainer-00001-private', which has 69 characters`);
  });
});
