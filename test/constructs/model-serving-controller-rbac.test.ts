/**
 * The install's RBAC, bound for real in the test cluster's API server (RBAC authorizer), asked with
 * SubjectAccessReviews as the controller's ServiceAccount: what it needs is allowed, and only by
 * name where the construct says so; Secrets and Pods elsewhere, other webhook configurations and
 * other Leases are denied. The cluster-scoped objects get a per-file name so no other test file's
 * install is touched.
 */
import { Chart, Testing } from 'cdk8s';
import { ModelServingController } from '../../src';
import * as contract from '../../src/contract';
import { clusterClient, ensureNamespace, testNamespace } from '../cluster/server-check';

let client: any;
let namespace: string;
let user: string;

beforeAll(async () => {
  client = await clusterClient();
  namespace = testNamespace();
  await ensureNamespace(client, namespace);
  const chart = new Chart(Testing.app(), 'install');
  new ModelServingController(chart, 'Controller', { namespace, createNamespace: false });
  const objects = chart.toJson();
  const suffix = `-${namespace}`;
  for (const o of objects.filter((x: any) => ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(x.kind))) {
    if (o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding') o.metadata.name += suffix;
    if (o.kind === 'ClusterRoleBinding') o.roleRef.name += suffix;
    const r = await client.apply(o, { force: true });
    if (r.status >= 300) throw new Error(`${o.kind} refused: ${JSON.stringify(r.body)}`);
  }
  user = `system:serviceaccount:${namespace}:${contract.CONTROLLER_DEFAULTS.name}`;
}, 360_000);

afterAll(() => client?.close());

interface Attributes {
  readonly group?: string;
  readonly resource: string;
  readonly verb: string;
  readonly namespace?: string;
  readonly name?: string;
  readonly subresource?: string;
}

async function allowed(attributes: Attributes): Promise<boolean> {
  const { status, body } = await client.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user, groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'], resourceAttributes: { group: '', ...attributes } },
    },
  });
  expect(status).toBe(201);
  return body.status.allowed === true;
}

test('allowed: server-side apply, prune and watch of the rendered kinds in any namespace', async () => {
  for (const [group, resource] of [['serving.knative.dev', 'services'], ['apps', 'deployments'], ['', 'services'], ['networking.istio.io', 'virtualservices'], ['monitoring.coreos.com', 'podmonitors']]) {
    for (const verb of ['get', 'list', 'watch', 'create', 'patch', 'delete']) {
      expect({ group, resource, verb, allowed: await allowed({ group, resource, verb, namespace: 'models' }) }).toEqual({ group, resource, verb, allowed: true });
    }
  }
});

test('allowed: the custom resources, their status subresource, and Events', async () => {
  expect(await allowed({ group: contract.CRD_GROUP, resource: 'modelendpoints', verb: 'watch', namespace: 'models' })).toBe(true);
  expect(await allowed({ group: contract.CRD_GROUP, resource: 'canaryrollouts', verb: 'patch', namespace: 'models', subresource: 'status' })).toBe(true);
  expect(await allowed({ group: '', resource: 'events', verb: 'create', namespace: 'models' })).toBe(true);
  expect(await allowed({ group: contract.CRD_GROUP, resource: 'modelmeshes', verb: 'delete', namespace: 'models' })).toBe(false);
});

test('allowed by name only: its Lease, its TLS Secret and its two webhook configurations', async () => {
  const names = contract.CONTROLLER_DEFAULTS;
  const lease = { group: 'coordination.k8s.io', resource: 'leases', verb: 'update', namespace };
  expect(await allowed({ ...lease, name: names.leaseName })).toBe(true);
  expect(await allowed({ ...lease, name: 'kube-scheduler' })).toBe(false);
  const secret = { resource: 'secrets', verb: 'get', namespace };
  expect(await allowed({ ...secret, name: names.tlsSecret })).toBe(true);
  expect(await allowed({ ...secret, name: 'another-secret' })).toBe(false);
  const vwc = { group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', verb: 'patch' };
  expect(await allowed({ ...vwc, name: names.validatingWebhookConfiguration })).toBe(true);
  expect(await allowed({ ...vwc, name: 'istio-validator' })).toBe(false);
  expect(await allowed({ group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', verb: 'patch', name: names.mutatingWebhookConfiguration })).toBe(true);
});

test('denied: Secrets and Pods in other namespaces, RBAC itself, and the CRDs', async () => {
  expect(await allowed({ resource: 'secrets', verb: 'get', namespace: 'models', name: contract.CONTROLLER_DEFAULTS.tlsSecret })).toBe(false);
  expect(await allowed({ resource: 'secrets', verb: 'list', namespace: 'models' })).toBe(false);
  expect(await allowed({ resource: 'pods', verb: 'list', namespace: 'models' })).toBe(false);
  expect(await allowed({ group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verb: 'create' })).toBe(false);
  expect(await allowed({ group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verb: 'update' })).toBe(false);
});
