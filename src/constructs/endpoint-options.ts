import { Duration } from 'cdk8s';

/**
 * Choices an endpoint is configured with: deployment mode, protocol, autoscaling metric and
 * a custom model container.
 */

/**
 * How an endpoint is deployed, as KServe's `serving.kserve.io/deploymentMode`.
 */
export enum DeploymentMode {
  /** A Knative Service: request-driven autoscaling, optional scale to zero (KServe "Knative"). */
  SERVERLESS = 'Serverless',
  /** A Deployment, Service and HorizontalPodAutoscaler: no Knative or Istio needed (KServe "Standard"). */
  RAW = 'RawDeployment',
}

/** The inference protocol clients speak to the endpoint, as KServe's `protocolVersion`. */
export enum InferenceProtocol {
  /** KServe V1: `/v1/models/<name>:predict`. */
  V1 = 'v1',
  /** Open Inference Protocol V2 over REST: `/v2/models/<name>/infer`. */
  V2 = 'v2',
  /** Open Inference Protocol V2 over gRPC (`inference.GRPCInferenceService`). */
  GRPC_V2 = 'grpc-v2',
  /**
   * A runtime's own gRPC services, as KServe's `grpc-v1` (TF Serving's
   * `tensorflow.serving.PredictionService`); see `ServingRuntime.grpcServices`.
   */
  GRPC_V1 = 'grpc-v1',
}

/** What the autoscaler scales on, as KServe's `scaleMetric`. */
export enum ScaleMetric {
  /** In-flight requests per replica (serverless, or raw with `Autoscaler.KEDA`). */
  CONCURRENCY = 'concurrency',
  /** Requests per second per replica (serverless, or raw with `Autoscaler.KEDA`). */
  RPS = 'rps',
  /** CPU utilization, percent of the request. */
  CPU = 'cpu',
  /** Memory utilization, percent of the request. */
  MEMORY = 'memory',
}

/** What scales a raw-mode endpoint's Deployment. */
export enum Autoscaler {
  /** A HorizontalPodAutoscaler on CPU or memory utilization (KServe's `hpa`). */
  HPA = 'hpa',
  /**
   * KEDA (KServe's `keda`): a `ScaledObject` with a Prometheus trigger on the server's
   * in-flight requests or request rate; with `minReplicas: 0`, the HTTP add-on's
   * `HTTPScaledObject` instead, whose interceptor holds requests while the first replica starts.
   */
  KEDA = 'keda',
}

/**
 * A container of your own that serves the model instead of our model server, for formats
 * our server does not run.
 */
export interface ModelContainer {
  /** The container image. */
  readonly image: string;
  /**
   * The entrypoint.
   *
   * @default - the image's entrypoint
   */
  readonly command?: string[];
  /**
   * Arguments to the entrypoint.
   *
   * @default - none
   */
  readonly args?: string[];
  /**
   * The port the container serves HTTP (or gRPC, with `InferenceProtocol.GRPC_V2`) on.
   *
   * @default 8080
   */
  readonly port?: number;
  /**
   * An HTTP path that answers 200 once the model is ready, used by the readiness and
   * startup probes.
   *
   * @default - a TCP check of the port
   */
  readonly readinessPath?: string;
  /**
   * An HTTP path that answers 200 while the process is healthy, for a liveness probe: the
   * kubelet restarts the container after `livenessFailureThreshold` failed checks in a row.
   * Pick a path that does not depend on the model (a server-level health check), or a slow
   * model load can look like a hang. Checked only once the startup probe has passed.
   *
   * @default - no liveness probe
   * @see https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/
   */
  readonly livenessPath?: string;
  /**
   * How often the liveness probe checks `livenessPath`.
   *
   * @default Duration.seconds(10)
   * @noSchemaDefault only with livenessPath, which the construct checks
   */
  readonly livenessPeriod?: Duration;
  /**
   * Failed liveness checks in a row before the container is restarted.
   *
   * @default 3
   * @noSchemaDefault only with livenessPath, which the construct checks
   */
  readonly livenessFailureThreshold?: number;
}
