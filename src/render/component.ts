/**
 * A transformer or explainer component of an endpoint: its own Knative Service (serverless) or
 * Deployment + Service + HorizontalPodAutoscaler (raw), with its own container, resources and
 * autoscaling, and the `app.kubernetes.io/component` label `transformer` or `explainer`.
 * Also the wiring to the predictor (host and protocol) and the route changes on the
 * endpoint's VirtualService, HTTPRoute or Ingress. Internal.
 */
import { ApiObject, JsonPatch, Lazy, Size } from 'cdk8s';
import { ContainerResources, EnvValue, k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as contract from '../contract';
import { ingressPaths } from './ingress-paths';
import { kservePredictorHost, kserveComponentSpec } from './kserve/components';
import { addKServeComponent } from './kserve/state';
import { payloadLogArgs } from './payload-log-args';
import {
  componentModelStorage, ComponentModelStorage, endpointPodSecurityContext, envVar, httpProbe, livenessProbe, objectLabels, PodVolume,
  resourceRequirements, restrictedSecurityContext, selectorLabels, tcpProbe,
} from './pod-template';
import { deploymentAutoscaler } from './raw';
import { requireInitContainers, requireKnativeFeature } from './resolve/knative';
import { ResolvedLiveness, resolveLiveness } from './resolve/liveness';
import { ResolvedPayloadLog, resolveLoggerSettings } from './resolve/payload-logging';
import { amountMillis } from './resolve/quantities';
import { defaultResources, resolveReplicas, resolveScaling } from './resolve/resolve-endpoint';
import { ResolvedEndpoint, ResolvedResources } from './resolve/resolved-endpoint';
import { isGrpc } from './runtime/resolve-runtime';
import { KNATIVE, knativeAutoscalingAnnotations } from './serverless';
import { IngressKind } from '../constructs/endpoint-ingress';
import { InferenceProtocol, ModelContainer, ScaleMetric } from '../constructs/endpoint-options';
import { KnativeFeature } from '../constructs/knative-features';
import type { PayloadLogging } from '../constructs/payload-logging';
import { StorageUri } from '../constructs/storage-uri';

export type ComponentKind = 'transformer' | 'explainer';

const SERVICE_HTTP_PORT = 80;
const COMPONENT_RESOURCES: ResolvedResources = {
  cpuRequest: '100m', cpuLimit: '1', memoryRequest: Size.mebibytes(256), memoryLimit: Size.mebibytes(512),
};

/** Everything a component's pod needs, decided by Transformer or Explainer. */
export interface ComponentSpec {
  /** An endpoint's transformer or explainer, or an inference graph's router (src/render/graph). */
  readonly kind: ComponentKind | 'router';
  /** `<endpoint>-transformer` / `<endpoint>-explainer`. */
  readonly name: string;
  readonly image: string;
  readonly command?: string[];
  readonly args?: string[];
  readonly port: number;
  /** Our server (probes on its health paths) or a container of the user's. */
  readonly custom: boolean;
  /** HTTP readiness path of a custom container; a TCP check without one. */
  readonly readinessPath?: string;
  /** The liveness probe a custom container asked for. */
  readonly liveness?: ResolvedLiveness;
  readonly env: Map<string, EnvValue>;
  readonly volumes: PodVolume[];
  /** Volumes of the pod that the component's container does not mount (an init container's). */
  readonly podOnlyVolumes?: Array<Record<string, unknown>>;
  readonly initContainers?: Array<Record<string, unknown>>;
  readonly resources: ResolvedResources;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** What the autoscaler scales on, with the target per replica, resolved. */
  readonly scaleMetric: ScaleMetric;
  readonly scaleTarget: number;
  /** The component's own payload logging: our server's flags, or KServe's `logger` on the component. */
  readonly payloadLog?: ResolvedPayloadLog;
  /** `nodeSelector`, `tolerations` and `affinity` of the pod, when the component has its own (a graph's router). */
  readonly scheduling?: Record<string, unknown>;
}

/**
 * The options Transformer and Explainer share, under the same names and meanings
 * (`TransformerOptions` and `ExplainerOptions` both have them).
 */
export interface ComponentOptions {
  readonly container?: ModelContainer;
  readonly storageUri?: StorageUri;
  readonly serverImage?: string;
  readonly resources?: ContainerResources;
  readonly minReplicas?: number;
  readonly maxReplicas?: number;
  readonly scaleMetric?: ScaleMetric;
  readonly scaleTarget?: number;
  readonly env?: { [name: string]: EnvValue };
  readonly logger?: PayloadLogging;
  readonly inProcess?: boolean;
}

/** What the Transformer or Explainer decided for its own component. */
export interface ComponentParts {
  readonly kind: ComponentKind;
  readonly name: string;
  readonly predictorHost: string;
  readonly predictorProtocol: InferenceProtocol;
  /** Our server's arguments after the ones every component gets (mode, model, port, predictor). */
  readonly serverArgs: string[];
  /** Environment variables for our server, set before the user's `env`. */
  readonly env?: Array<{ name: string; value: string }>;
  /** Volumes for our server; a custom container gets none. */
  readonly volumes?: PodVolume[];
}

/**
 * Synthesizes a Transformer's or Explainer's own component from its options: our server in
 * the component's mode, or the user's container, which gets the predictor's host and
 * protocol and the model name in its environment.
 *
 * @throws if `env` sets a variable the component sets itself
 */
export function synthesizeComponentFromOptions(scope: Construct, resolved: ResolvedEndpoint, options: ComponentOptions, parts: ComponentParts): void {
  const [minReplicas, maxReplicas] = componentReplicas(resolved, options.minReplicas, options.maxReplicas);
  const { scaleMetric, scaleTarget } = resolveScaling(resolved.serverless, options.scaleMetric, options.scaleTarget);
  const env = new Map<string, EnvValue>((parts.env ?? []).map((e) => [e.name, EnvValue.fromValue(e.value)]));
  if (options.container) {
    env.set(contract.SERVER_ENV.predictorHost, EnvValue.fromValue(parts.predictorHost));
    env.set(contract.SERVER_ENV.predictorProtocol, EnvValue.fromValue(parts.predictorProtocol));
    env.set(contract.SERVER_ENV.modelName, EnvValue.fromValue(resolved.modelName));
  }
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (env.has(k)) throw new Error(`environment variable '${k}' is set by the ${parts.kind} itself`);
    env.set(k, v);
  }
  const storage = componentStorage(resolved, options, parts.kind);
  const payloadLog = componentLogger(resolved, parts.kind, options);
  const f = contract.SERVER_FLAGS;
  synthesizeComponent(scope, resolved, {
    kind: parts.kind,
    name: parts.name,
    image: options.container?.image ?? options.serverImage ?? serverImageOf(resolved),
    command: options.container?.command,
    args: options.container ? options.container.args : [
      contract.SERVER_COMMANDS.serve,
      f.mode, contract.SERVER_MODES[parts.kind],
      f.modelName, resolved.modelName,
      f.httpPort, String(contract.HTTP_PORT),
      f.predictorHost, parts.predictorHost,
      f.predictorProtocol, parts.predictorProtocol,
      ...parts.serverArgs,
      // Under KServe its agent logs instead (kserve/components.ts).
      ...(payloadLog && !resolved.kserve ? payloadLogArgs(resolved, payloadLog) : []),
    ],
    port: options.container?.port ?? contract.HTTP_PORT,
    custom: options.container !== undefined,
    readinessPath: options.container?.readinessPath,
    liveness: resolveLiveness(options.container, `the ${parts.kind}'s `),
    env,
    volumes: options.container ? (storage ? [storage.model] : []) : parts.volumes ?? [],
    podOnlyVolumes: storage?.initOnlyVolumes,
    initContainers: storage?.initContainers,
    resources: componentResources('resources', options.resources),
    minReplicas,
    maxReplicas,
    scaleMetric,
    scaleTarget,
    payloadLog,
  });
}

