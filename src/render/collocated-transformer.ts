/**
 * A transformer collocated with the predictor (KServe's collocation): a second container in
 * the predictor's pod that takes the serving port and calls the predictor on localhost.
 * Patches the predictor's objects (Knative Service or Deployment, Service, NetworkPolicy).
 * Internal.
 */
import { ApiObject, JsonPatch } from 'cdk8s';
import { EnvValue, k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as contract from '../contract';
import { ComponentSpec, componentResources, serverImageOf } from './component';
import { envVar, httpProbe, livenessProbe, PodVolume, resourceRequirements, restrictedSecurityContext, tcpProbe } from './pod-template';
import { resolveLiveness } from './resolve/liveness';
import { ResolvedEndpoint } from './resolve/resolved-endpoint';
import { InferenceProtocol } from '../constructs/endpoint-options';
import { KnativeFeature } from '../constructs/knative-features';
import type { TransformerOptions } from '../constructs/transformer-options';

/** The transformer container's name in the predictor's pod (KServe: `transformer-container`). */
export const COLLOCATED_TRANSFORMER_CONTAINER = 'transformer';
const SCRATCH_VOLUME = 'transformer-scratch';

/**
 * The collocated transformer's container, decided by the Transformer: the container fields of a
 * separate component (ComponentSpec), without the Deployment/Service/autoscaler ones it does not get.
 */
export type CollocatedTransformer = Pick<ComponentSpec,
'image' | 'command' | 'args' | 'port' | 'custom' | 'readinessPath' | 'liveness' | 'env' | 'volumes' | 'resources'>;

/** Adds the transformer container to the predictor's pod and sends the serving port to it. */
export function collocateTransformer(endpoint: Construct, resolved: ResolvedEndpoint, t: CollocatedTransformer): void {
  const o = ApiObject.of(endpoint);
  const pod = '/spec/template/spec';
  const port = resolved.serverless ? undefined : t.port;
  const container: Record<string, unknown> = {
    name: COLLOCATED_TRANSFORMER_CONTAINER,
    image: t.image,
    ...(t.command ? { command: [...t.command] } : {}),
    ...(t.args ? { args: [...t.args] } : {}),
    ports: [{ name: resolved.serverless ? 'http1' : 'transformer', containerPort: t.port, protocol: 'TCP' }],
    env: [{ name: 'TMPDIR', value: contract.SCRATCH_DIR }, ...[...t.env].map(([name, value]) => envVar(name, value))],
    resources: resourceRequirements(t.resources),
    securityContext: restrictedSecurityContext(resolved),
    volumeMounts: [{ name: SCRATCH_VOLUME, mountPath: contract.SCRATCH_DIR }, ...t.volumes.map((v) => v.mount)],
    // Our transformer is ready once the predictor behind it is.
    readinessProbe: t.custom && !t.readinessPath ? tcpProbe(port, 5, 3) : httpProbe(t.readinessPath ?? contract.PATHS.ready, port, 5, 3),
    ...(t.custom ? {} : { livenessProbe: httpProbe(contract.PATHS.live, port, 10, 3) }),
    ...livenessProbe(t.liveness, port),
  };
  o.addJsonPatch(JsonPatch.add(`${pod}/containers/-`, container));
  o.addJsonPatch(JsonPatch.add(`${pod}/volumes/-`, { name: SCRATCH_VOLUME, emptyDir: {} }));
  for (const v of t.volumes) o.addJsonPatch(JsonPatch.add(`${pod}/volumes/-`, v.volume));

  if (resolved.serverless) {
    // Knative routes to the one container that declares a port, and probes only that one unless
    // multi-container-probing is on.
    const predictor = `${pod}/containers/0`;
    o.addJsonPatch(JsonPatch.remove(`${predictor}/ports`));
    if (!resolved.features.has(KnativeFeature.MULTI_CONTAINER_PROBING)) {
      o.addJsonPatch(JsonPatch.remove(`${predictor}/readinessProbe`), JsonPatch.remove(`${predictor}/startupProbe`));
      if (resolved.container.liveness) o.addJsonPatch(JsonPatch.remove(`${predictor}/livenessProbe`));
    } else {
      // The predictor declares no port, so its probes must name it.
      for (const probe of ['readinessProbe', 'startupProbe', ...(resolved.container.liveness ? ['livenessProbe'] : [])]) {
        const handler = resolved.container.custom?.readinessPath || probe === 'livenessProbe' ? 'httpGet' : 'tcpSocket';
        o.addJsonPatch(JsonPatch.add(`${predictor}/${probe}/${handler}/port`, resolved.container.port));
      }
    }
    return;
  }
  const service = endpoint.node.tryFindChild('Service');
  if (service) ApiObject.of(service).addJsonPatch(JsonPatch.replace('/spec/ports/0/targetPort', k8s.IntOrString.fromNumber(t.port)));
  const policy = endpoint.node.tryFindChild('NetworkPolicy');
  if (policy) {
    // The L1s convert IntOrString values when they render, after patches apply.
    ApiObject.of(policy).addJsonPatch(JsonPatch.replace('/spec/ingress/0/ports', [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(t.port) }]));
  }
}

