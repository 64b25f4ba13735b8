/**
 * The KServe emit target: ModelEndpoint props → an InferenceService (and a ServingRuntime), with
 * every object valid offline against the vendored KServe CRDs and Pod Security restricted, and
 * queued for the test cluster's real API server (test/cluster/jest-setup.ts checks them after
 * this file, when the cluster runs).
 */
import { App, Chart, Duration, Size, Testing } from 'cdk8s';
import { Cpu, DeploymentStrategy, EnvValue, Secret, ServiceAccount } from 'cdk8s-plus-33';
import {
  DeploymentMode, EndpointIngress, InferenceProtocol, KnativeFeature, ModelEndpoint, ModelEndpointProps, ModelFormat, RuntimeCatalog,
  ScaleMetric, ServingRuntime, ServingTarget, StorageUri, TaintEffect,
} from '../../src';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');

function synth(props: Partial<ModelEndpointProps> = {}, chartNamespace = 'ml') {
  const chart = new Chart(Testing.app(), 'test', { namespace: chartNamespace });
  const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: IRIS, target: ServingTarget.KSERVE, ...props });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return { manifests, endpoint, isvc: findOne(manifests, 'InferenceService') };
}

describe('ModelEndpoint with target KSERVE', () => {
  test('serverless with our model server: an InferenceService and our ServingRuntime, no Knative or Istio objects', () => {
    const { manifests, isvc, endpoint } = synth();
    expect(manifests.map(m => m.kind).sort()).toEqual(['ConfigMap', 'InferenceService', 'NetworkPolicy', 'PodMonitor', 'PrometheusRule', 'ServingRuntime']);
    expect(isvc.apiVersion).toBe('serving.kserve.io/v1beta1');
    expect(isvc.metadata.name).toBe('iris');
    expect(isvc.metadata.namespace).toBe('ml');
    expect(isvc.metadata.annotations['serving.kserve.io/deploymentMode']).toBe('Serverless');
    const model = isvc.spec.predictor.model;
    expect(model.modelFormat).toEqual({ name: 'onnx' });
    expect(model.runtime).toBe('cdk8s-model-server');
    expect(model.protocolVersion).toBe('v2');
    expect(model.storageUri).toBe('s3://models/iris/model.onnx');
    expect(model.args).toEqual(['--protocol', 'v2']);
    expect(model.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(model.resources).toEqual({ requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } });
    expect(isvc.spec.predictor).toMatchObject({ minReplicas: 1, maxReplicas: 3, scaleMetric: 'concurrency', scaleTarget: 100 });
    expect(isvc.spec.predictor.labels).toMatchObject({ 'app.kubernetes.io/component': 'predictor', 'serving.cdk8s-model-serving.io/endpoint': 'iris' });
    // The component label is per component: on the InferenceService it would reach the transformer's pods too.
    expect(isvc.metadata.labels['app.kubernetes.io/component']).toBeUndefined();
    expect(endpoint.host).toBe('iris-ml.example.com');

    const runtime = findOne(manifests, 'ServingRuntime');
    expect(runtime.apiVersion).toBe('serving.kserve.io/v1alpha1');
    expect(runtime.metadata).toMatchObject({ name: 'cdk8s-model-server', namespace: 'ml' });
    expect(runtime.spec.supportedModelFormats).toEqual([{ name: 'onnx', version: '1', autoSelect: true, priority: 3 }]);
    expect(runtime.spec.multiModel).toBe(false);
    expect(runtime.spec.containers[0].name).toBe('kserve-container');
    expect(runtime.spec.containers[0].args).toEqual(['serve', '--model-name', '{{.Name}}', '--model-dir', '/mnt/models', '--http-port', '8080', '--grpc-port', '8081']);
  });

  test('raw mode with a runtime KServe ships: no ServingRuntime, KServe picks it by format', () => {
    const { manifests, isvc } = synth({ mode: DeploymentMode.RAW, format: ModelFormat.SKLEARN, storageUri: StorageUri.gcs('models', 'iris'), protocol: InferenceProtocol.V1 });
    expect(findByKind(manifests, 'ServingRuntime')).toEqual([]);
    expect(isvc.metadata.annotations['serving.kserve.io/deploymentMode']).toBe('RawDeployment');
    expect(isvc.spec.predictor.model.modelFormat).toEqual({ name: 'sklearn' });
    expect(isvc.spec.predictor.model.runtime).toBeUndefined();
    expect(isvc.spec.predictor.model.protocolVersion).toBe('v1');
    // KServe's runtime brings its own ports and probes.
    expect(isvc.spec.predictor.model.ports).toBeUndefined();
    expect(isvc.spec.predictor.model.readinessProbe).toBeUndefined();
    expect(isvc.spec.predictor).toMatchObject({ scaleMetric: 'cpu', scaleTarget: 80 });
  });

  test('an explicit runtime KServe ships is named, without a ServingRuntime', () => {
    const { manifests, isvc } = synth({ format: ModelFormat.SKLEARN, runtime: ServingRuntime.MLSERVER, storageUri: StorageUri.gcs('models', 'iris') });
    expect(isvc.spec.predictor.model.runtime).toBe('kserve-mlserver');
    expect(findByKind(manifests, 'ServingRuntime')).toEqual([]);
  });

  test('a custom runtime is emitted as a ServingRuntime with KServe\'s {{.Name}} for the model name', () => {
    const runtime = ServingRuntime.custom({
      name: 'my-runtime',
      image: 'example.com/runtime:1.0',
      args: ['--model={{modelName}}', '--dir={{modelDir}}', '--port={{httpPort}}'],
      httpPort: 8080,
      protocols: [InferenceProtocol.V2],
      formats: [{ format: ModelFormat.custom('myformat', '1') }],
      readinessPath: '/v2/models/{{modelName}}/ready',
      metrics: { port: 8080, path: '/metrics' },
    });
    const { manifests, isvc } = synth({ format: ModelFormat.custom('myformat', '1'), runtime, storageUri: StorageUri.gcs('models', 'm') });
    const sr = findOne(manifests, 'ServingRuntime', { name: 'my-runtime' });
    expect(sr.spec.containers[0]).toMatchObject({ name: 'kserve-container', image: 'example.com/runtime:1.0', args: ['--model={{.Name}}', '--dir=/mnt/models', '--port=8080'] });
    expect(sr.spec.supportedModelFormats).toEqual([{ name: 'myformat', version: '1', autoSelect: true }]);
    expect(sr.spec.annotations).toEqual({ 'prometheus.kserve.io/port': '8080', 'prometheus.kserve.io/path': '/metrics' });
    expect(isvc.spec.predictor.model).toMatchObject({ runtime: 'my-runtime', modelFormat: { name: 'myformat', version: '1' } });
    // Our probes go with the predictor: KServe's ServingRuntime has none of its own here.
    expect(isvc.spec.predictor.model.readinessProbe.httpGet.path).toBe('/v2/models/iris/ready');
  });

  test('a built-in runtime with another image (a RuntimeCatalog mirror) is emitted under its name', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
    new RuntimeCatalog(chart, 'Catalog', { imageRegistry: 'mirror.example.com' });
    new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', format: ModelFormat.SKLEARN, storageUri: StorageUri.gcs('m', 'i'), target: ServingTarget.KSERVE });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const sr = findOne(manifests, 'ServingRuntime');
    // MLServer: KServe's priority 2 for sklearn, ahead of the sklearn server's 1 (kserve-mlserver.yaml).
    expect(sr.metadata.name).toBe('kserve-mlserver');
    expect(sr.spec.containers[0].image).toMatch(/^mirror\.example\.com\//);
    expect(findOne(manifests, 'InferenceService').spec.predictor.model.runtime).toBe('kserve-mlserver');
  });

  test('two endpoints share one ServingRuntime per namespace', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
    new ModelEndpoint(chart, 'A', { modelName: 'a', storageUri: IRIS, target: ServingTarget.KSERVE });
    new ModelEndpoint(chart, 'B', { modelName: 'b', storageUri: IRIS, target: ServingTarget.KSERVE });
    const manifests = Testing.synth(chart);
    expect(findByKind(manifests, 'ServingRuntime')).toHaveLength(1);
    expect(findByKind(manifests, 'InferenceService').map(i => i.spec.predictor.model.runtime)).toEqual(['cdk8s-model-server', 'cdk8s-model-server']);
  });

  test('every mapped prop family lands in its KServe field', () => {
    const { isvc } = synth({
      labels: { team: 'ml' },
      annotations: { 'example.com/owner': 'me' },
      timeout: Duration.seconds(120),
      containerConcurrency: 4,
      minReplicas: 0,
      maxReplicas: 7,
      initialScale: 2,
      scaleDownDelay: Duration.seconds(30),
      scaleMetric: ScaleMetric.CPU,
      scaleTarget: 60,
      resources: { cpu: { request: Cpu.millis(250), limit: Cpu.units(2) }, memory: { request: Size.mebibytes(300), limit: Size.gibibytes(2) } },
      gpus: 1,
      env: { LOG_LEVEL: EnvValue.fromValue('debug') },
      nodeSelector: { pool: 'gpu' },
      tolerations: [{ key: 'gpu', value: 'true', effect: TaintEffect.NO_SCHEDULE }],
      knativeFeatures: [KnativeFeature.NODE_SELECTOR, KnativeFeature.TOLERATIONS],
      serviceAccount: ServiceAccount.fromServiceAccountName(new Chart(new App(), 'sa'), 'SA', 'model-reader'),
      ingress: EndpointIngress.none(),
      stopped: true,
    });
    const p = isvc.spec.predictor;
    expect(isvc.metadata.labels).toMatchObject({ 'team': 'ml', 'networking.kserve.io/visibility': 'cluster-local' });
    expect(isvc.metadata.annotations).toMatchObject({ 'example.com/owner': 'me', 'serving.kserve.io/stop': 'true' });
    expect(p).toMatchObject({ timeout: 120, containerConcurrency: 4, minReplicas: 0, maxReplicas: 7, scaleMetric: 'cpu', scaleTarget: 60 });
    expect(p.annotations).toEqual({
      'autoscaling.knative.dev/class': 'hpa.autoscaling.knative.dev',
      'autoscaling.knative.dev/initial-scale': '2',
      'autoscaling.knative.dev/scale-down-delay': '30s',
    });
    expect(p.model.resources).toEqual({ requests: { 'cpu': '250m', 'memory': '300Mi', 'nvidia.com/gpu': '1' }, limits: { 'cpu': '2', 'memory': '2Gi', 'nvidia.com/gpu': '1' } });
    expect(p.model.env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
    expect(p.nodeSelector).toEqual({ pool: 'gpu' });
    expect(p.tolerations).toEqual([{ key: 'gpu', operator: 'Equal', value: 'true', effect: 'NoSchedule' }]);
    expect(p.serviceAccountName).toBe('model-reader');
    expect(p.automountServiceAccountToken).toBe(false);
    expect(p.labels.team).toBe('ml');
  });

  test('imagePullSecrets reach the predictor and every component, as KServe passes pod fields through', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
    const regcred = Secret.fromSecretName(chart, 'Regcred', 'regcred');
    const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: IRIS, target: ServingTarget.KSERVE, imagePullSecrets: [regcred] });
    endpoint.addExplainer({ scaleMetric: ScaleMetric.RPS, scaleTarget: 5 });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const isvc = findOne(manifests, 'InferenceService');
    expect(isvc.spec.predictor.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(isvc.spec.explainer.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(isvc.spec.explainer).toMatchObject({ scaleMetric: 'rps', scaleTarget: 5 });
  });

  test('raw mode maps deploymentStrategy and leaves containerConcurrency out', () => {
    const { isvc } = synth({ mode: DeploymentMode.RAW, deploymentStrategy: DeploymentStrategy.recreate(), containerConcurrency: 2 });
    expect(isvc.spec.predictor.deploymentStrategy).toEqual({ type: 'Recreate' });
    expect(isvc.spec.predictor.containerConcurrency).toBeUndefined();
    expect(isvc.spec.predictor.annotations).toBeUndefined();
  });

  test('a custom container is the predictor\'s kserve-container, and KServe fetches its model through STORAGE_URI', () => {
    const { isvc, manifests } = synth({
      container: { image: 'example.com/server:2', args: ['--port', '9000'], port: 9000, readinessPath: '/ready' },
      storageUri: StorageUri.gcs('models', 'iris'),
    });
    expect(findByKind(manifests, 'ServingRuntime')).toEqual([]);
    expect(isvc.spec.predictor.model).toBeUndefined();
    const c = isvc.spec.predictor.containers[0];
    expect(c).toMatchObject({ name: 'kserve-container', image: 'example.com/server:2', args: ['--port', '9000'] });
    expect(c.ports).toEqual([{ name: 'http1', containerPort: 9000, protocol: 'TCP' }]);
    expect(c.env).toContainEqual({ name: 'STORAGE_URI', value: 'gs://models/iris' });
    expect(c.readinessProbe.httpGet.path).toBe('/ready');
  });

  test('a gRPC endpoint with our server declares the h2c port', () => {
    const { isvc } = synth({ protocol: InferenceProtocol.GRPC_V2 });
    expect(isvc.spec.predictor.model.protocolVersion).toBe('grpc-v2');
    expect(isvc.spec.predictor.model.ports).toEqual([{ name: 'h2c', containerPort: 8081, protocol: 'TCP' }]);
    expect(isvc.spec.predictor.model.args).toEqual(['--protocol', 'grpc-v2']);
  });

  test('the NetworkPolicy and the PodMonitor select KServe\'s pods by KServe\'s labels', () => {
    const { manifests } = synth();
    const policy = findOne(manifests, 'NetworkPolicy');
    expect(policy.spec.podSelector).toEqual({ matchLabels: { 'serving.kserve.io/inferenceservice': 'iris' } });
    expect(policy.spec.ingress[0].from[0]).toEqual({ podSelector: { matchLabels: { 'serving.kserve.io/inferenceservice': 'iris' } } });
    // Prometheus is admitted to the metrics port.
    expect(policy.spec.ingress[1].ports).toEqual([{ protocol: 'TCP', port: 8080 }]);
    const monitor = findOne(manifests, 'PodMonitor');
    expect(monitor.spec.selector).toEqual({ matchLabels: { 'serving.kserve.io/inferenceservice': 'iris', 'component': 'predictor' } });
    const endpoint = monitor.spec.podMetricsEndpoints[0];
    expect(endpoint.port).toBeUndefined();
    expect(endpoint.relabelings[0]).toEqual({ action: 'keep', sourceLabels: ['__meta_kubernetes_pod_container_name'], regex: 'kserve-container' });
    expect(endpoint.relabelings).toContainEqual(expect.objectContaining({ targetLabel: '__address__', replacement: '$1:8080' }));
    expect(endpoint.relabelings).toContainEqual(expect.objectContaining({ sourceLabels: ['__meta_kubernetes_pod_label_serving_kserve_io_inferenceservice'], targetLabel: 'endpoint' }));
    expect(endpoint.relabelings).toContainEqual(expect.objectContaining({ sourceLabels: ['__meta_kubernetes_pod_label_component'], targetLabel: 'component' }));
  });

  test('the monitor scrapes a runtime\'s own metrics port (MLServer 8082)', () => {
    const { manifests } = synth({ format: ModelFormat.SKLEARN, runtime: ServingRuntime.MLSERVER, storageUri: StorageUri.gcs('m', 'i'), mode: DeploymentMode.RAW });
    const endpoint = findOne(manifests, 'PodMonitor').spec.podMetricsEndpoints[0];
    expect(endpoint.relabelings).toContainEqual(expect.objectContaining({ targetLabel: '__address__', replacement: '$1:8082' }));
  });

  test('the cdk8s context key sets the target for a whole app; the prop wins', () => {
    const app = Testing.app();
    app.node.setContext('cdk8s-model-serving/target', 'kserve');
    const chart = new Chart(app, 'test');
    new ModelEndpoint(chart, 'A', { modelName: 'a', storageUri: IRIS });
    new ModelEndpoint(chart, 'B', { modelName: 'b', storageUri: IRIS, target: ServingTarget.NATIVE });
    const manifests = Testing.synth(chart);
    expect(findByKind(manifests, 'InferenceService').map(i => i.metadata.name)).toEqual(['a']);
    expect(findByKind(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' })).toHaveLength(1);
  });

  test('fails when the context value is not a target', () => {
    const app = Testing.app();
    app.node.setContext('cdk8s-model-serving/target', 'kserv');
    expect(() => new ModelEndpoint(new Chart(app, 'test'), 'A', { modelName: 'a', storageUri: IRIS }))
      .toThrow(/the cdk8s context value 'cdk8s-model-serving\/target' must be one of 'native', 'kserve', got 'kserv'/);
  });
});

describe('props KServe cannot express fail at synth time, naming the prop and the fix', () => {
  const secret = () => ({ name: 's3-creds' } as never);
  const cases: Array<[string, Partial<ModelEndpointProps>, RegExp]> = [
    ['host', { host: 'iris.example.org' }, /'host' has no KServe field: .*ingress\.domainTemplate.*ServingTarget\.NATIVE/],
    ['domain', { domain: 'example.org' }, /'domain' has no KServe field: .*ingressDomain/],
    ['ingress gatewayApi', { mode: DeploymentMode.RAW, ingress: EndpointIngress.gatewayApi({ gatewayName: 'gw' }) }, /'ingress' must be EndpointIngress\.istio\(\) or EndpointIngress\.none\(\) with KServe/],
    ['ingress kubernetes', { mode: DeploymentMode.RAW, ingress: EndpointIngress.kubernetes() }, /'ingress' must be EndpointIngress\.istio\(\) or EndpointIngress\.none\(\) with KServe/],
    ['ingress with a gateway', { ingress: EndpointIngress.istio({ gateway: 'ns/gw' }) }, /'ingress' names the Istio gateway 'ns\/gw'.*ingress\.ingressGateway/],
    ['storageCredentials', { storageCredentials: secret() }, /'storageCredentials' mounts a secret into our pods.*set 'serviceAccount'/],
    ['raw scaleDownDelay', { mode: DeploymentMode.RAW, scaleDownDelay: Duration.seconds(30) }, /'scaleDownDelay' has no KServe field in raw mode/],
    ['raw initialScale', { mode: DeploymentMode.RAW, initialScale: 2 }, /'initialScale' has no KServe field in raw mode/],
    ['startupTimeout with a KServe runtime', { format: ModelFormat.SKLEARN, storageUri: StorageUri.gcs('m', 'i'), startupTimeout: Duration.minutes(20) }, /'startupTimeout' sets our startup probe, but runtime 'kserve-mlserver' is one KServe ships/],
    ['a fractional scaleTarget', { scaleTarget: 2.5 }, /'scaleTarget' must be an integer with KServe.*got 2\.5/],
    ['name other than modelName', { name: 'iris-endpoint' }, /'name' \(iris-endpoint\) must equal 'modelName' \(iris\) with KServe/],
  ];
  test.each(cases)('fails with %s', (_, props, message) => {
    const chart = new Chart(Testing.app(), 'test');
    expect(() => new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: IRIS, target: ServingTarget.KSERVE, ...props })).toThrow(message);
  });
});

describe('monitoring aimed at KServe\'s objects', () => {
  test('the raw predictor\'s replicas alert reads KServe\'s Deployment <name>-predictor', () => {
    const { manifests } = synth({ mode: DeploymentMode.RAW });
    const rules = findOne(manifests, 'PrometheusRule').spec.groups.flatMap((g: { rules: Array<{ expr: string }> }) => g.rules);
    const exprs = rules.map((r: { expr: string }) => r.expr).join('\n');
    expect(exprs).toContain('kube_deployment_status_replicas_available{namespace="ml",deployment="iris-predictor"}');
    expect(exprs).not.toContain('deployment="iris"}');
  });
});

test('fails when two endpoints need different ServingRuntimes under one name', () => {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  new ModelEndpoint(chart, 'A', { modelName: 'a', storageUri: IRIS, target: ServingTarget.KSERVE });
  expect(() => new ModelEndpoint(chart, 'B', { modelName: 'b', storageUri: IRIS, target: ServingTarget.KSERVE, serverImage: 'example.com/server:2' }))
    .toThrow(/runtime 'cdk8s-model-server' is emitted as one ServingRuntime per namespace, but this endpoint needs a different one/);
});
