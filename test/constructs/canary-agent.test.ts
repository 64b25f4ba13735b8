/**
 * The agent sidecar in CanaryRollout versions (issue 18 part 3): `batcher` and `logger` on a
 * version served by a third-party runtime or a custom container add our agent to that version's
 * pods, as on a ModelEndpoint (src/render/agent-sidecar.ts); the split still reaches each
 * version on the port that serves it. Every synth is validated offline (schema, Pod Security
 * restricted, Knative default features) and, with the test cluster, by the real API server
 * (test/cluster/jest-setup.ts).
 */
import { Chart, Duration, Testing } from 'cdk8s';
import {
  CanaryRollout, CanaryRolloutProps, DeploymentMode, EndpointIngress, KnativeFeature, LoggerMode, ModelFormat, ModelVersion, StorageUri,
} from '../../src';
import { AGENT, HTTP_PORT, SERVER_FLAGS } from '../../src/contract';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

const SINK = 'http://message-dumper.logs.svc.cluster.local';
/** Served by MLServer (a third-party runtime): these get the agent. */
const SK1: ModelVersion = { version: 'v1', storageUri: StorageUri.s3('models', 'iris/v1/'), format: ModelFormat.SKLEARN };
const SK2: ModelVersion = { version: 'v2', storageUri: StorageUri.s3('models', 'iris/v2/'), format: ModelFormat.SKLEARN };
/** Served by our model server, which batches and logs itself: no agent. */
const ONNX1: ModelVersion = { version: 'v1', storageUri: StorageUri.s3('models', 'iris/v1/model.onnx') };

function synth(props: Partial<CanaryRolloutProps> & Pick<CanaryRolloutProps, 'stable'>) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  new CanaryRollout(chart, 'Rollout', { name: 'iris', modelName: 'iris', ...props });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return manifests;
}

function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

const podOf = (manifests: any[], version: string) => findOne(manifests, 'Deployment', { name: `iris-${version}` }).spec.template.spec;
const containerNames = (pod: any) => pod.containers.map((c: any) => c.name);
const agentOf = (pod: any) => pod.containers.find((c: any) => c.name === AGENT.containerName);
const sharedService = (manifests: any[]) => findOne(manifests, 'Service', { apiVersion: 'v1', name: 'iris' });
const servicePort = (service: any, name: string) => service.spec.ports.find((p: any) => p.name === name);
const route = (manifests: any[], name: string) => findOne(manifests, 'VirtualService').spec.http.find((h: any) => h.name === name);
const destinationPorts = (r: any) => Object.fromEntries(r.route.map((d: any) => [d.destination.subset, d.destination.port.number]));

describe('raw mode, both versions on MLServer with batcher and logger', () => {
  const manifests = synth({
    mode: DeploymentMode.RAW,
    stable: SK1,
    canary: SK2,
    trafficPercent: 20,
    batcher: { maxBatchSize: 16, maxLatency: Duration.millis(20) },
    logger: { url: SINK, mode: LoggerMode.ALL },
  });

  test('snapshot of the stable pod', () => {
    expect(podOf(manifests, 'v1')).toMatchSnapshot();
  });

  test.each(['v1', 'v2'])('version %s: the agent forwards to the runtime on localhost, batching, and its events carry ce-endpoint = the version', (version) => {
    const pod = podOf(manifests, version);
    expect(containerNames(pod)).toEqual(['model-server', AGENT.containerName]);
    const runtime = pod.containers[0];
    const args: string[] = agentOf(pod).args;
    expect(args.slice(0, 3)).toEqual(['serve', '--mode', 'agent']);
    expect(flagValue(args, '--agent-upstream')).toBe(`http://127.0.0.1:${runtime.ports.find((p: any) => p.name === 'http').containerPort}`);
    expect(flagValue(args, SERVER_FLAGS.maxBatchSize)).toBe('16');
    expect(flagValue(args, SERVER_FLAGS.payloadLogUrl)).toBe(SINK);
    expect(flagValue(args, SERVER_FLAGS.payloadLogInferenceService)).toBe('iris');
    expect(flagValue(args, SERVER_FLAGS.payloadLogNamespace)).toBe('ml');
    expect(flagValue(args, SERVER_FLAGS.payloadLogEndpoint)).toBe(version);
    expect(pod.volumes).toContainEqual({ name: 'agent-scratch', emptyDir: {} });
  });

  test('probes go through the agent to the runtime\'s readiness path', () => {
    const pod = podOf(manifests, 'v2');
    const agent = agentOf(pod);
    expect(agent.readinessProbe.httpGet).toEqual({ path: pod.containers[0].readinessProbe.httpGet.path, port: AGENT.port });
    expect(agent.startupProbe.httpGet.port).toBe(AGENT.port);
    expect(agent.ports).toEqual([{ name: 'agent', containerPort: AGENT.port, protocol: 'TCP' }]);
  });

  test('the shared Service\'s http port targets the agent; the split keeps port 80 for both subsets; the NetworkPolicy admits the agent', () => {
    expect(servicePort(sharedService(manifests), 'http').targetPort).toBe(AGENT.port);
    expect(servicePort(sharedService(manifests), 'agent')).toBeUndefined();
    const predictor = route(manifests, 'predictor');
    expect(predictor.route.map((d: any) => [d.destination.subset, d.weight])).toEqual([['stable', 80], ['canary', 20]]);
    expect(destinationPorts(predictor)).toEqual({ stable: 80, canary: 80 });
    expect(JSON.stringify(findOne(manifests, 'NetworkPolicy', { name: 'iris' }).spec.ingress)).toContain(`"port":${AGENT.port}`);
  });

  test('the agent\'s own /metrics is scraped on the serving port as component="agent"', () => {
    const endpoints = findOne(manifests, 'ServiceMonitor').spec.endpoints;
    expect(endpoints).toContainEqual(expect.objectContaining({ port: 'http', path: '/metrics' }));
    expect(JSON.stringify(endpoints)).toContain('"replacement":"agent"');
  });
});

