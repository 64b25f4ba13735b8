import { ContainerResources, EnvValue, IConfigMap } from 'cdk8s-plus-33';
import { ModelContainer, ScaleMetric } from './endpoint-options';
import { PayloadLogging } from './payload-logging';
import { StorageUri } from './storage-uri';

/** How the explainer attributes a prediction to the features. */
export enum ExplainerMethod {
  /** KernelSHAP: Shapley values estimated by a weighted regression over feature coalitions. */
  KERNEL_SHAP = 'kernel_shap',
  /** LIME: a local linear model fitted to perturbations around the instance. */
  LIME = 'lime',
}

/**
 * The explainer's background data set: rows of feature values that stand for "feature
 * absent"; the base value is the model's mean prediction over them.
 */
export class ExplainerBackground {
  /**
   * A file in the model's storage (`storageUri`), which the explainer fetches as the
   * predictor does: JSON rows (`[[...], ...]` or `{"instances": [...], "feature_names": [...]}`)
   * or CSV with an optional header of feature names.
   *
   * @param fileName path relative to the model directory
   */
  public static fromModelDir(fileName: string = 'background.json'): ExplainerBackground {
    if (fileName.startsWith('/') || fileName.split('/').includes('..')) {
      throw new Error(`'fileName' must be a path inside the model directory, got '${fileName}'`);
    }
    return new ExplainerBackground(fileName);
  }

  /**
   * Rows given inline (passed to the explainer in an environment variable).
   */
  public static fromRows(rows: number[][]): ExplainerBackground {
    if (rows.length === 0 || rows.some((r) => r.length !== rows[0].length || r.length === 0 || r.some((v) => !Number.isFinite(v)))) {
      throw new Error("'rows' must be a non-empty list of rows of finite numbers, all of the same length");
    }
    return new ExplainerBackground(undefined, JSON.stringify(rows));
  }

  /**
   * A key of an existing ConfigMap holding the data set (JSON or CSV, by the key's extension).
   */
  public static fromConfigMap(configMap: IConfigMap, key: string): ExplainerBackground {
    if (!/^[-._a-zA-Z0-9]+\.(json|csv)$/.test(key)) throw new Error(`'key' must be a ConfigMap key ending in .json or .csv, got '${key}'`);
    return new ExplainerBackground(key, undefined, configMap);
  }

  private constructor(
    /** @internal */ public readonly _file?: string,
    /** @internal */ public readonly _inline?: string,
    /** @internal */ public readonly _configMap?: IConfigMap,
  ) {}
}

/**
 * Options of `ModelEndpoint.addExplainer()`.
 */
export interface ExplainerOptions {
  /**
   * The attribution method of our explainer.
   *
   * @default ExplainerMethod.KERNEL_SHAP
   */
  readonly method?: ExplainerMethod;

  /**
   * The background data set of our explainer.
   *
   * @default ExplainerBackground.fromModelDir('background.json')
   */
  readonly background?: ExplainerBackground;

  /**
   * Coalitions (KernelSHAP) or perturbations (LIME) per explanation; 0 picks automatically
   * (every coalition when there are few features).
   *
   * @default 0
   */
  readonly samples?: number;

  /**
   * Seed of the sampling, for reproducible explanations.
   *
   * @default 0
   */
  readonly seed?: number;

  /**
   * The model output to explain.
   *
   * @default - the model's first floating-point output
   */
  readonly output?: string;

  /**
   * Rows per predictor request; match the predictor's `--max-batch-size` (1024 by default).
   *
   * @default 1024
   */
  readonly batchSize?: number;

  /**
   * Runs the explainer inside the predictor's process (it serves `:explain` itself); needs
   * our model server as the predictor.
   *
   * @default false
   */
  readonly inProcess?: boolean;

  /**
   * An explainer image of your own, serving `POST /v1/models/<name>:explain`. It gets the
   * predictor's `host:port` in `PREDICTOR_HOST` and the protocol in `PREDICTOR_PROTOCOL`.
   *
   * @default - our model server in explainer mode
   */
  readonly container?: ModelContainer;

  /**
   * A model for the explainer's own `container`, at `/mnt/models`.
   *
   * As KServe's `storageUri` on a explainer (a tokenizer, an explainer model): a pvc:// volume is
   * mounted read-only, any other URI is fetched by the same storage-initializer init container
   * as a custom predictor's, with the endpoint's `storageAuth` / `storageCredentials`.
   * Serverless mode needs the Knative flag for PVCs or for init containers, as the predictor.
   *
   * @default - none: the explainer gets no model directory
   * @see https://kserve.github.io/website/latest/modelserving/storage/
   */
  readonly storageUri?: StorageUri;

  /**
   * The model-server image of the explainer.
   *
   * @default - the endpoint's server image
   */
  readonly serverImage?: string;

  /**
   * CPU and memory of the explainer container.
   *
   * @default - requests 100m CPU and 256Mi memory; limits 1 CPU and 512Mi memory
   */
  readonly resources?: ContainerResources;

  /**
   * The fewest explainer replicas (0 scales to zero, serverless only).
   *
   * @default 1
   */
  readonly minReplicas?: number;

  /**
   * The most explainer replicas.
   *
   * 0 means no limit, as in KServe: serverless only (the revision gets `max-scale: "0"`,
   * which Knative reads as unlimited unless the cluster sets `max-scale-limit`); raw mode's
   * HorizontalPodAutoscaler needs a bound.
   *
   * @default - the larger of 3 and `minReplicas`
   */
  readonly maxReplicas?: number;

  /**
   * What the explainer's autoscaler scales on, as the predictor's and the transformer's
   * `scaleMetric`: concurrency and rps need serverless mode; cpu and memory use Knative's HPA
   * class (serverless) or a HorizontalPodAutoscaler (raw). Explanations are CPU-bound (many
   * predictor calls per request), so `ScaleMetric.CPU` often fits better than concurrency.
   *
   * @default - ScaleMetric.CONCURRENCY in serverless mode, ScaleMetric.CPU in raw mode
   */
  readonly scaleMetric?: ScaleMetric;

  /**
   * Autoscaling target per replica for `scaleMetric`: in-flight requests, requests per second,
   * or percent utilization of the CPU or memory request.
   *
   * @default - concurrency 100, rps 200 (Knative's defaults), cpu 80, memory 80
   */
  readonly scaleTarget?: number;

  /**
   * Environment variables of the explainer container.
   *
   * @default - none
   */
  readonly env?: { [name: string]: EnvValue };
  /**
   * Payload logging of the explainer itself, as KServe's `logger` on its explainer component:
   * each explain request and its explanation, sent as CloudEvents with `ce-component: explainer`. Independent of the endpoint's
   * `logger`, which logs what reaches the predictor. Needs our explainer (not a custom `container`,
   * unless `target: ServingTarget.KSERVE`, whose agent logs any container) running as its own
   * component or collocated; in process, the endpoint's `logger` covers it.
   *
   * @default - the explainer does not log
   */
  readonly logger?: PayloadLogging;
}
