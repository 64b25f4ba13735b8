/**
 * The supported Kubernetes range (README): every kind of object the constructs synthesize validates
 * offline against the oldest and the newest vendored release of the range, and the Deployment selectors,
 * which are immutable in a running cluster, stay what they were before the move to cdk8s-plus-33.
 */
import { Size, Testing } from 'cdk8s';
import { KUBERNETES_VERSIONS, validateManifests } from './schema-validator';
import { CanaryRollout, DeploymentMode, ModelEndpoint, ModelMesh, StorageUri } from '../../src';

const S3 = (key: string) => StorageUri.s3('models', key);

/** One of each construct, in both modes where there are two. */
function synthEverything() {
  const chart = Testing.chart();
  new ModelEndpoint(chart, 'Raw', { name: 'iris', modelName: 'iris', storageUri: S3('iris/model.onnx'), mode: DeploymentMode.RAW });
  new ModelEndpoint(chart, 'Serverless', { name: 'wine', modelName: 'wine', storageUri: S3('wine/model.onnx') });
  new CanaryRollout(chart, 'Rollout', {
    name: 'fraud',
    modelName: 'fraud',
    mode: DeploymentMode.RAW,
    stable: { version: 'v1', storageUri: S3('fraud/v1/model.onnx') },
    canary: { version: 'v2', storageUri: S3('fraud/v2/model.onnx') },
    trafficPercent: 10,
  });
  new ModelMesh(chart, 'Mesh', { memoryPerServer: Size.gibibytes(1) })
    .addModel({ name: 'iris', storageUri: S3('iris/model.onnx'), memoryEstimate: Size.mebibytes(64) });
  return Testing.synth(chart);
}

describe.each([KUBERNETES_VERSIONS.oldest, KUBERNETES_VERSIONS.target, KUBERNETES_VERSIONS.newest])('Kubernetes %s', (version) => {
  test('every synthesized object validates against its OpenAPI definitions', () => {
    const objs = synthEverything();
    expect(new Set(objs.map((o) => o.kind))).toEqual(new Set([
      'Deployment', 'Service', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'NetworkPolicy', 'ServiceMonitor',
      'PodMonitor', 'PrometheusRule', 'ConfigMap', 'VirtualService', 'DestinationRule',
    ]));
    expect(validateManifests(objs, version)).toEqual([]);
  });
});

test('the releases really differ: a pod-level resources field is unknown in 1.30 and valid in 1.36', () => {
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'pod-resources' },
    spec: {
      selector: { matchLabels: { app: 'x' } },
      template: {
        metadata: { labels: { app: 'x' } },
        spec: { resources: { limits: { cpu: '1' } }, containers: [{ name: 'server', image: 'example.com/x:1' }] },
      },
    },
  };
  expect(validateManifests([deployment], KUBERNETES_VERSIONS.oldest)).toEqual(['Deployment/pod-resources: spec.template.spec: unknown field "resources"']);
  expect(validateManifests([deployment], KUBERNETES_VERSIONS.newest)).toEqual([]);
});

test('Deployment selectors are unchanged by the move from cdk8s-plus-33 to cdk8s-plus-33 (they are immutable)', () => {
  const selectors = Object.fromEntries(synthEverything().filter((o) => o.kind === 'Deployment').map((d) => [d.metadata.name, d.spec.selector]));
  const predictor = { 'app.kubernetes.io/component': 'predictor' };
  expect(selectors).toEqual({
    'iris': { matchLabels: { ...predictor, 'serving.cdk8s-model-serving.io/endpoint': 'iris' } },
    'fraud-v1': { matchLabels: { ...predictor, 'serving.cdk8s-model-serving.io/endpoint': 'fraud', 'serving.cdk8s-model-serving.io/version': 'v1' } },
    'fraud-v2': { matchLabels: { ...predictor, 'serving.cdk8s-model-serving.io/endpoint': 'fraud', 'serving.cdk8s-model-serving.io/version': 'v2' } },
    'test-mesh-c88f0fdf': { matchLabels: { 'app.kubernetes.io/component': 'mesh', 'serving.cdk8s-model-serving.io/mesh': 'test-mesh-c88f0fdf' } },
  });
});
