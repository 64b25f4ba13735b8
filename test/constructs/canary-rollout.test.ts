import { ApiObject, Chart, Duration, JsonPatch, Size, Testing } from 'cdk8s';
import { Cpu, EnvValue, Secret, ServiceAccount } from 'cdk8s-plus-33';
import {
  CanaryRollout,
  CanaryRolloutProps,
  DeploymentMode,
  EndpointIngress,
  InferenceProtocol,
  KnativeFeature,
  ModelEndpoint,
  ModelVersion,
  NodeAffinityOperator,
  ScaleMetric,
  StorageUri,
} from '../../src';
import { allExpressions } from '../../src/render/monitoring/queries';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const V1: ModelVersion = { version: 'v1', storageUri: StorageUri.s3('models', 'iris/v1/model.onnx') };
const V2: ModelVersion = {
  version: 'v2',
  storageUri: StorageUri.s3('models', 'iris/v2/model.onnx'),
  resources: { cpu: { request: Cpu.millis(250), limit: Cpu.units(1) }, memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) } },
};

const VERSION = 'serving.cdk8s-model-serving.io/version';
const TRACK = 'serving.cdk8s-model-serving.io/track';

function synth(props: Partial<CanaryRolloutProps> = {}) {
  const app = Testing.app();
  const chart = new Chart(app, 'test', { namespace: 'models' });
  const rollout = new CanaryRollout(chart, 'Rollout', { name: 'iris', modelName: 'iris', stable: V1, ...props });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return { manifests, rollout, chart };
}

function ksvc(manifests: any[]) {
  return findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' });
}

function predictorRoute(manifests: any[]) {
  return findOne(manifests, 'VirtualService').spec.http.find((h: any) => h.name === 'predictor');
}

function alertRule(manifests: any[], alert: string) {
  return findOne(manifests, 'PrometheusRule').spec.groups[0].rules.find((r: any) => r.alert === alert);
}

function alertExpr(manifests: any[], alert: string): string {
  return alertRule(manifests, alert)?.expr;
}

function headerRoute(manifests: any[], track: string) {
  return findOne(manifests, 'VirtualService').spec.http.find((h: any) => h.name === `${track}-by-header`);
}

const RAW = { mode: DeploymentMode.RAW };

// The lifecycle in props, one step per entry: the same objects are used in both modes.
const STEPS: Array<[string, Partial<CanaryRolloutProps>]> = [
  ['stable only', { stable: V1 }],
  ['canary at 10%', { stable: V1, canary: V2, trafficPercent: 10 }],
  ['canary at 50%', { stable: V1, canary: V2, trafficPercent: 50 }],
  ['promoted', { stable: V2 }],
  ['rolled back', { stable: V1, canary: V2, trafficPercent: 0 }],
];

