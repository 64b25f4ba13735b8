import { ApiObject } from 'cdk8s';
import { ContainerResources, EnvValue, IConfigMap } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { componentName, patchPredictor, predictorHost, predictorProtocols, routeExplainTo, synthesizeComponentFromOptions } from './_component';
import * as contract from './_contract';
import { MODEL_VOLUME, mountedModelVolume, PodVolume, storageCredentialsVolume } from './_pod-template';
import { ResolvedEndpoint } from './_resolved-endpoint';
import { InferenceProtocol, ModelContainer } from './endpoint-options';
import type { ModelEndpoint } from './model-endpoint';

const BACKGROUND_DIR = '/etc/model-server/explainer';
const BACKGROUND_VOLUME = 'explainer-background';

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
   * @default - the larger of 3 and `minReplicas`
   */
  readonly maxReplicas?: number;

  /**
   * Environment variables of the explainer container.
   *
   * @default - none
   */
  readonly env?: { [name: string]: EnvValue };
}

/**
 * Properties of an `Explainer`.
 */
export interface ExplainerProps extends ExplainerOptions {
  /** The endpoint whose predictions are explained. */
  readonly endpoint: ModelEndpoint;
}

/**
 * Feature attributions for an endpoint's predictions, as KServe's explainer.
 *
 * Synthesizes a separate component: a Knative `Service` named `<endpoint>-explainer`
 * (serverless, id `Resource`) or a `Deployment` (id `Resource`), `Service` and
 * `HorizontalPodAutoscaler` (raw), labelled `app.kubernetes.io/component: explainer`. The
 * endpoint's routes send `:explain` (V1) and `/explain` (V2) to it; it calls the predictor
 * directly (not the transformer) over V2 REST or gRPC. With `inProcess`, the predictor serves
 * the explain routes itself. With the endpoint's monitoring on, our explainer also gets a
 * `PodMonitor` (serverless) or `ServiceMonitor` (raw) named `<endpoint>-explainer`.
 *
 * Create it with `endpoint.addExplainer()`.
 */
export class Explainer extends Construct {
  /** `<endpoint>-explainer`, or the endpoint's name in process. */
  public readonly name: string;
  /** Whether the explainer runs inside the predictor. */
  public readonly inProcess: boolean;
  /** The protocol the explainer calls the predictor with. */
  public readonly predictorProtocol: InferenceProtocol;
  /**
   * The `PodMonitor` (serverless) or `ServiceMonitor` (raw) that scrapes the explainer's
   * `/metrics`, with the endpoint's `monitoring` settings; its series carry
   * `component="explainer"`.
   *
   * Undefined in process (the predictor's monitor scrapes it), with a custom `container`
   * (whose metrics we do not know), or when the endpoint's monitoring is off.
   */
  public readonly monitor?: ApiObject;

  constructor(scope: Construct, id: string, props: ExplainerProps) {
    super(scope, id);
    const resolved: ResolvedEndpoint = props.endpoint._resolved;
    this.inProcess = props.inProcess ?? false;
    if (this.inProcess && props.container) {
      throw new Error("'inProcess' runs our explainer in the predictor; it cannot be combined with 'container'");
    }
    if (this.inProcess && resolved.container.custom) {
      throw new Error("'inProcess' needs our model server as the predictor, but the endpoint has a custom 'container'");
    }
    const served: InferenceProtocol[] = predictorProtocols(resolved).filter((p) => p !== InferenceProtocol.V1);
    if (served.length === 0) {
      throw new Error("the explainer calls the predictor over V2 (REST or gRPC) for its metadata and batched scoring, but the endpoint's custom 'container' speaks v1; set the endpoint's 'protocol' to V2 or GRPC_V2");
    }
    // The endpoint's protocol when it is V2 (REST or gRPC), else V2 REST, which our server always serves.
    this.predictorProtocol = served.includes(resolved.protocol) ? resolved.protocol : served[0];
    const samples = props.samples ?? 0;
    const seed = props.seed ?? 0;
    const batchSize = props.batchSize ?? 1024;
    if (!Number.isInteger(samples) || samples < 0 || samples > 1_000_000) throw new Error(`'samples' must be an integer from 0 to 1000000, got ${samples}`);
    if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 31 - 1) throw new Error(`'seed' must be an integer from 0 to 2147483647, got ${seed}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`'batchSize' must be a positive integer, got ${batchSize}`);
    if (props.output !== undefined && !/^[A-Za-z0-9_.:/-]+$/.test(props.output)) throw new Error(`'output' must be an output name, got '${props.output}'`);
    this.name = this.inProcess ? resolved.name : componentName(resolved, 'explainer');

    const f = contract.SERVER_FLAGS;
    const background = props.background ?? ExplainerBackground.fromModelDir();
    const volumes: PodVolume[] = [];
    const env: Array<{ name: string; value: string }> = [];
    const args = [
      f.explainerMethod, props.method ?? ExplainerMethod.KERNEL_SHAP,
      f.explainerSamples, String(samples),
      f.explainerSeed, String(seed),
      f.explainerBatchSize, String(batchSize),
      ...(props.output !== undefined ? [f.explainerOutput, props.output] : []),
    ];
    const modelDirArgs: string[] = [];
    if (background._inline !== undefined) {
      env.push({ name: contract.SERVER_ENV.explainerBackground, value: background._inline });
    } else if (background._configMap) {
      volumes.push({
        volume: {
          name: BACKGROUND_VOLUME,
          configMap: { name: background._configMap.name, items: [{ key: background._file!, path: background._file! }] },
        },
        mount: { name: BACKGROUND_VOLUME, mountPath: BACKGROUND_DIR, readOnly: true },
      });
      args.push(f.explainerBackground, `${BACKGROUND_DIR}/${background._file}`);
    } else {
      args.push(f.explainerBackground, background._file!);
      if (!this.inProcess) {
        // The explainer fetches the model directory as the predictor does, for the file.
        if (resolved.storageUri.isMounted) {
          volumes.push(mountedModelVolume(resolved.storageUri));
        } else {
          volumes.push({ volume: { name: MODEL_VOLUME, emptyDir: {} }, mount: { name: MODEL_VOLUME, mountPath: contract.MODEL_DIR } });
          modelDirArgs.push(f.storageUri, resolved.storageUri.uri);
          if (resolved.storageCredentialsSecret) {
            volumes.push(storageCredentialsVolume(resolved.storageCredentialsSecret));
            env.push({ name: contract.SERVER_ENV.storageCredentialsDir, value: contract.STORAGE_CREDENTIALS_DIR });
          }
          env.push(...resolved.storageEnv);
        }
        modelDirArgs.push(f.modelDir, contract.MODEL_DIR);
      }
    }
    if (this.inProcess) {
      patchPredictor(props.endpoint, args, volumes, env);
      return;
    }

    synthesizeComponentFromOptions(this, resolved, props, {
      kind: 'explainer',
      name: this.name,
      predictorHost: predictorHost(resolved, this.predictorProtocol),
      predictorProtocol: this.predictorProtocol,
      serverArgs: [...modelDirArgs, ...args],
      env,
      volumes,
    });
    routeExplainTo(props.endpoint, resolved, this.name);
    if (!props.container) this.monitor = props.endpoint.monitoring?._addComponent(this, 'explainer', this.name);
  }

  /** The Knative Service or Deployment; undefined when the explainer runs in process. */
  public get apiObject(): ApiObject | undefined {
    const child = this.node.tryFindChild('Resource');
    return child ? ApiObject.of(child) : undefined;
  }
}
