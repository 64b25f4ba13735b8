import * as fs from 'fs';
import * as path from 'path';
import { ContainerResources, EnvValue, IConfigMap } from 'cdk8s-plus-33';
import { InferenceProtocol, ModelContainer, ScaleMetric } from './endpoint-options';
import { PayloadLogging } from './payload-logging';
import { StorageUri } from './storage-uri';

/**
 * The JavaScript module our model server runs as a transformer: a file that exports
 * `preprocess` and/or `postprocess` (see the transformer SDK in the README).
 *
 * TypeScript modules are bundled to one JavaScript file first (esbuild, tsc); ConfigMaps hold
 * at most 1 MiB, so larger modules belong in an image (`fromImagePath`).
 */
export class TransformerModule {
  /**
   * A JavaScript file read at synth time into a ConfigMap the transformer mounts.
   *
   * @param file path of a `.js`, `.cjs` or `.mjs` file
   */
  public static fromFile(file: string): TransformerModule {
    if (!/\.(c|m)?js$/.test(file)) {
      throw new Error(`'module' must be a JavaScript file (.js, .cjs or .mjs), got '${file}'; bundle a TypeScript module first`);
    }
    if (!fs.existsSync(file)) throw new Error(`'module' file '${file}' does not exist`);
    return new TransformerModule(path.basename(file), fs.readFileSync(file, 'utf8'));
  }

  /**
   * JavaScript source given inline, put into a ConfigMap the transformer mounts.
   *
   * @param code the module's source
   * @param fileName the file name it is mounted as; `.mjs` makes it an ES module
   */
  public static fromCode(code: string, fileName: string = 'transformer.js'): TransformerModule {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\.(c|m)?js$/.test(fileName)) {
      throw new Error(`'fileName' must be a file name ending in .js, .cjs or .mjs, got '${fileName}'`);
    }
    return new TransformerModule(fileName, code);
  }

  /**
   * A key of an existing ConfigMap, mounted as the module file.
   */
  public static fromConfigMap(configMap: IConfigMap, key: string): TransformerModule {
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) throw new Error(`'key' must be a ConfigMap key, got '${key}'`);
    return new TransformerModule(key, undefined, configMap);
  }

  /**
   * A module baked into the server image (set the transformer's `serverImage`).
   *
   * @param modulePath absolute path of the module inside the image
   */
  public static fromImagePath(modulePath: string): TransformerModule {
    if (!modulePath.startsWith('/')) throw new Error(`'modulePath' must be an absolute path inside the image, got '${modulePath}'`);
    return new TransformerModule(undefined, undefined, undefined, modulePath);
  }

  private constructor(
    /** @internal */ public readonly _fileName?: string,
    /** @internal */ public readonly _code?: string,
    /** @internal */ public readonly _configMap?: IConfigMap,
    /** @internal */ public readonly _imagePath?: string,
  ) {}
}

/**
 * Options of `ModelEndpoint.addTransformer()`.
 *
 * Set exactly one of `module` (our model server runs your module) and `container` (your own
 * image, speaking KServe V1 or V2 to clients and to the predictor).
 */
export interface TransformerOptions {
  /**
   * The module our model server runs in transformer mode.
   *
   * @default - none; then `container` is required
   */
  readonly module?: TransformerModule;

  /**
   * A transformer image of your own, in any language. It gets the predictor's `host:port` in
   * `PREDICTOR_HOST` and the protocol in `PREDICTOR_PROTOCOL` (KServe's transformers take
   * them as `--predictor_host`/`--protocol`; pass them through `args` with `$(PREDICTOR_HOST)`).
   *
   * @default - our model server running `module`
   */
  readonly container?: ModelContainer;

  /**
   * Runs `module` inside the predictor's process instead of a separate component: no network
   * hop, no second Deployment or Knative Service. Needs our model server as the predictor.
   *
   * @default false
   */
  readonly inProcess?: boolean;

