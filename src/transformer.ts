import * as fs from 'fs';
import * as path from 'path';
import { ApiObject } from 'cdk8s';
import { ContainerResources, EnvValue, IConfigMap, k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { componentName, patchPredictor, predictorHost, predictorProtocols, routeModelPathsTo, synthesizeComponentFromOptions } from './_component';
import * as contract from './_contract';
import { objectLabels, PodVolume } from './_pod-template';
import { ResolvedEndpoint } from './_resolved-endpoint';
import { InferenceProtocol, ModelContainer } from './endpoint-options';
import type { ModelEndpoint } from './model-endpoint';

/** Where our transformer finds the module mounted from a ConfigMap. */
const MODULE_DIR = '/etc/model-server/transformer';
const MODULE_VOLUME = 'transformer-module';

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
   * @default - the larger of 3 and `minReplicas`
   */
  readonly maxReplicas?: number;

  /**
   * Autoscaling target per replica: in-flight requests (serverless) or CPU percent (raw).
   *
   * @default - 100 in-flight requests (serverless), 80 percent CPU (raw)
   */
  readonly scaleTarget?: number;

  /**
   * Environment variables of the transformer container.
   *
   * @default - none
   */
  readonly env?: { [name: string]: EnvValue };
}

/**
 * Properties of a `Transformer`.
 */
export interface TransformerProps extends TransformerOptions {
  /** The endpoint whose predictor the transformer calls. */
  readonly endpoint: ModelEndpoint;
}

/**
 * Pre- and post-processing in front of an endpoint's predictor, as KServe's transformer.
 *
 * Synthesizes a separate component: a Knative `Service` named `<endpoint>-transformer`
 * (serverless, id `Resource`) or a `Deployment` (id `Resource`), `Service` and
 * `HorizontalPodAutoscaler` (raw), labelled `app.kubernetes.io/component: transformer`, plus a
 * `ConfigMap` holding the module when it is given as code. The endpoint's routes send the
 * model's paths (`:predict`, `infer`, metadata) to it; it calls the predictor at the host and
 * protocol derived from the endpoint. With `inProcess`, the module runs in the predictor and
 * only the ConfigMap is added. With the endpoint's monitoring on, our transformer also gets a
 * `PodMonitor` (serverless) or `ServiceMonitor` (raw) named `<endpoint>-transformer`.
 *
 * Create it with `endpoint.addTransformer()`.
 */
export class Transformer extends Construct {
  /** `<endpoint>-transformer`, the name of its Knative Service or Deployment and Service. */
  public readonly name: string;
  /** Whether the module runs inside the predictor. */
  public readonly inProcess: boolean;
  /** The protocol the transformer uses to call the predictor. */
  public readonly predictorProtocol: InferenceProtocol;
  /** `host:port` of the predictor the transformer calls. */
  public readonly predictorHost: string;
  /**
   * The `PodMonitor` (serverless) or `ServiceMonitor` (raw) that scrapes the transformer's
   * `/metrics`, with the endpoint's `monitoring` settings; its series carry
   * `component="transformer"`.
   *
   * Undefined in process (the predictor's monitor scrapes the module's metrics), with a custom
   * `container` (whose metrics we do not know), or when the endpoint's monitoring is off.
   */
  public readonly monitor?: ApiObject;

  constructor(scope: Construct, id: string, props: TransformerProps) {
    super(scope, id);
    const resolved: ResolvedEndpoint = props.endpoint._resolved;
    if ((props.module === undefined) === (props.container === undefined)) {
      throw new Error("set exactly one of 'module' (our model server runs it) and 'container' (your own transformer image)");
    }
    this.inProcess = props.inProcess ?? false;
    if (this.inProcess && props.container) {
      throw new Error("'inProcess' runs 'module' in our model server; it cannot be combined with 'container'");
    }
    if (this.inProcess && resolved.container.custom) {
      throw new Error("'inProcess' needs our model server as the predictor, but the endpoint has a custom 'container'; drop 'inProcess' to run the transformer as its own component");
    }
    const served = predictorProtocols(resolved);
    this.predictorProtocol = props.predictorProtocol ?? resolved.protocol;
    if (!served.includes(this.predictorProtocol)) {
      throw new Error(`'predictorProtocol' is ${this.predictorProtocol}, but the predictor serves ${served.join(' and ')} (${resolved.container.custom ? "a custom 'container' speaks the endpoint's 'protocol'" : "in serverless mode the predictor exposes only the port of the endpoint's 'protocol'"}); use one of these, or change the endpoint's 'protocol'`);
    }
    for (const h of props.propagateHeaders ?? []) {
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(h)) throw new Error(`'propagateHeaders' must hold header names, got '${h}'`);
    }
    this.name = this.inProcess ? resolved.name : componentName(resolved, 'transformer');
    this.predictorHost = this.inProcess ? 'in-process' : predictorHost(resolved, this.predictorProtocol);

    const volumes: PodVolume[] = [];
    let modulePath: string | undefined;
    if (props.module) {
      const m = props.module;
      if (m._imagePath) {
        modulePath = m._imagePath;
      } else {
        let configMapName: string;
        if (m._configMap) {
          configMapName = m._configMap.name;
        } else {
          // Named by cdk8s from the construct path.
          const cm = new k8s.KubeConfigMap(this, 'Module', {
            metadata: { namespace: resolved.namespace, labels: objectLabels(resolved, 'transformer') },
            data: { [m._fileName!]: m._code! },
          });
          configMapName = cm.name;
        }
        volumes.push({
          volume: { name: MODULE_VOLUME, configMap: { name: configMapName, items: [{ key: m._fileName!, path: m._fileName! }] } },
          mount: { name: MODULE_VOLUME, mountPath: MODULE_DIR, readOnly: true },
        });
        modulePath = `${MODULE_DIR}/${m._fileName}`;
      }
    }
    const f = contract.SERVER_FLAGS;
    const headerArgs = props.propagateHeaders ? [f.propagateHeaders, props.propagateHeaders.join(',')] : [];
    if (this.inProcess) {
      patchPredictor(props.endpoint, [f.transformerModule, modulePath!, ...headerArgs], volumes);
      return;
    }

    synthesizeComponentFromOptions(this, resolved, props, {
      kind: 'transformer',
      name: this.name,
      predictorHost: this.predictorHost,
      predictorProtocol: this.predictorProtocol,
      serverArgs: [f.transformerModule, modulePath!, ...headerArgs],
      volumes,
    });
    routeModelPathsTo(props.endpoint, resolved, this.name);
    if (!props.container) this.monitor = props.endpoint.monitoring?._addComponent(this, 'transformer', this.name);
  }

  /** The Knative Service or Deployment; undefined when the module runs in process. */
  public get apiObject(): ApiObject | undefined {
    const child = this.node.tryFindChild('Resource');
    return child ? ApiObject.of(child) : undefined;
  }
}

