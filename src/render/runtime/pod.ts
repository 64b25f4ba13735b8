/**
 * The pod pieces of a third-party runtime: ports, probes and environment, in Kubernetes JSON.
 * Internal; pod-template.ts and raw.ts call these when an endpoint runs one.
 */
import { k8s } from 'cdk8s-plus-33';
import { ResolvedRuntime } from './resolve-runtime';
import * as contract from '../../contract';

const SERVICE_HTTP_PORT = 80;

/** Container ports: Knative exposes exactly one (the protocol's); raw mode declares both. */
export function runtimeContainerPorts(r: ResolvedRuntime, serverless: boolean): Array<Record<string, unknown>> {
  if (serverless) return [{ name: r.grpc ? 'h2c' : 'http1', containerPort: r.servingPort, protocol: 'TCP' }];
  const ports: Array<Record<string, unknown>> = [];
  if (r.httpPort !== undefined) ports.push({ name: 'http', containerPort: r.httpPort, protocol: 'TCP' });
  if (r.grpcPort !== undefined) ports.push({ name: 'grpc', containerPort: r.grpcPort, protocol: 'TCP' });
  // The metrics port, when it is a port of its own (MLServer 8082, Triton 8002, TorchServe 8082).
  if (r.metrics && r.metrics.port !== r.httpPort && r.metrics.port !== r.grpcPort) {
    ports.push({ name: 'metrics', containerPort: r.metrics.port, protocol: 'TCP' });
  }
  return ports;
}

/** Service ports in raw mode: `http` (80) and `grpc` (8081), for the ports the runtime has, and `metrics`. */
export function runtimeServicePorts(r: ResolvedRuntime): k8s.ServicePort[] {
  const ports: k8s.ServicePort[] = [];
  if (r.httpPort !== undefined) {
    ports.push({ name: 'http', port: SERVICE_HTTP_PORT, targetPort: k8s.IntOrString.fromNumber(r.httpPort), appProtocol: 'http', protocol: 'TCP' });
  }
  if (r.grpcPort !== undefined) {
    ports.push({ name: 'grpc', port: contract.GRPC_PORT, targetPort: k8s.IntOrString.fromNumber(r.grpcPort), appProtocol: 'grpc', protocol: 'TCP' });
  }
  if (r.metrics && r.metrics.port !== r.httpPort && r.metrics.port !== r.grpcPort) {
    ports.push({ name: 'metrics', port: r.metrics.port, targetPort: k8s.IntOrString.fromNumber(r.metrics.port), appProtocol: 'http', protocol: 'TCP' });
  }
  return ports;
}

/**
 * Readiness, startup and liveness probes. HTTP paths go to the REST port; under Knative the
 * probes must target the one serving port, so a gRPC endpoint there gets TCP checks.
 */
export function runtimeProbes(
  r: ResolvedRuntime, serverless: boolean, startupPeriodSeconds: number, startupFailures: number,
): Record<string, unknown> {
  const restReachable = !serverless || !r.grpc;
  // Knative rewrites probe ports itself and rejects any other port.
  const httpPort = serverless ? undefined : r.httpPort;
  const tcpPort = serverless ? undefined : r.servingPort;
  const probe = (path: string | undefined, periodSeconds: number, failureThreshold: number) => {
    if (path === undefined || !restReachable || r.httpPort === undefined) {
      return { tcpSocket: tcpPort !== undefined ? { port: tcpPort } : {}, periodSeconds, failureThreshold };
    }
    return { httpGet: { path, ...(httpPort !== undefined ? { port: httpPort } : {}) }, periodSeconds, timeoutSeconds: 2, failureThreshold };
  };
  return {
    // Readiness follows the model where the runtime has a per-model path.
    readinessProbe: probe(r.readinessPath, 5, 3),
    startupProbe: probe(r.readinessPath, startupPeriodSeconds, startupFailures),
    livenessProbe: probe(r.livenessPath, 10, 3),
  };
}