  /**
   * Runs the transformer as a second container in the predictor's pod (KServe's collocation,
   * since 0.15): it takes the endpoint's serving port and calls the predictor on
   * `localhost:<predictor port>`; no second Deployment or Knative Service, and the two scale,
   * roll out and canary together. Works with `module` (our server in transformer mode, on
   * port 8080) or a `container` of your own, in front of a custom predictor `container` on
   * another port (KServe's examples use 8085), with the endpoint's `protocol` V1 or V2 REST.
   * With our model server as the predictor, use `inProcess` instead. Replica and scaling
   * options do not apply (the predictor's do). In serverless mode the predictor container
   * declares no port, and keeps its probes only with `KnativeFeature.MULTI_CONTAINER_PROBING`
   * (our transformer reports ready only once the predictor is).
   *
   * @default false
   * @see https://kserve.github.io/website/docs/model-serving/predictive-inference/transformers/collocation
   */
  readonly collocated?: boolean;

  /**
   * The protocol the transformer uses to call the predictor. Must be one the predictor serves:
   * the endpoint's `protocol` with a custom predictor or in serverless mode (gRPC endpoints
   * serve gRPC only, REST endpoints V1 and V2); any of them with our server in raw mode.
   *
   * @default - the endpoint's `protocol`
   */
  readonly predictorProtocol?: InferenceProtocol;

  /**
   * Request headers forwarded to the predictor (our transformer).
   *
   * @default - x-request-id, traceparent, tracestate and the B3 trace headers
   */
  readonly propagateHeaders?: string[];

  /**
   * A model for the transformer's own `container`, at `/mnt/models`.
   *
   * As KServe's `storageUri` on a transformer (a tokenizer, an explainer model): a pvc:// volume is
   * mounted read-only, any other URI is fetched by the same storage-initializer init container
   * as a custom predictor's, with the endpoint's `storageAuth` / `storageCredentials`.
   * Serverless mode needs the Knative flag for PVCs or for init containers, as the predictor.
   *
   * @default - none: the transformer gets no model directory
   * @see https://kserve.github.io/website/latest/modelserving/storage/
   */
  readonly storageUri?: StorageUri;

  /**
   * The model-server image of the transformer.
   *
   * @default - the endpoint's server image
   */
  readonly serverImage?: string;

  /**
   * CPU and memory of the transformer container.
   *
   * @default - requests 100m CPU and 256Mi memory; limits 1 CPU and 512Mi memory
   */
  readonly resources?: ContainerResources;

  /**
   * The fewest transformer replicas (0 scales to zero, serverless only).
   *
   * @default 1
   */
  readonly minReplicas?: number;

  /**
   * The most transformer replicas.
   *
   * 0 means no limit, as in KServe: serverless only (the revision gets `max-scale: "0"`,
   * which Knative reads as unlimited unless the cluster sets `max-scale-limit`); raw mode's
   * HorizontalPodAutoscaler needs a bound.
   *
   * @default - the larger of 3 and `minReplicas`
   */
  readonly maxReplicas?: number;

  /**
   * What the transformer's autoscaler scales on, as the predictor's `scaleMetric`: concurrency
   * and rps need serverless mode; cpu and memory use Knative's HPA class (serverless) or a
   * HorizontalPodAutoscaler (raw).
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
   * Environment variables of the transformer container.
   *
   * @default - none
   */
  readonly env?: { [name: string]: EnvValue };
  /**
   * Payload logging of the transformer itself, as KServe's `logger` on its transformer component:
   * the client's request and the answer it got (after the transformer's pre- and postprocessing), sent as CloudEvents with `ce-component: transformer`. Independent of the endpoint's
   * `logger`, which logs what reaches the predictor. Needs our transformer (not a custom `container`,
   * unless `target: ServingTarget.KSERVE`, whose agent logs any container) running as its own
   * component or collocated; in process, the endpoint's `logger` covers it.
   *
   * @default - the transformer does not log
   */
  readonly logger?: PayloadLogging;
}