/**
 * A transformer's or explainer's own `logger`, validated; undefined without one.
 *
 * @throws in process (the predictor's calls are the endpoint's `logger`'s), or with a custom
 * `container` outside KServe (only our server sends payload events)
 */
export function componentLogger(resolved: ResolvedEndpoint, kind: ComponentKind, options: ComponentOptions): ResolvedPayloadLog | undefined {
  if (!options.logger) return undefined;
  const settings = resolveLoggerSettings(options.logger, resolved.kserve, `the ${kind}'s `);
  if (options.inProcess) {
    throw new Error(`the ${kind}'s 'logger' does not apply in process: it runs inside the predictor, whose calls the endpoint's 'logger' logs; set 'logger' on the endpoint, or drop 'inProcess'`);
  }
  if (options.container && !resolved.kserve) {
    throw new Error(`the ${kind}'s 'logger' needs our ${kind}, but it runs your own 'container', which cannot be made to send payload events; `
      + "remove 'logger' (log from your container), or use target: ServingTarget.KSERVE (KServe's agent logs any container)");
  }
  return settings;
}

/**
 * The storage of a custom component's own `storageUri`, validated; undefined without one.
 *
 * @throws with our server (which reads the endpoint's model), or when the cluster's Knative
 * flags forbid the volume or the init container
 */
