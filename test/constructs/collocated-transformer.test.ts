/**
 * A transformer collocated with the predictor: a second container in the predictor's pod that
 * takes the serving port and calls the predictor on localhost (KServe's collocation).
 */
import { Chart, Testing } from 'cdk8s';
import {
  DeploymentMode, InferenceProtocol, KnativeFeature, ModelEndpoint, ModelEndpointProps, ModelFormat, ScaleMetric, StorageUri,
  TransformerModule, TransformerOptions,
} from '../../src';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

/** A custom predictor on KServe's collocation port, its model baked in. */
const PREDICTOR = { image: 'example/torchserve-iris:1', port: 8085, readinessPath: '/v1/models/iris' };
const MODULE = TransformerModule.fromCode('exports.preprocess = async (r) => r;\n', 'iris.js');

function endpoint(props: Partial<ModelEndpointProps> = {}) {
  const chart = new Chart(Testing.app(), 'test');
  const e = new ModelEndpoint(chart, 'Endpoint', {
    modelName: 'iris', name: 'iris', container: PREDICTOR, format: ModelFormat.PYTORCH, protocol: InferenceProtocol.V1, ...props,
  });
  return { chart, endpoint: e };
}

function synth(props: Partial<ModelEndpointProps>, options: TransformerOptions) {
  const { chart, endpoint: e } = endpoint(props);
  const transformer = e.addTransformer({ collocated: true, ...options });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return { manifests, transformer };
}

const ksvc = (manifests: any[]) => findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name: 'iris' });
const byName = (containers: any[], name: string) => containers.find((c: any) => c.name === name);

