import { goodContainer, goodDeployment, goodKnativeService } from './fixtures/objects';
import { checkBaseline, checkProjectDefaults, checkRestricted } from './pod-security';

describe('restricted', () => {
  test('a good restricted Deployment passes', () => {
    expect(checkRestricted(goodDeployment())).toEqual([]);
    expect(checkProjectDefaults(goodDeployment())).toEqual([]);
  });

  test('a Knative Service with container-level settings only passes', () => {
    const ksvc = goodKnativeService();
    expect(ksvc.spec.template.spec.securityContext).toBeUndefined();
    expect(checkRestricted(ksvc)).toEqual([]);
    expect(checkProjectDefaults(ksvc)).toEqual([]);
  });

  test('pod-level runAsNonRoot and seccompProfile cover every container', () => {
    const dep = goodDeployment();
    const sc = dep.spec.template.spec.containers[0].securityContext;
    delete sc.runAsNonRoot;
    delete sc.seccompProfile;
    dep.spec.template.spec.securityContext = { runAsNonRoot: true, seccompProfile: { type: 'Localhost', localhostProfile: 'p.json' } };
    expect(checkRestricted(dep)).toEqual([]);
  });

  test('fails on a privileged pod', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'root' },
      spec: {
        hostNetwork: true,
        hostPID: true,
        containers: [{ name: 'app', image: 'busybox', securityContext: { privileged: true, capabilities: { add: ['SYS_ADMIN'] } }, ports: [{ containerPort: 80, hostPort: 80 }] }],
        volumes: [{ name: 'root', hostPath: { path: '/' } }],
      },
    };
    const errs = checkRestricted(pod);
    for (const fragment of [
      'spec.hostNetwork: must not be true (baseline: host namespaces)',
      'spec.hostPID: must not be true',
      'securityContext.privileged must not be true',
      'capabilities.add "SYS_ADMIN" is not allowed (baseline',
      'hostPort 80 is forbidden',
      'hostPath volumes are forbidden',
      'volume type hostPath is not allowed (restricted',
      'allowPrivilegeEscalation must be false',
      'runAsNonRoot must be true',
      'seccompProfile.type must be RuntimeDefault or Localhost',
      'capabilities.drop must include "ALL"',
      'may only contain NET_BIND_SERVICE, got "SYS_ADMIN"',
    ]) {
      expect(errs).toContainEqual(expect.stringContaining(fragment));
    }
    expect(checkBaseline(pod)).toHaveLength(6);
  });

  test('fails on root, Unconfined seccomp and a missing drop on an init container', () => {
    const dep = goodDeployment();
    const init = goodContainer('init');
    delete init.ports;
    init.securityContext.runAsUser = 0;
    init.securityContext.capabilities = { drop: ['NET_RAW'], add: ['NET_BIND_SERVICE'] };
    dep.spec.template.spec.initContainers = [init];
    dep.spec.template.spec.containers[0].securityContext.seccompProfile = { type: 'Unconfined' };
    expect(checkRestricted(dep)).toEqual([
      'spec.template.spec.containers[0] "server": securityContext.seccompProfile.type must not be Unconfined (baseline: seccomp)',
      'spec.template.spec.containers[0] "server": securityContext.seccompProfile.type must be RuntimeDefault or Localhost, on the pod or on this container (restricted: seccomp)',
      'spec.template.spec.initContainers[0] "init": securityContext.runAsUser must not be 0 (restricted: running as non-root user)',
      'spec.template.spec.initContainers[0] "init": securityContext.capabilities.drop must include "ALL" (restricted: capabilities)',
    ]);
  });

  test('a container cannot undo the pod-level runAsNonRoot', () => {
    const dep = goodDeployment();
    dep.spec.template.spec.securityContext = { runAsNonRoot: true };
    dep.spec.template.spec.containers[0].securityContext.runAsNonRoot = false;
    expect(checkRestricted(dep)).toEqual([expect.stringMatching(/runAsNonRoot must not be false/)]);
  });

  test('finds pod templates in CronJobs and Knative Services', () => {
    const cj = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'c' },
      spec: { schedule: '@daily', jobTemplate: { spec: { template: { spec: { containers: [{ name: 'c', image: 'i' }] } } } } },
    };
    expect(checkRestricted(cj)[0]).toMatch(/^spec.jobTemplate.spec.template.spec.containers\[0\] "c": /);
    const ksvc = goodKnativeService();
    ksvc.spec.template.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
    expect(checkRestricted(ksvc)).toEqual([
      'spec.template.spec.containers[0] "predictor": securityContext.allowPrivilegeEscalation must be false (restricted: privilege escalation)',
    ]);
  });

  test('objects without pod templates have nothing to check', () => {
    expect(checkRestricted({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } })).toEqual([]);
  });

  test('baseline: sysctls, SELinux, procMount and AppArmor', () => {
    const dep = goodDeployment();
    const ps = dep.spec.template.spec;
    ps.securityContext = { sysctls: [{ name: 'kernel.msgmax', value: '1' }, { name: 'net.ipv4.tcp_syncookies', value: '1' }], seLinuxOptions: { type: 'spc_t' } };
    ps.containers[0].securityContext.procMount = 'Unmasked';
    dep.spec.template.metadata.annotations = { 'container.apparmor.security.beta.kubernetes.io/server': 'unconfined' };
    const errs = checkBaseline(dep);
    expect(errs).toHaveLength(4);
    expect(errs).toContainEqual(expect.stringContaining('"kernel.msgmax": not in the safe set'));
    expect(errs).toContainEqual(expect.stringContaining('seLinuxOptions.type "spc_t" is not allowed'));
    expect(errs).toContainEqual(expect.stringContaining('procMount must be Default'));
    expect(errs).toContainEqual(expect.stringContaining('must be runtime/default or localhost/<profile>'));
  });
});

describe('project defaults', () => {
  test('fails without readOnlyRootFilesystem, resources and automountServiceAccountToken', () => {
    const dep = goodDeployment();
    delete dep.spec.template.spec.automountServiceAccountToken;
    const c = dep.spec.template.spec.containers[0];
    c.securityContext.readOnlyRootFilesystem = false;
    c.resources = { requests: { cpu: '1' }, limits: { cpu: '500m', memory: '1Gi' } };
    expect(checkProjectDefaults(dep)).toEqual([
      'spec.template.spec.automountServiceAccountToken: must be false (project default)',
      'spec.template.spec.containers[0] "server": securityContext.readOnlyRootFilesystem must be true (project default)',
      'spec.template.spec.containers[0] "server": resources.limits.cpu (500m) must be ≥ resources.requests.cpu (1)',
      'spec.template.spec.containers[0] "server": resources.requests.memory must be set (project default)',
    ]);
  });

  test('compares quantities across units', () => {
    const dep = goodDeployment();
    dep.spec.template.spec.containers[0].resources = { requests: { cpu: 0.5, memory: '1G' }, limits: { cpu: '500m', memory: '1Gi' } };
    expect(checkProjectDefaults(dep)).toEqual([]);
    dep.spec.template.spec.containers[0].resources.limits.memory = '900Mi';
    expect(checkProjectDefaults(dep)).toEqual([expect.stringContaining('resources.limits.memory (900Mi) must be ≥ resources.requests.memory (1G)')]);
  });
});
