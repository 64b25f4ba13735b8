import { goodContainer, goodKnativeService } from './fixtures/objects';
import { checkKnativeDefaultFeatures, knativeDefaultFeatures } from './knative-features';

describe('Knative default feature flags', () => {
  test('defaults come from the vendored config-features', () => {
    const f = knativeDefaultFeatures();
    expect(f['kubernetes.podspec-init-containers']).toBe('disabled');
    expect(f['kubernetes.podspec-volumes-emptydir']).toBe('enabled');
    expect(f['multi-container']).toBe('enabled');
    expect(f._example).toBeUndefined();
  });

  test('a good Knative Service passes', () => {
    expect(checkKnativeDefaultFeatures(goodKnativeService())).toEqual([]);
  });

  test('fails on an init container and passes when the flag is enabled', () => {
    const ksvc = goodKnativeService();
    const init = goodContainer('init');
    delete init.ports;
    ksvc.spec.template.spec.initContainers = [init];
    expect(checkKnativeDefaultFeatures(ksvc)).toEqual([
      'spec.template.spec.initContainers: needs Knative feature flag "kubernetes.podspec-init-containers", which is "disabled" by default',
    ]);
    expect(checkKnativeDefaultFeatures(ksvc, ['kubernetes.podspec-init-containers'])).toEqual([]);
  });

  test('fails on nodeSelector and passes when the flag is enabled', () => {
    const ksvc = goodKnativeService();
    ksvc.spec.template.spec.nodeSelector = { 'kubernetes.io/arch': 'amd64' };
    expect(checkKnativeDefaultFeatures(ksvc)).toEqual([expect.stringContaining('spec.template.spec.nodeSelector: needs Knative feature flag "kubernetes.podspec-nodeselector"')]);
    expect(checkKnativeDefaultFeatures(ksvc, ['kubernetes.podspec-nodeselector'])).toEqual([]);
  });

  test('fails on two container ports', () => {
    const ksvc = goodKnativeService();
    ksvc.spec.template.spec.containers[0].ports.push({ containerPort: 9000, name: 'h2c' });
    expect(checkKnativeDefaultFeatures(ksvc)).toEqual([
      'spec.template.spec.containers[0].ports: more than one container port is set; Knative allows a single port',
    ]);
  });

  test('fails on flagged pod fields, volumes, env and capabilities', () => {
    const ksvc = goodKnativeService();
    const ps = ksvc.spec.template.spec;
    Object.assign(ps, {
      tolerations: [],
      affinity: {},
      runtimeClassName: 'gvisor',
      priorityClassName: 'high',
      schedulerName: 's',
      hostAliases: [],
      topologySpreadConstraints: [],
      dnsPolicy: 'None',
      dnsConfig: {},
      securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    });
    ps.volumes.push({ name: 'models', persistentVolumeClaim: { claimName: 'models' } });
    ps.containers[0].volumeMounts.push({ name: 'models', mountPath: '/models', readOnly: true });
    ps.containers[0].env = [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }];
    ps.containers[0].securityContext.capabilities.add = ['NET_BIND_SERVICE'];
    const flags = checkKnativeDefaultFeatures(ksvc).map((e) => /"([^"]+)", which is/.exec(e)?.[1]);
    expect(new Set(flags)).toEqual(new Set([
      'kubernetes.podspec-tolerations', 'kubernetes.podspec-affinity', 'kubernetes.podspec-runtimeclassname',
      'kubernetes.podspec-priorityclassname', 'kubernetes.podspec-schedulername', 'kubernetes.podspec-hostaliases',
      'kubernetes.podspec-topologyspreadconstraints', 'kubernetes.podspec-dnspolicy', 'kubernetes.podspec-dnsconfig',
      'kubernetes.podspec-securitycontext', 'kubernetes.podspec-persistent-volume-claim',
      'kubernetes.podspec-persistent-volume-write', 'kubernetes.podspec-fieldref', 'kubernetes.containerspec-addcapabilities',
    ]));
  });

  test('pod securityContext with the flag allows only the documented fields', () => {
    const ksvc = goodKnativeService();
    ksvc.spec.template.spec.securityContext = { runAsNonRoot: true, fsGroup: 1000, sysctls: [] };
    expect(checkKnativeDefaultFeatures(ksvc, ['kubernetes.podspec-securitycontext'])).toEqual([
      'spec.template.spec.securityContext.sysctls: not allowed by Knative, whatever the feature flags',
    ]);
  });

  test('fails on Knative reserved ports, env vars, paths and port names', () => {
    const ksvc = goodKnativeService();
    const c = ksvc.spec.template.spec.containers[0];
    c.ports = [{ containerPort: 8012, name: 'http', protocol: 'UDP' }];
    c.env = [{ name: 'K_SERVICE', value: 'x' }, { name: 'PORT', value: '1' }];
    c.volumeMounts = [{ name: 'scratch', mountPath: '/tmp/' }];
    expect(checkKnativeDefaultFeatures(ksvc)).toEqual([
      'spec.template.spec.containers[0].ports[0].name: "http" is not allowed; must be empty, "http1" or "h2c"',
      'spec.template.spec.containers[0].ports[0].protocol: "UDP" is not allowed; only TCP',
      'spec.template.spec.containers[0].ports[0].containerPort: 8012 is reserved by Knative (queue-proxy)',
      'spec.template.spec.containers[0].env[0].name: "K_SERVICE" is reserved by Knative',
      'spec.template.spec.containers[0].env[1].name: "PORT" is reserved by Knative',
      'spec.template.spec.containers[0].volumeMounts[0].mountPath: "/tmp" is a reserved path in Knative (mount a subdirectory such as /tmp/app instead)',
    ]);
  });

  test('fails on unmounted volumes and writable secret mounts', () => {
    const ksvc = goodKnativeService();
    ksvc.spec.template.spec.volumes.push({ name: 'unused', secret: { secretName: 's' } }, { name: 'creds', secret: { secretName: 'c' } });
    ksvc.spec.template.spec.containers[0].volumeMounts.push({ name: 'creds', mountPath: '/creds' });
    expect(checkKnativeDefaultFeatures(ksvc)).toEqual([
      'spec.template.spec.volumes[1]: volume "unused" is not mounted by any container (Knative rejects unused volumes)',
      'spec.template.spec.containers[0].volumeMounts[1].readOnly: must be true (Knative allows writable mounts only for emptyDir and, with a flag, PVCs)',
    ]);
  });

  test('multi-container: exactly one serving port, no sidecar probes by default', () => {
    const ksvc = goodKnativeService();
    const sidecar = goodContainer('sidecar');
    sidecar.ports = [{ containerPort: 9000, name: 'h2c' }];
    sidecar.readinessProbe = { tcpSocket: { port: 9000 } };
    ksvc.spec.template.spec.containers.push(sidecar);
    expect(checkKnativeDefaultFeatures(ksvc)).toEqual([
      'spec.template.spec.containers: exactly one container must declare a port (the serving container), got 2',
    ]);
    delete sidecar.ports;
    expect(checkKnativeDefaultFeatures(ksvc)).toEqual([
      'spec.template.spec.containers[1].readinessProbe (on a non-serving container): needs Knative feature flag "multi-container-probing", which is "disabled" by default',
    ]);
  });

  test('fails on traffic that does not sum to 100 and on timeouts above the default maximum', () => {
    const ksvc = goodKnativeService();
    ksvc.spec.traffic = [{ latestRevision: true, percent: 90 }, { revisionName: 'iris-00001', percent: 5 }];
    ksvc.spec.template.spec.timeoutSeconds = 900;
    expect(checkKnativeDefaultFeatures(ksvc)).toEqual([
      'spec.template.spec.timeoutSeconds: 900 exceeds max-revision-timeout-seconds (600) in the default config-defaults',
      'spec.traffic: percentages must sum to 100, got 95',
    ]);
  });

  test('ignores other kinds and reports unknown flags', () => {
    expect(checkKnativeDefaultFeatures({ apiVersion: 'apps/v1', kind: 'Deployment' })).toEqual([]);
    expect(checkKnativeDefaultFeatures(goodKnativeService(), ['kubernetes.podspec-nodeselectr'])).toEqual([
      'enabledFlags: "kubernetes.podspec-nodeselectr" is not a Knative feature flag in imports/knative-config-features.yaml',
    ]);
  });
});
