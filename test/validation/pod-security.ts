/**
 * Offline Pod Security Standards checks (baseline and restricted), following the upstream definitions in
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/ and the Pod Security Admission
 * checks (k8s.io/pod-security-admission/policy), latest version. Plus this project's own pod defaults.
 *
 * Applied to every pod template found in a manifest: Pod, PodTemplate, Deployment, StatefulSet, DaemonSet,
 * ReplicaSet, ReplicationController, Job, CronJob, Knative Service/Configuration (`spec.template.spec`)
 * and Revision, KServe InferenceService components (their `containers`).
 *
 * Settings may be made at pod level or on every container, as the standard allows; Knative Services can
 * only use the container level under default feature flags, and that passes.
 *
 * Not checked: the Windows-pod exemptions (`spec.os.name: windows` pods are checked like Linux pods) and
 * containers KServe derives from a predictor's `model` spec (only explicit `containers` are checked).
 */
import { arr, isObject, Manifest, parseQuantity } from './_util';
import { podTemplates } from './schema-validator';

const CONTAINER_FIELDS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

/** Capabilities baseline allows to be added (the default container-runtime set). */
const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE',
  'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);
/** Sysctls baseline allows (the "safe" set, namespaced and isolated). */
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
/** Volume types restricted allows. */
// `image` since policy version 1.33 (kubernetes/kubernetes#130394; the docs' list lags behind, kubernetes/website#55370).
const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'image', 'persistentVolumeClaim', 'projected', 'secret']);
const GOOD_SECCOMP = new Set(['RuntimeDefault', 'Localhost']);
const APPARMOR_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

interface ContainerRef {
  readonly path: string;
  readonly name: string;
  readonly c: Manifest;
  readonly sc: Manifest;
}

function containersOf(ps: Manifest, base: string): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const field of CONTAINER_FIELDS) {
    arr(ps[field]).forEach((c, i) => {
      if (!isObject(c)) return;
      out.push({ path: `${base}.${field}[${i}]`, name: String(c.name ?? i), c, sc: isObject(c.securityContext) ? c.securityContext : {} });
    });
  }
  return out;
}

function podSc(ps: Manifest): Manifest {
  return isObject(ps.securityContext) ? ps.securityContext : {};
}

function baselineTemplate(ps: Manifest, meta: Manifest | undefined, base: string): string[] {
  const errs: string[] = [];
  const psc = podSc(ps);
  const containers = containersOf(ps, base);

  // HostProcess (Windows): must not be true anywhere.
  if (psc.windowsOptions?.hostProcess === true) errs.push(`${base}.securityContext.windowsOptions.hostProcess: must not be true (baseline: HostProcess)`);
  // Host namespaces.
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC']) {
    if (ps[f] === true) errs.push(`${base}.${f}: must not be true (baseline: host namespaces)`);
  }
  // Volumes: no hostPath.
  arr(ps.volumes).forEach((v, i) => {
    if (isObject(v) && v.hostPath !== undefined) errs.push(`${base}.volumes[${i}] "${v.name}": hostPath volumes are forbidden (baseline: HostPath volumes)`);
  });
  // Sysctls: the safe set only.
  arr(psc.sysctls).forEach((s, i) => {
    if (isObject(s) && !SAFE_SYSCTLS.has(s.name)) errs.push(`${base}.securityContext.sysctls[${i}] "${s.name}": not in the safe set (baseline: sysctls)`);
  });
  // Pod-level seccomp and SELinux.
  if (psc.seccompProfile?.type === 'Unconfined') errs.push(`${base}.securityContext.seccompProfile.type: must not be Unconfined (baseline: seccomp)`);
  errs.push(...checkSeLinux(psc.seLinuxOptions, `${base}.securityContext.seLinuxOptions`));
  // AppArmor annotations on the pod template.
  for (const [k, v] of Object.entries(isObject(meta?.annotations) ? meta!.annotations : {})) {
    if (k.startsWith(APPARMOR_PREFIX) && v !== 'runtime/default' && !(typeof v === 'string' && v.startsWith('localhost/'))) {
      errs.push(`metadata.annotations["${k}"]: "${v}" must be runtime/default or localhost/<profile> (baseline: AppArmor)`);
    }
  }

  for (const { path, name, c, sc } of containers) {
    const at = `${path} "${name}"`;
    if (sc.windowsOptions?.hostProcess === true) errs.push(`${at}: securityContext.windowsOptions.hostProcess must not be true (baseline: HostProcess)`);
    if (sc.privileged === true) errs.push(`${at}: securityContext.privileged must not be true (baseline: privileged containers)`);
    for (const cap of arr(sc.capabilities?.add)) {
      if (!BASELINE_CAPABILITIES.has(String(cap))) errs.push(`${at}: securityContext.capabilities.add "${cap}" is not allowed (baseline: capabilities)`);
    }
    arr(c.ports).forEach((p, j) => {
      if (isObject(p) && p.hostPort !== undefined && p.hostPort !== 0) errs.push(`${at}: ports[${j}].hostPort ${p.hostPort} is forbidden (baseline: host ports)`);
    });
    if (sc.procMount !== undefined && sc.procMount !== 'Default') errs.push(`${at}: securityContext.procMount must be Default (baseline: /proc mount type)`);
    if (sc.seccompProfile?.type === 'Unconfined') errs.push(`${at}: securityContext.seccompProfile.type must not be Unconfined (baseline: seccomp)`);
    if (sc.appArmorProfile?.type !== undefined && !GOOD_SECCOMP.has(sc.appArmorProfile.type)) {
      errs.push(`${at}: securityContext.appArmorProfile.type must be RuntimeDefault or Localhost (baseline: AppArmor)`);
    }
    errs.push(...checkSeLinux(sc.seLinuxOptions, `${at}: securityContext.seLinuxOptions`));
  }
  return errs;
}