describe('serverless mode (default)', () => {
  test('defaults: one Knative Service, a VirtualService, a NetworkPolicy and monitoring, all schema-valid', () => {
    // GIVEN / WHEN
    const { manifests } = synth();

    // THEN
    expect(manifests).toMatchSnapshot();
    expect(manifests.map(m => `${m.apiVersion}/${m.kind}`).sort()).toEqual([
      'monitoring.coreos.com/v1/PodMonitor',
      'monitoring.coreos.com/v1/PrometheusRule',
      'networking.istio.io/v1/VirtualService',
      'networking.k8s.io/v1/NetworkPolicy',
      'serving.knative.dev/v1/Service',
      'v1/ConfigMap',
    ]);
    expect(ksvc(manifests).spec.template.metadata.name).toBe('iris-v1');
    expect(ksvc(manifests).spec.traffic).toEqual([{ revisionName: 'iris-v1', percent: 100, tag: 'stable' }]);
  });

  test.each(STEPS)('lifecycle step "%s": schema-valid objects', (_step, props) => {
    synth(props);
  });

  test('stable only: the template creates revision iris-v1, which takes all traffic under tag stable', () => {
    const { manifests } = synth(STEPS[0][1]);
    const spec = ksvc(manifests).spec;
    expect(spec.template.metadata.name).toBe('iris-v1');
    expect(spec.traffic).toEqual([{ revisionName: 'iris-v1', percent: 100, tag: 'stable' }]);
    expect(spec.template.metadata.labels[VERSION]).toBe('v1');
  });

  test('canary at 10%: the template creates iris-v2; traffic pins iris-v1 at 90 and iris-v2 at 10, each tagged', () => {
    const { manifests } = synth(STEPS[1][1]);
    const spec = ksvc(manifests).spec;
    expect(spec.template.metadata.name).toBe('iris-v2');
    expect(spec.template.spec.containers[0].args).toContain('s3://models/iris/v2/model.onnx');
    expect(spec.template.spec.containers[0].resources.requests).toEqual({ cpu: '250m', memory: '256Mi' });
    expect(spec.traffic).toEqual([
      { revisionName: 'iris-v1', percent: 90, tag: 'stable' },
      { revisionName: 'iris-v2', percent: 10, tag: 'canary' },
    ]);
    expect(spec.traffic.some((t: any) => t.latestRevision)).toBe(false);
  });

  test('canary at 50%: only the percentages change, the template stays iris-v2', () => {
    const { manifests } = synth(STEPS[2][1]);
    const spec = ksvc(manifests).spec;
    expect(spec.template.metadata.name).toBe('iris-v2');
    expect(spec.traffic.map((t: any) => t.percent)).toEqual([50, 50]);
  });

  test('promoted: the template is byte-identical to the canary step, so no new revision; iris-v2 takes 100% as stable', () => {
    const canary = ksvc(synth(STEPS[1][1]).manifests).spec.template;
    const { manifests } = synth(STEPS[3][1]);
    const spec = ksvc(manifests).spec;
    expect(spec.template).toEqual(canary);
    expect(spec.traffic).toEqual([{ revisionName: 'iris-v2', percent: 100, tag: 'stable' }]);
  });

  test('rolled back: all traffic goes to iris-v1 without a new revision; iris-v2 keeps its canary tag at 0%', () => {
    const promoted = ksvc(synth(STEPS[3][1]).manifests).spec.template;
    const { manifests } = synth(STEPS[4][1]);
    const spec = ksvc(manifests).spec;
    expect(spec.template).toEqual(promoted);
    expect(spec.traffic).toEqual([
      { revisionName: 'iris-v1', percent: 100, tag: 'stable' },
      { revisionName: 'iris-v2', percent: 0, tag: 'canary' },
    ]);
  });

  test('a header pins a request to one version through the tagged Knative routes', () => {
    const { manifests } = synth({ canary: V2, trafficPercent: 10 });
    const canary = headerRoute(manifests, 'canary');
    expect(canary.match).toEqual([
      { uri: { prefix: '/v1/models/iris' }, headers: { 'x-model-version': { exact: 'canary' } } },
      { uri: { prefix: '/v2/models/iris' }, headers: { 'x-model-version': { exact: 'canary' } } },
    ]);
    expect(canary.route[0].headers.request.set.Host).toBe('canary-iris.models.svc.cluster.local');
    expect(headerRoute(manifests, 'stable').route[0].headers.request.set.Host).toBe('stable-iris.models.svc.cluster.local');
    const http = findOne(manifests, 'VirtualService').spec.http;
    expect(http.map((h: any) => h.name)).toEqual(['canary-by-header', 'stable-by-header', 'predictor']);
    expect(predictorRoute(manifests).route[0].headers.request.set.Host).toBe('iris.models.svc.cluster.local');
  });

  test('shadow mode: users see stable only, the canary revision gets a mirrored share', () => {
    const { manifests } = synth({ canary: V2, trafficPercent: 25, shadow: true });
    expect(ksvc(manifests).spec.traffic).toEqual([
      { revisionName: 'iris-v1', percent: 100, tag: 'stable' },
      { revisionName: 'iris-v2', percent: 0, tag: 'canary' },
    ]);
    const route = predictorRoute(manifests);
    expect(route.mirror).toEqual({ host: 'iris-v2.models.svc.cluster.local', port: { number: 80 } });
    expect(route.mirrorPercentage).toEqual({ value: 25 });
  });

  test('routes carry the documented timeout and retry defaults', () => {
    const { manifests } = synth({ canary: V2 });
    for (const route of findOne(manifests, 'VirtualService').spec.http) {
      expect(route.timeout).toBe('300s');
      expect(route.retries).toEqual({ attempts: 2, retryOn: 'connect-failure,refused-stream,unavailable,cancelled,reset' });
    }
    expect(ksvc(manifests).spec.traffic[1].percent).toBe(10);
  });

  test('a version-less NetworkPolicy covers both versions', () => {
    const { manifests } = synth({ canary: V2 });
    const np = findOne(manifests, 'NetworkPolicy');
    expect(np.spec.podSelector).toEqual({ matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'iris' } });
    expect(np.metadata.labels[VERSION]).toBeUndefined();
  });

  test('full: every prop, followed by explicit checks', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test');
    new CanaryRollout(chart, 'Rollout', {
      name: 'fraud',
      namespace: 'risk',
      modelName: 'fraud',
      protocol: InferenceProtocol.V1,
      stable: { ...V1, env: { LOG_LEVEL: EnvValue.fromValue('info') }, minReplicas: 2, maxReplicas: 4 },
      canary: { ...V2, serverImage: 'registry.example.com/model-server:0.2.0', gpus: 1, minReplicas: 1, maxReplicas: 2 },
      trafficPercent: 20,
      versionHeader: 'x-fraud-version',
      host: 'fraud.example.com',
      ingress: EndpointIngress.istio({ gateway: 'istio-system/public' }),
      timeout: Duration.seconds(30),
      retries: { attempts: 3, perTryTimeout: Duration.seconds(10), retryOn: '5xx' },
      containerConcurrency: 4,
      scaleMetric: ScaleMetric.RPS,
      scaleTarget: 50,
      scaleDownDelay: Duration.minutes(1),
      startupTimeout: Duration.minutes(5),
      initialScale: 2,
      stopped: false,
      nodeSelector: { pool: 'inference' },
      tolerations: [],
      nodeAffinity: [{ key: 'topology.kubernetes.io/zone', operator: NodeAffinityOperator.IN, values: ['eu-west-1a'] }],
      serviceAccount: ServiceAccount.fromServiceAccountName(chart, 'SA', 'fraud'),
      automountServiceAccountToken: true,
      runAsUser: 2000,
      readOnlyRootFilesystem: true,
      storageCredentials: Secret.fromSecretName(chart, 'Creds', 's3-creds'),
      labels: { team: 'risk' },
      annotations: { owner: 'risk-team' },
      knativeFeatures: [KnativeFeature.NODE_SELECTOR, KnativeFeature.AFFINITY],
      networkPolicy: true,
      allowedNamespaces: ['istio-system', 'knative-serving', 'web'],
      security: { allowedNamespaces: ['web'], jwt: { issuer: 'https://auth.example.com', jwksUri: 'https://auth.example.com/jwks.json' } },
      monitoring: { scrapeInterval: Duration.seconds(15), prometheusLabels: { release: 'kube-prometheus-stack' }, canaryErrorRatioMargin: 0.05 },
    });
    const manifests = Testing.synth(chart);
    // The project's defaults forbid a mounted token: this test turns it on on purpose.
    expectValidManifests(manifests, { knativeFlags: [KnativeFeature.NODE_SELECTOR, KnativeFeature.AFFINITY], projectDefaults: false });
    expect(manifests).toMatchSnapshot();
    const spec = ksvc(manifests).spec;
    expect(spec.template.metadata.name).toBe('fraud-v2');
    expect(spec.template.spec.timeoutSeconds).toBe(30);
    expect(spec.template.spec.containers[0].image).toBe('registry.example.com/model-server:0.2.0');
    expect(spec.traffic).toEqual([
      { revisionName: 'fraud-v1', percent: 80, tag: 'stable' },
      { revisionName: 'fraud-v2', percent: 20, tag: 'canary' },
    ]);
    const vs = findOne(manifests, 'VirtualService');
    expect(vs.spec.hosts).toEqual(['fraud.example.com']);
    expect(vs.spec.gateways).toEqual(['istio-system/public']);
    expect(headerRoute(manifests, 'canary').match[0].headers).toEqual({ 'x-fraud-version': { exact: 'canary' } });
    expect(predictorRoute(manifests).retries).toEqual({ attempts: 3, perTryTimeout: '10s', retryOn: '5xx' });
    expect(predictorRoute(manifests).timeout).toBe('30s');
    expect(findOne(manifests, 'PeerAuthentication').spec.mtls).toEqual({ mode: 'STRICT' });
    expect(findOne(manifests, 'RequestAuthentication').spec.jwtRules[0].issuer).toBe('https://auth.example.com');
    const pod = spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.containers[0].securityContext).toMatchObject({ runAsUser: 2000, readOnlyRootFilesystem: true });
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions)
      .toEqual([{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['eu-west-1a'] }]);
    expect(spec.template.metadata.annotations['autoscaling.knative.dev/initial-scale']).toBe('2');
    expect(findOne(manifests, 'PodMonitor').metadata.labels.release).toBe('kube-prometheus-stack');
    expect(findOne(manifests, 'PodMonitor').spec.podMetricsEndpoints[0].interval).toBe('15s');
    expect(alertExpr(manifests, 'ModelEndpointCanaryErrorRatio')).toMatch(/ \+ 0\.05$/);
  });
});

