import { ContainerResources, EnvValue } from 'cdk8s-plus-33';
import { ModelContainer } from './endpoint-options';
import { ModelFormat } from './model-format';
import { ServingRuntime } from './serving-runtime';
import { StorageUri } from './storage-uri';

/**
 * One version of a model in a `CanaryRollout`: what differs between stable and canary.
 *
 * Move the whole object from `canary` to `stable` to promote it: in serverless mode the
 * Knative revision template must stay byte-identical for the revision name to stay valid.
 */
export interface ModelVersion {
  /**
   * The version, a DNS-1123 label such as `v2` or `2024-06-01`. It names the Knative revision
   * (`<name>-<version>`) or the Deployment (`<name>-<version>`), and labels the pods.
   */
  readonly version: string;

  /**
   * Where this version of the model is stored.
   *
   * Required with our model server; optional with a custom `container` whose image has
   * the model baked in (or that serves many models it loads itself).
   *
   * @default - none: only valid with a custom `container`
   * @see https://kserve.github.io/website/latest/modelserving/storage/
   */
  readonly storageUri?: StorageUri;

  /**
   * The model format.
   *
   * @default ModelFormat.ONNX
   */
  readonly format?: ModelFormat;

  /**
   * The serving runtime of this version.
   *
   * @default - the first runtime of the scope's `RuntimeCatalog` (or of the built-ins) that
   * serves `format` over the rollout's `protocol`
   */
  readonly runtime?: ServingRuntime;

  /**
   * A container of your own instead of our model server.
   *
   * @default - our model server, which serves ONNX models
   */
  readonly container?: ModelContainer;

  /**
   * The model-server image of this version.
   *
   * @default - the model-server image released with this library
   */
  readonly serverImage?: string;

  /**
   * CPU and memory requests and limits of this version's model container.
   *
   * @default - requests 500m CPU and 512Mi memory; limits 1 CPU and 1Gi memory
   */
  readonly resources?: ContainerResources;

  /**
   * NVIDIA GPUs per replica.
   *
   * @default 0
   */
  readonly gpus?: number;

  /**
   * Environment variables of this version's model container.
   *
   * @default - none
   */
  readonly env?: { [name: string]: EnvValue };

  /**
   * The fewest replicas of this version.
   *
   * @default 1
   */
  readonly minReplicas?: number;

  /**
   * The most replicas of this version.
   *
   * 0 means no limit, as in KServe: serverless only (the revision gets `max-scale: "0"`,
   * which Knative reads as unlimited unless the cluster sets `max-scale-limit`); raw mode's
   * HorizontalPodAutoscaler needs a bound.
   *
   * @default - the larger of 3 and `minReplicas`
   */
  readonly maxReplicas?: number;
}
