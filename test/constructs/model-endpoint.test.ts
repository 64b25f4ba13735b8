import { ApiObject, Chart, Duration, JsonPatch, Size, Testing } from 'cdk8s';
import { Cpu, EnvValue, Secret, ServiceAccount } from 'cdk8s-plus-33';
import {
  DeploymentMode,
  EndpointIngress,
  InferenceProtocol,
  KnativeFeature,
  ModelEndpoint,
  ModelEndpointProps,
  ModelFormat,
  NodeAffinityOperator,
  ScaleMetric,
  StorageUri,
  TaintEffect,
  TolerationOperator,
} from '../../src';
import { findByKind, findOne } from '../util';
import { expectValidManifests, ValidationOptions } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');

function synth(props: Partial<ModelEndpointProps> = {}, chartProps: { namespace?: string } = {}, options: ValidationOptions = {}) {
  const app = Testing.app();
  const chart = new Chart(app, 'test', chartProps);
  const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: IRIS, ...props });
  const manifests = Testing.synth(chart);
  // The Knative feature check runs with exactly the flags the endpoint declared.
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures, ...options });
  return { manifests, endpoint, chart };
}

function knativeService(manifests: any[]) {
  return findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' });
}

function container(podSpec: any) {
  return podSpec.containers[0];
}