describe('raw mode', () => {
  test('defaults: one Service, a Deployment per version, a DestinationRule, a VirtualService, a NetworkPolicy and monitoring', () => {
    const { manifests } = synth({ ...RAW });
    expect(manifests).toMatchSnapshot();
    expect(manifests.map(m => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ConfigMap/iris-dashboard',
      'Deployment/iris-v1',
      'DestinationRule/iris',
      'HorizontalPodAutoscaler/iris-v1',
      'NetworkPolicy/iris',
      'PodDisruptionBudget/iris-v1',
      'PrometheusRule/iris',
      'Service/iris',
      'ServiceMonitor/iris',
      'VirtualService/iris',
    ]);
    const vs = findOne(manifests, 'VirtualService');
    expect(vs.spec.hosts).toEqual(['iris.models.example.com', 'iris.models.svc.cluster.local']);
    expect(vs.spec.gateways).toEqual(['istio-system/ingressgateway', 'mesh']);
  });

  test.each(STEPS)('lifecycle step "%s": schema-valid objects', (_step, props) => {
    synth({ ...RAW, ...props });
  });

  test('stable only: one Deployment iris-v1, subset stable, weight 100', () => {
    const { manifests } = synth({ ...RAW, ...STEPS[0][1] });
    expect(findByKind(manifests, 'Deployment').map(d => d.metadata.name)).toEqual(['iris-v1']);
    expect(findOne(manifests, 'DestinationRule').spec.subsets).toEqual([{ name: 'stable', labels: { [VERSION]: 'v1' } }]);
    expect(predictorRoute(manifests).route).toEqual([
      { destination: { host: 'iris.models.svc.cluster.local', subset: 'stable', port: { number: 80 } }, weight: 100 },
    ]);
  });

  test('canary at 10%: two Deployments with a track label, two subsets, weights 90/10', () => {
    const { manifests } = synth({ ...RAW, ...STEPS[1][1] });
    const deployments = findByKind(manifests, 'Deployment');
    expect(deployments.map(d => [d.metadata.name, d.metadata.labels[TRACK]])).toEqual([['iris-v1', 'stable'], ['iris-v2', 'canary']]);
    const v2 = findOne(manifests, 'Deployment', { name: 'iris-v2' });
    expect(v2.spec.selector.matchLabels[VERSION]).toBe('v2');
    expect(v2.spec.template.metadata.labels[VERSION]).toBe('v2');
    expect(v2.spec.template.metadata.labels[TRACK]).toBeUndefined();
    expect(findOne(manifests, 'Service').spec.selector[VERSION]).toBeUndefined();
    expect(findOne(manifests, 'DestinationRule').spec.subsets).toEqual([
      { name: 'stable', labels: { [VERSION]: 'v1' } },
      { name: 'canary', labels: { [VERSION]: 'v2' } },
    ]);
    expect(predictorRoute(manifests).route.map((r: any) => [r.destination.subset, r.weight])).toEqual([['stable', 90], ['canary', 10]]);
  });

  test('canary at 50%: weights 50/50', () => {
    const { manifests } = synth({ ...RAW, ...STEPS[2][1] });
    expect(predictorRoute(manifests).route.map((r: any) => r.weight)).toEqual([50, 50]);
  });

  test('promoted: iris-v2 keeps its pod template (no restart) and becomes the stable subset', () => {
    const canaryStep = findOne(synth({ ...RAW, ...STEPS[1][1] }).manifests, 'Deployment', { name: 'iris-v2' });
    const { manifests } = synth({ ...RAW, ...STEPS[3][1] });
    const v2 = findOne(manifests, 'Deployment', { name: 'iris-v2' });
    expect(v2.spec.template).toEqual(canaryStep.spec.template);
    expect(v2.metadata.labels[TRACK]).toBe('stable');
    expect(findByKind(manifests, 'Deployment')).toHaveLength(1);
    expect(findOne(manifests, 'DestinationRule').spec.subsets).toEqual([{ name: 'stable', labels: { [VERSION]: 'v2' } }]);
    expect(predictorRoute(manifests).route.map((r: any) => [r.destination.subset, r.weight])).toEqual([['stable', 100]]);
  });

  test('rolled back: weights 100/0, both Deployments kept', () => {
    const { manifests } = synth({ ...RAW, ...STEPS[4][1] });
    expect(findByKind(manifests, 'Deployment')).toHaveLength(2);
    expect(predictorRoute(manifests).route.map((r: any) => [r.destination.subset, r.weight])).toEqual([['stable', 100], ['canary', 0]]);
  });

  test('a header routes a request to one version\'s subset', () => {
    const { manifests } = synth({ ...RAW, canary: V2 });
    expect(headerRoute(manifests, 'canary').match[1]).toEqual({ uri: { prefix: '/v2/models/iris' }, headers: { 'x-model-version': { exact: 'canary' } } });
    expect(headerRoute(manifests, 'canary').route).toEqual([{ destination: { host: 'iris.models.svc.cluster.local', subset: 'canary', port: { number: 80 } }, weight: 100 }]);
    expect(headerRoute(manifests, 'stable').route[0].destination.subset).toBe('stable');
  });

  test('shadow mode: the stable subset takes every request and the canary subset gets a mirrored share', () => {
    const { manifests } = synth({ ...RAW, canary: V2, trafficPercent: 30, shadow: true });
    const route = predictorRoute(manifests);
    expect(route.route).toEqual([{ destination: { host: 'iris.models.svc.cluster.local', subset: 'stable', port: { number: 80 } }, weight: 100 }]);
    expect(route.mirror).toEqual({ host: 'iris.models.svc.cluster.local', subset: 'canary', port: { number: 80 } });
    expect(route.mirrorPercentage).toEqual({ value: 30 });
  });

  test('without ingress the split still applies to callers inside the mesh', () => {
    const { manifests } = synth({ ...RAW, canary: V2, ingress: EndpointIngress.none() });
    const vs = findOne(manifests, 'VirtualService');
    expect(vs.spec.hosts).toEqual(['iris.models.svc.cluster.local']);
    expect(vs.spec.gateways).toEqual(['mesh']);
  });

  test('Gateway API: a Service per track and an HTTPRoute with weights, header rules and a mirror filter', () => {
    const ingress = EndpointIngress.gatewayApi({ gatewayName: 'public', gatewayNamespace: 'gateway-system' });
    const { manifests } = synth({ ...RAW, canary: V2, trafficPercent: 10, ingress });
    expect(findByKind(manifests, 'DestinationRule', {})).toHaveLength(0);
    const stable = findOne(manifests, 'Service', { name: 'iris-stable' });
    expect(stable.spec.selector[VERSION]).toBe('v1');
    expect(findOne(manifests, 'Service', { name: 'iris-canary' }).spec.selector[VERSION]).toBe('v2');
    const route = findOne(manifests, 'HTTPRoute');
    expect(route.spec.parentRefs).toEqual([{ name: 'public', namespace: 'gateway-system' }]);
    const rules = route.spec.rules;
    expect(rules[0].matches[0].headers).toEqual([{ type: 'Exact', name: 'x-model-version', value: 'canary' }]);
    expect(rules[0].backendRefs).toEqual([{ name: 'iris-canary', port: 80, weight: 1 }]);
    expect(rules[2].backendRefs).toEqual([{ name: 'iris-stable', port: 80, weight: 90 }, { name: 'iris-canary', port: 80, weight: 10 }]);
    expect(rules[2].timeouts).toEqual({ request: '300s' });

    const shadow = synth({ ...RAW, canary: V2, trafficPercent: 5, shadow: true, ingress }).manifests;
    const mirrorRule = findOne(shadow, 'HTTPRoute').spec.rules[2];
    expect(mirrorRule.backendRefs).toEqual([{ name: 'iris-stable', port: 80, weight: 100 }]);
    expect(mirrorRule.filters).toEqual([{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'iris-canary', port: 80 }, percent: 5 } }]);
  });
});

