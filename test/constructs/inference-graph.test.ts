/**
 * InferenceGraph: the graph's JSON in a ConfigMap, the router (our server in `--mode router`) in
 * either mode, its route and NetworkPolicy, endpoint steps resolved to in-cluster URLs, and the
 * synth-time refusals.
 */
import { Chart, Duration, Testing } from 'cdk8s';
import {
  CanaryRollout, DeploymentMode, EndpointIngress, EndpointSecurity, GraphDependency, GraphNode, GraphStep, GraphStepData,
  InferenceGraph, InferenceGraphProps, InferenceProtocol, KnativeFeature, ModelEndpoint, ModelEndpointProps, ServingTarget,
  StorageUri, TaintEffect, TolerationOperator, TransformerModule,
} from '../../src';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');
const SCALER = StorageUri.s3('models', 'scaler/model.onnx');

function chart(): Chart {
  return new Chart(Testing.app(), 'test', { namespace: 'ml' });
}

function endpoint(scope: Chart, modelName: string, props: Partial<ModelEndpointProps> = {}): ModelEndpoint {
  return new ModelEndpoint(scope, modelName, { name: modelName, modelName, storageUri: modelName === 'scaler' ? SCALER : IRIS, ...props });
}

/** Synthesizes a graph over endpoints `scaler` and `iris` (raw mode unless `endpointProps` says otherwise). */
function synth(
  graph: (scaler: ModelEndpoint, iris: ModelEndpoint) => InferenceGraphProps,
  endpointProps: Partial<ModelEndpointProps> = { mode: DeploymentMode.RAW },
) {
  const c = chart();
  const scaler = endpoint(c, 'scaler', endpointProps);
  const iris = endpoint(c, 'iris', endpointProps);
  const g = new InferenceGraph(c, 'Graph', { name: 'graph', ...graph(scaler, iris) });
  const manifests = Testing.synth(c);
  return { manifests, graph: g };
}

/** The graph JSON the router reads, from its ConfigMap. */
function specOf(manifests: any[]): any {
  const cm = findByKind(manifests, 'ConfigMap').find((m) => m.metadata.labels?.['app.kubernetes.io/component'] === 'router');
  return JSON.parse(cm.data['graph.json']);
}

function routerContainer(manifests: any[], mode: 'raw' | 'serverless'): any {
  const workload = mode === 'raw'
    ? findOne(manifests, 'Deployment', { name: 'graph' })
    : findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name: 'graph' });
  return workload.spec.template.spec.containers[0];
}

