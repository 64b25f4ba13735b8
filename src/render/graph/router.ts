/**
 * An inference graph's router: our server in `--mode router` reading the graph's JSON from a
 * ConfigMap, as a Knative Service (serverless) or Deployment + Service + HPA (raw), with the
 * route to it, its NetworkPolicy and, for an in-process graph, the models it loads. Internal.
 */
import { createHash } from 'crypto';
import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { IngressKind } from '../../constructs/endpoint-ingress';
import { StorageUri } from '../../constructs/storage-uri';
import * as contract from '../../contract';
import type { GraphSpec } from '../../contract/graph-spec';
import { HttpRoute, HttpRouteSpecRulesMatchesPathType } from '../../imports/gateway-gateway.networking.k8s.io';
import { VirtualService } from '../../imports/istio-networking.istio.io';
import { synthesizeComponent } from '../component';
import { ingressPaths } from '../ingress-paths';
import { componentMonitor } from '../monitoring/monitor';
import { ResolvedMonitoring } from '../monitoring/resolve';
import { admitMetricsScrapes, endpointNetworkPolicy } from '../network-policy';
import { MODEL_VOLUME, objectLabels, PodVolume, schedulingFields, storageCredentialsVolume, storageInitializerContainer } from '../pod-template';
import { requireInitContainers } from '../resolve/knative';
import { ResolvedEndpoint, ResolvedResources } from '../resolve/resolved-endpoint';
import { KNATIVE } from '../serverless';

const SERVICE_HTTP_PORT = 80;
const SPEC_VOLUME = 'inference-graph';
const DEFAULT_ISTIO_GATEWAY = 'istio-system/ingressgateway';

/** A model an in-process router loads into `<model dir>/<name>`. */
export interface RouterModel {
  readonly name: string;
  readonly storageUri: StorageUri;
}

/** What the InferenceGraph decided for its router. */
export interface RouterInputs {
  /** The router's settings, resolved as an endpoint's (name, namespace, mode, scaling, security, ingress). */
  readonly resolved: ResolvedEndpoint;
  readonly spec: GraphSpec;
  readonly image: string;
  readonly resources: ResolvedResources;
  /** In-process graphs: the models the router fetches and serves itself. */
  readonly models: RouterModel[];
  /** Scraping of the router's `/metrics`, when on. */
  readonly monitoring?: ResolvedMonitoring;
}

/**
 * The router's server arguments: `--mode router`, the graph's name (its metrics' model label),
 * the spec file and, in process, the model directory.
 */
export function routerArgs(graphName: string, specFile: string, modelDir: string | undefined): string[] {
  const f = contract.SERVER_FLAGS;
  return [
    contract.SERVER_COMMANDS.serve,
    f.mode, contract.GRAPH.routerMode,
    f.modelName, graphName,
    f.httpPort, String(contract.HTTP_PORT),
    contract.GRAPH.specFlag, specFile,
    ...(modelDir !== undefined ? [f.modelDir, modelDir] : []),
  ];
}

/**
 * Synthesizes the router under `scope`: ConfigMap `Spec`, the workload (`Resource`, ...), the route,
 * the NetworkPolicy and, with monitoring, the PodMonitor (serverless) or ServiceMonitor (raw).
 *
 * @returns the monitor, if any
 */
export function synthesizeRouter(scope: Construct, inputs: RouterInputs): ApiObject | undefined {
  const json = JSON.stringify(inputs.spec, undefined, 2);
  const resolved: ResolvedEndpoint = {
    ...inputs.resolved,
    annotations: { ...inputs.resolved.annotations, [contract.GRAPH_CONSTRUCT.specHashAnnotation]: createHash('sha256').update(json).digest('hex') },
  };
  const spec = new k8s.KubeConfigMap(scope, 'Spec', {
    metadata: { namespace: resolved.namespace, labels: objectLabels(resolved, 'router') },
    data: { [contract.GRAPH.specKey]: json },
  });
  const volumes: PodVolume[] = [{
    volume: { name: SPEC_VOLUME, configMap: { name: spec.name } },
    mount: { name: SPEC_VOLUME, mountPath: contract.GRAPH.specDir, readOnly: true },
  }];
  const models = modelStorage(resolved, inputs.models, inputs.image);
  if (models) volumes.push(models.volume);
  synthesizeComponent(scope, resolved, {
    kind: 'router',
    name: resolved.name,
    image: inputs.image,
    args: routerArgs(resolved.name, `${contract.GRAPH.specDir}/${contract.GRAPH.specKey}`, models ? contract.MODEL_DIR : undefined),
    port: contract.HTTP_PORT,
    custom: false,
    env: new Map(),
    volumes,
    podOnlyVolumes: models?.podOnlyVolumes,
    initContainers: models?.initContainers,
    resources: inputs.resources,
    minReplicas: resolved.minReplicas,
    maxReplicas: resolved.maxReplicas,
    scaleMetric: resolved.scaleMetric,
    scaleTarget: resolved.scaleTarget,
    scheduling: schedulingFields(resolved),
  });
  routerIngress(scope, inputs.resolved);
  // Knative's activator and gateways reach the pod on ports of their own: admit every port there.
  if (resolved.networkPolicy) endpointNetworkPolicy(scope, resolved, resolved.serverless ? [] : [contract.HTTP_PORT]);
  if (!inputs.monitoring?.enabled) return undefined;
  // Our server serves /metrics on its HTTP port; its series carry component="router".
  if (resolved.networkPolicy) admitMetricsScrapes(scope, inputs.monitoring.prometheusNamespace, contract.HTTP_PORT);
  return componentMonitor(scope, inputs.resolved, inputs.monitoring, 'router', resolved.name);
}