describe('validation errors name the prop and the fix', () => {
  const make = (props: Partial<CanaryRolloutProps>) => () => new CanaryRollout(Testing.chart(), 'Rollout', { modelName: 'iris', stable: V1, ...props });

  test('fails when trafficPercent is above 100', () => {
    expect(make({ canary: V2, trafficPercent: 150 })).toThrow(/'trafficPercent' must be an integer between 0 and 100, got 150/);
  });

  test('fails when trafficPercent is negative', () => {
    expect(make({ canary: V2, trafficPercent: -1 })).toThrow(/between 0 and 100, got -1/);
  });

  test('fails when trafficPercent is not an integer', () => {
    expect(make({ canary: V2, trafficPercent: 12.5 })).toThrow(/must be an integer between 0 and 100, got 12.5/);
  });

  test('fails when a canary has no stable version', () => {
    expect(make({ stable: undefined as any, canary: V2 })).toThrow(/'canary' needs a 'stable' version/);
  });

  test('fails when trafficPercent is set without a canary', () => {
    expect(make({ trafficPercent: 10 })).toThrow(/no 'canary' to send it to/);
  });

  test('fails when stable and canary have the same version', () => {
    expect(make({ canary: { ...V2, version: 'v1' } })).toThrow(/same 'version' 'v1'/);
  });

  test('fails when a version is not a DNS label', () => {
    expect(make({ canary: { ...V2, version: 'V2.0' } })).toThrow(/'version' must be a DNS-1123 label/);
  });

  test('fails when shadow mode has no canary', () => {
    expect(make({ shadow: true })).toThrow(/'shadow' needs a 'canary'/);
  });

  test('fails when shadow mode mirrors 0%', () => {
    expect(make({ canary: V2, shadow: true, trafficPercent: 0 })).toThrow(/nothing would be mirrored/);
  });

  test('fails when shadow mode has no VirtualService in serverless mode', () => {
    expect(make({ canary: V2, shadow: true, ingress: EndpointIngress.none() })).toThrow(/'shadow' needs an Istio VirtualService/);
  });

  test('fails with a Kubernetes Ingress, which cannot split traffic', () => {
    expect(make({ ...RAW, ingress: EndpointIngress.kubernetes() })).toThrow(/cannot split traffic by weight/);
  });

  test('fails when the name and version derive a revision name over 63 characters', () => {
    expect(make({ name: 'a'.repeat(50), canary: { ...V2, version: 'version-two' } })).toThrow(/'name' is too long/);
  });

  test('fails when retries are out of range', () => {
    expect(make({ retries: { attempts: 11 } })).toThrow(/'retries.attempts' must be an integer from 0 to 10, got 11/);
  });

  test('fails when the version header is not a header name', () => {
    expect(make({ versionHeader: 'X Model' })).toThrow(/'versionHeader'/);
  });

  test('fails when version resolution fails, with the endpoint message (shared validation)', () => {
    expect(make({ canary: { ...V2, minReplicas: 5, maxReplicas: 2 } })).toThrow(/'minReplicas' \(5\) must not be greater than 'maxReplicas' \(2\)/);
  });
});