function checkSeLinux(opts: unknown, where: string): string[] {
  if (!isObject(opts)) return [];
  const errs: string[] = [];
  if (opts.type !== undefined && !SELINUX_TYPES.has(opts.type)) errs.push(`${where}.type "${opts.type}" is not allowed (baseline: SELinux)`);
  if (opts.user) errs.push(`${where}.user must not be set (baseline: SELinux)`);
  if (opts.role) errs.push(`${where}.role must not be set (baseline: SELinux)`);
  return errs;
}

function restrictedTemplate(ps: Manifest, base: string): string[] {
  const errs: string[] = [];
  const psc = podSc(ps);
  const containers = containersOf(ps, base);

  // Volume types.
  arr(ps.volumes).forEach((v, i) => {
    if (!isObject(v)) return;
    for (const k of Object.keys(v)) {
      if (k !== 'name' && !RESTRICTED_VOLUMES.has(k)) errs.push(`${base}.volumes[${i}] "${v.name}": volume type ${k} is not allowed (restricted: volume types)`);
    }
  });
  // Pod-level settings that are wrong whatever the containers say.
  if (psc.runAsNonRoot === false) errs.push(`${base}.securityContext.runAsNonRoot: must not be false (restricted: running as non-root)`);
  if (psc.runAsUser === 0) errs.push(`${base}.securityContext.runAsUser: must not be 0 (restricted: running as non-root user)`);
  const podSeccomp = psc.seccompProfile?.type;
  if (podSeccomp !== undefined && !GOOD_SECCOMP.has(podSeccomp)) {
    errs.push(`${base}.securityContext.seccompProfile.type: must be RuntimeDefault or Localhost, got "${podSeccomp}" (restricted: seccomp)`);
  }

  for (const { path, name, sc } of containers) {
    const at = `${path} "${name}"`;
    if (sc.allowPrivilegeEscalation !== false) errs.push(`${at}: securityContext.allowPrivilegeEscalation must be false (restricted: privilege escalation)`);
    if (sc.runAsNonRoot === false) {errs.push(`${at}: securityContext.runAsNonRoot must not be false (restricted: running as non-root)`);} else if (sc.runAsNonRoot !== true && psc.runAsNonRoot !== true) {
      errs.push(`${at}: securityContext.runAsNonRoot must be true, on the pod or on this container (restricted: running as non-root)`);
    }
    if (sc.runAsUser === 0) errs.push(`${at}: securityContext.runAsUser must not be 0 (restricted: running as non-root user)`);
    const t = sc.seccompProfile?.type;
    if (t !== undefined ? !GOOD_SECCOMP.has(t) : podSeccomp === undefined) {
      errs.push(`${at}: securityContext.seccompProfile.type must be RuntimeDefault or Localhost, on the pod or on this container (restricted: seccomp)`);
    }
    const drop = arr(sc.capabilities?.drop).map(String);
    if (!drop.includes('ALL')) errs.push(`${at}: securityContext.capabilities.drop must include "ALL" (restricted: capabilities)`);
    for (const cap of arr(sc.capabilities?.add).map(String)) {
      if (cap !== 'NET_BIND_SERVICE') errs.push(`${at}: securityContext.capabilities.add may only contain NET_BIND_SERVICE, got "${cap}" (restricted: capabilities)`);
    }
  }
  return errs;
}