function componentStorage(resolved: ResolvedEndpoint, options: ComponentOptions, kind: ComponentKind): ComponentModelStorage | undefined {
  const storageUri = options.storageUri;
  if (!storageUri) return undefined;
  if (!options.container) {
    throw new Error(`the ${kind}'s 'storageUri' is for a 'container' of your own; our ${kind} needs no model of its own: remove 'storageUri', or set 'container'`);
  }
  // KServe's pod mutator adds the storage initializer past Knative's checks.
  if (resolved.serverless && !resolved.kserve) {
    if (storageUri.isMounted) requireKnativeFeature(resolved, KnativeFeature.PERSISTENT_VOLUME_CLAIM, `the ${kind}'s pvc:// 'storageUri'`);
    else requireInitContainers(resolved, `the ${kind}'s custom 'container'`);
  }
  return componentModelStorage(resolved, storageUri);
}

/** `resources` with the component defaults: 100m/256Mi requested, 1 CPU/512Mi limits. */
export function componentResources(prop: string, resources?: ContainerResources): ResolvedResources {
  const { cpuRequest, cpuLimit, memoryRequest, memoryLimit } = defaultResources(resources, COMPONENT_RESOURCES);
  if (amountMillis(cpuLimit) < amountMillis(cpuRequest)) {
    throw new Error(`'${prop}.cpu.limit' (${cpuLimit}) must not be below '${prop}.cpu.request' (${cpuRequest})`);
  }
  if (memoryLimit.toKibibytes() < memoryRequest.toKibibytes()) {
    throw new Error(`'${prop}.memory.limit' must not be below '${prop}.memory.request'`);
  }
  return { cpuRequest, cpuLimit, memoryRequest, memoryLimit };
}

/** Validates replica counts; returns [min, max]. */
export function componentReplicas(resolved: ResolvedEndpoint, min?: number, max?: number): [number, number] {
  return resolveReplicas(resolved.serverless, min, max);
}

/** The derived name, validated: the longest name we derive from it must fit in 63 characters. */
export function componentName(resolved: ResolvedEndpoint, kind: ComponentKind): string {
  const name = `${resolved.name}-${kind}`;
  // Knative names the revision's private Service `<service>-00001-private`.
  const longest = resolved.serverless ? `${name}-00001-private` : name;
  if (longest.length > 63) {
    throw new Error(`'name' is too long for a ${kind}: '${resolved.name}' derives '${longest}', which has ${longest.length} characters, more than the 63 Kubernetes allows; shorten 'name' to at most ${resolved.name.length - (longest.length - 63)} characters`);
  }
  return name;
}

/** `host:port` of the predictor inside the cluster, for `protocol`. */
export function predictorHost(resolved: ResolvedEndpoint, protocol: InferenceProtocol): string {
  if (resolved.kserve) return kservePredictorHost(resolved);
  const host = `${resolved.name}.${resolved.namespace ?? 'default'}.svc.cluster.local`;
  // Knative: every protocol through port 80 (h2c for gRPC); raw: the Service's http or grpc port.
  const port = !resolved.serverless && isGrpc(protocol) ? contract.GRPC_PORT : SERVICE_HTTP_PORT;
  return `${host}:${port}`;
}