describe('the four router kinds', () => {
  test('defaults (serverless): a Sequence over two endpoints, the graph JSON in a ConfigMap mounted at /etc/inference-graph', () => {
    const { manifests } = synth((scaler, iris) => ({
      root: GraphNode.sequence([GraphStep.endpoint(scaler), GraphStep.endpoint(iris, { data: GraphStepData.REQUEST })]),
    }), {});
    expectValidManifests(manifests);
    expect(manifests).toMatchSnapshot();
    expect(specOf(manifests)).toEqual({
      nodes: {
        root: {
          routerType: 'Sequence',
          steps: [
            { name: 'scaler', serviceUrl: 'http://scaler.ml.svc.cluster.local:80/v2/models/scaler/infer' },
            { name: 'iris', serviceUrl: 'http://iris.ml.svc.cluster.local:80/v2/models/iris/infer', data: '$request' },
          ],
        },
      },
    });
    const container = routerContainer(manifests, 'serverless');
    expect(container.args).toEqual(['serve', '--mode', 'router', '--model-name', 'graph', '--http-port', '8080', '--graph-spec', '/etc/inference-graph/graph.json']);
    expect(container.volumeMounts).toContainEqual({ name: 'inference-graph', mountPath: '/etc/inference-graph', readOnly: true });
    // A changed graph changes the revision template, so Knative rolls the router.
    const template = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name: 'graph' }).spec.template;
    expect(template.metadata.annotations['serving.cdk8s-model-serving.io/graph-spec-sha256']).toMatch(/^[0-9a-f]{64}$/);
    const ksvc = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name: 'graph' });
    expect(ksvc.metadata.labels['app.kubernetes.io/component']).toBe('router');
    // Reached through its VirtualService, so Knative's own route stays cluster-local.
    expect(ksvc.metadata.labels['networking.knative.dev/visibility']).toBe('cluster-local');
    const vs = findOne(manifests, 'VirtualService', { name: 'graph' });
    expect(vs.spec.hosts).toEqual(['graph.ml.example.com']);
    expect(vs.spec.http[0].match).toEqual([{ uri: { prefix: '/' } }]);
    expect(vs.spec.http[0].route[0].headers.request.set.Host).toBe('graph.ml.svc.cluster.local');
  });

  test('Switch: each step with its condition, in order', () => {
    const { manifests } = synth((scaler, iris) => ({
      root: GraphNode.switchOn([
        GraphStep.endpoint(scaler, { condition: 'instances.#(kind=="scaled")' }),
        GraphStep.endpoint(iris, { condition: '[@this].#(route==ALL)' }),
      ]),
    }));
    expectValidManifests(manifests);
    const steps = specOf(manifests).nodes.root.steps;
    expect(specOf(manifests).nodes.root.routerType).toBe('Switch');
    expect(steps.map((s: any) => s.condition)).toEqual(['instances.#(kind=="scaled")', '[@this].#(route==ALL)']);
  });

  test('Ensemble: a soft step, per-step and whole-graph timeouts in milliseconds', () => {
    const { manifests } = synth((scaler, iris) => ({
      timeout: Duration.seconds(30),
      root: GraphNode.ensemble([
        GraphStep.endpoint(scaler, { dependency: GraphDependency.SOFT, timeout: Duration.millis(1500) }),
        GraphStep.endpoint(iris),
      ]),
    }));
    expectValidManifests(manifests);
    const spec = specOf(manifests);
    expect(spec.timeoutMs).toBe(30_000);
    expect(spec.nodes.root.routerType).toBe('Ensemble');
    expect(spec.nodes.root.steps[0]).toMatchObject({ name: 'scaler', dependency: 'Soft', timeoutMs: 1500 });
    expect(spec.nodes.root.steps[1].dependency).toBeUndefined();
  });

  test('Splitter with weights, and a node step into a second node', () => {
    const { manifests } = synth((scaler, iris) => ({
      root: GraphNode.splitter([
        GraphStep.node('scaled', { weight: 80 }),
        GraphStep.endpoint(iris, { weight: 20 }),
      ]),
      nodes: { scaled: GraphNode.sequence([GraphStep.endpoint(scaler), GraphStep.endpoint(iris)]) },
    }));
    expectValidManifests(manifests);
    const spec = specOf(manifests);
    expect(spec.nodes.root).toEqual({
      routerType: 'Splitter',
      steps: [
        { name: 'scaled', nodeName: 'scaled', weight: 80 },
        { name: 'iris', serviceUrl: 'http://iris.ml.svc.cluster.local:80/v2/models/iris/infer', weight: 20 },
      ],
    });
    expect(spec.nodes.scaled.steps.map((s: any) => s.name)).toEqual(['scaler', 'iris']);
  });
});

describe('steps', () => {
  test('a V1 endpoint is called at :predict; a URL step keeps its URL', () => {
    const { manifests } = synth((scaler) => ({
      root: GraphNode.sequence([
        GraphStep.endpoint(scaler),
        GraphStep.url('external', 'https://models.example.org/v1/models/x:predict'),
      ]),
    }), { mode: DeploymentMode.RAW, protocol: InferenceProtocol.V1 });
    const steps = specOf(manifests).nodes.root.steps;
    expect(steps[0].serviceUrl).toBe('http://scaler.ml.svc.cluster.local:80/v1/models/scaler:predict');
    expect(steps[1]).toEqual({ name: 'external', serviceUrl: 'https://models.example.org/v1/models/x:predict' });
  });

  test('a raw gRPC endpoint is called over V2 REST, which our server also serves', () => {
    const { manifests } = synth((scaler) => ({ root: GraphNode.sequence([GraphStep.endpoint(scaler)]) }),
      { mode: DeploymentMode.RAW, protocol: InferenceProtocol.GRPC_V2 });
    expect(specOf(manifests).nodes.root.steps[0].serviceUrl).toBe('http://scaler.ml.svc.cluster.local:80/v2/models/scaler/infer');
  });

  test('an endpoint with its own transformer is called through the transformer, as its routes are', () => {
    const { manifests } = synth((scaler) => {
      scaler.addTransformer({ module: TransformerModule.fromCode('export function preprocess(x) { return x; }') });
      return { root: GraphNode.sequence([GraphStep.endpoint(scaler)]) };
    });
    expect(specOf(manifests).nodes.root.steps[0].serviceUrl).toBe('http://scaler-transformer.ml.svc.cluster.local/v2/models/scaler/infer');
  });

  test('an imported endpoint is called at its URL', () => {
    const c = chart();
    const imported = ModelEndpoint.fromEndpointName(c, 'Imported', 'fraud', 'fraud', 'risk');
    new InferenceGraph(c, 'Graph', { name: 'graph', mode: DeploymentMode.RAW, root: GraphNode.sequence([GraphStep.endpoint(imported, { protocol: InferenceProtocol.V1 })]) });
    const manifests = Testing.synth(c);
    expect(specOf(manifests).nodes.root.steps[0].serviceUrl).toBe('http://fraud.risk.svc.cluster.local:80/v1/models/fraud:predict'.replace(':80', ''));
  });
});