describe('raw mode, Istio, only the canary needs the agent (stable on our server)', () => {
  const manifests = synth({
    mode: DeploymentMode.RAW, stable: ONNX1, canary: SK2, trafficPercent: 10, batcher: { maxBatchSize: 8 },
  });

  test('the stable pod is our server alone, batching itself; the canary pod has the agent', () => {
    const stable = podOf(manifests, 'v1');
    expect(containerNames(stable)).toEqual(['model-server']);
    expect(flagValue(stable.containers[0].args, SERVER_FLAGS.maxBatchSize)).toBe('8');
    expect(containerNames(podOf(manifests, 'v2'))).toEqual(['model-server', AGENT.containerName]);
  });

  test('the shared Service keeps http on our server\'s port and adds an agent port', () => {
    const service = sharedService(manifests);
    expect(servicePort(service, 'http').targetPort).toBe(HTTP_PORT);
    expect(servicePort(service, 'agent')).toEqual({ name: 'agent', port: AGENT.port, targetPort: AGENT.port, appProtocol: 'http', protocol: 'TCP' });
  });

  test('every route sends the canary to the agent port and the stable to port 80', () => {
    expect(destinationPorts(route(manifests, 'predictor'))).toEqual({ stable: 80, canary: AGENT.port });
    expect(destinationPorts(route(manifests, 'canary-by-header'))).toEqual({ canary: AGENT.port });
    expect(destinationPorts(route(manifests, 'stable-by-header'))).toEqual({ stable: 80 });
    const policy = JSON.stringify(findOne(manifests, 'NetworkPolicy', { name: 'iris' }).spec.ingress);
    expect(policy).toContain(`"port":${AGENT.port}`);
    expect(policy).toContain(`"port":${HTTP_PORT}`);
  });

  test('the monitor does not scrape the agent\'s own series (its port differs between the versions)', () => {
    expect(JSON.stringify(findOne(manifests, 'ServiceMonitor').spec.endpoints)).not.toContain('"replacement":"agent"');
  });

  test('shadow mode mirrors to the canary\'s agent port', () => {
    const shadow = synth({ mode: DeploymentMode.RAW, stable: ONNX1, canary: SK2, trafficPercent: 30, shadow: true, batcher: {} });
    const predictor = route(shadow, 'predictor');
    expect(destinationPorts(predictor)).toEqual({ stable: 80 });
    expect(predictor.mirror).toEqual({ host: 'iris.ml.svc.cluster.local', subset: 'canary', port: { number: AGENT.port } });
  });

  test('the other way round (the stable has the agent, the canary not): the stable routes go to the agent port', () => {
    const reversed = synth({ mode: DeploymentMode.RAW, stable: SK1, canary: { ...ONNX1, version: 'v2' }, batcher: {} });
    expect(servicePort(sharedService(reversed), 'http').targetPort).toBe(HTTP_PORT);
    expect(destinationPorts(route(reversed, 'predictor'))).toEqual({ stable: AGENT.port, canary: 80 });
    expect(containerNames(podOf(reversed, 'v1'))).toEqual(['model-server', AGENT.containerName]);
  });

  test('promoted (the agent version is the stable one, alone): one Service port to the agent, routes on 80', () => {
    const promoted = synth({ mode: DeploymentMode.RAW, stable: SK2, batcher: {} });
    expect(servicePort(sharedService(promoted), 'http').targetPort).toBe(AGENT.port);
    expect(destinationPorts(route(promoted, 'predictor'))).toEqual({ stable: 80 });
  });
});

