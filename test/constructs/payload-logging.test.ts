/**
 * `logger` (PayloadLogging) on endpoints: rendered as our model server's `--payload-log-*`
 * flags, as KServe's `logger` under `target: ServingTarget.KSERVE`, and through the agent sidecar
 * for a server that cannot log.
 */
import { Chart, Testing } from 'cdk8s';
import {
  DeploymentMode, LoggerMode, ModelEndpoint, ModelEndpointProps, ModelFormat, ServingTarget, StorageUri,
} from '../../src';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');
/** A folder: what a third-party runtime (MLServer for sklearn) loads. */
const SKLEARN_MODEL = StorageUri.s3('models', 'iris/');
const SINK = 'http://message-dumper.logs.svc.cluster.local';

function synth(props: Partial<ModelEndpointProps> = {}) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  new ModelEndpoint(chart, 'Endpoint', { name: 'iris', modelName: 'iris', storageUri: IRIS, ...props });
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests);
  return manifests;
}

/** The value following `flag` in `args`, or undefined. */
function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

test('raw: our server gets the --payload-log-* flags (url, mode, service name, namespace)', () => {
  const manifests = synth({ mode: DeploymentMode.RAW, logger: { url: SINK, mode: LoggerMode.REQUEST } });
  const args: string[] = findOne(manifests, 'Deployment').spec.template.spec.containers[0].args;
  expect(flagValue(args, '--payload-log-url')).toBe(SINK);
  expect(flagValue(args, '--payload-log-mode')).toBe('request');
  expect(flagValue(args, '--payload-log-inference-service')).toBe('iris');
  expect(flagValue(args, '--payload-log-namespace')).toBe('ml');
});

test('serverless: mode defaults to all', () => {
  const manifests = synth({ logger: { url: SINK } });
  const args: string[] = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1' }).spec.template.spec.containers[0].args;
  expect(flagValue(args, '--payload-log-url')).toBe(SINK);
  expect(flagValue(args, '--payload-log-mode')).toBe('all');
});

test('without logger: no payload-log flag', () => {
  const args: string[] = findOne(synth({ mode: DeploymentMode.RAW }), 'Deployment').spec.template.spec.containers[0].args;
  expect(args.filter((a) => a.startsWith('--payload-log'))).toEqual([]);
});

test('target KSERVE: the predictor carries KServe\'s logger {mode, url}, and our server no flag (KServe\'s agent logs)', () => {
  const manifests = synth({ target: ServingTarget.KSERVE, logger: { url: SINK, mode: LoggerMode.RESPONSE } });
  const predictor = findOne(manifests, 'InferenceService').spec.predictor;
  expect(predictor.logger).toEqual({ mode: 'response', url: SINK });
  expect(JSON.stringify(predictor)).not.toContain('--payload-log');
});

test('target KSERVE with a third-party runtime: allowed, KServe\'s agent logs', () => {
  const manifests = synth({ target: ServingTarget.KSERVE, format: ModelFormat.SKLEARN, storageUri: SKLEARN_MODEL, logger: { url: SINK } });
  expect(findOne(manifests, 'InferenceService').spec.predictor.logger).toEqual({ mode: 'all', url: SINK });
});

test('a third-party runtime or a custom container: the agent sidecar logs for it (test/constructs/agent-sidecar.test.ts)', () => {
  for (const props of [{ format: ModelFormat.SKLEARN, storageUri: SKLEARN_MODEL }, { container: { image: 'example.com/my-server:1' } }]) {
    const containers = findOne(synth({ mode: DeploymentMode.RAW, ...props, logger: { url: SINK } }), 'Deployment').spec.template.spec.containers;
    expect(containers.map((c: any) => c.name)).toEqual(['model-server', 'agent']);
    expect(flagValue(containers[1].args, '--payload-log-url')).toBe(SINK);
  }
});

describe('refused at synth, naming the prop and the way out', () => {
  test.each([['ftp://sink'], ['not a url']])('url %s', (url) => {
    expect(() => synth({ logger: { url } })).toThrow(`'logger.url' must be an http:// or https:// URL, got '${url}'`);
  });
});
