/**
 * An endpoint's settings after validation and defaults: what the mode synthesizers read.
 * Internal; the public face is `ModelEndpointProps`.
 */
import { Size } from 'cdk8s';
import { EnvValue } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import type { ResolvedKeda } from './keda';
import { ResolvedLiveness } from './liveness';
import type { ResolvedPayloadLog } from './payload-logging';
import { EndpointIngress } from '../../constructs/endpoint-ingress';
import { InferenceProtocol, ModelContainer, ScaleMetric } from '../../constructs/endpoint-options';
import { ModelFormat } from '../../constructs/model-format';
import { NodeAffinityRule, Toleration } from '../../constructs/scheduling';
import type { ServingRuntime } from '../../constructs/serving-runtime';
import { StorageUri } from '../../constructs/storage-uri';
import type { ResolvedRuntime } from '../runtime/resolve-runtime';

export interface ResolvedContainer {
  /** Set when the user brings their own server. */
  readonly custom?: ModelContainer;
  readonly image: string;
  /** The one port Knative exposes, and the Service's target port. */
  readonly port: number;
  readonly env: Map<string, EnvValue>;
  /** The custom container's liveness probe, if it asked for one. */
  readonly liveness?: ResolvedLiveness;
  /** A third-party serving runtime (then `custom` describes its container too). */
  readonly runtime?: ResolvedRuntime;
}

/** A container's requests and limits with defaults filled in, as Kubernetes quantities (CPU) or sizes. */
export interface ResolvedResources {
  readonly cpuRequest: string;
  readonly cpuLimit: string;
  readonly memoryRequest: Size;
  readonly memoryLimit: Size;
  readonly ephemeralStorageRequest?: Size;
  readonly ephemeralStorageLimit?: Size;
}

export interface ResolvedEndpoint {
  readonly endpoint: Construct;
  readonly name: string;
  readonly modelName: string;
  readonly namespace?: string;
  readonly host: string;
  readonly serverless: boolean;
  readonly protocol: InferenceProtocol;
  /** Undefined only for a custom container that has its model in the image (or fetches its own). */
  readonly storageUri?: StorageUri;
  readonly format: ModelFormat;
  /** The serving runtime; undefined with a custom container. */
  readonly servingRuntime?: ServingRuntime;
  readonly features: Set<string>;
  readonly container: ResolvedContainer;
  readonly resources: ResolvedResources;
  readonly gpus: number;
  readonly nodeSelector?: { [key: string]: string };
  readonly tolerations: Toleration[];
  readonly nodeAffinity: NodeAffinityRule[];
  readonly timeoutSeconds?: number;
  readonly containerConcurrency: number;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly scaleMetric: ScaleMetric;
  readonly scaleTarget: number;
  readonly initialScale: number;
  readonly scaleDownDelaySeconds?: number;
  /** Set when KEDA scales the raw Deployment instead of an HPA. */
  readonly keda?: ResolvedKeda;
  readonly stopped: boolean;
  /** The raw Deployments' `strategy`, as Kubernetes JSON. */
  readonly deploymentStrategy: Record<string, unknown>;
  readonly startupSeconds: number;
  readonly serviceAccountName?: string;
  readonly automountServiceAccountToken: boolean;
  /** Names of the pods' image pull secrets (rt-finish). */
  readonly imagePullSecrets: string[];
  readonly storageCredentialsSecret?: string;
  /** `STORAGE_AUTH` / `STORAGE_MAX_BYTES` for the container that fetches the model (`_storage-auth`). */
  readonly storageEnv: Array<{ name: string; value: string }>;
  readonly labels: { [key: string]: string };
  readonly annotations: { [key: string]: string };
  readonly ingress: EndpointIngress;
  readonly networkPolicy: boolean;
  readonly allowedNamespaces: string[];
  readonly runAsUser: number;
  readonly readOnlyRootFilesystem: boolean;
  /**
   * The controller's pod webhook adds the storage initializer (serverless custom containers
   * without Knative's init-container flag, when `storageInitializerWebhook` is set).
   */
  readonly storageInitializerWebhook: boolean;
  /** A CanaryRollout version: labels its pods, so one version can be selected. */
  readonly version?: string;
  /** kserve-emit: KServe's controller creates the pods (`target: ServingTarget.KSERVE`). */
  readonly kserve?: boolean;
  /** Payload logging (issue 18 part 2), validated. */
  readonly payloadLog?: ResolvedPayloadLog;
  /** `batcher` (issue 18 part 3), validated, with KServe's defaults filled in. */
  readonly batcher?: { readonly maxBatchSize: number; readonly maxBatchLatencyMs: number };
  /**
   * Set when our server runs as an agent sidecar in front of a third-party runtime or a custom
   * container (for `batcher` or `logger`): the runtime's REST port it forwards to.
   */
  readonly agent?: { readonly upstreamPort: number; readonly image: string };
}