/** The protocols the predictor answers on its Service. */
export function predictorProtocols(resolved: ResolvedEndpoint): InferenceProtocol[] {
  // A runtime answers what it speaks on the ports its Service has: all in raw mode, those
  // on the protocol's port (REST or gRPC) under Knative.
  const runtime = resolved.container.runtime;
  if (runtime) return runtime.runtime.protocols.filter(p => !resolved.serverless || isGrpc(p) === runtime.grpc);
  if (resolved.container.custom) return [resolved.protocol];
  // Our server answers V1 and V2 REST on its HTTP port and gRPC on its gRPC port; Knative
  // exposes one port only, the one for the endpoint's protocol.
  if (!resolved.serverless) return [InferenceProtocol.V1, InferenceProtocol.V2, InferenceProtocol.GRPC_V2];
  return resolved.protocol === InferenceProtocol.GRPC_V2 ? [InferenceProtocol.GRPC_V2] : [InferenceProtocol.V1, InferenceProtocol.V2];
}

/** Synthesizes the component's workload under `scope` (ids `Resource`, `Service`, `HorizontalPodAutoscaler`). */
export function synthesizeComponent(scope: Construct, resolved: ResolvedEndpoint, spec: ComponentSpec): void {
  if (resolved.kserve) {
    const kind = spec.kind;
    if (kind === 'router') throw new Error("an inference graph cannot be emitted for 'target: ServingTarget.KSERVE' yet; use 'target: ServingTarget.NATIVE'");
    // kserve-emit: the same pod, as the InferenceService's component; KServe creates the objects.
    addKServeComponent(resolved.endpoint, kind, kserveComponentSpec(resolved, { ...spec, kind, pod: podSpec(resolved, spec) }));
    return;
  }
  const labels = objectLabels(resolved, spec.kind);
  const metadata = () => ({ name: spec.name, namespace: resolved.namespace, labels, annotations: { ...resolved.annotations } });
  const stopped = resolved.stopped;
  if (resolved.serverless) {
    const viaIstio = resolved.ingress._kind === IngressKind.ISTIO;
    new ApiObject(scope, 'Resource', {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: {
        ...metadata(),
        // Reached through the endpoint's VirtualService, as the predictor is.
        labels: { ...labels, ...(viaIstio ? { 'networking.knative.dev/visibility': 'cluster-local' } : {}) },
      },
      spec: Lazy.any({
        produce: () => ({
          template: {
            metadata: {
              labels,
              annotations: {
                ...resolved.annotations,
                ...knativeAutoscalingAnnotations({
                  scaleMetric: spec.scaleMetric,
                  scaleTarget: spec.scaleTarget,
                  minReplicas: stopped ? 0 : spec.minReplicas,
                  maxReplicas: spec.maxReplicas,
                  initialScale: Math.max(1, spec.minReplicas),
                }),
              },
            },
            spec: {
              ...podSpec(resolved, spec),
              containerConcurrency: resolved.containerConcurrency,
              ...(resolved.timeoutSeconds !== undefined ? { timeoutSeconds: resolved.timeoutSeconds } : {}),
            },
          },
        }),
      }),
    });
    return;
  }
  const autoscaled = !stopped && spec.minReplicas < spec.maxReplicas;
  new ApiObject(scope, 'Resource', {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(),
    spec: Lazy.any({
      produce: () => ({
        replicas: stopped ? 0 : spec.minReplicas,
        selector: { matchLabels: selectorLabels(resolved, spec.kind) },
        strategy: resolved.deploymentStrategy,
        template: {
          metadata: { labels, annotations: { ...resolved.annotations } },
          spec: { ...podSpec(resolved, spec), terminationGracePeriodSeconds: 30 },
        },
      }),
    }),
  });
  new k8s.KubeService(scope, 'Service', {
    metadata: metadata(),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(resolved, spec.kind),
      ports: [{ name: 'http', port: SERVICE_HTTP_PORT, targetPort: k8s.IntOrString.fromNumber(spec.port), appProtocol: 'http', protocol: 'TCP' }],
    },
  });
  if (autoscaled) {
    deploymentAutoscaler(scope, 'HorizontalPodAutoscaler', {
      metadata: metadata(),
      deployment: spec.name,
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
      resource: spec.scaleMetric === ScaleMetric.MEMORY ? 'memory' : 'cpu',
      averageUtilization: spec.scaleTarget,
    });
  }
}