/**
 * The model directory of an in-process router: an emptyDir that one storage initializer per
 * model fills at `<model dir>/<name>` (our server's multi-model layout).
 */
function modelStorage(resolved: ResolvedEndpoint, models: RouterModel[], image: string): {
  volume: PodVolume; podOnlyVolumes: Array<Record<string, unknown>>; initContainers: Array<Record<string, unknown>>;
} | undefined {
  if (models.length === 0) return undefined;
  if (resolved.serverless) requireInitContainers(resolved, "an in-process inference graph ('inProcess: true')");
  const credentials = resolved.storageCredentialsSecret;
  return {
    volume: { volume: { name: MODEL_VOLUME, emptyDir: {} }, mount: { name: MODEL_VOLUME, mountPath: contract.MODEL_DIR, readOnly: true } },
    podOnlyVolumes: credentials ? [storageCredentialsVolume(credentials).volume] : [],
    initContainers: models.map((m, i) => {
      const init = storageInitializerContainer({
        storageUri: m.storageUri.uri,
        // Our server image runs the storage initializer: the router's own (a mirror or pinned version).
        image,
        runAsUser: resolved.runAsUser,
        readOnlyRootFilesystem: resolved.readOnlyRootFilesystem,
        credentialsSecret: credentials,
        storageEnv: resolved.storageEnv,
      });
      return {
        ...init,
        // Init container names are unique in a pod; each fetches into its model's folder.
        name: `${contract.STORAGE_INITIALIZER_CONTAINER}-${i}`,
        args: [contract.SERVER_COMMANDS.storageInitializer, m.storageUri.uri, `${contract.MODEL_DIR}/${m.name}`],
      };
    }),
  };
}

/** The graph's host, every path, to the router (KServe's router answers POST `/`). */
function routerIngress(scope: Construct, resolved: ResolvedEndpoint): void {
  const metadata = { name: resolved.name, namespace: resolved.namespace, labels: objectLabels(resolved, 'router'), annotations: { ...resolved.annotations } };
  const serviceHost = `${resolved.name}.${resolved.namespace ?? 'default'}.svc.cluster.local`;
  const timeout = resolved.timeoutSeconds !== undefined ? { timeout: `${resolved.timeoutSeconds}s` } : {};
  switch (resolved.ingress._kind) {
    case IngressKind.ISTIO:
      new VirtualService(scope, 'VirtualService', {
        metadata,
        spec: {
          hosts: [resolved.host],
          gateways: [resolved.ingress._gateway ?? (resolved.serverless ? KNATIVE.ingressGateway : DEFAULT_ISTIO_GATEWAY)],
          http: [{
            name: 'router',
            match: [{ uri: { prefix: contract.GRAPH.path } }],
            route: [resolved.serverless
              ? {
                destination: { host: KNATIVE.localGatewayHost, port: { number: 80 } },
                headers: { request: { set: { Host: serviceHost } } },
                weight: 100,
              }
              : { destination: { host: serviceHost, port: { number: SERVICE_HTTP_PORT } }, weight: 100 }],
            ...timeout,
          }],
        },
      });
      return;
    case IngressKind.GATEWAY_API:
      new HttpRoute(scope, 'HTTPRoute', {
        metadata,
        spec: {
          parentRefs: [{
            name: resolved.ingress._gateway!,
            ...(resolved.ingress._gatewayNamespace ? { namespace: resolved.ingress._gatewayNamespace } : {}),
          }],
          hostnames: [resolved.host],
          rules: [{
            matches: [{ path: { type: HttpRouteSpecRulesMatchesPathType.PATH_PREFIX, value: contract.GRAPH.path } }],
            backendRefs: [{ name: resolved.name, port: SERVICE_HTTP_PORT }],
            ...(resolved.timeoutSeconds !== undefined ? { timeouts: { request: `${resolved.timeoutSeconds}s` } } : {}),
          }],
        },
      });
      return;
    case IngressKind.KUBERNETES:
      new k8s.KubeIngress(scope, 'Ingress', {
        metadata,
        spec: {
          ...(resolved.ingress._className ? { ingressClassName: resolved.ingress._className } : {}),
          ...(resolved.ingress._tlsSecretName ? { tls: [{ hosts: [resolved.host], secretName: resolved.ingress._tlsSecretName }] } : {}),
          rules: [{
            host: resolved.host,
            http: {
              paths: ingressPaths(contract.GRAPH.path).map(p => ({
                ...p,
                backend: { service: { name: resolved.name, port: { number: SERVICE_HTTP_PORT } } },
              })),
            },
          }],
        },
      });
      return;
    default:
      return;
  }
}
