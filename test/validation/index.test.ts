import { goodDeployment, goodKnativeService, goodService } from './fixtures/objects';
import { collectManifestErrors, expectValidManifests, findByKind } from './index';

test('expectValidManifests accepts good objects', () => {
  expect(() => expectValidManifests([goodDeployment(), goodService(), goodKnativeService()])).not.toThrow();
});

test('expectValidManifests fails with a readable list naming each object', () => {
  const dep = goodDeployment();
  dep.spec.replicas = '3';
  dep.spec.template.spec.containers[0].securityContext.privileged = true;
  const ksvc = goodKnativeService();
  ksvc.spec.template.spec.nodeSelector = { a: 'b' };
  expect(() => expectValidManifests([dep, ksvc])).toThrow(/^3 validation error\(s\) in 2 synthesized object\(s\):\n {2}- Deployment\/model-server: spec.replicas: must be integer\n/);
  expect(collectManifestErrors([ksvc], { knativeFlags: ['kubernetes.podspec-nodeselector'] })).toEqual([]);
});

test('options turn the pod checks off', () => {
  const dep = goodDeployment();
  delete dep.spec.template.spec.automountServiceAccountToken;
  expect(collectManifestErrors([dep])).toHaveLength(1);
  expect(collectManifestErrors([dep], { projectDefaults: false })).toEqual([]);
});

test('findByKind finds by kind and name and fails when nothing matches', () => {
  const objs = [goodDeployment(), goodService(), goodKnativeService()];
  expect(findByKind(objs, 'Service')).toHaveLength(2);
  expect(findByKind(objs, 'Service', 'iris')[0].apiVersion).toBe('serving.knative.dev/v1');
  expect(() => findByKind(objs, 'Ingress')).toThrow(/no Ingress among: Deployment\/model-server, Service\/model-server, Service\/iris/);
});