function podSpec(resolved: ResolvedEndpoint, spec: ComponentSpec): Record<string, unknown> {
  const container: Record<string, unknown> = {
    name: spec.kind,
    image: spec.image,
    ports: [{ name: resolved.serverless ? 'http1' : 'http', containerPort: spec.port, protocol: 'TCP' }],
    resources: resourceRequirements(spec.resources),
    securityContext: restrictedSecurityContext(resolved),
    volumeMounts: [{ name: 'scratch', mountPath: contract.SCRATCH_DIR }, ...spec.volumes.map((v) => v.mount)],
  };
  if (spec.command) container.command = [...spec.command];
  if (spec.args) container.args = [...spec.args];
  const env: Array<Record<string, unknown>> = [{ name: 'TMPDIR', value: contract.SCRATCH_DIR }];
  for (const [name, value] of spec.env) env.push(envVar(name, value));
  container.env = env;
  const port = resolved.serverless ? undefined : spec.port;
  if (spec.custom && !spec.readinessPath) {
    container.readinessProbe = tcpProbe(port, 5, 3);
  } else {
    // Our transformer is ready once its predictor has the model ready.
    container.readinessProbe = httpProbe(spec.readinessPath ?? contract.PATHS.ready, port, 5, 3);
    if (!spec.custom) container.livenessProbe = httpProbe(contract.PATHS.live, port, 10, 3);
  }
  Object.assign(container, livenessProbe(spec.liveness, port));
  const pod: Record<string, unknown> = {
    automountServiceAccountToken: resolved.automountServiceAccountToken,
    enableServiceLinks: false,
    containers: [container],
    volumes: [{ name: 'scratch', emptyDir: {} }, ...spec.volumes.map((v) => v.volume), ...spec.podOnlyVolumes ?? []],
  };
  if (spec.initContainers && spec.initContainers.length > 0) pod.initContainers = spec.initContainers;
  if (resolved.serviceAccountName) pod.serviceAccountName = resolved.serviceAccountName;
  if (resolved.imagePullSecrets.length > 0) pod.imagePullSecrets = resolved.imagePullSecrets.map((name) => ({ name }));
  const securityContext = endpointPodSecurityContext(resolved);
  if (securityContext) pod.securityContext = securityContext;
  Object.assign(pod, spec.scheduling ?? {});
  return pod;
}

/** The in-cluster host of a component's Service (Knative or plain). */
function componentServiceHost(resolved: ResolvedEndpoint, name: string): string {
  return `${name}.${resolved.namespace ?? 'default'}.svc.cluster.local`;
}

/**
 * Sends the endpoint's model routes (V1 `:predict`, V2 `infer`, metadata, readiness) to the
 * transformer instead of the predictor, on whichever ingress object the endpoint made.
 */
