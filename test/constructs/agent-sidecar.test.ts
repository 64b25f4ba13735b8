/**
 * `batcher` and `logger` on endpoints (issue 18 part 3): on a third-party runtime or a custom
 * container they add the agent sidecar (our server in `--mode agent`) in front of it, which takes
 * the serving port; on our own server `batcher` is its `--max-batch-size`; under
 * `target: ServingTarget.KSERVE` both are KServe's own fields (CanaryRollout versions:
 * canary-agent.test.ts). Every synth is validated offline (schema, Pod Security restricted,
 * project defaults, Knative default features) and, with the test cluster, by the real API server
 * (test/cluster/jest-setup.ts).
 */
import { Chart, Duration, Testing } from 'cdk8s';
import {
  DeploymentMode, InferenceProtocol, KnativeFeature, LoggerMode, ModelEndpoint, ModelEndpointProps, ModelFormat,
  ServingRuntime, ServingTarget, StorageUri,
} from '../../src';
import { AGENT } from '../../src/contract';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

const SKLEARN_MODEL = StorageUri.s3('models', 'iris/');
const SINK = 'http://message-dumper.logs.svc.cluster.local';

function synth(props: Partial<ModelEndpointProps> = {}) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  new ModelEndpoint(chart, 'Endpoint', { name: 'iris', modelName: 'iris', storageUri: SKLEARN_MODEL, format: ModelFormat.SKLEARN, ...props });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
  return manifests;
}

function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

const podOf = (manifests: any[], serverless: boolean) => (serverless
  ? findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' })
  : findOne(manifests, 'Deployment')).spec.template.spec;

describe('raw mode, MLServer (a third-party runtime)', () => {
  const manifests = synth({
    mode: DeploymentMode.RAW,
    batcher: { maxBatchSize: 16, maxLatency: Duration.millis(20) },
    logger: { url: SINK, mode: LoggerMode.REQUEST },
  });
  const pod = podOf(manifests, false);
  const runtime = pod.containers.find((c: any) => c.name === 'model-server');
  const agent = pod.containers.find((c: any) => c.name === AGENT.containerName);

  test('snapshot of the pod', () => {
    expect(pod).toMatchSnapshot();
  });

  test('the agent forwards to the runtime\'s HTTP port on localhost, batching and logging', () => {
    const runtimePort = runtime.ports.find((p: any) => p.name === 'http').containerPort;
    expect(agent.image).toMatch(/cdk8s-model-serv/);
    expect(agent.args.slice(0, 3)).toEqual(['serve', '--mode', 'agent']);
    expect(flagValue(agent.args, '--agent-upstream')).toBe(`http://127.0.0.1:${runtimePort}`);
    expect(flagValue(agent.args, '--http-port')).toBe(String(AGENT.port));
    expect(flagValue(agent.args, '--max-batch-size')).toBe('16');
    expect(flagValue(agent.args, '--max-batch-latency-ms')).toBe('20');
    expect(flagValue(agent.args, '--payload-log-url')).toBe(SINK);
    expect(flagValue(agent.args, '--payload-log-mode')).toBe('request');
    expect(flagValue(agent.args, '--payload-log-namespace')).toBe('ml');
    expect(agent.ports).toEqual([{ name: 'agent', containerPort: AGENT.port, protocol: 'TCP' }]);
  });

  test('restricted security context, read-only root, requests and limits', () => {
    expect(agent.securityContext).toMatchObject({
      runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(agent.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } });
    expect(pod.volumes).toContainEqual({ name: 'agent-scratch', emptyDir: {} });
  });

  test('the agent\'s readiness asks the runtime\'s readiness path through the agent', () => {
    expect(agent.readinessProbe.httpGet).toEqual({ path: runtime.readinessProbe.httpGet.path, port: AGENT.port });
    expect(agent.startupProbe.httpGet.port).toBe(AGENT.port);
  });

  test('the Service\'s http port targets the agent; the NetworkPolicy admits it', () => {
    const service = findOne(manifests, 'Service', { apiVersion: 'v1' });
    expect(service.spec.ports.find((p: any) => p.name === 'http').targetPort).toBe(AGENT.port);
    const policy = findOne(manifests, 'NetworkPolicy');
    expect(JSON.stringify(policy.spec.ingress)).toContain(`"port":${AGENT.port}`);
  });

  test('the runtime stays scraped on its own metrics port (its /metrics, not the agent\'s on the serving port)', () => {
    // MLServer: a metrics port of its own, which the Service keeps.
    expect(findOne(manifests, 'ServiceMonitor').spec.endpoints[0].port).toBe('metrics');
    // KServe's sklearnserver: /metrics on its HTTP port, whose Service port now targets the agent: the address is rewritten.
    const sklearn = synth({ mode: DeploymentMode.RAW, runtime: ServingRuntime.SKLEARN_SERVER, batcher: {} });
    const endpoint = findOne(sklearn, 'ServiceMonitor').spec.endpoints[0];
    expect(endpoint.port).toBe('http');
    expect(endpoint.relabelings).toContainEqual(expect.objectContaining({ targetLabel: '__address__', replacement: '$1:8080' }));
  });

  test('the agent\'s own /metrics is a second endpoint on the serving port, as component="agent"; Prometheus may reach it', () => {
    const endpoints = findOne(manifests, 'ServiceMonitor').spec.endpoints;
    expect(endpoints).toHaveLength(2);
    expect(endpoints[1]).toMatchObject({ port: 'http', path: '/metrics' });
    expect(endpoints[1].relabelings).toContainEqual(expect.objectContaining({ targetLabel: 'component', replacement: 'agent' }));
    const policies = manifests.filter((m: any) => m.kind === 'NetworkPolicy');
    expect(JSON.stringify(policies)).toContain(`"port":${AGENT.port}`);
  });

  test('KServe\'s defaults without maxBatchSize and maxLatency (32, 5000 ms)', () => {
    const args = podOf(synth({ mode: DeploymentMode.RAW, batcher: {} }), false).containers.find((c: any) => c.name === 'agent').args;
    expect([flagValue(args, '--max-batch-size'), flagValue(args, '--max-batch-latency-ms')]).toEqual(['32', '5000']);
    expect(args).not.toContain('--payload-log-url');
  });
});