describe('raw mode', () => {
  test('Deployment, Service, HPA, NetworkPolicy and an HTTPRoute; the endpoints\' NetworkPolicies admit the router', () => {
    const { manifests } = synth((scaler, iris) => ({
      mode: DeploymentMode.RAW,
      minReplicas: 2,
      maxReplicas: 4,
      ingress: EndpointIngress.gatewayApi({ gatewayName: 'web', gatewayNamespace: 'gateways' }),
      root: GraphNode.sequence([GraphStep.endpoint(scaler), GraphStep.endpoint(iris)]),
    }));
    expectValidManifests(manifests);
    expect(manifests).toMatchSnapshot();
    const deployment = findOne(manifests, 'Deployment', { name: 'graph' });
    expect(deployment.spec.replicas).toBe(2);
    const container = deployment.spec.template.spec.containers[0];
    expect(container.name).toBe('router');
    expect(container.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(container.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } });
    expect(findOne(manifests, 'HorizontalPodAutoscaler', { name: 'graph' }).spec).toMatchObject({ minReplicas: 2, maxReplicas: 4 });
    const service = findOne(manifests, 'Service', { apiVersion: 'v1', name: 'graph' });
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 8080, appProtocol: 'http', protocol: 'TCP' }]);
    const route = findOne(manifests, 'HTTPRoute', { name: 'graph' });
    expect(route.spec.rules[0]).toEqual({ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'graph', port: 80 }] });
    for (const name of ['scaler', 'iris']) {
      const policy = findOne(manifests, 'NetworkPolicy', { name });
      expect(policy.spec.ingress).toContainEqual({
        from: [{ podSelector: { matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'graph', 'app.kubernetes.io/component': 'router' } } }],
      });
    }
    expect(findOne(manifests, 'NetworkPolicy', { name: 'graph' }).spec.podSelector.matchLabels).toEqual({ 'serving.cdk8s-model-serving.io/endpoint': 'graph' });
  });

  test('the pod template carries the SHA-256 of the graph JSON: another graph, another hash', () => {
    const hash = (weight: number) => {
      const { manifests } = synth((scaler, iris) => ({
        mode: DeploymentMode.RAW,
        root: GraphNode.splitter([GraphStep.endpoint(scaler, { weight }), GraphStep.endpoint(iris, { weight: 100 - weight })]),
      }));
      return findOne(manifests, 'Deployment', { name: 'graph' }).spec.template.metadata.annotations['serving.cdk8s-model-serving.io/graph-spec-sha256'];
    };
    expect(hash(50)).toBe(hash(50));
    expect(hash(50)).not.toBe(hash(60));
  });

  test('scheduling props reach the router\'s pod', () => {
    const { manifests } = synth((scaler) => ({
      mode: DeploymentMode.RAW,
      nodeSelector: { pool: 'cpu' },
      tolerations: [{ key: 'dedicated', operator: TolerationOperator.EQUAL, value: 'graphs', effect: TaintEffect.NO_SCHEDULE }],
      root: GraphNode.sequence([GraphStep.endpoint(scaler)]),
    }));
    expectValidManifests(manifests);
    const pod = findOne(manifests, 'Deployment', { name: 'graph' }).spec.template.spec;
    expect(pod.nodeSelector).toEqual({ pool: 'cpu' });
    expect(pod.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'graphs', effect: 'NoSchedule' }]);
  });

  test('a Kubernetes Ingress sends every path of the host to the router', () => {
    const { manifests } = synth((scaler) => ({
      mode: DeploymentMode.RAW,
      ingress: EndpointIngress.kubernetes({ className: 'nginx' }),
      root: GraphNode.sequence([GraphStep.endpoint(scaler)]),
    }));
    expectValidManifests(manifests);
    const ingress = findOne(manifests, 'Ingress', { name: 'graph' });
    expect(ingress.spec.ingressClassName).toBe('nginx');
    expect(ingress.spec.rules).toEqual([{
      host: 'graph.ml.example.com',
      http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'graph', port: { number: 80 } } } }] },
    }]);
  });

  test('monitoring: a ServiceMonitor on the router\'s http port, and Prometheus admitted to it; none when off', () => {
    const graph = (scaler: ModelEndpoint): InferenceGraphProps => ({
      mode: DeploymentMode.RAW,
      root: GraphNode.sequence([GraphStep.endpoint(scaler)]),
    });
    const { manifests, graph: g } = synth(graph);
    const monitor = findOne(manifests, 'ServiceMonitor', { name: 'graph' });
    expect(monitor.spec.selector.matchLabels).toMatchObject({ 'app.kubernetes.io/component': 'router' });
    expect(monitor.spec.endpoints[0]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(g.monitor).toBeDefined();
    expect(findOne(manifests, 'NetworkPolicy', { name: 'graph' }).spec.ingress).toContainEqual({
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
      ports: [{ protocol: 'TCP', port: 8080 }],
    });
    const off = synth((scaler) => ({ ...graph(scaler), monitoring: { enabled: false } }));
    expect(off.manifests.filter((m: any) => m.kind === 'ServiceMonitor' && m.metadata.name === 'graph')).toEqual([]);
    expect(off.graph.monitor).toBeUndefined();
  });

  test('an EndpointSecurity of a step\'s endpoint admits the router\'s principal, made before or after the graph, once', () => {
    const routerRule = { from: [{ source: { principals: ['cluster.local/ns/ml/sa/default'] } }] };
    const rulesOf = (manifests: any[], name: string) => findOne(manifests, 'AuthorizationPolicy', { name }).spec.rules;
    const c = chart();
    const before = endpoint(c, 'before', { mode: DeploymentMode.RAW });
    const after = endpoint(c, 'after', { mode: DeploymentMode.RAW });
    const listed = endpoint(c, 'listed', { mode: DeploymentMode.RAW });
    const bystander = endpoint(c, 'bystander', { mode: DeploymentMode.RAW });
    new EndpointSecurity(c, 'BeforeSecurity', { endpoint: before });
    new EndpointSecurity(c, 'ListedSecurity', { endpoint: listed, allowedPrincipals: ['cluster.local/ns/ml/sa/default'] });
    new EndpointSecurity(c, 'BystanderSecurity', { endpoint: bystander });
    const graph = new InferenceGraph(c, 'Graph', {
      name: 'graph',
      mode: DeploymentMode.RAW,
      root: GraphNode.ensemble([GraphStep.endpoint(before, { name: 'a' }), GraphStep.endpoint(after, { name: 'b' }), GraphStep.endpoint(listed, { name: 'c' }), GraphStep.endpoint(before, { name: 'd' })]),
    });
    expect(graph.principal).toBe('cluster.local/ns/ml/sa/default');
    new EndpointSecurity(c, 'AfterSecurity', { endpoint: after });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    for (const name of ['before', 'after', 'listed']) {
      expect(rulesOf(manifests, name).filter((r: any) => JSON.stringify(r) === JSON.stringify(routerRule))).toHaveLength(1);
    }
    // An endpoint the graph does not call keeps its policy as it was.
    expect(rulesOf(manifests, 'bystander')).not.toContainEqual(routerRule);
  });

  test('a CanaryRollout step: called at its URL in its protocol, and its NetworkPolicy admits the router', () => {
    const c = chart();
    const rollout = new CanaryRollout(c, 'Rollout', {
      name: 'fraud', modelName: 'fraud', mode: DeploymentMode.RAW, protocol: InferenceProtocol.V1, stable: { version: 'v1', storageUri: IRIS },
    });
    new InferenceGraph(c, 'Graph', { name: 'graph', mode: DeploymentMode.RAW, root: GraphNode.sequence([GraphStep.endpoint(rollout)]) });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    expect(specOf(manifests).nodes.root.steps[0].serviceUrl).toBe('http://fraud.ml.svc.cluster.local/v1/models/fraud:predict');
    expect(findOne(manifests, 'NetworkPolicy', { name: 'fraud' }).spec.ingress).toContainEqual({
      from: [{ podSelector: { matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'graph', 'app.kubernetes.io/component': 'router' } } }],
    });
  });

  test('an endpoint in another namespace admits the router\'s namespace too', () => {
    const c = chart();
    const other = new ModelEndpoint(c, 'Other', { name: 'other', modelName: 'other', storageUri: IRIS, mode: DeploymentMode.RAW, namespace: 'team-b' });
    new InferenceGraph(c, 'Graph', { name: 'graph', mode: DeploymentMode.RAW, root: GraphNode.sequence([GraphStep.endpoint(other)]) });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests);
    expect(findOne(manifests, 'NetworkPolicy', { name: 'other' }).spec.ingress).toContainEqual({
      from: [{
        podSelector: { matchLabels: { 'serving.cdk8s-model-serving.io/endpoint': 'graph', 'app.kubernetes.io/component': 'router' } },
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ml' } },
      }],
    });
  });
});