export function routeModelPathsTo(endpoint: Construct, resolved: ResolvedEndpoint, name: string): void {
  if (resolved.stopped) return;
  const restMatch = [
    { uri: { prefix: `/v1/models/${resolved.modelName}` } },
    { uri: { prefix: `/v2/models/${resolved.modelName}` } },
  ];
  const vs = endpoint.node.tryFindChild('VirtualService');
  if (vs) {
    const o = ApiObject.of(vs);
    o.addJsonPatch(
      JsonPatch.replace('/spec/http/0/name', 'transformer'),
      // The transformer speaks REST even when the predictor speaks gRPC.
      JsonPatch.replace('/spec/http/0/match', restMatch),
    );
    if (resolved.serverless) {
      o.addJsonPatch(JsonPatch.replace('/spec/http/0/route/0/headers/request/set/Host', componentServiceHost(resolved, name)));
    } else {
      o.addJsonPatch(JsonPatch.replace('/spec/http/0/route/0/destination', { host: componentServiceHost(resolved, name), port: { number: SERVICE_HTTP_PORT } }));
    }
  }
  const route = endpoint.node.tryFindChild('HTTPRoute');
  if (route) {
    ApiObject.of(route).addJsonPatch(
      JsonPatch.replace('/spec/rules/0/matches', restMatch.map((m) => ({ path: { type: 'PathPrefix', value: m.uri.prefix } }))),
      JsonPatch.replace('/spec/rules/0/backendRefs/0', { name, port: SERVICE_HTTP_PORT }),
    );
  }
  const ingress = endpoint.node.tryFindChild('Ingress');
  if (ingress) {
    ApiObject.of(ingress).addJsonPatch(JsonPatch.replace('/spec/rules/0/http/paths', restMatch.flatMap((m) => ingressPaths(m.uri.prefix).map((p) => ({
      ...p,
      backend: { service: { name, port: { number: SERVICE_HTTP_PORT } } },
    })))));
  }
}

/** Adds routes for `:explain` (V1) and `/explain` (V2) to the explainer, ahead of the model routes. */
export function routeExplainTo(endpoint: Construct, resolved: ResolvedEndpoint, name: string): void {
  if (resolved.stopped) return;
  const prefixes = [`/v1/models/${resolved.modelName}${contract.EXPLAIN_PATHS.v1Suffix}`, `/v2/models/${resolved.modelName}${contract.EXPLAIN_PATHS.v2Suffix}`];
  const host = componentServiceHost(resolved, name);
  const vs = endpoint.node.tryFindChild('VirtualService');
  if (vs) {
    const route = resolved.serverless
      ? { destination: { host: KNATIVE.localGatewayHost, port: { number: 80 } }, headers: { request: { set: { Host: host } } }, weight: 100 }
      : { destination: { host, port: { number: SERVICE_HTTP_PORT } }, weight: 100 };
    ApiObject.of(vs).addJsonPatch(JsonPatch.add('/spec/http/0', {
      name: 'explainer',
      match: prefixes.map((prefix) => ({ uri: { prefix } })),
      route: [route],
      ...(resolved.timeoutSeconds !== undefined ? { timeout: `${resolved.timeoutSeconds}s` } : {}),
    }));
  }
  const httpRoute = endpoint.node.tryFindChild('HTTPRoute');
  if (httpRoute) {
    // Gateway API prefers the longest matching prefix, whatever the rule order.
    ApiObject.of(httpRoute).addJsonPatch(JsonPatch.add('/spec/rules/-', {
      matches: prefixes.map((value) => ({ path: { type: 'PathPrefix', value } })),
      backendRefs: [{ name, port: SERVICE_HTTP_PORT }],
    }));
  }
  const ingress = endpoint.node.tryFindChild('Ingress');
  if (ingress) {
    for (const p of prefixes.flatMap(ingressPaths)) {
      ApiObject.of(ingress).addJsonPatch(JsonPatch.add('/spec/rules/0/http/paths/0', {
        ...p,
        backend: { service: { name, port: { number: SERVICE_HTTP_PORT } } },
      }));
    }
  }
}

/** Adds `args`, `env`, volumes and mounts to the predictor's model container (in-process parts). */
export function patchPredictor(
  endpoint: Construct, args: string[], volumes: PodVolume[], env: Array<{ name: string; value: string }> = [],
): void {
  const o = ApiObject.of(endpoint);
  const c = '/spec/template/spec/containers/0';
  for (const a of args) o.addJsonPatch(JsonPatch.add(`${c}/args/-`, a));
  for (const e of env) o.addJsonPatch(JsonPatch.add(`${c}/env/-`, e));
  for (const v of volumes) {
    o.addJsonPatch(JsonPatch.add('/spec/template/spec/volumes/-', v.volume), JsonPatch.add(`${c}/volumeMounts/-`, v.mount));
  }
}

/** The endpoint's model-server image (the default one when the predictor is a custom container). */
export function serverImageOf(resolved: ResolvedEndpoint): string {
  return resolved.container.custom ? contract.DEFAULT_SERVER_IMAGE : resolved.container.image;
}