describe('one endpoint per model: conflicting endpoints fail synth', () => {
  test('fails when two ModelEndpoints serve the same model on the same host, pointing to CanaryRollout', () => {
    const chart = Testing.chart();
    new ModelEndpoint(chart, 'IrisV1', { name: 'iris-v1', modelName: 'iris', storageUri: V1.storageUri, host: 'iris.example.com' });
    new ModelEndpoint(chart, 'IrisV2', { name: 'iris-v2', modelName: 'iris', storageUri: V2.storageUri, host: 'iris.example.com' });
    expect(() => Testing.synth(chart)).toThrow(/\[test\] endpoints 'test\/IrisV1' and 'test\/IrisV2' both serve model 'iris' on host 'iris.example.com': two versions of one model belong in one CanaryRollout/);
  });

  test('fails when two endpoints claim one host through the same ingress', () => {
    const chart = Testing.chart();
    new ModelEndpoint(chart, 'Iris', { name: 'iris', modelName: 'iris', storageUri: V1.storageUri, host: 'models.example.com' });
    new CanaryRollout(chart, 'Wine', { name: 'wine', modelName: 'wine', stable: V1, host: 'models.example.com' });
    expect(() => Testing.synth(chart)).toThrow(/both claim host 'models.example.com' through the same ingress/);
  });

  test('fails when two endpoints have the same name in one namespace', () => {
    const chart = Testing.chart();
    new ModelEndpoint(chart, 'A', { name: 'iris', modelName: 'iris', storageUri: V1.storageUri, domain: 'a.example.com' });
    new ModelEndpoint(chart, 'B', { name: 'iris', modelName: 'iris2', storageUri: V1.storageUri, domain: 'b.example.com' });
    expect(() => Testing.synth(chart)).toThrow(/are both named 'iris' in namespace 'default'/);
  });

  test('different models on one host through different gateways are allowed', () => {
    const chart = Testing.chart();
    new ModelEndpoint(chart, 'A', { name: 'iris', modelName: 'iris', storageUri: V1.storageUri, host: 'models.example.com' });
    new ModelEndpoint(chart, 'B', {
      name: 'wine',
      modelName: 'wine',
      storageUri: V1.storageUri,
      host: 'models.example.com',
      mode: DeploymentMode.RAW,
      ingress: EndpointIngress.gatewayApi({ gatewayName: 'public' }),
    });
    expect(() => Testing.synth(chart)).not.toThrow();
  });
});