describe('in process', () => {
  test('one Sequence of our endpoints becomes model steps; one storage initializer per model fills <model dir>/<name>', () => {
    const { manifests } = synth((scaler, iris) => ({
      mode: DeploymentMode.RAW,
      inProcess: true,
      root: GraphNode.sequence([GraphStep.endpoint(scaler), GraphStep.endpoint(iris)]),
    }));
    expectValidManifests(manifests);
    expect(specOf(manifests).nodes.root.steps).toEqual([{ name: 'scaler', model: 'scaler' }, { name: 'iris', model: 'iris' }]);
    const pod = findOne(manifests, 'Deployment', { name: 'graph' }).spec.template.spec;
    expect(pod.containers[0].args).toEqual(['serve', '--mode', 'router', '--model-name', 'graph', '--http-port', '8080', '--graph-spec', '/etc/inference-graph/graph.json', '--model-dir', '/mnt/models']);
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'model-dir', mountPath: '/mnt/models', readOnly: true });
    expect(pod.initContainers.map((i: any) => [i.name, i.args])).toEqual([
      ['storage-initializer-0', ['storage-initializer', 's3://models/scaler/model.onnx', '/mnt/models/scaler']],
      ['storage-initializer-1', ['storage-initializer', 's3://models/iris/model.onnx', '/mnt/models/iris']],
    ]);
    // In process the router calls no endpoint: their NetworkPolicies are unchanged.
    expect(JSON.stringify(findOne(manifests, 'NetworkPolicy', { name: 'iris' }))).not.toContain('router');
  });

  test('GraphStep.model() in a serverless graph with init containers enabled', () => {
    const c = chart();
    new InferenceGraph(c, 'Graph', {
      name: 'graph',
      inProcess: true,
      knativeFeatures: [KnativeFeature.INIT_CONTAINERS],
      root: GraphNode.sequence([GraphStep.model('scaler', SCALER), GraphStep.model('iris', IRIS)]),
    });
    const manifests = Testing.synth(c);
    expectValidManifests(manifests, { knativeFlags: [KnativeFeature.INIT_CONTAINERS] });
    expect(specOf(manifests).nodes.root.steps).toEqual([{ name: 'scaler', model: 'scaler' }, { name: 'iris', model: 'iris' }]);
  });

  describe('fails, naming the step and why', () => {
    test('a Switch root', () => {
      expect(() => synth((scaler) => ({ inProcess: true, mode: DeploymentMode.RAW, root: GraphNode.switchOn([GraphStep.endpoint(scaler)]) })))
        .toThrow(/inference graph 'graph': 'inProcess' runs one Sequence, but the root node is a Switch/);
    });
    test('a URL step', () => {
      expect(() => synth((scaler) => ({
        inProcess: true, mode: DeploymentMode.RAW, root: GraphNode.sequence([GraphStep.endpoint(scaler), GraphStep.url('ext', 'http://x.example.org/')]),
      }))).toThrow(/node 'root' step 'ext' cannot run in-process: it is a url step/);
    });
    test('an endpoint with a custom container', () => {
      const c = chart();
      const custom = new ModelEndpoint(c, 'Custom', { name: 'custom', modelName: 'custom', mode: DeploymentMode.RAW, container: { image: 'example.com/server:1' } });
      expect(() => new InferenceGraph(c, 'Graph', { name: 'graph', inProcess: true, mode: DeploymentMode.RAW, root: GraphNode.sequence([GraphStep.endpoint(custom)]) }))
        .toThrow(/step 'custom' cannot run in-process: endpoint 'custom' runs a custom 'container', not our model server/);
    });
    test('serverless without the init-containers flag', () => {
      const c = chart();
      expect(() => new InferenceGraph(c, 'Graph', { name: 'graph', inProcess: true, root: GraphNode.sequence([GraphStep.model('iris', IRIS)]) }))
        .toThrow(/an in-process inference graph \('inProcess: true'\) with a downloaded 'storageUri' needs a storage-initializer init container/);
    });
    test('GraphStep.model() without inProcess', () => {
      const c = chart();
      expect(() => new InferenceGraph(c, 'Graph', { name: 'graph', root: GraphNode.sequence([GraphStep.model('iris', IRIS)]) }))
        .toThrow(/step 'iris': GraphStep.model\(\) runs in the router's own process, which needs 'inProcess: true'/);
    });
  });
});