/**
 * Checks every pod template in `obj` against the Pod Security Standards "baseline" profile.
 *
 * @returns errors (`field.path "container": rule (baseline: control)`), empty when compliant or not a workload
 */
export function checkBaseline(obj: unknown): string[] {
  if (!isObject(obj)) return [];
  return podTemplates(obj).flatMap((t) => baselineTemplate(t.spec, t.metadata, t.path));
}

/**
 * Checks every pod template in `obj` against the Pod Security Standards "restricted" profile, which
 * includes every baseline control.
 *
 * @returns errors (`field.path "container": rule (restricted: control)`), empty when compliant or not a workload
 */
export function checkRestricted(obj: unknown): string[] {
  if (!isObject(obj)) return [];
  return podTemplates(obj).flatMap((t) => [...baselineTemplate(t.spec, t.metadata, t.path), ...restrictedTemplate(t.spec, t.path)]);
}

const RESOURCES = ['cpu', 'memory'] as const;

/**
 * This project's own pod standards, on top of restricted: every container (init containers too) has
 * `readOnlyRootFilesystem: true` and cpu and memory requests and limits with limits ≥ requests; the pod sets
 * `automountServiceAccountToken: false`.
 *
 * @returns errors, empty when compliant or not a workload
 */
export function checkProjectDefaults(obj: unknown): string[] {
  if (!isObject(obj)) return [];
  const errs: string[] = [];
  for (const t of podTemplates(obj)) {
    const ps = t.spec;
    if (ps.automountServiceAccountToken !== false) {
      errs.push(`${t.path}.automountServiceAccountToken: must be false (project default)`);
    }
    for (const { path, name, c, sc } of containersOf(ps, t.path)) {
      if (path.includes('.ephemeralContainers[')) continue;
      const at = `${path} "${name}"`;
      if (sc.readOnlyRootFilesystem !== true) errs.push(`${at}: securityContext.readOnlyRootFilesystem must be true (project default)`);
      const res = isObject(c.resources) ? c.resources : {};
      for (const r of RESOURCES) {
        const req = isObject(res.requests) ? res.requests[r] : undefined;
        const lim = isObject(res.limits) ? res.limits[r] : undefined;
        if (req === undefined) errs.push(`${at}: resources.requests.${r} must be set (project default)`);
        if (lim === undefined) errs.push(`${at}: resources.limits.${r} must be set (project default)`);
        if (req === undefined || lim === undefined) continue;
        const rq = parseQuantity(req);
        const lq = parseQuantity(lim);
        if (rq === undefined) errs.push(`${at}: resources.requests.${r} "${req}" is not a Kubernetes quantity`);
        if (lq === undefined) errs.push(`${at}: resources.limits.${r} "${lim}" is not a Kubernetes quantity`);
        if (rq !== undefined && lq !== undefined && lq < rq) errs.push(`${at}: resources.limits.${r} (${lim}) must be ≥ resources.requests.${r} (${req})`);
      }
    }
  }
  return errs;
}
