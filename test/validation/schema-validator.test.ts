import { goodDeployment, goodKnativeService, goodService, goodServiceMonitor, goodVirtualService } from './fixtures/objects';
import {
  checkDns1035Label, checkDns1123Subdomain, checkLabelValue, checkQualifiedName, schemaRegistry, validateManifest, validateManifests,
} from './schema-validator';

describe('accepts valid objects', () => {
  test.each([
    ['Deployment', goodDeployment],
    ['Service', goodService],
    ['Knative Service', goodKnativeService],
    ['Istio VirtualService', goodVirtualService],
    ['ServiceMonitor', goodServiceMonitor],
  ])('a good %s has no errors', (_, make) => {
    expect(validateManifest(make())).toEqual([]);
  });

  test('other vendored CRDs and built-in kinds are known', () => {
    const objs = [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', creationTimestamp: null }, data: { a: 'b' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'serving' } },
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'np' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } },
      { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'hpa' }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'd' }, maxReplicas: 3 } },
      { apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: { name: 'dr' }, spec: { host: 'h', subsets: [{ name: 'v1', labels: { v: '1' } }] } },
      { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'ap' }, spec: { action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/a/sa/b'] } }] }] } },
      { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: [{ name: 'gw' }], rules: [{ backendRefs: [{ name: 's', port: 80, weight: 90 }] }] } },
      { apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'pr' }, spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0', for: '5m' }] }] } },
    ];
    expect(validateManifests(objs)).toEqual([]);
  });

  test('int-or-string and quantities accept both forms', () => {
    const dep = goodDeployment();
    dep.spec.strategy = { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: '25%' } };
    dep.spec.template.spec.containers[0].resources.limits = { cpu: 2, memory: '1.5Gi' };
    dep.spec.template.spec.containers[0].livenessProbe = { httpGet: { path: '/live', port: 'http' } };
    dep.spec.template.spec.containers[0].readinessProbe = { httpGet: { path: '/ready', port: 8080 } };
    expect(validateManifest(dep)).toEqual([]);
  });

  test('validateManifests prefixes each error with kind and name', () => {
    const dep = goodDeployment();
    dep.spec.replicas = '3';
    expect(validateManifests([goodService(), dep])).toEqual(['Deployment/model-server: spec.replicas: must be integer']);
  });
});

