/**
 * `autoscaler: Autoscaler.KEDA` in raw mode (issue 18 part 4): a ScaledObject with a Prometheus
 * trigger on our server's series instead of the HPA, and, for `minReplicas: 0`, the HTTP add-on's
 * HTTPScaledObject with the route through its interceptor. Every synthesized set is validated
 * offline here and by the test cluster's API server (test/cluster/jest-setup.ts).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Chart, Duration, Testing } from 'cdk8s';
import * as YAML from 'yaml';
import {
  Autoscaler, CanaryRollout, CanaryRolloutProps, DeploymentMode, EndpointIngress, InferenceProtocol, KServeImport, ModelEndpoint,
  ModelEndpointProps, ModelFormat, ScaleMetric, ServingTarget, StorageUri, TransformerModule,
} from '../../src';
import { kedaScalingQuery } from '../../src/render/monitoring/queries';
import { describeWithTools } from '../render/monitoring/tools';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');
const PROMETHEUS = 'http://prometheus-operated.monitoring.svc:9090';

function synth(props: Partial<ModelEndpointProps> = {}) {
  const chart = new Chart(Testing.app(), 'test');
  new ModelEndpoint(chart, 'Endpoint', {
    modelName: 'iris', name: 'iris', namespace: 'ml', storageUri: IRIS, mode: DeploymentMode.RAW, autoscaler: Autoscaler.KEDA, ...props,
  });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests);
  return manifests;
}
const scaled = (props: Partial<ModelEndpointProps> = {}) => synth({ kedaPrometheusAddress: PROMETHEUS, minReplicas: 1, maxReplicas: 5, ...props });
const fromZero = (props: Partial<ModelEndpointProps> = {}) => synth({ minReplicas: 0, maxReplicas: 4, ingress: EndpointIngress.istio(), ...props });

describe('ScaledObject (minReplicas 1 or more)', () => {
  test('scales the Deployment on the predictor\'s in-flight requests, between minReplicas and maxReplicas; no HPA', () => {
    const m = scaled({ scaleTarget: 8 });
    expect(findByKind(m, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(findByKind(m, 'HTTPScaledObject')).toEqual([]);
    const so = findOne(m, 'ScaledObject', { apiVersion: 'keda.sh/v1alpha1', name: 'iris' });
    expect(so.metadata.namespace).toBe('ml');
    expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'iris' });
    expect(so.spec.minReplicaCount).toBe(1);
    expect(so.spec.maxReplicaCount).toBe(5);
    expect(so.spec.triggers).toEqual([{
      type: 'prometheus',
      metricType: 'AverageValue',
      metadata: {
        serverAddress: PROMETHEUS,
        query: 'sum(model_server_requests_in_flight{endpoint="iris",namespace="ml",component="predictor"})',
        threshold: '8',
      },
    }]);
    expect(findOne(m, 'Deployment', { name: 'iris' }).spec.replicas).toBe(1);
    expect(findOne(m, 'PodDisruptionBudget', { name: 'iris' }).spec.maxUnavailable).toBe(1);
  });

  test('ScaleMetric.RPS: the request rate over one minute; scaleDownDelay becomes the HPA stabilization window KEDA writes', () => {
    const so = findOne(scaled({ scaleMetric: ScaleMetric.RPS, scaleTarget: 50, scaleDownDelay: Duration.seconds(120) }), 'ScaledObject');
    expect(so.spec.triggers[0].metadata.query)
      .toBe('sum (rate(model_server_requests_total{endpoint="iris",namespace="ml",component="predictor"}[1m]))');
    expect(so.spec.triggers[0].metadata.threshold).toBe('50');
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds).toBe(120);
  });

  test('the route goes to the endpoint\'s own Service, as with the HPA', () => {
    const vs = findOne(scaled({ ingress: EndpointIngress.istio() }), 'VirtualService');
    expect(vs.spec.http[0].route[0].destination.host).toBe('iris.ml.svc.cluster.local');
  });

  test('stopped: no ScaledObject, zero replicas', () => {
    const m = scaled({ stopped: true });
    expect(findByKind(m, 'ScaledObject')).toEqual([]);
    expect(findOne(m, 'Deployment').spec.replicas).toBe(0);
  });
});

describe('HTTPScaledObject (minReplicas 0)', () => {
  test('scales from zero on the interceptor\'s concurrency count, for the endpoint\'s host and model paths; no ScaledObject or HPA', () => {
    const m = fromZero({ scaleTarget: 4, scaleDownDelay: Duration.minutes(5) });
    expect(findByKind(m, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(findByKind(m, 'ScaledObject')).toEqual([]);
    const h = findOne(m, 'HTTPScaledObject', { apiVersion: 'http.keda.sh/v1alpha1', name: 'iris' });
    expect(h.spec.hosts).toEqual(['iris.ml.example.com']);
    expect(h.spec.pathPrefixes).toEqual(['/v1/models/iris', '/v2/models/iris']);
    expect(h.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'iris', service: 'iris', port: 80 });
    expect(h.spec.replicas).toEqual({ min: 0, max: 4 });
    expect(h.spec.scalingMetric).toEqual({ concurrency: { targetValue: 4 } });
    expect(h.spec.scaledownPeriod).toBe(300);
    // The first replica starts at creation; KEDA takes it to zero when idle.
    expect(findOne(m, 'Deployment').spec.replicas).toBe(1);
  });

  test('ScaleMetric.RPS: the add-on\'s request rate', () => {
    expect(findOne(fromZero({ scaleMetric: ScaleMetric.RPS, scaleTarget: 20 }), 'HTTPScaledObject').spec.scalingMetric)
      .toEqual({ requestRate: { targetValue: 20, window: '1m', granularity: '1s' } });
  });

  test('Istio: the VirtualService routes to the interceptor proxy (KEDA\'s default Service and namespace)', () => {
    const vs = findOne(fromZero(), 'VirtualService');
    expect(vs.spec.hosts).toEqual(['iris.ml.example.com']);
    expect(vs.spec.http[0].route).toEqual([{ destination: { host: 'keda-add-ons-http-interceptor-proxy.keda.svc.cluster.local', port: { number: 8080 } }, weight: 100 }]);
  });

  test('Gateway API: the HTTPRoute\'s backend is the interceptor in its namespace', () => {
    const route = findOne(fromZero({ ingress: EndpointIngress.gatewayApi({ gatewayName: 'edge', gatewayNamespace: 'gw' }) }), 'HTTPRoute');
    expect(route.spec.rules[0].backendRefs).toEqual([{ name: 'keda-add-ons-http-interceptor-proxy', namespace: 'keda', port: 8080 }]);
  });

  test('Gateway API: a ReferenceGrant in the interceptor\'s namespace lets the endpoint\'s HTTPRoutes reach the interceptor Service, and nothing else', () => {
    const m = fromZero({ ingress: EndpointIngress.gatewayApi({ gatewayName: 'edge', gatewayNamespace: 'gw' }), kedaInterceptorService: 'interceptor', kedaInterceptorNamespace: 'keda-http' });
    const grant = findOne(m, 'ReferenceGrant');
    expect(grant.apiVersion).toBe('gateway.networking.k8s.io/v1beta1');
    // Named after the endpoint's namespace too: an 'iris' in another namespace gets a grant of its own.
    expect(grant.metadata).toMatchObject({ name: 'ml-iris', namespace: 'keda-http' });
    expect(grant.metadata.labels['app.kubernetes.io/name']).toBeDefined();
    expect(grant.spec).toEqual({
      from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'ml' }],
      to: [{ group: '', kind: 'Service', name: 'interceptor' }],
    });
    expect(findOne(m, 'HTTPRoute').spec.rules[0].backendRefs).toEqual([{ name: 'interceptor', namespace: 'keda-http', port: 8080 }]);
  });

  test('no ReferenceGrant when the endpoint lives in the interceptor\'s namespace, with Istio or an Ingress, or with minReplicas 1 or more', () => {
    const gateway = EndpointIngress.gatewayApi({ gatewayName: 'edge' });
    expect(findByKind(fromZero({ ingress: gateway, namespace: 'keda' }), 'ReferenceGrant')).toEqual([]);
    expect(findByKind(fromZero(), 'ReferenceGrant')).toEqual([]);
    expect(findByKind(fromZero({ ingress: EndpointIngress.kubernetes() }), 'ReferenceGrant')).toEqual([]);
    expect(findByKind(scaled({ ingress: gateway }), 'ReferenceGrant')).toEqual([]);
  });

  test('Kubernetes Ingress: an ExternalName Service in the endpoint\'s namespace stands for the interceptor', () => {
    const m = fromZero({ ingress: EndpointIngress.kubernetes(), kedaInterceptorService: 'interceptor', kedaInterceptorNamespace: 'keda-http' });
    const ext = findOne(m, 'Service', { apiVersion: 'v1', name: 'iris-interceptor' });
    expect(ext.spec).toMatchObject({ type: 'ExternalName', externalName: 'interceptor.keda-http.svc.cluster.local' });
    const paths = findOne(m, 'Ingress').spec.rules[0].http.paths;
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(p.backend.service).toEqual({ name: 'iris-interceptor', port: { number: 8080 } });
  });

  test('the NetworkPolicy admits the interceptor\'s namespace, which now sends the requests', () => {
    const np = findOne(fromZero({ kedaInterceptorNamespace: 'keda-http' }), 'NetworkPolicy', { name: 'iris' });
    expect(JSON.stringify(np.spec.ingress)).toContain('"values":["keda-http"]');
  });

  test('a PodDisruptionBudget still bounds evictions once scaled up (it blocks nothing at zero)', () => {
    expect(findOne(fromZero(), 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
  });

  test('stopped: no HTTPScaledObject, and the route answers 503 instead of going to the interceptor', () => {
    const m = fromZero({ stopped: true });
    expect(findByKind(m, 'HTTPScaledObject')).toEqual([]);
    expect(findOne(m, 'VirtualService').spec.http[0].directResponse.status).toBe(503);
  });
});

describe('CanaryRollout (raw mode): one ScaledObject per version', () => {
  const V1 = { version: 'v1', storageUri: IRIS, minReplicas: 1, maxReplicas: 4 };
  const V2 = { version: 'v2', storageUri: StorageUri.s3('models', 'iris/v2/model.onnx'), minReplicas: 2, maxReplicas: 6 };
  function rollout(props: Partial<CanaryRolloutProps> = {}) {
    const chart = new Chart(Testing.app(), 'test');
    new CanaryRollout(chart, 'Rollout', {
      name: 'iris',
      modelName: 'iris',
      namespace: 'ml',
      mode: DeploymentMode.RAW,
      autoscaler: Autoscaler.KEDA,
      kedaPrometheusAddress: PROMETHEUS,
      stable: V1,
      canary: V2,
      scaleTarget: 8,
      ...props,
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    return manifests;
  }

  test('each version\'s Deployment scales on its own pods\' in-flight requests, between its own bounds; no HPA', () => {
    const m = rollout();
    expect(findByKind(m, 'HorizontalPodAutoscaler')).toEqual([]);
    const byTarget = Object.fromEntries(findByKind(m, 'ScaledObject').map((so: any) => [so.spec.scaleTargetRef.name, so]));
    expect(Object.keys(byTarget).sort()).toEqual(['iris-v1', 'iris-v2']);
    for (const [deployment, version, min, max] of [['iris-v1', 'v1', 1, 4], ['iris-v2', 'v2', 2, 6]] as const) {
      const so = byTarget[deployment];
      expect(so.apiVersion).toBe('keda.sh/v1alpha1');
      expect(so.metadata.namespace).toBe('ml');
      expect(so.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment });
      expect([so.spec.minReplicaCount, so.spec.maxReplicaCount]).toEqual([min, max]);
      expect(so.spec.triggers[0].metadata).toEqual({
        serverAddress: PROMETHEUS,
        query: `sum(model_server_requests_in_flight{endpoint="iris",namespace="ml",component="predictor",version="${version}"})`,
        threshold: '8',
      });
      // The monitor writes the version label the query selects.
      expect(findOne(m, 'Deployment', { name: deployment }).spec.template.metadata.labels['serving.cdk8s-model-serving.io/version']).toBe(version);
    }
  });

  test('ScaleMetric.RPS: each version\'s request rate; a version with equal bounds gets no ScaledObject', () => {
    const m = rollout({ scaleMetric: ScaleMetric.RPS, canary: { ...V2, minReplicas: 2, maxReplicas: 2 } });
    const objects = findByKind(m, 'ScaledObject');
    expect(objects.map((so: any) => so.spec.scaleTargetRef.name)).toEqual(['iris-v1']);
    expect(objects[0].spec.triggers[0].metadata.query)
      .toBe('sum (rate(model_server_requests_total{endpoint="iris",namespace="ml",component="predictor",version="v1"}[1m]))');
  });

  test('without a canary: the stable version alone; without the autoscaler prop: the HPA, as before', () => {
    expect(findByKind(rollout({ canary: undefined }), 'ScaledObject').map((so: any) => so.spec.scaleTargetRef.name)).toEqual(['iris-v1']);
    const hpa = rollout({ autoscaler: undefined, kedaPrometheusAddress: undefined, scaleMetric: ScaleMetric.CPU, scaleTarget: 80 });
    expect(findByKind(hpa, 'ScaledObject')).toEqual([]);
    expect(findByKind(hpa, 'HorizontalPodAutoscaler')).toHaveLength(2);
  });

  test.each([
    ['a version at zero (the interceptor would bypass the split)', { canary: { ...V2, minReplicas: 0 } }, /version 'v2' has 'minReplicas: 0' with 'autoscaler: Autoscaler.KEDA', but a CanaryRollout cannot scale from zero/],
    ['no Prometheus address', { kedaPrometheusAddress: undefined }, /'kedaPrometheusAddress' is required with 'autoscaler: Autoscaler.KEDA'/],
    ['monitoring off', { monitoring: { enabled: false } }, /'monitoring' is disabled/],
    ['serverless mode', { mode: DeploymentMode.SERVERLESS }, /'autoscaler' is for raw mode/],
    ['the KServe target', { target: ServingTarget.KSERVE, canary: undefined }, /'autoscaler: Autoscaler.KEDA' is not emitted for KServe yet/],
  ] as Array<[string, Partial<CanaryRolloutProps>, RegExp]>)('fails with %s, naming the prop', (_name, props, re) => {
    expect(() => rollout(props)).toThrow(re);
  });
});

describe('refusals name the prop', () => {
  const raw = { modelName: 'iris', name: 'iris', storageUri: IRIS, mode: DeploymentMode.RAW };
  const fails = (props: Partial<ModelEndpointProps>, re: RegExp) =>
    expect(() => new ModelEndpoint(new Chart(Testing.app(), 'test'), 'Endpoint', { ...raw, autoscaler: Autoscaler.KEDA, ...props })).toThrow(re);

  test.each([
    ['serverless mode', { mode: DeploymentMode.SERVERLESS }, /'autoscaler' is for raw mode/],
    ['no Prometheus address', {}, /'kedaPrometheusAddress' is required with 'autoscaler: Autoscaler.KEDA'/],
    ['a Prometheus address that is no URL', { kedaPrometheusAddress: 'prometheus:9090' }, /'kedaPrometheusAddress' must be an http\(s\) URL/],
    ['a CPU metric', { kedaPrometheusAddress: PROMETHEUS, scaleMetric: ScaleMetric.CPU }, /'scaleMetric' cpu with 'autoscaler: Autoscaler.KEDA'/],
    ['a third-party runtime, whose series the query does not select', { kedaPrometheusAddress: PROMETHEUS, format: ModelFormat.SKLEARN, storageUri: StorageUri.gcs('m', 'iris') }, /which runtime '.*' does not export/],
    ['monitoring off', { kedaPrometheusAddress: PROMETHEUS, monitoring: { enabled: false } }, /'monitoring' is disabled/],
    ['interceptor props without minReplicas 0', { kedaPrometheusAddress: PROMETHEUS, kedaInterceptorNamespace: 'x' }, /'kedaInterceptorNamespace' is only used with 'minReplicas: 0'/],
    ['no upper bound', { kedaPrometheusAddress: PROMETHEUS, maxReplicas: 0 }, /'maxReplicas' is 0 \(no limit\)/],
    ['from zero without an ingress', { minReplicas: 0 }, /there is no 'ingress'/],
    ['from zero with a Prometheus address', { minReplicas: 0, ingress: EndpointIngress.istio(), kedaPrometheusAddress: PROMETHEUS }, /'kedaPrometheusAddress' is unused with 'minReplicas: 0'/],
    ['from zero over gRPC', { minReplicas: 0, ingress: EndpointIngress.istio(), protocol: InferenceProtocol.GRPC_V2 }, /only HTTP endpoints are routed through KEDA's HTTP add-on/],
    ['from zero with a fractional target', { minReplicas: 0, ingress: EndpointIngress.istio(), scaleTarget: 2.5 }, /'scaleTarget' must be a whole number/],
    ['a bad interceptor Service name', { minReplicas: 0, ingress: EndpointIngress.istio(), kedaInterceptorService: 'Not_A_Name' }, /'kedaInterceptorService'/],
  ] as Array<[string, Partial<ModelEndpointProps>, RegExp]>)('%s', (_name, props, re) => fails(props, re));

  test('the KServe target refuses it, naming the prop (KServe makes its own ScaledObject)', () => {
    fails({ kedaPrometheusAddress: PROMETHEUS, target: ServingTarget.KSERVE }, /'autoscaler: Autoscaler.KEDA' is not emitted for KServe yet/);
  });

  test('no transformer or explainer in front of a predictor at zero (they would bypass the interceptor)', () => {
    const e = new ModelEndpoint(new Chart(Testing.app(), 'test'), 'Endpoint', {
      ...raw, autoscaler: Autoscaler.KEDA, minReplicas: 0, ingress: EndpointIngress.istio(),
    });
    expect(() => e.addTransformer({ module: TransformerModule.fromCode('exports.preprocess = async (r) => r;\n', 'iris.js') }))
      .toThrow(/a transformer cannot front a predictor with 'minReplicas: 0' and 'autoscaler: Autoscaler.KEDA'/);
    expect(() => e.addExplainer()).toThrow(/an explainer cannot front a predictor/);
  });

  test('a KEDA prop without the KEDA autoscaler', () => {
    expect(() => new ModelEndpoint(new Chart(Testing.app(), 'test'), 'Endpoint', { ...raw, kedaPrometheusAddress: PROMETHEUS }))
      .toThrow(/'kedaPrometheusAddress' is only used with 'autoscaler: Autoscaler.KEDA'/);
  });

  test('the HPA (default) still refuses minReplicas 0 in raw mode, now pointing to KEDA', () => {
    expect(() => new ModelEndpoint(new Chart(Testing.app(), 'test'), 'Endpoint', { ...raw, minReplicas: 0 }))
      .toThrow(/'minReplicas' is 0, but scale to zero needs serverless mode; .*'autoscaler: Autoscaler.KEDA'/);
  });
});

describe('KServe import: serving.kserve.io/autoscalerClass keda', () => {
  const isvc = (metrics: string, extra = '') => `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: iris
  namespace: ml
  annotations: { serving.kserve.io/deploymentMode: RawDeployment, serving.kserve.io/autoscalerClass: keda }
spec:
  predictor:
    minReplicas: 1
    maxReplicas: 4
${extra}    autoScaling:
      metrics:
${metrics}
    model: { modelFormat: { name: onnx }, protocolVersion: v2, storageUri: 's3://models/iris/model.onnx' }
`;
  const prometheusMetric = `        - type: External
          external:
            metric: { backend: prometheus, serverAddress: '${PROMETHEUS}', query: 'sum(rate(x[1m]))' }
            target: { type: Value, value: '10' }`;

  test('a Prometheus metric becomes autoscaler KEDA with its server; the query it replaces is reported', () => {
    const chart = new Chart(Testing.app(), 'test');
    const imported = KServeImport.fromYaml(chart, 'k', isvc(prometheusMetric), { lenient: true });
    const m = Testing.synth(chart);
    expectValidManifests(m);
    expect(findByKind(m, 'HorizontalPodAutoscaler')).toEqual([]);
    const so = findOne(m, 'ScaledObject', { name: 'iris' });
    expect(so.spec.triggers[0].metadata.serverAddress).toBe(PROMETHEUS);
    expect([so.spec.minReplicaCount, so.spec.maxReplicaCount]).toEqual([1, 4]);
    expect(imported.report.filter(e => e.outcome === 'unmapped').map(e => e.path)).toEqual([
      'spec.predictor.autoScaling.metrics.0.external.metric.query', 'spec.predictor.autoScaling.metrics.0.external.target',
    ]);
  });

  test('KEDA on CPU (KServe\'s own example) stays an HPA, and the annotation is reported with the reason', () => {
    const chart = new Chart(Testing.app(), 'test');
    const cpu = `        - type: Resource
          resource: { name: cpu, target: { type: Utilization, averageUtilization: 50 } }`;
    const imported = KServeImport.fromYaml(chart, 'k', isvc(cpu, '    scaleMetric: cpu\n'), { lenient: true });
    const m = Testing.synth(chart);
    expect(findByKind(m, 'ScaledObject')).toEqual([]);
    expect(findOne(m, 'HorizontalPodAutoscaler', { name: 'iris' })).toBeDefined();
    expect(imported.report.find(e => e.path === 'metadata.annotations[serving.kserve.io/autoscalerClass]')?.reason)
      .toMatch(/KEDA on cpu is what 'autoscaler: Autoscaler.HPA'/);
  });
});

describeWithTools(['promtool'], 'promtool', () => {
  let dir: string;
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keda-promtool-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the trigger queries (an endpoint\'s and a CanaryRollout version\'s) pass promtool check rules; a broken one does not (the check can fail)', () => {
    const check = (exprs: string[]) => {
      const file = path.join(dir, `rules-${exprs.length}.yaml`);
      fs.writeFileSync(file, YAML.stringify({ groups: [{ name: 'keda', rules: exprs.map((expr, i) => ({ record: `keda:q${i}`, expr })) }] }));
      return spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 30_000 });
    };
    const target = { endpoint: 'iris', namespace: 'ml' };
    const ok = check([kedaScalingQuery(target, 'concurrency'), kedaScalingQuery(target, 'rps'), kedaScalingQuery(target, 'concurrency', 'v2'), kedaScalingQuery(target, 'rps', 'v2')]);
    expect(`${ok.stdout}${ok.stderr}`).toContain('SUCCESS: 4 rules found');
    expect(ok.status).toBe(0);
    expect(check([`${kedaScalingQuery(target, 'rps')})`]).status).not.toBe(0);
  });
});