/**
 * Throws unless the transformer can be collocated with the endpoint's predictor, naming the
 * prop and the fix. (Monitoring works: the endpoint's monitor scrapes both containers, see
 * `collocateTransformerInMonitor`.)
 */
export function assertCollocatable(options: TransformerOptions, resolved: ResolvedEndpoint): void {
  if (!resolved.container.custom) {
    throw new Error("'collocated' puts the transformer beside a custom predictor 'container'; with our model server as the predictor, use 'inProcess: true', which runs the module in the predictor's own process");
  }
  if (resolved.agent) {
    throw new Error("'collocated' and the agent sidecar ('batcher' or 'logger' on a custom 'container') would both take the pod's serving port; drop 'collocated' (a separate transformer component works), or drop 'batcher' and 'logger'");
  }
  if (resolved.protocol === InferenceProtocol.GRPC_V2) {
    throw new Error("'collocated' gives the endpoint's serving port to the transformer, which speaks REST, but the endpoint's 'protocol' is GRPC_V2; use InferenceProtocol.V1 or V2 for the endpoint, or drop 'collocated'");
  }
  const port = options.container?.port ?? contract.HTTP_PORT;
  if (port === resolved.container.port) {
    throw new Error(`'collocated' runs the transformer on port ${port} in the predictor's pod, which is also the predictor 'container.port'; move the predictor to another port (KServe's examples use 8085)${options.container ? " or set the transformer's 'container.port'" : ''}`);
  }
  for (const prop of ['minReplicas', 'maxReplicas', 'scaleMetric', 'scaleTarget', 'storageUri'] as const) {
    if (options[prop] !== undefined) {
      throw new Error(`'${prop}' does not apply to a collocated transformer, which runs in the predictor's pods (they scale with the endpoint's settings); remove it, or drop 'collocated'`);
    }
  }
}

/** The transformer container from its options: our server in transformer mode, or the user's container. */
export function collocatedTransformerOf(
  resolved: ResolvedEndpoint, options: TransformerOptions, predictorHost: string, predictorProtocol: InferenceProtocol,
  ours: { serverArgs: string[]; volumes: PodVolume[] },
): CollocatedTransformer {
  const f = contract.SERVER_FLAGS;
  const env = new Map<string, EnvValue>();
  if (options.container) {
    env.set(contract.SERVER_ENV.predictorHost, EnvValue.fromValue(predictorHost));
    env.set(contract.SERVER_ENV.predictorProtocol, EnvValue.fromValue(predictorProtocol));
    env.set(contract.SERVER_ENV.modelName, EnvValue.fromValue(resolved.modelName));
  }
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (env.has(k)) throw new Error(`environment variable '${k}' is set by the transformer itself`);
    env.set(k, v);
  }
  const port = options.container?.port ?? contract.HTTP_PORT;
  return {
    image: options.container?.image ?? options.serverImage ?? serverImageOf(resolved),
    command: options.container?.command,
    args: options.container ? options.container.args : [
      contract.SERVER_COMMANDS.serve,
      f.mode, contract.SERVER_MODES.transformer,
      f.modelName, resolved.modelName,
      f.httpPort, String(port),
      f.predictorHost, predictorHost,
      f.predictorProtocol, predictorProtocol,
      ...ours.serverArgs,
    ],
    port,
    custom: options.container !== undefined,
    readinessPath: options.container?.readinessPath,
    liveness: resolveLiveness(options.container, "the transformer's "),
    env,
    volumes: options.container ? [] : ours.volumes,
    resources: componentResources('resources', options.resources),
  };
}