describe('target KSERVE: KServe\'s own InferenceGraph', () => {
  test('endpoints emitted as InferenceServices are steps by serviceName; URLs and nodes kept; replicas, resources and timeout mapped', () => {
    const { manifests } = synth((scaler, iris) => ({
      target: ServingTarget.KSERVE,
      mode: DeploymentMode.RAW,
      timeout: Duration.seconds(3),
      minReplicas: 2,
      root: GraphNode.sequence([
        GraphStep.endpoint(scaler),
        GraphStep.node('split', { dependency: GraphDependency.SOFT }),
      ]),
      nodes: {
        split: GraphNode.splitter([GraphStep.endpoint(iris, { weight: 70 }), GraphStep.url('external', 'http://other.example.org/v2/models/x/infer', { weight: 30 })]),
      },
    }), { target: ServingTarget.KSERVE, mode: DeploymentMode.RAW });
    expectValidManifests(manifests);
    const graph = findOne(manifests, 'InferenceGraph', { name: 'graph' });
    expect(graph.apiVersion).toBe('serving.kserve.io/v1alpha1');
    expect(graph.metadata.annotations['serving.kserve.io/deploymentMode']).toBe('RawDeployment');
    expect(graph.spec).toEqual({
      nodes: {
        root: { routerType: 'Sequence', steps: [{ name: 'scaler', serviceName: 'scaler' }, { name: 'split', nodeName: 'split', dependency: 'Soft' }] },
        split: {
          routerType: 'Splitter',
          steps: [{ name: 'iris', serviceName: 'iris', weight: 70 }, { name: 'external', serviceUrl: 'http://other.example.org/v2/models/x/infer', weight: 30 }],
        },
      },
      resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '512Mi' } },
      minReplicas: 2,
      maxReplicas: 3,
      scaleMetric: 'cpu',
      scaleTarget: 80,
      timeout: 3,
    });
    // KServe runs the router: none of ours.
    expect(manifests.filter((m: any) => m.metadata?.labels?.['app.kubernetes.io/component'] === 'router')).toEqual([]);
  });

  describe('fails, naming what KServe cannot express', () => {
    test('a per-step timeout', () => {
      const step = (scaler: ModelEndpoint) => GraphStep.endpoint(scaler, { timeout: Duration.seconds(1) });
      expect(() => synth((scaler) => ({ target: ServingTarget.KSERVE, root: GraphNode.sequence([step(scaler)]) })))
        .toThrow(/step 'scaler': KServe's InferenceGraph has no per-step 'timeout'/);
    });
    test('inProcess', () => {
      expect(() => synth((scaler) => ({ target: ServingTarget.KSERVE, inProcess: true, root: GraphNode.sequence([GraphStep.endpoint(scaler)]) })))
        .toThrow(/'inProcess' runs the graph in our server; KServe's InferenceGraph has no in-process steps/);
    });
  });
});

