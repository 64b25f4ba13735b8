/**
 * Knative Serving webhook checks, offline: the fields that need a feature flag which is off in Knative's
 * DEFAULT `config-features` ConfigMap (read from imports/knative-config-features.yaml, not hard-coded), and
 * the webhook's own PodSpec rules (knative/serving pkg/apis/serving/k8s_validation.go and fieldmask.go).
 *
 * Covered: every `kubernetes.podspec-*` / `kubernetes.containerspec-addcapabilities` flag, multi-container
 * and multi-container-probing; pod securityContext (no field at all unless kubernetes.podspec-securitycontext;
 * then only fsGroup, runAsGroup, runAsNonRoot, runAsUser, supplementalGroups, seccompProfile); container
 * ports (one per container, exactly one serving port across containers, name '', http1 or h2c, TCP, not a
 * reserved queue-proxy port); reserved env vars, container names and mount paths; volumes must be mounted,
 * mounts read-only (except emptyDir and, with the write flag, PVCs); probe handler one-of and the
 * `periodSeconds: 0` rule; template name prefix; `timeoutSeconds` and `containerConcurrency` maxima from the
 * vendored config-defaults; traffic percentages summing to 100.
 *
 * Not covered: autoscaling annotation values, image reference syntax, tag-header routing, field checks the
 * CRD schema already enforces (run validateManifest too).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { arr, isObject, Manifest } from './_util';
import { IMPORTS_DIR } from './schema-validator';

/** Feature flags off by default, mapped from a PodSpec field to the flag that unlocks it. */
const POD_FIELD_FLAGS: Record<string, string> = {
  affinity: 'kubernetes.podspec-affinity',
  topologySpreadConstraints: 'kubernetes.podspec-topologyspreadconstraints',
  hostAliases: 'kubernetes.podspec-hostaliases',
  nodeSelector: 'kubernetes.podspec-nodeselector',
  tolerations: 'kubernetes.podspec-tolerations',
  runtimeClassName: 'kubernetes.podspec-runtimeclassname',
  dnsPolicy: 'kubernetes.podspec-dnspolicy',
  dnsConfig: 'kubernetes.podspec-dnsconfig',
  shareProcessNamespace: 'kubernetes.podspec-shareprocessnamespace',
  hostIPC: 'kubernetes.podspec-hostipc',
  hostPID: 'kubernetes.podspec-hostpid',
  hostNetwork: 'kubernetes.podspec-hostnetwork',
  priorityClassName: 'kubernetes.podspec-priorityclassname',
  schedulerName: 'kubernetes.podspec-schedulername',
  initContainers: 'kubernetes.podspec-init-containers',
};
const VOLUME_FLAGS: Record<string, string> = {
  emptyDir: 'kubernetes.podspec-volumes-emptydir',
  persistentVolumeClaim: 'kubernetes.podspec-persistent-volume-claim',
  hostPath: 'kubernetes.podspec-volumes-hostpath',
  ephemeral: 'kubernetes.podspec-volumes-ephemeral',
  csi: 'kubernetes.podspec-volumes-csi',
  image: 'kubernetes.podspec-volumes-image',
};
const POD_SECURITY_CONTEXT_FIELDS = new Set(['fsGroup', 'runAsGroup', 'runAsNonRoot', 'runAsUser', 'supplementalGroups', 'seccompProfile']);
/** Ports queue-proxy and the profiler use in the pod (knative.dev/networking, knative.dev/pkg/profiling). */
const RESERVED_PORTS = new Set([8008, 8012, 8013, 8022, 9090, 9091]);
const RESERVED_ENV = new Set(['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION']);
const RESERVED_PATHS = new Set(['/', '/dev', '/dev/log', '/tmp', '/var', '/var/log']);
const RESERVED_CONTAINER_NAMES = new Set(['queue-proxy']);
const PORT_NAMES = new Set(['', 'http1', 'h2c']);
const PROBE_HANDLERS = ['httpGet', 'tcpSocket', 'exec', 'grpc'];

function readExampleBlock(file: string): Record<string, string> {
  const cm = YAML.parse(fs.readFileSync(path.join(IMPORTS_DIR, file), 'utf8')) as Manifest;
  const data = isObject(cm.data) ? cm.data : {};
  // The `_example` block documents every key with its default; other data keys would override it.
  const example = typeof data._example === 'string' ? YAML.parse(data._example) ?? {} : {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...example, ...data })) if (k !== '_example') out[k] = String(v);
  return out;
}

let defaults: { features: Record<string, string>; config: Record<string, string> } | undefined;

/** Knative's default feature flags (`enabled`/`disabled`/`allowed`), from the vendored config-features. */
export function knativeDefaultFeatures(): Record<string, string> {
  defaults ??= { features: readExampleBlock('knative-config-features.yaml'), config: readExampleBlock('knative-config-defaults.yaml') };
  return defaults.features;
}

function knativeDefaultConfig(): Record<string, string> {
  knativeDefaultFeatures();
  return defaults!.config;
}

/** Posix `filepath.Clean` for absolute paths, enough to compare mount paths. */
function cleanPath(p: string): string {
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return '/' + parts.join('/');
}