describe('escape hatches', () => {
  test('the primary object is reachable with ApiObject.of and takes JSON patches', () => {
    const chart = Testing.chart();
    const rollout = new CanaryRollout(chart, 'Rollout', { name: 'iris', modelName: 'iris', stable: V1, canary: V2 });
    ApiObject.of(rollout).addJsonPatch(JsonPatch.add('/metadata/labels/team', 'ml'));
    const manifests = Testing.synth(chart);
    expect(ksvc(manifests).metadata.labels.team).toBe('ml');
    expect(rollout.apiObject.kind).toBe('Service');
    expect(rollout.trackUrl('canary')).toBe('http://canary-iris.default.svc.cluster.local');
    expect(rollout.url).toBe('http://iris.default.svc.cluster.local');
    expect(rollout.trafficPercent).toBe(10);
    expect(() => rollout.trackUrl('blue')).toThrow(/'track' must be 'stable' or 'canary'/);
  });
});

describe('monitoring: both versions scraped, compared by version', () => {
  const VERSION_META = '__meta_kubernetes_pod_label_serving_cdk8s_model_serving_io_version';
  const CANARY_STEP = { canary: V2, trafficPercent: 10 };

  function dashboard(manifests: any[]) {
    const cm = findOne(manifests, 'ConfigMap');
    return JSON.parse(cm.data[Object.keys(cm.data)[0]]);
  }

  test('serverless: one PodMonitor selects both revisions\' pods; version comes from the pod, track from the canary version', () => {
    const { manifests } = synth(CANARY_STEP);
    const pm = findOne(manifests, 'PodMonitor');
    expect(pm.metadata.labels[VERSION]).toBeUndefined();
    // Every revision's pods carry the selector labels (the template is the canary's; the stable
    // revision was created from the same labels with its own version).
    const template = ksvc(manifests).spec.template.metadata.labels;
    expect(template).toMatchObject(pm.spec.selector.matchLabels);
    expect(pm.spec.selector.matchLabels[VERSION]).toBeUndefined();
    const relabelings = pm.spec.podMetricsEndpoints[0].relabelings;
    expect(relabelings.map((r: any) => r.targetLabel)).toEqual(['endpoint', 'component', 'track', 'track', 'version', 'revision']);
    expect(relabelings[2]).toEqual({ action: 'replace', replacement: 'stable', targetLabel: 'track' });
    expect(relabelings[3]).toEqual({ action: 'replace', sourceLabels: [VERSION_META], regex: 'v2', replacement: 'canary', targetLabel: 'track' });
    expect(relabelings[4]).toEqual({ action: 'replace', sourceLabels: [VERSION_META], regex: '(.+)', targetLabel: 'version' });
  });

  test('raw: the ServiceMonitor selects the shared Service only (not the per-track Services of Gateway API)', () => {
    const ingress = EndpointIngress.gatewayApi({ gatewayName: 'public' });
    const { manifests } = synth({ ...RAW, ...CANARY_STEP, ingress });
    const sm = findOne(manifests, 'ServiceMonitor');
    const selected = findByKind(manifests, 'Service').filter((svc: any) =>
      Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v)
      && sm.spec.selector.matchExpressions.every((e: any) => e.operator === 'DoesNotExist' && !(e.key in svc.metadata.labels)));
    expect(selected.map((svc: any) => svc.metadata.name)).toEqual(['iris']);
    // Its endpoints are both versions' pods.
    const shared = selected[0];
    for (const d of findByKind(manifests, 'Deployment')) expect(d.spec.template.metadata.labels).toMatchObject(shared.spec.selector);
    expect(sm.spec.endpoints[0].relabelings.map((r: any) => r.targetLabel)).toEqual(['endpoint', 'component', 'track', 'track', 'version']);
  });

  test('canary alerts compare version="v2" with version="v1" and name both', () => {
    const { manifests } = synth(CANARY_STEP);
    const errors = alertRule(manifests, 'ModelEndpointCanaryErrorRatio');
    expect(errors.expr).toContain('version="v2",code!~"2..|0"');
    expect(errors.expr).toContain('version="v1",code!~"2..|0"');
    expect(errors.expr).not.toContain('track=');
    expect(errors.expr.indexOf('version="v2"')).toBeLessThan(errors.expr.indexOf('version="v1"'));
    expect(errors.labels).toEqual({ severity: 'warning', endpoint: 'iris', namespace: 'models', version: 'v2' });
    expect(errors.annotations.summary).toBe('The canary v2 of iris fails more often than the stable version v1');
    const latency = alertRule(manifests, 'ModelEndpointCanaryLatency');
    expect(latency.expr).toBe(
      'histogram_quantile(0.99, sum by (le) (rate(model_server_request_duration_seconds_bucket{endpoint="iris",namespace="models",component="predictor",version="v2"}[5m])))'
      + ' > 1.5 * histogram_quantile(0.99, sum by (le) (rate(model_server_request_duration_seconds_bucket{endpoint="iris",namespace="models",component="predictor",version="v1"}[5m])))');
  });

  test('without a canary there is no canary alert; after promotion the comparison follows the versions', () => {
    const alerts = (m: any[]) => findOne(m, 'PrometheusRule').spec.groups[0].rules.map((r: any) => r.alert);
    expect(alerts(synth().manifests)).not.toContain('ModelEndpointCanaryErrorRatio');
    expect(alerts(synth({ stable: V2 }).manifests)).not.toContain('ModelEndpointCanaryLatency');
    const rolledBack = synth({ stable: V2, canary: { ...V1, version: 'v3' }, trafficPercent: 0 }).manifests;
    expect(alertExpr(rolledBack, 'ModelEndpointCanaryLatency')).toMatch(/version="v3".* > 1\.5 \* .*version="v2"/);
  });

  test('no-ready-replicas is per version: up in serverless mode, each Deployment in raw mode', () => {
    const serverless = alertExpr(synth(CANARY_STEP).manifests, 'ModelEndpointNoReadyReplicas');
    expect(serverless).toBe('label_replace(absent(up{endpoint="iris",namespace="models",component="predictor",version="v1"} == 1), "version", "v1", "", "")'
      + ' or label_replace(absent(up{endpoint="iris",namespace="models",component="predictor",version="v2"} == 1), "version", "v2", "", "")');
    const raw = alertExpr(synth({ ...RAW, ...CANARY_STEP }).manifests, 'ModelEndpointNoReadyReplicas');
    expect(raw).toBe('sum by (deployment) (kube_deployment_status_replicas_available{namespace="models",deployment=~"iris-v1|iris-v2"}) < 1');
    // A version that scales to zero is left out.
    const scaleToZero = alertExpr(synth({ canary: { ...V2, minReplicas: 0 } }).manifests, 'ModelEndpointNoReadyReplicas');
    expect(scaleToZero).not.toContain('version="v2"');
  });

  test('the dashboard shows stable and canary side by side, one target per version', () => {
    const { manifests, rollout } = synth(CANARY_STEP);
    const panels = dashboard(manifests).panels.filter((p: any) => p.type !== 'row');
    const byVersion = panels.filter((p: any) => / by version$/.test(p.title));
    expect(byVersion.map((p: any) => p.title)).toEqual(['Requests/s by version', 'Error ratio by version', 'p99 latency by version']);
    for (const p of byVersion) {
      expect(p.targets.map((t: any) => t.legendFormat)).toEqual(['stable v1', 'canary v2']);
      expect(p.targets[0].expr).toContain('version="v1"');
      expect(p.targets[1].expr).toContain('version="v2"');
    }
    expect(panels.map((p: any) => p.title)).not.toContain('Requests/s by track');
    // Every expression comes from the query module.
    const known = new Set(Object.values(allExpressions(rollout.monitoring!._queries)));
    for (const p of panels) for (const t of p.targets) expect(known).toContain(t.expr);
  });

  test('the NetworkPolicy admits Prometheus to the metrics port', () => {
    const np = findOne(synth({ ...CANARY_STEP, monitoring: { prometheusNamespace: 'prom' } }).manifests, 'NetworkPolicy');
    expect(np.spec.ingress[1]).toEqual({
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'prom' } } }],
      ports: [{ protocol: 'TCP', port: 8080 }],
    });
  });

  test('monitoring can be turned off, and is off by default when a version runs a custom container', () => {
    const kinds = (m: any[]) => m.map(o => o.kind).filter(k => ['PodMonitor', 'ServiceMonitor', 'PrometheusRule', 'ConfigMap'].includes(k));
    const off = synth({ monitoring: { enabled: false } });
    expect(kinds(off.manifests)).toEqual([]);
    expect(off.rollout.monitoring).toBeUndefined();
    const custom = { ...V2, container: { image: 'example.com/server:1' }, storageUri: StorageUri.pvc('models', 'iris') };
    const chart = Testing.chart();
    const rollout = new CanaryRollout(chart, 'R', { modelName: 'iris', stable: V1, canary: custom, mode: DeploymentMode.RAW });
    expect(kinds(Testing.synth(chart))).toEqual([]);
    expect(rollout.monitoring).toBeUndefined();
  });
});

