/**
 * `logger` (PayloadLogging) on endpoints and on their transformer and explainer: rendered as our
 * model server's `--payload-log-*` flags on that component's container, as KServe's `logger` on
 * the component under `target: ServingTarget.KSERVE`, and through the agent sidecar for a
 * predictor whose server cannot log.
 */
import { Chart, Testing } from 'cdk8s';
import {
  CanaryRollout, DeploymentMode, ExplainerBackground, ExplainerOptions, InferenceProtocol, LoggerMode, ModelEndpoint, ModelEndpointProps,
  ModelFormat, ServingTarget, StorageUri, TransformerModule, TransformerOptions,
} from '../../src';
import { findByKind, findOne } from '../util';
import { expectValidManifests } from '../validation';

const IRIS = StorageUri.s3('models', 'iris/model.onnx');
/** A folder: what a third-party runtime (MLServer for sklearn) loads. */
const SKLEARN_MODEL = StorageUri.s3('models', 'iris/');
const SINK = 'http://message-dumper.logs.svc.cluster.local';

function synth(props: Partial<ModelEndpointProps> = {}, components: { transformer?: TransformerOptions; explainer?: ExplainerOptions } = {}) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
  const e = new ModelEndpoint(chart, 'Endpoint', { name: 'iris', modelName: 'iris', storageUri: IRIS, ...props });
  if (components.transformer) e.addTransformer(components.transformer);
  if (components.explainer) e.addExplainer(components.explainer);
  const manifests = Testing.synth(chart);
  expectValidManifests(manifests, { knativeFlags: props.knativeFeatures });
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