describe('rejects broken objects', () => {
  test('fails on an unknown field in a Deployment container', () => {
    const dep = goodDeployment();
    dep.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
    expect(validateManifest(dep)).toEqual(['spec.template.spec.containers[0]: unknown field "imagePullPolicyy"']);
  });

  test('fails on an unknown top-level or metadata field', () => {
    const dep = goodDeployment();
    dep.status2 = {};
    dep.metadata.label = { a: 'b' };
    expect(validateManifest(dep)).toEqual(expect.arrayContaining(['<root>: unknown field "status2"', 'metadata: unknown field "label"']));
  });

  test('fails on a wrong type (replicas: "3")', () => {
    const dep = goodDeployment();
    dep.spec.replicas = '3';
    expect(validateManifest(dep)).toEqual(['spec.replicas: must be integer']);
  });

  test('fails on a non-string label value', () => {
    const dep = goodDeployment();
    dep.metadata.labels.version = 2;
    expect(validateManifest(dep)).toEqual(['metadata.labels.version: must be string']);
  });

  test('fails on a value outside a CRD enum', () => {
    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'r' },
      spec: { rules: [{ matches: [{ path: { type: 'Prefix', value: '/v2' } }] }] },
    };
    expect(validateManifest(route)).toEqual([
      expect.stringMatching(/^spec.rules\[0\].matches\[0\].path.type: must be equal to one of the allowed values: "Exact", "PathPrefix"/),
    ]);
  });

  test('fails on a quantity that is not a quantity', () => {
    const dep = goodDeployment();
    dep.spec.template.spec.containers[0].resources.limits.memory = '512 MB';
    expect(validateManifest(dep)).toEqual([
      'spec.template.spec.containers[0].resources.limits.memory: must be a quantity string (like "500m" or "1Gi") or number',
    ]);
  });

  test('fails on an int-or-string given a boolean', () => {
    const svc = goodService();
    svc.spec.ports[0].targetPort = true;
    expect(validateManifest(svc)).toEqual(['spec.ports[0].targetPort: must be string or integer']);
  });

  test('fails on a misspelled Knative field', () => {
    const ksvc = goodKnativeService();
    ksvc.spec.template.spec.containerConcurency = 1;
    ksvc.spec.template.spec.containers[0].readinessProbe.httpGet.paht = '/';
    expect(validateManifest(ksvc)).toEqual([
      'spec.template.spec: unknown field "containerConcurency"',
      'spec.template.spec.containers[0].readinessProbe.httpGet: unknown field "paht"',
    ]);
  });

  test('fails on a Knative field the Knative API does not allow at all', () => {
    const ksvc = goodKnativeService();
    ksvc.spec.template.spec.containers[0].lifecycle = { preStop: { exec: { command: ['sleep', '5'] } } };
    expect(validateManifest(ksvc)).toEqual(['spec.template.spec.containers[0]: unknown field "lifecycle"']);
  });

  test('fails on a VirtualService with a bad field and a wrong type', () => {
    const vs = goodVirtualService();
    vs.spec.http[0].route[0].wieght = 90;
    vs.spec.http[0].route[1].weight = '10';
    expect(validateManifest(vs)).toEqual([
      'spec.http[0].route[0]: unknown field "wieght"',
      'spec.http[0].route[1].weight: must be integer',
    ]);
  });

  test('fails on a ServiceMonitor with a wrong type', () => {
    const sm = goodServiceMonitor();
    sm.spec.endpoints[0].interval = 30;
    sm.spec.endpoints[0].honorLabels = 'true';
    const errs = validateManifest(sm);
    expect(errs).toHaveLength(2);
    expect(errs).toEqual(expect.arrayContaining([
      'spec.endpoints[0].honorLabels: must be boolean',
      'spec.endpoints[0].interval: must be string',
    ]));
  });

  test('fails on an unknown kind or apiVersion, never passing silently', () => {
    expect(validateManifest({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }))
      .toEqual([expect.stringMatching(/^unknown apiVersion\/kind "example.com\/v1" "Widget"/)]);
    expect(validateManifest({ apiVersion: 'apps/v1beta1', kind: 'Deployment', metadata: { name: 'w' } }))
      .toEqual([expect.stringMatching(/^unknown apiVersion\/kind/)]);
    expect(validateManifest({ apiVersion: 'serving.knative.dev/v1alpha1', kind: 'Service', metadata: { name: 'w' } }))
      .toEqual([expect.stringMatching(/^unknown apiVersion\/kind/)]);
    expect(validateManifest({ kind: 'Deployment' })).toEqual(['apiVersion: required']);
    expect(validateManifest('nope')).toEqual(['object: must be a JSON object']);
  });

  test('fails on null unless the schema says nullable', () => {
    const dep = goodDeployment();
    dep.spec.paused = null;
    expect(validateManifest(dep)).toEqual(['spec.paused: must be boolean']);
  });
});