describe('raw mode, Gateway API, only the canary needs the agent', () => {
  const manifests = synth({
    mode: DeploymentMode.RAW,
    ingress: EndpointIngress.gatewayApi({ gatewayName: 'shared-gateway', gatewayNamespace: 'gateways' }),
    stable: ONNX1,
    canary: SK2,
    trafficPercent: 25,
    logger: { url: SINK },
  });

  test('each track\'s Service targets its own version\'s serving port: the agent for the canary', () => {
    const port = (track: string) => servicePort(findOne(manifests, 'Service', { apiVersion: 'v1', name: `iris-${track}` }), 'http');
    expect(port('stable').targetPort).toBe(HTTP_PORT);
    expect(port('canary').targetPort).toBe(AGENT.port);
  });

  test('the HTTPRoute splits on port 80 of the track Services; the canary\'s agent logs as v2, the stable server as v1', () => {
    const split = findOne(manifests, 'HTTPRoute').spec.rules.at(-1).backendRefs;
    expect(split).toEqual([{ name: 'iris-stable', port: 80, weight: 75 }, { name: 'iris-canary', port: 80, weight: 25 }]);
    expect(flagValue(agentOf(podOf(manifests, 'v2')).args, SERVER_FLAGS.payloadLogEndpoint)).toBe('v2');
    expect(flagValue(podOf(manifests, 'v1').containers[0].args, SERVER_FLAGS.payloadLogEndpoint)).toBe('v1');
  });
});

describe('raw mode, a custom container version', () => {
  test('the agent forwards to the container\'s port and asks its readiness path', () => {
    const manifests = synth({
      mode: DeploymentMode.RAW,
      stable: { version: 'v1', container: { image: 'example.com/my-server:1', port: 8085, readinessPath: '/ready' } },
      logger: { url: SINK, mode: LoggerMode.RESPONSE },
    });
    const agent = agentOf(podOf(manifests, 'v1'));
    expect(flagValue(agent.args, '--agent-upstream')).toBe('http://127.0.0.1:8085');
    expect(flagValue(agent.args, SERVER_FLAGS.payloadLogEndpoint)).toBe('v1');
    expect(agent.readinessProbe.httpGet).toEqual({ path: '/ready', port: AGENT.port });
    expect(servicePort(sharedService(manifests), 'http').targetPort).toBe(AGENT.port);
  });
});

describe('serverless mode', () => {
  const knativeFeatures = [KnativeFeature.INIT_CONTAINERS];
  const ksvc = (manifests: any[]) => findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' });

  test('the newest version\'s revision gets the agent: Knative routes to it and probes it; the traffic block is unchanged', () => {
    const manifests = synth({ stable: SK1, canary: SK2, trafficPercent: 10, knativeFeatures, logger: { url: SINK } });
    const service = ksvc(manifests);
    expect(service.spec.template.metadata.name).toBe('iris-v2');
    expect(service.spec.template.spec).toMatchSnapshot();
    const [runtime, agent] = service.spec.template.spec.containers;
    for (const field of ['ports', 'readinessProbe', 'startupProbe', 'livenessProbe']) expect(runtime[field]).toBeUndefined();
    expect(agent.name).toBe(AGENT.containerName);
    expect(agent.ports).toEqual([{ name: 'http1', containerPort: AGENT.port, protocol: 'TCP' }]);
    expect(agent.readinessProbe.httpGet).toEqual({ path: '/v2/models/iris/ready' });
    expect(flagValue(agent.args, SERVER_FLAGS.payloadLogEndpoint)).toBe('v2');
    expect(service.spec.traffic).toEqual([
      { revisionName: 'iris-v1', percent: 90, tag: 'stable' },
      { revisionName: 'iris-v2', percent: 10, tag: 'canary' },
    ]);
  });

  test('a newest version on our server gets no agent, whatever the stable ran', () => {
    const manifests = synth({ stable: SK1, canary: { ...ONNX1, version: 'v2' }, knativeFeatures, batcher: { maxBatchSize: 4 } });
    const containers = ksvc(manifests).spec.template.spec.containers;
    expect(containers.map((c: any) => c.name)).toEqual(['model-server']);
    expect(flagValue(containers[0].args, SERVER_FLAGS.maxBatchSize)).toBe('4');
  });
});

describe('refused at synth, as on a ModelEndpoint', () => {
  test('a version on the agent\'s port', () => {
    const chart = new Chart(Testing.app(), 'test');
    expect(() => new CanaryRollout(chart, 'Rollout', {
      modelName: 'iris', mode: DeploymentMode.RAW, stable: { version: 'v1', container: { image: 'example.com/s:1', port: AGENT.port } }, batcher: {},
    })).toThrow(/agent sidecar on port 9081, which is also the 'container.port'/);
  });
});
