/**
 * The agent sidecar (issue 18 part 3): our server in `--mode agent` in front of a third-party
 * runtime or a custom container, in the same pod, for `batcher` and `logger`. It takes the
 * serving port (`AGENT.port`): the Service (raw) or Knative (serverless) sends every request to
 * it, and it forwards to the runtime on localhost. Its readiness probe asks the runtime's
 * readiness path through the agent, so the pod is ready when the runtime is. Internal.
 */
import { ApiObject, JsonPatch, Size } from 'cdk8s';
import * as contract from '../contract';
import { payloadLogArgs } from './payload-log-args';
import { httpProbe, resourceRequirements, restrictedSecurityContext, tcpProbe } from './pod-template';
import { ResolvedEndpoint } from './resolve/resolved-endpoint';

/** The agent's own scratch volume (`TMPDIR`; its root file system is read-only). */
export const AGENT_SCRATCH_VOLUME = 'agent-scratch';
const STARTUP_PERIOD_SECONDS = 5;

/** Small and bounded: the agent holds at most the requests in flight (`--max-body-bytes` each). */
const AGENT_RESOURCES = {
  cpuRequest: '100m', cpuLimit: '1', memoryRequest: Size.mebibytes(128), memoryLimit: Size.mebibytes(512),
};

/** The agent's `serve` arguments. */
export function agentArgs(resolved: ResolvedEndpoint): string[] {
  const f = contract.SERVER_FLAGS;
  const a = contract.AGENT;
  const args = [
    contract.SERVER_COMMANDS.serve,
    f.mode, a.mode,
    a.upstreamFlag, `http://127.0.0.1:${resolved.agent!.upstreamPort}`,
    f.httpPort, String(a.port),
    f.modelName, resolved.modelName,
  ];
  if (resolved.timeoutSeconds !== undefined) args.push(f.requestTimeoutMs, String(resolved.timeoutSeconds * 1000));
  if (resolved.batcher) {
    args.push(f.maxBatchSize, String(resolved.batcher.maxBatchSize), a.maxBatchLatencyFlag, String(resolved.batcher.maxBatchLatencyMs));
  }
  if (resolved.payloadLog) args.push(...payloadLogArgs(resolved, resolved.payloadLog));
  return args;
}

/**
 * The agent container. `readinessPath` is the runtime's (undefined: it has none, then TCP);
 * under Knative the probes name no port (Knative rewrites them to the serving port, the agent's).
 */
export function agentContainer(resolved: ResolvedEndpoint, readinessPath: string | undefined): Record<string, unknown> {
  const port = resolved.serverless ? undefined : contract.AGENT.port;
  const probe = (periodSeconds: number, failureThreshold: number) => (readinessPath !== undefined
    ? httpProbe(readinessPath, port, periodSeconds, failureThreshold)
    : tcpProbe(port, periodSeconds, failureThreshold));
  return {
    name: contract.AGENT.containerName,
    image: resolved.agent!.image,
    args: agentArgs(resolved),
    ports: [{ name: resolved.serverless ? 'http1' : 'agent', containerPort: contract.AGENT.port, protocol: 'TCP' }],
    env: [{ name: 'TMPDIR', value: contract.SCRATCH_DIR }],
    resources: resourceRequirements(AGENT_RESOURCES),
    securityContext: restrictedSecurityContext({ runAsUser: resolved.runAsUser, readOnlyRootFilesystem: true }),
    volumeMounts: [{ name: AGENT_SCRATCH_VOLUME, mountPath: contract.SCRATCH_DIR }],
    readinessProbe: probe(5, 3),
    startupProbe: probe(STARTUP_PERIOD_SECONDS, Math.ceil(resolved.startupSeconds / STARTUP_PERIOD_SECONDS)),
    livenessProbe: httpProbe(contract.PATHS.metrics, port, 10, 3),
  };
}

/**
 * Adds the agent to the pod of `workload`: a ModelEndpoint's Deployment or Knative Service, or one
 * CanaryRollout version's. Raw mode: the Service's `http` port already targets the agent
 * (`servicePorts` in ./raw; a rollout's routes in ./canary-raw). Knative routes to the one
 * container that declares a port and probes only that one, so the runtime's port and probes move
 * to the agent (its readiness probe reaches the runtime's through it).
 */
export function addAgentSidecar(workload: ApiObject, resolved: ResolvedEndpoint): void {
  const pod = '/spec/template/spec';
  const readinessPath = resolved.container.runtime
    ? resolved.container.runtime.readinessPath
    : resolved.container.custom?.readinessPath;
  workload.addJsonPatch(JsonPatch.add(`${pod}/containers/-`, agentContainer(resolved, readinessPath)));
  workload.addJsonPatch(JsonPatch.add(`${pod}/volumes/-`, { name: AGENT_SCRATCH_VOLUME, emptyDir: {} }));
  if (resolved.serverless) {
    const runtime = `${pod}/containers/0`;
    workload.addJsonPatch(JsonPatch.remove(`${runtime}/ports`), JsonPatch.remove(`${runtime}/readinessProbe`), JsonPatch.remove(`${runtime}/startupProbe`));
    if (resolved.container.runtime || resolved.container.liveness) {
      workload.addJsonPatch(JsonPatch.remove(`${runtime}/livenessProbe`));
    }
  }
}