describe('prop parity with ModelEndpoint', () => {
  const make = (props: Partial<CanaryRolloutProps>) => () => new CanaryRollout(Testing.chart(), 'Rollout', { modelName: 'iris', stable: V1, ...props });

  test('stopped (raw): both Deployments at 0 replicas, no autoscaler or PDB, the routes answer 503, no no-ready alert', () => {
    const { manifests } = synth({ ...RAW, canary: V2, stopped: true });
    expect(findByKind(manifests, 'Deployment').map(d => d.spec.replicas)).toEqual([0, 0]);
    expect(manifests.filter(m => m.kind === 'HorizontalPodAutoscaler' || m.kind === 'PodDisruptionBudget')).toEqual([]);
    const http = findOne(manifests, 'VirtualService').spec.http;
    expect(http.map((h: any) => h.name)).toEqual(['stopped']);
    expect(http[0].directResponse.status).toBe(503);
    expect(findOne(manifests, 'PrometheusRule').spec.groups[0].rules.map((r: any) => r.alert)).not.toContain('ModelEndpointNoReadyReplicas');
    // The pod templates are unchanged: stopping and restarting does not roll the pods.
    const running = findOne(synth({ ...RAW, canary: V2 }).manifests, 'Deployment', { name: 'iris-v2' });
    expect(findOne(manifests, 'Deployment', { name: 'iris-v2' }).spec.template).toEqual(running.spec.template);
  });

  test('stopped (serverless, versions scaling to zero): the routes answer 503 and the template is unchanged', () => {
    const v1 = { ...V1, minReplicas: 0 };
    const v2 = { ...V2, minReplicas: 0 };
    const running = synth({ stable: v1, canary: v2 }).manifests;
    const { manifests } = synth({ stable: v1, canary: v2, stopped: true });
    expect(ksvc(manifests).spec.template).toEqual(ksvc(running).spec.template);
    expect(findOne(manifests, 'VirtualService').spec.http.map((h: any) => [h.name, h.directResponse?.status])).toEqual([['stopped', 503]]);
  });

  test('fails when stopping a serverless rollout whose revisions keep replicas', () => {
    expect(make({ canary: V2, stopped: true })).toThrow(/'stopped' needs 'minReplicas: 0' on every version in serverless mode, got minReplicas above 0 on 'v1', 'v2'/);
  });

  test('initialScale applies to every version', () => {
    const { manifests } = synth({ ...RAW, canary: { ...V2, minReplicas: 1, maxReplicas: 4 }, initialScale: 3 });
    expect(findByKind(manifests, 'Deployment').map(d => d.spec.replicas)).toEqual([3, 3]);
  });

  test('fails when initialScale exceeds a version\'s maxReplicas', () => {
    expect(make({ canary: { ...V2, maxReplicas: 2 }, initialScale: 3 })).toThrow(/'initialScale' must be between 1 and 'maxReplicas' \(2\), got 3/);
  });

  test('fails when runAsUser is 0', () => {
    expect(make({ runAsUser: 0 })).toThrow(/'runAsUser' must not be 0/);
  });

  test('fails when nodeAffinity is set in serverless mode without the Knative feature flag', () => {
    const nodeAffinity = [{ key: 'zone', operator: NodeAffinityOperator.EXISTS }];
    expect(make({ nodeAffinity })).toThrow(/kubernetes.podspec-affinity/);
    // Not through synth(): a writable root filesystem breaks the project's pod defaults on purpose.
    const chart = Testing.chart();
    new CanaryRollout(chart, 'Rollout', { modelName: 'iris', stable: V1, canary: V2, ...RAW, nodeAffinity, readOnlyRootFilesystem: false, runAsUser: 1001 });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests, { projectDefaults: false });
    for (const d of findByKind(manifests, 'Deployment')) {
      expect(d.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions)
        .toEqual([{ key: 'zone', operator: 'Exists' }]);
      expect(d.spec.template.spec.containers[0].securityContext).toMatchObject({ runAsUser: 1001, readOnlyRootFilesystem: false });
      expect(d.spec.template.spec.automountServiceAccountToken).toBe(false);
    }
  });
});