describe('names and labels', () => {
  test('fails on a bad name', () => {
    const dep = goodDeployment();
    dep.metadata.name = 'Model_Server';
    expect(validateManifest(dep)).toEqual([expect.stringMatching(/^metadata.name "Model_Server" must be a DNS-1123 subdomain/)]);
  });

  test('fails on a missing name', () => {
    const dep = goodDeployment();
    delete dep.metadata.name;
    expect(validateManifest(dep)).toEqual(['metadata.name: required']);
  });

  test('Services and Knative Services need DNS-1035 labels; Deployments accept subdomains', () => {
    const svc = goodService();
    svc.metadata.name = '1-model';
    expect(validateManifest(svc)).toEqual([expect.stringMatching(/DNS-1035 label/)]);
    const ksvc = goodKnativeService();
    ksvc.metadata.name = 'iris.v2';
    expect(validateManifest(ksvc)).toEqual([expect.stringMatching(/DNS-1035 label/)]);
    ksvc.metadata.name = 'a'.repeat(64);
    expect(validateManifest(ksvc)).toContain('metadata.name "' + 'a'.repeat(64) + '" must be no more than 63 characters (got 64)');
    const dep = goodDeployment();
    dep.metadata.name = '1.model-server';
    expect(validateManifest(dep)).toEqual([]);
  });

  test('fails on a CronJob name over 52 characters', () => {
    const cj = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'c'.repeat(53) },
      spec: { schedule: '* * * * *', jobTemplate: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'i' }] } } } } },
    };
    expect(validateManifest(cj)).toEqual([expect.stringMatching(/must be no more than 52 characters for a CronJob/)]);
  });

  test('fails on bad label keys and values', () => {
    const dep = goodDeployment();
    dep.metadata.labels['example.com/'] = 'x';
    dep.metadata.labels['-bad'] = 'x';
    dep.metadata.labels.long = 'v'.repeat(64);
    dep.metadata.labels.spaces = 'a b';
    const errs = validateManifest(dep);
    expect(errs).toHaveLength(4);
    expect(errs).toContainEqual(expect.stringMatching(/label key "example.com\/" name part must be non-empty/));
    expect(errs).toContainEqual(expect.stringMatching(/label key "-bad"/));
    expect(errs).toContainEqual(expect.stringMatching(/label value "v+" must be no more than 63 characters/));
    expect(errs).toContainEqual(expect.stringMatching(/label value "a b"/));
  });

  test('fails when the selector does not match the template labels', () => {
    const dep = goodDeployment();
    dep.spec.template.metadata.labels = { app: 'other' };
    expect(validateManifest(dep)).toEqual([expect.stringMatching(/^spec.selector.matchLabels\["app.kubernetes.io\/name"\].*does not match/)]);
  });

  test('fails on bad container names, port names and undefined volume mounts', () => {
    const dep = goodDeployment();
    const c = dep.spec.template.spec.containers[0];
    c.name = 'Server';
    c.ports[0].name = 'http-endpoint-port';
    c.volumeMounts = [{ name: 'cache', mountPath: '/cache' }];
    const errs = validateManifest(dep);
    expect(errs).toHaveLength(3);
    expect(errs).toContainEqual(expect.stringMatching(/containers\[0\].name "Server" must be a DNS-1123 label/));
    expect(errs).toContainEqual(expect.stringMatching(/ports\[0\].name "http-endpoint-port" must be an IANA service name/));
    expect(errs).toContainEqual(expect.stringMatching(/volumeMounts\[0\].name: volume "cache" is not defined/));
  });

  test('name helpers follow the Kubernetes rules', () => {
    expect(checkDns1035Label('a-1')).toEqual([]);
    expect(checkDns1035Label('1a')).not.toEqual([]);
    expect(checkDns1123Subdomain('a.b-c.d')).toEqual([]);
    expect(checkDns1123Subdomain('a..b')).not.toEqual([]);
    expect(checkQualifiedName('app.kubernetes.io/name')).toEqual([]);
    expect(checkQualifiedName('a/b/c')).not.toEqual([]);
    expect(checkLabelValue('')).toEqual([]);
    expect(checkLabelValue('A_b.c-1')).toEqual([]);
    expect(checkLabelValue('-a')).not.toEqual([]);
  });
});

test('loading the built-in schemas is fast', () => {
  const start = Date.now();
  schemaRegistry();
  expect(Date.now() - start).toBeLessThan(2000);
});