/**
 * Reports every field of a Knative Service (or Configuration/Revision) that Knative's webhook would reject
 * under the default feature flags, plus `enabledFlags`.
 *
 * @param obj a synthesized object; anything but a serving.knative.dev Service/Configuration/Revision gives `[]`
 * @param enabledFlags feature flags to treat as enabled (for example `['kubernetes.podspec-nodeselector']`)
 * @returns messages naming the field and, where one exists, the flag that would allow it
 */
export function checkKnativeDefaultFeatures(obj: unknown, enabledFlags: readonly string[] = []): string[] {
  if (!isObject(obj) || typeof obj.apiVersion !== 'string' || !obj.apiVersion.startsWith('serving.knative.dev/')) return [];
  const features = knativeDefaultFeatures();
  const unknownFlags = enabledFlags.filter((f) => !(f in features));
  const errs = unknownFlags.map((f) => `enabledFlags: "${f}" is not a Knative feature flag in imports/knative-config-features.yaml`);
  const on = (flag: string) => enabledFlags.includes(flag) || (features[flag] !== undefined && features[flag] !== 'disabled');
  const needs = (field: string, flag: string) => {
    if (!on(flag)) errs.push(`${field}: needs Knative feature flag "${flag}", which is "${features[flag] ?? 'unknown'}" by default`);
  };

  let base: string;
  let tpl: Manifest | undefined;
  if (obj.kind === 'Revision') {
    base = 'spec';
    tpl = { spec: obj.spec };
  } else if (obj.kind === 'Service' || obj.kind === 'Configuration') {
    base = 'spec.template.spec';
    tpl = isObject(obj.spec) && isObject(obj.spec.template) ? obj.spec.template : undefined;
  } else {return errs;}
  if (!tpl || !isObject(tpl.spec)) return [...errs, `${base}: required`];
  const ps = tpl.spec;
  const config = knativeDefaultConfig();

  // Template name must be <service>-<suffix> (Knative names revisions after it).
  const svcName = obj.metadata?.name;
  const tplName = tpl.metadata?.name;
  if (obj.kind !== 'Revision' && typeof tplName === 'string' && typeof svcName === 'string' && !tplName.startsWith(`${svcName}-`)) {
    errs.push(`spec.template.metadata.name: "${tplName}" must have the prefix "${svcName}-"`);
  }

  for (const [field, flag] of Object.entries(POD_FIELD_FLAGS)) if (ps[field] !== undefined) needs(`${base}.${field}`, flag);

  // Pod securityContext: nothing without the flag; a fixed subset with it.
  if (isObject(ps.securityContext)) {
    for (const f of Object.keys(ps.securityContext)) {
      if (!on('kubernetes.podspec-securitycontext')) needs(`${base}.securityContext.${f}`, 'kubernetes.podspec-securitycontext');
      else if (!POD_SECURITY_CONTEXT_FIELDS.has(f)) errs.push(`${base}.securityContext.${f}: not allowed by Knative, whatever the feature flags`);
    }
  }

  // Limits from config-defaults.
  const maxTimeout = Number(config['max-revision-timeout-seconds'] ?? 600);
  if (typeof ps.timeoutSeconds === 'number' && ps.timeoutSeconds > maxTimeout) {
    errs.push(`${base}.timeoutSeconds: ${ps.timeoutSeconds} exceeds max-revision-timeout-seconds (${maxTimeout}) in the default config-defaults`);
  }
  const maxCc = Number(config['container-concurrency-max-limit'] ?? 1000);
  if (typeof ps.containerConcurrency === 'number' && (ps.containerConcurrency < 0 || ps.containerConcurrency > maxCc)) {
    errs.push(`${base}.containerConcurrency: ${ps.containerConcurrency} must be between 0 and ${maxCc} (container-concurrency-max-limit)`);
  }

  // Volumes.
  const volumes = new Map<string, Manifest>();
  const mounted = new Set<string>();
  const allContainers = [...arr(ps.containers), ...arr(ps.initContainers)];
  for (const c of allContainers) for (const m of arr(c.volumeMounts)) mounted.add(String(m.name));
  arr(ps.volumes).forEach((v, i) => {
    if (!isObject(v)) return;
    volumes.set(String(v.name), v);
    for (const [type, flag] of Object.entries(VOLUME_FLAGS)) if (v[type] !== undefined) needs(`${base}.volumes[${i}].${type}`, flag);
    if (isObject(v.persistentVolumeClaim) && v.persistentVolumeClaim.readOnly !== true) {
      needs(`${base}.volumes[${i}].persistentVolumeClaim.readOnly`, 'kubernetes.podspec-persistent-volume-write');
    }
    if (!mounted.has(String(v.name))) errs.push(`${base}.volumes[${i}]: volume "${v.name}" is not mounted by any container (Knative rejects unused volumes)`);
  });

  // Containers.
  const containers = arr(ps.containers);
  if (containers.length === 0) errs.push(`${base}.containers: at least one container is required`);
  if (containers.length > 1) needs(`${base}.containers (${containers.length} containers)`, 'multi-container');
  const withPorts = containers.filter((c) => arr(c.ports).length > 0);
  if (containers.length > 1 && withPorts.length !== 1) {
    errs.push(`${base}.containers: exactly one container must declare a port (the serving container), got ${withPorts.length}`);
  }
  const check = (c: Manifest, where: string, serving: boolean, init: boolean) => {
    if (RESERVED_CONTAINER_NAMES.has(c.name)) errs.push(`${where}.name: "${c.name}" is reserved by Knative`);
    if (!c.image) errs.push(`${where}.image: required`);
    const ports = arr(c.ports);
    if (ports.length > 1) errs.push(`${where}.ports: more than one container port is set; Knative allows a single port`);
    if (ports.length > 0) {
      const p = ports[0];
      const name = p.name ?? '';
      if (!PORT_NAMES.has(name)) errs.push(`${where}.ports[0].name: "${name}" is not allowed; must be empty, "http1" or "h2c"`);
      if (p.protocol !== undefined && p.protocol !== 'TCP') errs.push(`${where}.ports[0].protocol: "${p.protocol}" is not allowed; only TCP`);
      if (RESERVED_PORTS.has(p.containerPort)) errs.push(`${where}.ports[0].containerPort: ${p.containerPort} is reserved by Knative (queue-proxy)`);
    }
    arr(c.env).forEach((e, j) => {
      if (RESERVED_ENV.has(e.name)) errs.push(`${where}.env[${j}].name: "${e.name}" is reserved by Knative`);
      if (isObject(e.valueFrom)) {
        for (const f of ['fieldRef', 'resourceFieldRef']) if (e.valueFrom[f] !== undefined) needs(`${where}.env[${j}].valueFrom.${f}`, 'kubernetes.podspec-fieldref');
      }
    });
    if (arr(c.securityContext?.capabilities?.add).length > 0) needs(`${where}.securityContext.capabilities.add`, 'kubernetes.containerspec-addcapabilities');
    const seenPaths = new Set<string>();
    arr(c.volumeMounts).forEach((m, j) => {
      const mw = `${where}.volumeMounts[${j}]`;
      const vol = volumes.get(String(m.name));
      if (!vol) errs.push(`${mw}.name: no volume named "${m.name}"`);
      if (typeof m.mountPath === 'string') {
        const clean = cleanPath(m.mountPath);
        if (!m.mountPath.startsWith('/')) errs.push(`${mw}.mountPath: "${m.mountPath}" must be absolute`);
        else if (RESERVED_PATHS.has(clean)) errs.push(`${mw}.mountPath: "${clean}" is a reserved path in Knative (mount a subdirectory such as ${clean === '/' ? '/data' : clean + '/app'} instead)`);
        else if (seenPaths.has(clean)) errs.push(`${mw}.mountPath: "${m.mountPath}" must be unique`);
        seenPaths.add(clean);
      }
      const writable = vol && (vol.emptyDir !== undefined || (vol.persistentVolumeClaim !== undefined && on('kubernetes.podspec-persistent-volume-write')));
      if (m.readOnly !== true && !writable) errs.push(`${mw}.readOnly: must be true (Knative allows writable mounts only for emptyDir and, with a flag, PVCs)`);
      if (m.mountPropagation !== undefined) needs(`${mw}.mountPropagation`, 'kubernetes.podspec-volumes-mount-propagation');
    });
    for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      const p = c[probe];
      if (!isObject(p)) continue;
      if (!serving && !init && !on('multi-container-probing')) needs(`${where}.${probe} (on a non-serving container)`, 'multi-container-probing');
      const handlers = PROBE_HANDLERS.filter((h) => p[h] !== undefined);
      if (handlers.length !== 1) errs.push(`${where}.${probe}: must set exactly one of ${PROBE_HANDLERS.join(', ')}, got ${handlers.length}`);
      if (probe === 'readinessProbe' && p.periodSeconds === 0) {
        for (const f of ['failureThreshold', 'timeoutSeconds']) {
          if (p[f] !== undefined && p[f] !== 0) errs.push(`${where}.readinessProbe.${f}: not allowed when periodSeconds is 0`);
        }
      }
    }
  };
  containers.forEach((c, i) => check(c, `${base}.containers[${i}]`, containers.length === 1 || arr(c.ports).length > 0, false));
  arr(ps.initContainers).forEach((c, i) => check(c, `${base}.initContainers[${i}]`, false, true));

  // Traffic.
  if (obj.kind === 'Service' && Array.isArray(obj.spec.traffic) && obj.spec.traffic.length > 0) {
    const sum = arr(obj.spec.traffic).reduce((s, t) => s + (typeof t.percent === 'number' ? t.percent : 0), 0);
    if (sum !== 100) errs.push(`spec.traffic: percentages must sum to 100, got ${sum}`);
    arr(obj.spec.traffic).forEach((t, i) => {
      if (t.latestRevision !== true && !t.revisionName) errs.push(`spec.traffic[${i}]: must set revisionName or latestRevision: true`);
      if (t.latestRevision === true && t.revisionName) errs.push(`spec.traffic[${i}]: revisionName and latestRevision: true are mutually exclusive`);
    });
  }
  return errs;
}