describe('serverless mode (default)', () => {
  test('defaults: a Knative Service, a VirtualService and a NetworkPolicy, all schema-valid', () => {
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
  });

  test('the revision template carries the autoscaling annotations with documented defaults', () => {
    const { manifests } = synth();
    const annotations = knativeService(manifests).spec.template.metadata.annotations;
    expect(annotations).toEqual({
      'autoscaling.knative.dev/class': 'kpa.autoscaling.knative.dev',
      'autoscaling.knative.dev/metric': 'concurrency',
      'autoscaling.knative.dev/target': '100',
      'autoscaling.knative.dev/min-scale': '1',
      'autoscaling.knative.dev/max-scale': '3',
      'autoscaling.knative.dev/initial-scale': '1',
    });
  });

  test('exposes exactly one container port, http1 on 8080', () => {
    const { manifests } = synth();
    const spec = knativeService(manifests).spec.template.spec;
    expect(spec.containers).toHaveLength(1);
    expect(container(spec).ports).toEqual([{ name: 'http1', containerPort: 8080, protocol: 'TCP' }]);
  });

  test('our server fetches the model itself: no init container, storage URI passed as an argument', () => {
    const { manifests } = synth();
    const spec = knativeService(manifests).spec.template.spec;
    expect(spec.initContainers).toBeUndefined();
    const args: string[] = container(spec).args;
    expect(args[0]).toBe('serve');
    expect(args[args.indexOf('--storage-uri') + 1]).toBe('s3://models/iris/model.onnx');
    expect(args[args.indexOf('--model-name') + 1]).toBe('iris');
    expect(args[args.indexOf('--model-dir') + 1]).toBe('/mnt/models');
    expect(args[args.indexOf('--protocol') + 1]).toBe('v2');
    expect(spec.volumes).toContainEqual({ name: 'model-dir', emptyDir: {} });
  });

  test('probes follow model readiness, with a startup probe sized for slow downloads', () => {
    const { manifests } = synth({ startupTimeout: Duration.minutes(20) });
    const c = container(knativeService(manifests).spec.template.spec);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/v2/models/iris/ready' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/v2/models/iris/ready' });
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBe(20 * 60);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/v2/health/live' });
  });

  test('resources always have requests and limits, with documented defaults', () => {
    const { manifests } = synth();
    expect(container(knativeService(manifests).spec.template.spec).resources).toEqual({
      requests: { cpu: '500m', memory: '512Mi' },
      limits: { cpu: '1', memory: '1Gi' },
    });
  });

  test('security context meets the restricted profile at container level, since Knative disables the pod-level one', () => {
    const { manifests } = synth();
    const spec = knativeService(manifests).spec.template.spec;
    expect(spec.securityContext).toBeUndefined();
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(container(spec).securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  test('the VirtualService gives the endpoint its host and the V1 and V2 paths, through the Knative local gateway', () => {
    const { manifests } = synth({ name: 'iris' }, { namespace: 'models' });
    const vs = findOne(manifests, 'VirtualService');
    expect(vs.spec.hosts).toEqual(['iris.models.example.com']);
    expect(vs.spec.gateways).toEqual(['knative-serving/knative-ingress-gateway']);
    const route = vs.spec.http[0];
    expect(route.match).toEqual([
      { uri: { prefix: '/v1/models/iris' } },
      { uri: { prefix: '/v2/models/iris' } },
    ]);
    expect(route.route).toEqual([{
      destination: { host: 'knative-local-gateway.istio-system.svc.cluster.local', port: { number: 80 } },
      headers: { request: { set: { Host: 'iris.models.svc.cluster.local' } } },
      weight: 100,
    }]);
    expect(knativeService(manifests).metadata.labels['networking.knative.dev/visibility']).toBe('cluster-local');
  });

  test('the NetworkPolicy admits only the gateway, the activator and the endpoint itself', () => {
    const { manifests } = synth({ name: 'iris' });
    const np = findOne(manifests, 'NetworkPolicy');
    expect(np.spec.podSelector).toEqual({ matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'iris' } });
    expect(np.spec.policyTypes).toEqual(['Ingress']);
    expect(np.spec.ingress).toEqual([{
      from: [
        { podSelector: { matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'iris' } } },
        { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['istio-system', 'knative-serving'] }] } },
      ],
    }, {
      // monitoring (on by default): Prometheus may scrape the metrics port only
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      ports: [{ protocol: 'TCP', port: 8080 }],
    }]);
  });

  test('grpc-v2 exposes the h2c port 8081 and routes the gRPC service', () => {
    const { manifests } = synth({ protocol: InferenceProtocol.GRPC_V2 });
    const c = container(knativeService(manifests).spec.template.spec);
    expect(c.ports).toEqual([{ name: 'h2c', containerPort: 8081, protocol: 'TCP' }]);
    expect(c.readinessProbe.tcpSocket).toEqual({});
    expect(findOne(manifests, 'VirtualService').spec.http[0].match).toEqual([{ uri: { prefix: '/inference.GRPCInferenceService/' } }]);
  });

  test('scale to zero is opt-in: minReplicas 0 still starts with one replica', () => {
    const { manifests } = synth({ minReplicas: 0 });
    const annotations = knativeService(manifests).spec.template.metadata.annotations;
    expect(annotations['autoscaling.knative.dev/min-scale']).toBe('0');
    expect(annotations['autoscaling.knative.dev/initial-scale']).toBe('1');
  });

  test('cpu scaling switches to the Knative HPA class, and scale-down delay is set', () => {
    const { manifests } = synth({ scaleMetric: ScaleMetric.CPU, scaleTarget: 60, scaleDownDelay: Duration.minutes(2) });
    const annotations = knativeService(manifests).spec.template.metadata.annotations;
    expect(annotations['autoscaling.knative.dev/class']).toBe('hpa.autoscaling.knative.dev');
    expect(annotations['autoscaling.knative.dev/metric']).toBe('cpu');
    expect(annotations['autoscaling.knative.dev/target']).toBe('60');
    expect(annotations['autoscaling.knative.dev/scale-down-delay']).toBe('120s');
  });

  test('timeout and container concurrency reach the revision and the route', () => {
    const { manifests } = synth({ timeout: Duration.seconds(45), containerConcurrency: 8 });
    const spec = knativeService(manifests).spec.template.spec;
    expect(spec.timeoutSeconds).toBe(45);
    expect(spec.containerConcurrency).toBe(8);
    expect(findOne(manifests, 'VirtualService').spec.http[0].timeout).toBe('45s');
  });

  test('stopped takes the endpoint to zero and the route answers 503, without deleting anything', () => {
    const { manifests } = synth({ stopped: true });
    const annotations = knativeService(manifests).spec.template.metadata.annotations;
    expect(annotations['autoscaling.knative.dev/min-scale']).toBe('0');
    const route = findOne(manifests, 'VirtualService').spec.http[0];
    expect(route.route).toBeUndefined();
    expect(route.directResponse.status).toBe(503);
  });

  test('storage credentials are mounted read-only from a secret, never inlined', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test');
    new ModelEndpoint(chart, 'Endpoint', {
      modelName: 'iris',
      storageUri: IRIS,
      storageCredentials: Secret.fromSecretName(chart, 'Creds', 's3-creds'),
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const spec = knativeService(manifests).spec.template.spec;
    expect(spec.volumes).toContainEqual({ name: 'storage-credentials', secret: { secretName: 's3-creds', defaultMode: 0o444 } });
    expect(container(spec).volumeMounts).toContainEqual({ name: 'storage-credentials', mountPath: '/var/run/secrets/model-storage', readOnly: true });
    expect(container(spec).env).toContainEqual({ name: 'STORAGE_CREDENTIALS_DIR', value: '/var/run/secrets/model-storage' });
    expect(JSON.stringify(manifests)).not.toMatch(/AWS_SECRET_ACCESS_KEY/);
  });

  test('a custom container needs an init container, which fails synth without the Knative flag', () => {
    expect(() => synth({ container: { image: 'example/sklearn-server:1' }, format: ModelFormat.SKLEARN }))
      .toThrow(/kubernetes\.podspec-init-containers.*KnativeFeature\.INIT_CONTAINERS/);
  });

  test('a custom container gets a storage-initializer init container when the flag is declared', () => {
    const { manifests } = synth({
      container: { image: 'example/sklearn-server:1', args: ['--port', '8080'], readinessPath: '/v1/models/iris' },
      format: ModelFormat.SKLEARN,
      knativeFeatures: [KnativeFeature.INIT_CONTAINERS],
    });
    const spec = knativeService(manifests).spec.template.spec;
    expect(spec.initContainers).toHaveLength(1);
    expect(spec.initContainers[0].args).toEqual(['storage-initializer', 's3://models/iris/model.onnx', '/mnt/models']);
    expect(container(spec).args).toEqual(['--port', '8080']);
    expect(container(spec).volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models', readOnly: true });
    expect(container(spec).readinessProbe.httpGet).toEqual({ path: '/v1/models/iris' });
  });

  test('pvc models are mounted read-only and need the Knative PVC flag', () => {
    expect(() => synth({ storageUri: StorageUri.pvc('model-store', 'iris') })).toThrow(/kubernetes\.podspec-persistent-volume-claim/);
    const { manifests } = synth({ storageUri: StorageUri.pvc('model-store', 'iris'), knativeFeatures: [KnativeFeature.PERSISTENT_VOLUME_CLAIM] });
    const spec = knativeService(manifests).spec.template.spec;
    expect(spec.volumes).toContainEqual({ name: 'model-dir', persistentVolumeClaim: { claimName: 'model-store', readOnly: true } });
    expect(container(spec).volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models', readOnly: true, subPath: 'iris' });
    expect(container(spec).args).not.toContain('--storage-uri');
  });

  test.each([
    ['nodeSelector', { nodeSelector: { pool: 'gpu' } }, 'kubernetes.podspec-nodeselector'],
    ['tolerations', { tolerations: [{ key: 'gpu', operator: TolerationOperator.EXISTS }] }, 'kubernetes.podspec-tolerations'],
    ['nodeAffinity', { nodeAffinity: [{ key: 'zone', operator: NodeAffinityOperator.IN, values: ['a'] }] }, 'kubernetes.podspec-affinity'],
  ])('fails: %s in serverless mode without its Knative flag', (_name, props, flag) => {
    expect(() => synth(props as Partial<ModelEndpointProps>)).toThrow(new RegExp(flag.replace(/\./g, '\\.')));
  });

  test('fails: an env var from a fieldRef without the Knative fieldref flag', () => {
    expect(() => synth({ env: { POD: EnvValue.fromFieldRef('metadata.name' as any) } })).toThrow(/kubernetes\.podspec-fieldref/);
  });

  test('fails: Gateway API or Ingress in serverless mode', () => {
    expect(() => synth({ ingress: EndpointIngress.gatewayApi({ gatewayName: 'gw' }) })).toThrow(/'ingress' must be EndpointIngress.istio\(\) or EndpointIngress.none\(\) in serverless mode/);
    expect(() => synth({ ingress: EndpointIngress.kubernetes() })).toThrow(/in serverless mode/);
  });

  test('no ingress leaves Knative\'s own route public and creates no VirtualService', () => {
    const { manifests } = synth({ ingress: EndpointIngress.none() });
    expect(findByKind(manifests, 'VirtualService')).toHaveLength(0);
    expect(knativeService(manifests).metadata.labels['networking.knative.dev/visibility']).toBeUndefined();
  });

  test('full: every prop, with the cluster features declared', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test', { namespace: 'models' });
    new ModelEndpoint(chart, 'Endpoint', {
      name: 'iris-full',
      modelName: 'iris',
      storageUri: IRIS,
      format: ModelFormat.ONNX,
      protocol: InferenceProtocol.V1,
      serverImage: 'registry.example.com/model-server:1.2.3',
      resources: { cpu: { request: Cpu.millis(250), limit: Cpu.units(2) }, memory: { request: Size.mebibytes(256), limit: Size.gibibytes(2) } },
      gpus: 1,
      nodeSelector: { 'cloud.example.com/pool': 'gpu' },
      tolerations: [{ key: 'nvidia.com/gpu', operator: TolerationOperator.EXISTS, effect: TaintEffect.NO_SCHEDULE }],
      nodeAffinity: [
        { key: 'topology.kubernetes.io/zone', operator: NodeAffinityOperator.IN, values: ['eu-1a', 'eu-1b'] },
        { key: 'node.example.com/spot', operator: NodeAffinityOperator.DOES_NOT_EXIST, preferredWeight: 50 },
      ],
      timeout: Duration.seconds(60),
      containerConcurrency: 4,
      minReplicas: 2,
      maxReplicas: 10,
      scaleMetric: ScaleMetric.RPS,
      scaleTarget: 50,
      initialScale: 3,
      scaleDownDelay: Duration.minutes(1),
      startupTimeout: Duration.minutes(15),
      serviceAccount: new ServiceAccount(chart, 'Sa', { automountToken: false }),
      automountServiceAccountToken: false,
      storageCredentials: Secret.fromSecretName(chart, 'Creds', 's3-creds'),
      env: { LOG_LEVEL: EnvValue.fromValue('debug') },
      labels: { team: 'ml' },
      annotations: { 'example.com/owner': 'ml-platform' },
      ingress: EndpointIngress.istio({ gateway: 'istio-system/public' }),
      host: 'iris.ml.example.com',
      knativeFeatures: [KnativeFeature.NODE_SELECTOR, KnativeFeature.TOLERATIONS, KnativeFeature.AFFINITY, KnativeFeature.POD_SECURITY_CONTEXT],
      networkPolicy: true,
      allowedNamespaces: ['istio-system', 'knative-serving', 'monitoring'],
      runAsUser: 2000,
      readOnlyRootFilesystem: true,
    });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests, {
      knativeFlags: [KnativeFeature.NODE_SELECTOR, KnativeFeature.TOLERATIONS, KnativeFeature.AFFINITY, KnativeFeature.POD_SECURITY_CONTEXT],
    });
    expect(manifests).toMatchSnapshot();

    const spec = knativeService(manifests).spec.template.spec;
    expect(container(spec).resources.limits['nvidia.com/gpu']).toBe('1');
    expect(container(spec).image).toBe('registry.example.com/model-server:1.2.3');
    expect(spec.nodeSelector).toEqual({ 'cloud.example.com/pool': 'gpu' });
    expect(spec.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions)
      .toEqual([{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['eu-1a', 'eu-1b'] }]);
    expect(spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight).toBe(50);
    expect(spec.securityContext.runAsUser).toBe(2000);
    expect(spec.serviceAccountName).toMatch(/sa/);
    expect(container(spec).env).toContainEqual({ name: 'LOG_LEVEL', value: 'debug' });
    expect(findOne(manifests, 'VirtualService').spec.hosts).toEqual(['iris.ml.example.com']);
    expect(findOne(manifests, 'VirtualService').spec.gateways).toEqual(['istio-system/public']);
    const annotations = knativeService(manifests).spec.template.metadata.annotations;
    expect(annotations['autoscaling.knative.dev/metric']).toBe('rps');
    expect(annotations['autoscaling.knative.dev/initial-scale']).toBe('3');
    expect(annotations['example.com/owner']).toBe('ml-platform');
  });
});