describe('serverless, a custom container', () => {
  const manifests = synth({ format: undefined, storageUri: undefined, container: { image: 'example.com/my-server:1', port: 8080, readinessPath: '/ready' }, batcher: { maxBatchSize: 8 } });
  const pod = podOf(manifests, true);

  test('snapshot of the pod', () => {
    expect(pod).toMatchSnapshot();
  });

  test('Knative routes to the agent (the one declared port) and probes it; the container keeps no port or probe', () => {
    const [server, agent] = pod.containers;
    expect(server.ports).toBeUndefined();
    expect(server.readinessProbe).toBeUndefined();
    expect(agent.name).toBe('agent');
    expect(agent.ports).toEqual([{ name: 'http1', containerPort: AGENT.port, protocol: 'TCP' }]);
    expect(agent.readinessProbe.httpGet).toEqual({ path: '/ready' });
    expect(flagValue(agent.args, '--agent-upstream')).toBe('http://127.0.0.1:8080');
  });
});

describe('serverless, a third-party runtime', () => {
  test('the runtime keeps no port and no probe; the agent asks the runtime\'s readiness path', () => {
    const manifests = synth({ batcher: {}, knativeFeatures: [KnativeFeature.INIT_CONTAINERS] });
    const [runtime, agent] = podOf(manifests, true).containers;
    for (const field of ['ports', 'readinessProbe', 'startupProbe', 'livenessProbe']) expect(runtime[field]).toBeUndefined();
    expect(agent.readinessProbe.httpGet).toEqual({ path: '/v2/models/iris/ready' });
  });
});

describe('where no sidecar is added', () => {
  test('our own server: batcher is its --max-batch-size (adaptive batching), one container', () => {
    const pod = podOf(synth({ format: undefined, storageUri: StorageUri.s3('models', 'iris/model.onnx'), mode: DeploymentMode.RAW, batcher: { maxBatchSize: 64 } }), false);
    expect(pod.containers.map((c: any) => c.name)).toEqual(['model-server']);
    expect(flagValue(pod.containers[0].args, '--max-batch-size')).toBe('64');
  });

  test('neither batcher nor logger: no sidecar', () => {
    expect(podOf(synth({ mode: DeploymentMode.RAW }), false).containers.map((c: any) => c.name)).toEqual(['model-server']);
  });

  test('target KSERVE: KServe\'s batcher field (maxLatency in ms), no sidecar of ours', () => {
    const manifests = synth({ target: ServingTarget.KSERVE, batcher: { maxBatchSize: 10, maxLatency: Duration.millis(250) } });
    const predictor = findOne(manifests, 'InferenceService').spec.predictor;
    expect(predictor.batcher).toEqual({ maxBatchSize: 10, maxLatency: 250 });
    expect(JSON.stringify(predictor)).not.toContain('--mode');
  });
});

describe('refused at synth, naming the prop and the fix', () => {
  test.each([
    [{ maxBatchSize: 0 }, /'batcher.maxBatchSize' must be an integer from 1 to 1000000, got 0/],
    [{ maxLatency: Duration.minutes(11) }, /'batcher.maxLatency' must be whole milliseconds from 1 ms to 10 minutes/],
  ])('batcher %o', (batcher, message) => {
    expect(() => synth({ mode: DeploymentMode.RAW, batcher })).toThrow(message);
  });

  test('a gRPC endpoint (the agent takes REST only)', () => {
    expect(() => synth({ protocol: InferenceProtocol.GRPC_V2, batcher: {} })).toThrow(/'batcher' on runtime \S+ add our agent sidecar, which takes REST \(V1, V2\) only/);
  });

  test('a custom container on the agent\'s port', () => {
    expect(() => synth({ format: undefined, storageUri: undefined, container: { image: 'example.com/s:1', port: AGENT.port }, logger: { url: SINK } }))
      .toThrow(/agent sidecar on port 9081, which is also the 'container.port'/);
  });

  test('a collocated transformer (it would take the serving port too)', () => {
    const chart = new Chart(Testing.app(), 'test');
    const e = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', container: { image: 'example.com/s:1', port: 8085 }, logger: { url: SINK } });
    expect(() => e.addTransformer({ container: { image: 'example.com/t:1' }, collocated: true })).toThrow(/'collocated' and the agent sidecar/);
  });
});
