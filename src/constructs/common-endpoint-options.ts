import { Duration } from 'cdk8s';
import { DeploymentStrategy, IServiceAccount, ISecret } from 'cdk8s-plus-33';
import { Batcher } from './batcher';
import { DeploymentMode, InferenceProtocol, ScaleMetric } from './endpoint-options';
import { KnativeFeature } from './knative-features';
import { PayloadLogging } from './payload-logging';
import { NodeAffinityRule, Toleration } from './scheduling';
import { ServingTarget } from './serving-target';
import { StorageAuth } from './storage-auth';

/**
 * Endpoint-level settings that `ModelEndpoint` and `CanaryRollout` share, with the same
 * meaning and default in both: placement (namespace, host), autoscaling, scheduling, pod
 * security, metadata and the NetworkPolicy.
 *
 * What a version of the model needs (`storageUri`, `container`, `resources`, replicas) and
 * the settings whose default differs between the constructs (`name`, `ingress`, `timeout`,
 * `initialScale`, `stopped`, `allowedNamespaces`, `monitoring`) are in `ModelEndpointProps`
 * and `CanaryRolloutProps`.
 */
export interface CommonEndpointOptions {
  /**
   * The namespace of every object.
   *
   * @default - the chart's namespace, or the kubectl context's
   */
  readonly namespace?: string;

  /**
   * How the endpoint is deployed.
   *
   * @default DeploymentMode.SERVERLESS
   */
  readonly mode?: DeploymentMode;

  // ---- kserve-emit (issue 16) ----
  /**
   * What the endpoint synthesizes: our own objects, or a KServe `InferenceService` for a
   * cluster that runs KServe's controller (see the README's "Deploying to a cluster that runs
   * KServe" for how each prop maps, and which ones KServe cannot express).
   *
   * @default - the cdk8s context value `cdk8s-model-serving/target` if set, else ServingTarget.NATIVE
   */
  readonly target?: ServingTarget;
  // ---- end kserve-emit ----

  /**
   * The protocol clients speak.
   *
   * @default InferenceProtocol.V2
   */
  readonly protocol?: InferenceProtocol;

  /**
   * The host clients call.
   *
   * @default - `<name>.<namespace>.<domain>`
   */
  readonly host?: string;

  /**
   * The cluster's domain, used for the default host.
   *
   * @default 'example.com' (Knative's default domain)
   */
  readonly domain?: string;

  /**
   * The most requests one replica handles at once; Knative queues the rest. 0 means no limit.
   *
   * @default 0
   */
  readonly containerConcurrency?: number;

  /**
   * What the autoscaler scales on.
   *
   * @default - ScaleMetric.CONCURRENCY in serverless mode and with `Autoscaler.KEDA`,
   * ScaleMetric.CPU in raw mode with the HPA
   */
  readonly scaleMetric?: ScaleMetric;

  /**
   * The autoscaler's target for `scaleMetric` per replica: in-flight requests, requests per
   * second, or percent utilization of the CPU or memory request.
   *
   * @default - concurrency 100, rps 200 (Knative's defaults), cpu 80, memory 80
   */
  readonly scaleTarget?: number;

  /**
   * How long load must stay low before replicas are removed.
   *
   * @default - serverless: no delay; raw: the HPA's 300 seconds
   */
  readonly scaleDownDelay?: Duration;

  /**
   * How raw mode's Deployments (the predictor's, each CanaryRollout version's, the transformer's
   * and the explainer's) replace their pods on a change. Serverless mode refuses it: Knative
   * rolls out revisions itself.
   *
   * @default - `DeploymentStrategy.rollingUpdate({ maxSurge: PercentOrAbsolute.absolute(1),
   * maxUnavailable: PercentOrAbsolute.absolute(0) })`: never below the serving capacity
   * @see https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#strategy
   */
  readonly deploymentStrategy?: DeploymentStrategy;

  /**
   * How long the model may take to download and load before the pod is restarted (the
   * startup probe's budget).
   *
   * @default Duration.minutes(10)
   */
  readonly startupTimeout?: Duration;

  /**
   * Node labels the pods must be scheduled on. Serverless mode needs
   * `KnativeFeature.NODE_SELECTOR`.
   *
   * @default - any node
   */
  readonly nodeSelector?: { [key: string]: string };

  /**
   * Taints the pods tolerate. Serverless mode needs `KnativeFeature.TOLERATIONS`.
   *
   * @default - none
   */
  readonly tolerations?: Toleration[];

  /**
   * Node-affinity rules. Serverless mode needs `KnativeFeature.AFFINITY`.
   *
   * @default - none
   */
  readonly nodeAffinity?: NodeAffinityRule[];

  /**
   * The service account the pods run as.
   *
   * @default - the namespace's default service account
   */
  readonly serviceAccount?: IServiceAccount;

