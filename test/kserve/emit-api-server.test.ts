/**
 * The emitted InferenceService and ServingRuntime on the test cluster's real kube-apiserver, with
 * KServe's CRDs installed from imports/ (dry-run server-side apply, strict field validation).
 * Every object the other emit tests synthesize is also checked there after each file
 * (test/cluster/jest-setup.ts); this file shows the CRDs are served and do reject what is wrong.
 */
import { Chart, Testing } from 'cdk8s';
import { ModelEndpoint, ServingTarget, StorageUri } from '../../src';
import { applyDryRun, clusterClient, ensureNamespace, hasCluster, testNamespace } from '../cluster/server-check';
import { findOne } from '../util';

// Without a cluster, test/global-setup.js has printed the one-line reason (and failed the run under CI=true).
const describeWithCluster = hasCluster() ? describe : describe.skip;

describeWithCluster('the KServe target on the real API server', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let client: any;
  const ns = testNamespace(__filename);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let manifests: any[];

  beforeAll(async () => {
    client = await clusterClient();
    await ensureNamespace(client, ns);
    const chart = new Chart(Testing.app(), 'test');
    const e = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: StorageUri.s3('models', 'iris/model.onnx'), target: ServingTarget.KSERVE });
    e.addExplainer({});
    manifests = Testing.synth(chart);
  }, 300_000); // the cluster may still be starting
  afterAll(() => client.close());

  test('accepts the InferenceService and the ServingRuntime', async () => {
    for (const kind of ['InferenceService', 'ServingRuntime']) {
      const r = await applyDryRun(client, findOne(manifests, kind), ns);
      expect({ kind, status: r.status, message: r.message }).toEqual({ kind, status: 201, message: '' });
    }
  });

  test('rejects an InferenceService whose scaleMetric KServe does not know (the CRD is really enforced)', async () => {
    const bad = JSON.parse(JSON.stringify(findOne(manifests, 'InferenceService')));
    bad.spec.predictor.scaleMetric = 'latency';
    const r = await applyDryRun(client, bad, ns);
    expect(r.status).toBe(422);
    expect(r.message).toMatch(/spec\.predictor\.scaleMetric: Unsupported value: "latency"/);
  });
});