describe('sampleRate', () => {
  test('below 1: our server gets --payload-log-sample-rate; 1 (every inference) adds no flag', () => {
    const sampled: string[] = findOne(synth({ mode: DeploymentMode.RAW, logger: { url: SINK, sampleRate: 0.1 } }), 'Deployment').spec.template.spec.containers[0].args;
    expect(flagValue(sampled, '--payload-log-sample-rate')).toBe('0.1');
    const all: string[] = findOne(synth({ mode: DeploymentMode.RAW, logger: { url: SINK, sampleRate: 1 } }), 'Deployment').spec.template.spec.containers[0].args;
    expect(all).not.toContain('--payload-log-sample-rate');
  });
  test.each([[-0.1], [1.5], [NaN]])('fails for %s, naming the prop and the range', (rate) => {
    expect(() => synth({ logger: { url: SINK, sampleRate: rate } })).toThrow(`'logger.sampleRate' must be a number from 0 to 1 (the share of inferences logged), got ${rate}`);
  });
  test('fails with target KSERVE below 1: KServe\'s logger does not sample', () => {
    expect(() => synth({ target: ServingTarget.KSERVE, logger: { url: SINK, sampleRate: 0.5 } }))
      .toThrow(/'logger.sampleRate' is 0.5, but KServe's logger has no sampling.*remove 'sampleRate', or use ServingTarget.NATIVE/);
  });
});

describe('per component: the transformer\'s and explainer\'s own logger', () => {
  const MODULE = TransformerModule.fromCode('exports.preprocess = async (r) => r;\n', 'iris.js');
  const BACKGROUND = ExplainerBackground.fromRows([[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]);
  const TRANSFORMER_SINK = 'http://transformer-events.logs.svc.cluster.local';
  const EXPLAINER_SINK = 'http://explainer-events.logs.svc.cluster.local';
  const argsOf = (manifest: any, container = 0): string[] => manifest.spec.template.spec.containers[container].args;

  test('raw: each component\'s container gets its own sink and mode; the predictor keeps the endpoint\'s', () => {
    const manifests = synth({ mode: DeploymentMode.RAW, protocol: InferenceProtocol.V2, logger: { url: SINK } }, {
      transformer: { module: MODULE, logger: { url: TRANSFORMER_SINK, mode: LoggerMode.RESPONSE, sampleRate: 0.25 } },
      explainer: { background: BACKGROUND, logger: { url: EXPLAINER_SINK } },
    });
    const predictor = argsOf(findOne(manifests, 'Deployment', { name: 'iris' }));
    const transformer = argsOf(findOne(manifests, 'Deployment', { name: 'iris-transformer' }));
    const explainer = argsOf(findOne(manifests, 'Deployment', { name: 'iris-explainer' }));
    expect(flagValue(predictor, '--payload-log-url')).toBe(SINK);
    expect(flagValue(transformer, '--mode')).toBe('transformer'); // ce-component follows the server's mode
    expect(flagValue(transformer, '--payload-log-url')).toBe(TRANSFORMER_SINK);
    expect(flagValue(transformer, '--payload-log-mode')).toBe('response');
    expect(flagValue(transformer, '--payload-log-sample-rate')).toBe('0.25');
    expect(flagValue(explainer, '--mode')).toBe('explainer');
    expect(flagValue(explainer, '--payload-log-url')).toBe(EXPLAINER_SINK);
    expect(flagValue(explainer, '--payload-log-mode')).toBe('all');
    for (const args of [transformer, explainer]) {
      // The same ce-inferenceservicename and ce-namespace as the predictor's events.
      expect(flagValue(args, '--payload-log-inference-service')).toBe('iris');
      expect(flagValue(args, '--payload-log-namespace')).toBe('ml');
      expect(flagValue(args, '--payload-log-endpoint')).toBeUndefined();
    }
  });

  test('serverless: the transformer\'s Knative Service gets the flags; without a component logger, none', () => {
    const manifests = synth({}, { transformer: { module: MODULE, logger: { url: TRANSFORMER_SINK } }, explainer: { background: BACKGROUND } });
    const transformer = argsOf(findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name: 'iris-transformer' }));
    expect(flagValue(transformer, '--payload-log-url')).toBe(TRANSFORMER_SINK);
    const explainer = argsOf(findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name: 'iris-explainer' }));
    expect(explainer.filter((a) => a.startsWith('--payload-log'))).toEqual([]);
  });

  test('collocated: the transformer container in the predictor\'s pod gets the flags, the predictor\'s container none', () => {
    const manifests = synth({ container: { image: 'example/torchserve-iris:1', port: 8085, readinessPath: '/v1/models/iris' }, format: ModelFormat.PYTORCH, protocol: InferenceProtocol.V1, storageUri: undefined },
      { transformer: { module: MODULE, collocated: true, logger: { url: TRANSFORMER_SINK } } });
    const containers: any[] = findOne(manifests, 'Service', { apiVersion: 'serving.knative.dev/v1', name: 'iris' }).spec.template.spec.containers;
    const transformer = containers.find((c) => c.name === 'transformer');
    expect(flagValue(transformer.args, '--mode')).toBe('transformer');
    expect(flagValue(transformer.args, '--payload-log-url')).toBe(TRANSFORMER_SINK);
    expect(JSON.stringify(containers.filter((c) => c.name !== 'transformer'))).not.toContain('--payload-log');
  });

  test('a CanaryRollout version: ce-endpoint is the version, on the predictor', () => {
    const chart = new Chart(Testing.app(), 'test', { namespace: 'ml' });
    new CanaryRollout(chart, 'Rollout', {
      name: 'iris',
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      logger: { url: SINK },
      stable: { version: 'v1', storageUri: IRIS },
      canary: { version: 'v2', storageUri: IRIS },
    });
    const manifests = Testing.synth(chart);
    const endpoints = findByKind(manifests, 'Deployment').map((d: any) => flagValue(argsOf(d), '--payload-log-endpoint')).sort();
    expect(endpoints).toEqual(['v1', 'v2']);
  });

  test('target KSERVE: the InferenceService\'s transformer and explainer carry KServe\'s logger, their containers no flag', () => {
    const manifests = synth({ target: ServingTarget.KSERVE, protocol: InferenceProtocol.V2 }, {
      transformer: { container: { image: 'example/feast-transformer:1' }, logger: { url: TRANSFORMER_SINK, mode: LoggerMode.REQUEST } },
      explainer: { background: BACKGROUND, logger: { url: EXPLAINER_SINK } },
    });
    const spec = findOne(manifests, 'InferenceService').spec;
    expect(spec.transformer.logger).toEqual({ mode: 'request', url: TRANSFORMER_SINK });
    expect(spec.explainer.logger).toEqual({ mode: 'all', url: EXPLAINER_SINK });
    expect(spec.predictor.logger).toBeUndefined();
    expect(JSON.stringify([spec.transformer, spec.explainer])).not.toContain('--payload-log');
  });

  describe('refused at synth, naming the component, the prop and the way out', () => {
    test('in process', () => {
      expect(() => synth({}, { transformer: { module: MODULE, inProcess: true, logger: { url: TRANSFORMER_SINK } } }))
        .toThrow(/the transformer's 'logger' does not apply in process.*set 'logger' on the endpoint, or drop 'inProcess'/);
      const explainer = { background: BACKGROUND, inProcess: true, logger: { url: EXPLAINER_SINK } };
      expect(() => synth({ protocol: InferenceProtocol.V2 }, { explainer }))
        .toThrow(/the explainer's 'logger' does not apply in process/);
    });
    test('a custom container outside KServe', () => {
      expect(() => synth({}, { transformer: { container: { image: 'example/feast-transformer:1' }, logger: { url: TRANSFORMER_SINK } } }))
        .toThrow(/the transformer's 'logger' needs our transformer, but it runs your own 'container'.*target: ServingTarget.KSERVE/);
    });
    test('a bad url', () => {
      expect(() => synth({}, { transformer: { module: MODULE, logger: { url: 'ftp://x' } } }))
        .toThrow("the transformer's 'logger.url' must be an http:// or https:// URL, got 'ftp://x'");
    });
  });
});