describe('fails at synth, naming the graph, node, step and the fix', () => {
  test('an unknown node', () => {
    expect(() => synth(() => ({ root: GraphNode.sequence([GraphStep.node('missing')]) })))
      .toThrow(/inference graph 'graph' is invalid: node 'root' step 'missing' names nodeName 'missing', which is not a node of this graph/);
  });
  test('a cycle', () => {
    expect(() => synth(() => ({
      root: GraphNode.sequence([GraphStep.node('a')]),
      nodes: { a: GraphNode.sequence([GraphStep.node('b')]), b: GraphNode.sequence([GraphStep.node('a')]) },
    }))).toThrow(/inference graph 'graph' is invalid: .*cycle/);
  });
  test('Splitter weights not summing to 100', () => {
    expect(() => synth((scaler, iris) => ({
      root: GraphNode.splitter([GraphStep.endpoint(scaler, { weight: 50 }), GraphStep.endpoint(iris, { weight: 40 })]),
    }))).toThrow(/node 'root': Splitter weights sum to 90; they must sum to 100/);
  });
  test('a condition that does not parse', () => {
    expect(() => synth((scaler) => ({
      root: GraphNode.switchOn([GraphStep.endpoint(scaler, { condition: 'instances.#(kind=="a"' })]),
    }))).toThrow(/inference graph 'graph' is invalid: node 'root' step 'scaler'.*condition 'instances.#\(kind=="a"' does not parse at position/);
  });
  test('a Switch step without a condition', () => {
    expect(() => synth((scaler) => ({ root: GraphNode.switchOn([GraphStep.endpoint(scaler)]) })))
      .toThrow(/node 'root' step 'scaler' has no condition/);
  });
  test('an empty node', () => {
    expect(() => synth(() => ({ root: GraphNode.sequence([]) }))).toThrow(/node 'root' has no steps/);
  });
  test('two steps with one name', () => {
    expect(() => synth((scaler) => ({ root: GraphNode.ensemble([GraphStep.endpoint(scaler), GraphStep.endpoint(scaler)]) })))
      .toThrow(/node 'root' step 'scaler': the name is used twice in this node/);
  });
  test('a step of another App', () => {
    const otherChart = chart();
    const foreign = endpoint(otherChart, 'iris');
    const c = chart();
    expect(() => new InferenceGraph(c, 'Graph', { name: 'graph', root: GraphNode.sequence([GraphStep.endpoint(foreign)]) }))
      .toThrow(/inference graph 'graph' node 'root' step 'iris': endpoint 'test\/iris' belongs to another App/);
  });
  test('a node named root in nodes', () => {
    const node = (scaler: ModelEndpoint) => GraphNode.sequence([GraphStep.endpoint(scaler)]);
    expect(() => synth((scaler) => ({ root: node(scaler), nodes: { root: node(scaler) } })))
      .toThrow(/'nodes' must not contain 'root'/);
  });
  test('a gRPC protocol for the router', () => {
    expect(() => synth((scaler) => ({ protocol: InferenceProtocol.GRPC_V2, root: GraphNode.sequence([GraphStep.endpoint(scaler)]) })))
      .toThrow(/'protocol' is grpc-v2, but the router takes requests as JSON over HTTP POST/);
  });
  test('a serverless gRPC endpoint has no REST port to call', () => {
    expect(() => synth((scaler) => ({ root: GraphNode.sequence([GraphStep.endpoint(scaler)]) }), { protocol: InferenceProtocol.GRPC_V2 }))
      .toThrow(/step 'scaler': endpoint 'scaler' does not serve v2 over REST/);
  });
  test('endpoint props the router has no use for', () => {
    expect(() => synth((scaler) => ({ scaleDownDelay: Duration.seconds(30), root: GraphNode.sequence([GraphStep.endpoint(scaler)]) })))
      .toThrow("'scaleDownDelay' is not supported on an InferenceGraph's router; remove it");
    expect(() => synth((scaler) => ({ logger: { url: 'http://sink.example.org' }, root: GraphNode.sequence([GraphStep.endpoint(scaler)]) })))
      .toThrow(/'logger' is not supported on an InferenceGraph yet/);
  });
  test('a URL step without http(s)', () => {
    expect(() => GraphStep.url('x', 'ftp://host/x')).toThrow("GraphStep.url() needs an http:// or https:// URL, got 'ftp://host/x'");
  });
});