describe('serverless mode', () => {
  test('our transformer is a second container that takes the serving port; no transformer component', () => {
    const { manifests, transformer } = synth({}, { module: MODULE });
    // Only the predictor's workload: no iris-transformer Knative Service, and the routes still go to the predictor.
    expect(findByKind(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' }).map((s: any) => s.metadata.name)).toEqual(['iris']);
    expect(findOne(manifests, 'VirtualService').spec.http[0].route[0].headers.request.set.Host).toBe('iris.default.svc.cluster.local');
    expect(transformer.collocated).toBe(true);
    expect(transformer.name).toBe('iris');
    expect(transformer.predictorHost).toBe('localhost:8085');
    expect(transformer.apiObject).toBeUndefined();

    const spec = ksvc(manifests).spec.template.spec;
    expect(spec.containers.map((c: any) => c.name)).toEqual(['model-server', 'transformer']);
    const predictor = byName(spec.containers, 'model-server');
    const t = byName(spec.containers, 'transformer');
    // Knative sends traffic to the one container that declares a port.
    expect(predictor.ports).toBeUndefined();
    expect(t.ports).toEqual([{ name: 'http1', containerPort: 8080, protocol: 'TCP' }]);
    expect(t.args).toEqual([
      'serve', '--mode', 'transformer', '--model-name', 'iris', '--http-port', '8080',
      '--predictor-host', 'localhost:8085', '--predictor-protocol', 'v1',
      '--grpc-port', '0', '--transformer-module', '/etc/model-server/transformer/iris.js',
    ]);
    // Without multi-container-probing only the serving container is probed; ours is ready once the predictor is.
    expect(predictor.readinessProbe).toBeUndefined();
    expect(predictor.startupProbe).toBeUndefined();
    expect(t.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready' });
    expect(t.volumeMounts).toContainEqual({ name: 'transformer-module', mountPath: '/etc/model-server/transformer', readOnly: true });
    expect(spec.volumes.map((v: any) => v.name)).toEqual(expect.arrayContaining(['transformer-module', 'transformer-scratch']));
  });

  test('with multi-container-probing the predictor keeps its probes, on its own port', () => {
    const { manifests } = synth({ knativeFeatures: [KnativeFeature.MULTI_CONTAINER_PROBING] }, { module: MODULE });
    const predictor = byName(ksvc(manifests).spec.template.spec.containers, 'model-server');
    expect(predictor.readinessProbe.httpGet).toEqual({ path: '/v1/models/iris', port: 8085 });
    expect(predictor.startupProbe.httpGet).toEqual({ path: '/v1/models/iris', port: 8085 });
  });

  test('a custom transformer gets the predictor on localhost in its environment', () => {
    const { manifests } = synth({}, { container: { image: 'example/feast-transformer:1', port: 8080, readinessPath: '/ready' } });
    const t = byName(ksvc(manifests).spec.template.spec.containers, 'transformer');
    expect(t.image).toBe('example/feast-transformer:1');
    expect(t.args).toBeUndefined();
    expect(t.env).toEqual(expect.arrayContaining([
      { name: 'PREDICTOR_HOST', value: 'localhost:8085' },
      { name: 'PREDICTOR_PROTOCOL', value: 'v1' },
      { name: 'MODEL_NAME', value: 'iris' },
    ]));
    expect(t.readinessProbe.httpGet).toEqual({ path: '/ready' });
  });
});

describe('raw mode', () => {
  test('the Service and the NetworkPolicy point to the transformer port; the predictor keeps its probes', () => {
    const { manifests } = synth({ mode: DeploymentMode.RAW }, { module: MODULE });
    expect(findByKind(manifests, 'Deployment').map((d: any) => d.metadata.name)).toEqual(['iris']);
    const spec = findOne(manifests, 'Deployment').spec.template.spec;
    const predictor = byName(spec.containers, 'model-server');
    const t = byName(spec.containers, 'transformer');
    expect(predictor.ports).toEqual([{ name: 'http', containerPort: 8085, protocol: 'TCP' }]);
    expect(predictor.readinessProbe.httpGet).toEqual({ path: '/v1/models/iris', port: 8085 });
    expect(t.ports).toEqual([{ name: 'transformer', containerPort: 8080, protocol: 'TCP' }]);
    expect(t.readinessProbe.httpGet).toEqual({ path: '/v2/health/ready', port: 8080 });
    expect(t.livenessProbe.httpGet).toEqual({ path: '/v2/health/live', port: 8080 });
    expect(findOne(manifests, 'Service').spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http', protocol: 'TCP' }]);
    expect(findOne(manifests, 'NetworkPolicy').spec.ingress[0].ports).toEqual([{ protocol: 'TCP', port: 8080 }]);
  });

  test('a V2 predictor with a custom transformer on its own port', () => {
    const { manifests, transformer } = synth({ mode: DeploymentMode.RAW, protocol: InferenceProtocol.V2 }, { container: { image: 'example/t:1', port: 9000 } });
    expect(transformer.predictorProtocol).toBe(InferenceProtocol.V2);
    expect(byName(findOne(manifests, 'Deployment').spec.template.spec.containers, 'transformer').ports[0].containerPort).toBe(9000);
    expect(findOne(manifests, 'Service').spec.ports[0].targetPort).toBe(9000);
  });
});

describe('validation', () => {
  test('fails with our model server as the predictor, pointing to inProcess', () => {
    const { endpoint: e } = endpoint({ container: undefined, format: undefined, protocol: undefined, storageUri: StorageUri.s3('models', 'iris') });
    expect(() => e.addTransformer({ module: MODULE, collocated: true })).toThrow(/with our model server as the predictor, use 'inProcess: true'/);
  });

  test('fails when the predictor listens on the transformer port', () => {
    const { endpoint: e } = endpoint({ container: { ...PREDICTOR, port: 8080 } });
    expect(() => e.addTransformer({ module: MODULE, collocated: true }))
      .toThrow(/runs the transformer on port 8080 in the predictor's pod, which is also the predictor 'container.port'; move the predictor to another port/);
  });

  test('fails with a gRPC endpoint', () => {
    const { endpoint: e } = endpoint({ protocol: InferenceProtocol.GRPC_V2 });
    expect(() => e.addTransformer({ module: MODULE, collocated: true })).toThrow(/the endpoint's 'protocol' is GRPC_V2/);
  });

  test.each<[string, Partial<TransformerOptions>]>([
    ['minReplicas', { minReplicas: 2 }],
    ['scaleMetric', { scaleMetric: ScaleMetric.RPS }],
    ['storageUri', { storageUri: StorageUri.s3('m', 'tok') }],
  ])('fails: %s on a collocated transformer', (prop, options) => {
    const { endpoint: e } = endpoint();
    expect(() => e.addTransformer({ module: MODULE, collocated: true, ...options })).toThrow(new RegExp(`'${prop}' does not apply to a collocated transformer`));
  });

  test('fails combined with inProcess', () => {
    const { endpoint: e } = endpoint();
    expect(() => e.addTransformer({ module: MODULE, collocated: true, inProcess: true })).toThrow(/set either 'collocated'.* or 'inProcess'.*, not both/);
  });

});

// rt-finish: the endpoint's monitor keeps scraping the predictor on its own port and scrapes our
// collocated transformer on the serving port, as component="transformer".
describe('monitoring', () => {
  const ADDRESS_TO_PREDICTOR = [
    { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '([^:]+)', replacement: '$1:8085', targetLabel: '__address__' },
    { action: 'replace', sourceLabels: ['__meta_kubernetes_pod_ip'], regex: '(.+:.+)', replacement: '[$1]:8085', targetLabel: '__address__' },
  ];
  const alertExprs = (manifests: any[]) => Object.fromEntries(findOne(manifests, 'PrometheusRule').spec.groups
    .flatMap((g: any) => g.rules).filter((r: any) => r.alert).map((r: any) => [r.alert, r.expr]));

  test.each([
    [DeploymentMode.SERVERLESS, 'PodMonitor', 'podMetricsEndpoints', 'user-port'],
    [DeploymentMode.RAW, 'ServiceMonitor', 'endpoints', 'http'],
  ])('%s mode: one %s, the predictor scraped on its own port, our transformer on the serving port', (mode, kind, field, servingPort) => {
    const { manifests, transformer } = synth({ mode, monitoring: { enabled: true } }, { module: MODULE });
    const monitors = findByKind(manifests, kind);
    expect(monitors).toHaveLength(1);
    const [predictor, t] = monitors[0].spec[field];
    expect(monitors[0].spec[field]).toHaveLength(2);
    // The predictor's scrape goes to its own port: the serving port is the transformer's now.
    expect(predictor.port).toBe(servingPort);
    expect(predictor.relabelings).toEqual(expect.arrayContaining(ADDRESS_TO_PREDICTOR));
    expect(predictor.relabelings.filter((r: any) => r.targetLabel === 'component').map((r: any) => r.replacement)).toEqual([undefined]);
    // Our transformer answers /metrics on the serving port; its series say component="transformer".
    expect(t).toMatchObject({ port: servingPort, path: '/metrics', interval: '30s' });
    expect(t.relabelings.some((r: any) => r.targetLabel === '__address__')).toBe(false);
    expect(t.relabelings[t.relabelings.length - 1]).toEqual({ action: 'replace', replacement: 'transformer', targetLabel: 'component' });
    expect(transformer.monitor).toBeDefined();
    // The predictor's alerts count the predictor's series only; the transformer gets its error-ratio alert.
    const alerts = alertExprs(manifests);
    expect(alerts.ModelEndpointHighErrorRatio).toContain('component="predictor"');
    expect(alerts.ModelEndpointComponentHighErrorRatio).toContain('component=~"transformer"');
  });

  test('raw mode: the NetworkPolicy admits Prometheus to both ports', () => {
    const { manifests } = synth({ mode: DeploymentMode.RAW, monitoring: { enabled: true } }, { module: MODULE });
    const fromPrometheus = findOne(manifests, 'NetworkPolicy').spec.ingress
      .filter((r: any) => r.from?.[0]?.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'monitoring');
    expect(fromPrometheus.flatMap((r: any) => r.ports.map((p: any) => p.port)).sort()).toEqual([8080, 8085]);
  });

  test('a custom transformer is not scraped (its metrics are unknown), the predictor still is, on its port', () => {
    const { manifests, transformer } = synth({ monitoring: { enabled: true } }, { container: { image: 'example/feast-transformer:1', port: 8080 } });
    const endpoints = findOne(manifests, 'PodMonitor').spec.podMetricsEndpoints;
    expect(endpoints).toHaveLength(1);
    expect(endpoints[0].relabelings).toEqual(expect.arrayContaining(ADDRESS_TO_PREDICTOR));
    expect(transformer.monitor).toBeUndefined();
    expect(alertExprs(manifests).ModelEndpointComponentHighErrorRatio).toBeUndefined();
  });

  test('monitoring off: no monitor to patch, nothing scraped', () => {
    const { manifests, transformer } = synth({}, { module: MODULE });
    expect(findByKind(manifests, 'PodMonitor')).toEqual([]);
    expect(transformer.monitor).toBeUndefined();
  });
});

describe('monitoring with a runtime predictor (MLServer, metrics on a port of its own)', () => {
  test.each([
    [DeploymentMode.RAW, 'ServiceMonitor', 'endpoints'],
    [DeploymentMode.SERVERLESS, 'PodMonitor', 'podMetricsEndpoints'],
  ])('%s: the predictor\'s scrape already goes to 8082 and is left as it is; a custom transformer adds no scrape', (mode, kind, field) => {
    const chart = new Chart(Testing.app(), 'test');
    const e = new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      name: 'iris',
      format: ModelFormat.SKLEARN,
      storageUri: StorageUri.s3('models', 'iris'),
      mode,
      knativeFeatures: [KnativeFeature.INIT_CONTAINERS],
      monitoring: { enabled: true },
    });
    const before = JSON.stringify(findOne(Testing.synth(chart), kind).spec[field]);
    e.addTransformer({ container: { image: 'example/feast-transformer:1', port: 9000 }, collocated: true });
    const endpoints = findOne(Testing.synth(chart), kind).spec[field];
    expect(JSON.stringify(endpoints)).toBe(before);
    expect(endpoints).toHaveLength(1);
    if (mode === DeploymentMode.RAW) expect(endpoints[0].port).toBe('metrics');
    else expect(endpoints[0].relabelings).toContainEqual(expect.objectContaining({ targetLabel: '__address__', replacement: '$1:8082' }));
  });
});