describe('raw mode', () => {
  const raw = (props: Partial<ModelEndpointProps> = {}, options: ValidationOptions = {}) => synth({ mode: DeploymentMode.RAW, name: 'iris', ...props }, {}, options);

  test('defaults: Deployment, Service, HPA, PDB and NetworkPolicy, and no Knative or Istio object', () => {
    const { manifests } = raw();
    expect(manifests).toMatchSnapshot();
    expect(manifests.map(m => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'PodDisruptionBudget', 'PrometheusRule', 'Service', 'ServiceMonitor']);
    expect(manifests.some(m => /knative|istio/.test(m.apiVersion))).toBe(false);
  });

  test('the Deployment serves HTTP and gRPC, with a pod-level restricted security context', () => {
    const { manifests } = raw();
    const deployment = findOne(manifests, 'Deployment');
    const spec = deployment.spec.template.spec;
    expect(container(spec).ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'grpc', containerPort: 8081, protocol: 'TCP' },
    ]);
    expect(spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(container(spec).readinessProbe.httpGet).toEqual({ path: '/v2/models/iris/ready', port: 8080 });
    expect(deployment.spec.selector.matchLabels).toEqual({ 'serving.cdk8s-model-serving.io/endpoint': 'iris', 'app.kubernetes.io/component': 'predictor' });
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxUnavailable: 0, maxSurge: 1 });
  });

  test('the Service maps 80 to the HTTP port and 8081 to gRPC', () => {
    const { manifests } = raw();
    const service = findOne(manifests, 'Service');
    expect(service.spec.ports).toEqual([
      { name: 'http', port: 80, targetPort: 8080, appProtocol: 'http', protocol: 'TCP' },
      { name: 'grpc', port: 8081, targetPort: 8081, appProtocol: 'grpc', protocol: 'TCP' },
    ]);
  });

  test('the HPA scales on CPU at 80% by default, with the scale-down delay as stabilization window', () => {
    const { manifests } = raw({ scaleDownDelay: Duration.minutes(10), minReplicas: 2, maxReplicas: 8 });
    const hpa = findOne(manifests, 'HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'iris' },
      minReplicas: 2,
      maxReplicas: 8,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }],
      behavior: { scaleDown: { stabilizationWindowSeconds: 600 } },
    });
    expect(findOne(manifests, 'Deployment').spec.replicas).toBe(2);
  });

  test('a fixed size (min = max) has no HPA', () => {
    const { manifests } = raw({ minReplicas: 2, maxReplicas: 2 });
    expect(findByKind(manifests, 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(findOne(manifests, 'Deployment').spec.replicas).toBe(2);
  });

  test('stopped: zero replicas, no autoscaler and no disruption budget', () => {
    const { manifests } = raw({ stopped: true });
    expect(findOne(manifests, 'Deployment').spec.replicas).toBe(0);
    expect(findByKind(manifests, 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(findByKind(manifests, 'PodDisruptionBudget')).toHaveLength(0);
  });

  test('the NetworkPolicy admits only the serving ports', () => {
    const { manifests } = raw({ ingress: EndpointIngress.kubernetes({ className: 'nginx' }) });
    const np = findOne(manifests, 'NetworkPolicy');
    expect(np.spec.ingress[0].ports).toEqual([{ protocol: 'TCP', port: 8080 }, { protocol: 'TCP', port: 8081 }]);
    expect(np.spec.ingress[0].from[1].namespaceSelector.matchExpressions[0].values).toEqual(['ingress-nginx']);
  });

  test('Istio ingress: a VirtualService routing the model paths to the Service', () => {
    const { manifests } = raw({ ingress: EndpointIngress.istio(), timeout: Duration.seconds(20) });
    const vs = findOne(manifests, 'VirtualService');
    expect(vs.spec.gateways).toEqual(['istio-system/ingressgateway']);
    expect(vs.spec.http[0].route).toEqual([{ destination: { host: 'iris.default.svc.cluster.local', port: { number: 80 } }, weight: 100 }]);
    expect(vs.spec.http[0].timeout).toBe('20s');
  });

  test('Gateway API ingress: an HTTPRoute attached to the named Gateway', () => {
    const { manifests } = raw({ ingress: EndpointIngress.gatewayApi({ gatewayName: 'public', gatewayNamespace: 'gateways' }), host: 'iris.example.org' });
    const route = findOne(manifests, 'HTTPRoute');
    expect(route.spec.parentRefs).toEqual([{ name: 'public', namespace: 'gateways' }]);
    expect(route.spec.hostnames).toEqual(['iris.example.org']);
    expect(route.spec.rules[0].matches).toEqual([
      { path: { type: 'PathPrefix', value: '/v1/models/iris' } },
      { path: { type: 'PathPrefix', value: '/v2/models/iris' } },
    ]);
    expect(route.spec.rules[0].backendRefs).toEqual([{ name: 'iris', port: 80 }]);
  });

  test('Kubernetes ingress: an Ingress with TLS from a secret name', () => {
    const { manifests } = raw({ ingress: EndpointIngress.kubernetes({ className: 'nginx', tlsSecretName: 'iris-tls' }), host: 'iris.example.org' });
    const ingress = findOne(manifests, 'Ingress');
    expect(ingress.spec.ingressClassName).toBe('nginx');
    expect(ingress.spec.tls).toEqual([{ hosts: ['iris.example.org'], secretName: 'iris-tls' }]);
    // An Ingress Prefix matches whole path elements: V1's ':predict' needs an Exact path.
    expect(ingress.spec.rules[0].http.paths.map((p: any) => [p.path, p.pathType])).toEqual([
      ['/v1/models/iris', 'Exact'],
      ['/v1/models/iris:predict', 'Exact'],
      ['/v2/models/iris', 'Prefix'],
    ]);
  });

  test('a custom container gets a storage-initializer init container in front of it', () => {
    const { manifests } = raw({ container: { image: 'example/sklearn:1', port: 9000 }, format: ModelFormat.SKLEARN });
    const spec = findOne(manifests, 'Deployment').spec.template.spec;
    expect(spec.initContainers[0].name).toBe('storage-initializer');
    expect(spec.initContainers[0].volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models', readOnly: false });
    expect(container(spec).ports).toEqual([{ name: 'http', containerPort: 9000, protocol: 'TCP' }]);
    expect(container(spec).readinessProbe.tcpSocket).toEqual({ port: 9000 });
    expect(findOne(manifests, 'Service').spec.ports[0].targetPort).toBe(9000);
  });

  test('nodeSelector, tolerations and affinity need no flag in raw mode', () => {
    const { manifests } = raw({
      nodeSelector: { pool: 'gpu' },
      tolerations: [{ key: 'gpu', operator: TolerationOperator.EQUAL, value: 'true', effect: TaintEffect.NO_SCHEDULE }],
      gpus: 2,
    });
    const spec = findOne(manifests, 'Deployment').spec.template.spec;
    expect(spec.nodeSelector).toEqual({ pool: 'gpu' });
    expect(container(spec).resources.requests['nvidia.com/gpu']).toBe('2');
  });

  test('security can be relaxed with documented props, never by patching', () => {
    // The relaxed pod still meets the restricted profile, but not our stricter project defaults.
    const relaxed = { readOnlyRootFilesystem: false, automountServiceAccountToken: true, networkPolicy: false };
    const { manifests } = raw(relaxed, { projectDefaults: false });
    const spec = findOne(manifests, 'Deployment').spec.template.spec;
    expect(container(spec).securityContext.readOnlyRootFilesystem).toBe(false);
    expect(spec.automountServiceAccountToken).toBe(true);
    expect(findByKind(manifests, 'NetworkPolicy')).toHaveLength(0);
  });
});

describe('validation errors name the field and the fix', () => {
  test.each<[string, Partial<ModelEndpointProps>, RegExp]>([
    ['modelName not DNS-1123', { modelName: 'Iris_Model' }, /'modelName' must be a DNS-1123 label.*got 'Iris_Model'/],
    ['name starting with a digit', { name: '1iris' }, /'name' must be a DNS-1035 label/],
    ['name too long once Knative adds its suffix', { name: 'a'.repeat(50) }, /'name' is too long: .* derives '.*-00001-private', which has 64 characters/],
    ['min greater than max', { minReplicas: 5, maxReplicas: 2 }, /'minReplicas' \(5\) must not be greater than 'maxReplicas' \(2\)/],
    ['negative replicas', { minReplicas: -1 }, /'minReplicas' must be a non-negative integer, got -1/],
    ['fractional replicas', { maxReplicas: 2.5 }, /'maxReplicas' must be a non-negative integer, got 2.5/],
    ['scale to zero in raw mode', { mode: DeploymentMode.RAW, minReplicas: 0 }, /scale to zero needs serverless mode/],
    ['concurrency scaling in raw mode', { mode: DeploymentMode.RAW, scaleMetric: ScaleMetric.CONCURRENCY }, /'scaleMetric' concurrency needs Knative's autoscaler/],
    ['utilization target above 100', { scaleMetric: ScaleMetric.CPU, scaleTarget: 150 }, /'scaleTarget' is a utilization percent .* got 150/],
    ['cpu limit below request', { resources: { cpu: { request: Cpu.units(2), limit: Cpu.units(1) } } }, /'resources.cpu.limit' \(1\) must not be below 'resources.cpu.request' \(2\)/],
    ['memory limit below request', { resources: { memory: { request: Size.gibibytes(2), limit: Size.gibibytes(1) } } }, /'resources.memory.limit' .* must not be below 'resources.memory.request'/],
    ['format no runtime serves', { format: ModelFormat.custom('pmml') }, /no runtime serves 'format' pmml\. The runtimes and their formats: .*set 'container'/],
    ['root user', { runAsUser: 0 }, /'runAsUser' must not be 0/],
    ['initial scale above max', { initialScale: 9 }, /'initialScale' must be between 1 and 'maxReplicas' \(3\), got 9/],
    ['bad label', { labels: { 'bad key!': 'x' } }, /'labels' key 'bad key!' is not a valid Kubernetes label key/],
    ['fractional timeout', { timeout: Duration.millis(1500) }, /'timeout' must be a whole number of seconds/],
    ['bad host', { host: 'Not_A_Host' }, /'host' must be a DNS-1123 subdomain/],
    ['timeout above Knative\'s maximum', { timeout: Duration.minutes(11) }, /'timeout' is 660 seconds, above Knative's default max-revision-timeout-seconds \(600\)/],
  ])('fails: %s', (_name, props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  test('fails: unknown storage scheme', () => {
    expect(() => StorageUri.fromUri('ftp://models/iris')).toThrow(/unknown scheme 'ftp:\/\/'.*use one of s3:\/\/, gs:\/\/, https:\/\/, http:\/\/, pvc:\/\//);
  });

  test('fails: a bucket URI without a path', () => {
    expect(() => StorageUri.fromUri('s3://models')).toThrow(/must name an object or prefix inside the bucket/);
  });

  test('fails: a duplicate environment variable', () => {
    const { endpoint } = synth({ env: { A: EnvValue.fromValue('1') } });
    expect(() => endpoint.addEnv('A', EnvValue.fromValue('2'))).toThrow(/environment variable 'A' is already set/);
  });

  test('errors carry the construct path when cdk8s synthesizes the app', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test');
    expect(() => new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: IRIS, minReplicas: 3, maxReplicas: 1 })).toThrow(/minReplicas/);
  });
});

describe('storage URIs', () => {
  test.each([
    [StorageUri.s3('bucket', '/models/iris/'), 's3://bucket/models/iris', 's3'],
    [StorageUri.gcs('bucket', 'iris'), 'gs://bucket/iris', 'gs'],
    [StorageUri.https('https://example.com/iris.tar.gz'), 'https://example.com/iris.tar.gz', 'https'],
    [StorageUri.pvc('store'), 'pvc://store', 'pvc'],
    [StorageUri.fromUri('http://models.local/iris.onnx'), 'http://models.local/iris.onnx', 'http'],
  ])('%p is %s', (uri, text, scheme) => {
    expect(uri.uri).toBe(text);
    expect(uri.scheme).toBe(scheme);
  });
});

describe('escape hatches and imports', () => {
  test('the primary object is reachable with ApiObject.of and takes JSON patches', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test');
    const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: IRIS });
    ApiObject.of(endpoint).addJsonPatch(JsonPatch.add('/spec/template/metadata/annotations/example.com~1patched', 'yes'));
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    expect(knativeService(manifests).spec.template.metadata.annotations['example.com/patched']).toBe('yes');
    expect(endpoint.apiObject.kind).toBe('Service');
  });

  test('addEnv after construction still reaches the output', () => {
    const app = Testing.app();
    const chart = new Chart(app, 'test');
    const endpoint = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: IRIS });
    endpoint.addEnv('LATE', EnvValue.fromValue('yes'));
    expect(container(knativeService(Testing.synth(chart)).spec.template.spec).env).toContainEqual({ name: 'LATE', value: 'yes' });
  });

  test('fromEndpointName refers to an endpoint defined elsewhere', () => {
    const chart = Testing.chart();
    const imported = ModelEndpoint.fromEndpointName(chart, 'Other', 'fraud', 'fraud', 'risk');
    expect(imported.url).toBe('http://fraud.risk.svc.cluster.local');
    expect(Testing.synth(chart)).toEqual([]);
  });

  test('default names are derived from the construct path and fit Knative\'s suffixes', () => {
    const { endpoint } = synth();
    expect(endpoint.name).toMatch(/^test-endpoint-[0-9a-f]{8}$/);
  });
});