  /**
   * Whether the service account token is mounted into the pods.
   *
   * @default false
   */
  readonly automountServiceAccountToken?: boolean;

  /**
   * The user the containers run as (never 0).
   *
   * @default 1000
   */
  readonly runAsUser?: number;

  /**
   * Whether the containers' root filesystem is read-only. The server writes only to
   * `/mnt/models` and `/tmp`, which are volumes.
   *
   * @default true
   */
  readonly readOnlyRootFilesystem?: boolean;

  /**
   * A secret with storage credentials, mounted read-only (never inlined). Keys are read as
   * the environment variables of the same name: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
   * `AWS_ENDPOINT_URL`, `AWS_REGION`.
   *
   * @default - no credentials: public buckets and URLs only
   */
  readonly storageCredentials?: ISecret;

  /**
   * How the model's storage is authenticated: `StorageAuth.secret()`,
   * `StorageAuth.awsWorkloadIdentity()`, `StorageAuth.gcpWorkloadIdentity()`,
   * `StorageAuth.huggingFaceToken()` or `StorageAuth.anonymous()`. Workload identity runs the pods as its service account.
   *
   * @default - `storageCredentials` when set; otherwise the server tries the cloud's default
   * credentials (the pods' workload identity, if any) and falls back to anonymous requests
   */
  readonly storageAuth?: StorageAuth;

  // ---- rt-storage (issue 15) ----
  /**
   * The Kubernetes version of the cluster (`1.33`), for settings that need a newer one than the
   * oldest supported: an `oci://` model mounted as an image volume needs 1.33.
   *
   * @default '1.30' (the oldest version the constructs support)
   */
  readonly kubernetesVersion?: string;
  // ---- end rt-storage ----

  // ---- rt-finish (issue 15) ----
  /**
   * Secrets of type `kubernetes.io/dockerconfigjson` the kubelet pulls the pods' images with:
   * a private `oci://` model image (modelcar or image volume), a private runtime or server image.
   * Rendered as the pods' `imagePullSecrets`, as KServe does for its predictor pods, in both
   * modes. (`ModelImageMount.FETCH` pulls the model with `storageAuth` instead.)
   *
   * @default - none: public images, or the service account's image pull secrets
   * @see https://kubernetes.io/docs/tasks/configure-pod-container/pull-image-private-registry/
   */
  readonly imagePullSecrets?: ISecret[];
  // ---- end rt-finish ----

  /**
   * Labels on every object and pod.
   *
   * @default - none beyond the standard `app.kubernetes.io/*` labels
   */
  readonly labels?: { [key: string]: string };

  /**
   * Annotations on every object and pod.
   *
   * @default - none
   */
  readonly annotations?: { [key: string]: string };

  /**
   * Knative feature flags your cluster enables, for settings that need one.
   *
   * @default - Knative's defaults: none of these
   */
  readonly knativeFeatures?: KnativeFeature[];

  /**
   * Whether the cluster runs the `ModelServingController` with its pod webhook, which injects
   * the storage initializer into pods that ask for it (as KServe's pod mutator does).
   *
   * In serverless mode, a custom `container` with a downloaded `storageUri` then no longer needs
   * Knative's `kubernetes.podspec-init-containers` flag: its pod template carries the label
   * `serving.cdk8s-model-serving.io/inject-storage-initializer: "true"` and the storage
   * annotations instead of the init container, and the webhook adds the `storage-initializer`
   * init container, the model volume (read-only in the serving containers) and the credentials
   * mount when each pod is created. Raw mode, and clusters that declare
   * `KnativeFeature.INIT_CONTAINERS`, keep the init container in the template.
   *
   * @default false - the pod template carries the storage initializer itself
   */
  readonly storageInitializerWebhook?: boolean;

  /**
   * Whether a NetworkPolicy admits only the ingress gateway, Knative's activator and the
   * endpoint's own components.
   *
   * @default true
   */
  readonly networkPolicy?: boolean;

  /**
   * Payload logging: each inference request and response sent to a sink as a CloudEvent, as
   * KServe's `logger` does. Our model server logs itself; in front of a third-party runtime or a
   * custom `container`, our server runs as an agent sidecar (port 9081) that logs for it
   * (REST only). Under `target: ServingTarget.KSERVE`, KServe's agent logs.
   *
   * @default - no payload logging
   */
  readonly logger?: PayloadLogging;

  /**
   * Request batching, as KServe's `batcher`. Our model server batches itself (`maxBatchSize`);
   * in front of a third-party runtime or a custom `container`, our server runs as an agent
   * sidecar (port 9081) that batches V1 and V2 REST requests for it.
   *
   * @default - our model server batches adaptively up to 1024 rows; other runtimes get no batching
   */
  readonly batcher?: Batcher;
}
