// imagePullSecrets (issue 15): private model images (modelcar, image volume) and private runtime
// images are pulled with the pods' image pull secrets, in both modes and in every pod of the endpoint.
import { Chart, Testing } from 'cdk8s';
import { Secret } from 'cdk8s-plus-33';
import { CanaryRollout, DeploymentMode, KnativeFeature, ModelEndpoint, ModelEndpointProps, ModelImageMount, StorageUri } from '../../src';
import { findOne } from '../util';
import { expectValidManifests } from '../validation';

const IMAGE = 'registry.example.com/models/iris:v1';

function endpoint(props: (chart: Chart) => Partial<ModelEndpointProps>): { chart: Chart; endpoint: ModelEndpoint } {
  const chart = new Chart(Testing.app(), 'test');
  const e = new ModelEndpoint(chart, 'Endpoint', { modelName: 'iris', storageUri: StorageUri.fromUri(`oci://${IMAGE}`), ...props(chart) });
  return { chart, endpoint: e };
}

function podSpecOf(manifests: any[], mode: DeploymentMode, component = 'predictor'): any {
  const byComponent = (m: any) => m.metadata.labels?.['app.kubernetes.io/component'] === component;
  return mode === DeploymentMode.RAW
    ? manifests.find((m: any) => m.kind === 'Deployment' && byComponent(m)).spec.template.spec
    : manifests.find((m: any) => m.kind === 'Service' && m.apiVersion === 'serving.knative.dev/v1' && byComponent(m)).spec.template.spec;
}

const regcred = (chart: Chart, name = 'regcred', id = name) => Secret.fromSecretName(chart, `Pull-${id}`, name);

describe.each([DeploymentMode.RAW, DeploymentMode.SERVERLESS])('%s mode', (mode) => {
  test.each([
    ['a modelcar', StorageUri.fromUri(`oci://${IMAGE}`), KnativeFeature.SHARE_PROCESS_NAMESPACE],
    ['an image volume', StorageUri.oci(IMAGE, { mount: ModelImageMount.IMAGE_VOLUME }), KnativeFeature.IMAGE_VOLUMES],
  ])('%s model: the pod pulls with the named secrets, in order', (_what, storageUri, feature) => {
    const { chart } = endpoint((c) => ({
      mode,
      storageUri,
      kubernetesVersion: '1.33',
      knativeFeatures: [feature],
      imagePullSecrets: [regcred(c), regcred(c, 'mirror.example.com', 'mirror')],
    }));
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests, { knativeFlags: [feature] });
    const spec = podSpecOf(manifests, mode);
    expect(spec.imagePullSecrets).toEqual([{ name: 'regcred' }, { name: 'mirror.example.com' }]);
  });

  test('a transformer pod pulls with them too (its image may be private as well)', () => {
    const { chart, endpoint: e } = endpoint((c) => ({
      mode, knativeFeatures: [KnativeFeature.SHARE_PROCESS_NAMESPACE], imagePullSecrets: [regcred(c)],
    }));
    e.addTransformer({ container: { image: 'registry.example.com/transformers/iris:v1' } });
    const manifests = Testing.synth(chart);
    expect(podSpecOf(manifests, mode, 'transformer').imagePullSecrets).toEqual([{ name: 'regcred' }]);
  });
});

test('without imagePullSecrets the pod has none', () => {
  const { chart } = endpoint(() => ({ mode: DeploymentMode.RAW }));
  expect(podSpecOf(Testing.synth(chart), DeploymentMode.RAW).imagePullSecrets).toBeUndefined();
});

test('a CanaryRollout gives every version the secrets', () => {
  const chart = Testing.chart();
  new CanaryRollout(chart, 'Rollout', {
    modelName: 'iris',
    mode: DeploymentMode.RAW,
    imagePullSecrets: [regcred(chart)],
    stable: { version: 'v1', storageUri: StorageUri.fromUri('oci://registry.example.com/models/iris:v1') },
    canary: { version: 'v2', storageUri: StorageUri.fromUri('oci://registry.example.com/models/iris:v2') },
    trafficPercent: 10,
  });
  const deployments = Testing.synth(chart).filter((m: any) => m.kind === 'Deployment');
  expect(deployments).toHaveLength(2);
  for (const d of deployments) expect(d.spec.template.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
});

describe('fails at synth with the field and the fix', () => {
  test('a Secret with an empty name', () => {
    expect(() => endpoint((c) => ({ mode: DeploymentMode.RAW, imagePullSecrets: [Secret.fromSecretName(c, 'Empty', '')] })))
      .toThrow("'imagePullSecrets' has a Secret with an empty name; give each Secret its name");
  });

  test.each(['RegCred', 'reg_cred', '-regcred', `${'a'.repeat(64)}.example.com`])('a name that is not a DNS-1123 subdomain: %s', (name) => {
    expect(() => endpoint((c) => ({ mode: DeploymentMode.RAW, imagePullSecrets: [regcred(c, name, 'bad')] })))
      .toThrow(`'imagePullSecrets' must be a DNS-1123 subdomain (dot-separated lowercase labels of at most 63 characters, 253 in all), got '${name}'`);
  });

  test('the same Secret twice', () => {
    expect(() => endpoint((c) => ({ mode: DeploymentMode.RAW, imagePullSecrets: [regcred(c), regcred(c, 'regcred', 'again')] })))
      .toThrow("'imagePullSecrets' names the Secret 'regcred' twice; list each Secret once");
  });
});

test('the manifests name the secrets only by reference (nothing inlined)', () => {
  const { chart } = endpoint((c) => ({ mode: DeploymentMode.RAW, imagePullSecrets: [regcred(c)] }));
  const manifests = Testing.synth(chart);
  expect(manifests.filter((m: any) => m.kind === 'Secret')).toEqual([]);
  expect(findOne(manifests, 'Deployment').spec.template.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
});
