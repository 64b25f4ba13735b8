/**
 * The iris classifier with a transformer and an explainer, as KServe components:
 *
 * - serverless: predictor, transformer (named features in, class names out, the module in
 *   `module/iris-transformer.ts`) and a KernelSHAP explainer, each its own Knative Service;
 *   the VirtualService sends `:explain` to the explainer and the model's other paths to the
 *   transformer, which calls the predictor;
 * - raw: the same module in process (inside the predictor: no extra hop) and the explainer in
 *   process too, so one Deployment serves predict, transform and explain.
 *
 * The module is TypeScript: it is bundled to one JavaScript file at synth time (esbuild) and
 * shipped in a ConfigMap. Run `npx cdk8s synth --no-check-upgrade` in this folder.
 */
import * as path from 'path';
import { App, Chart, ChartProps } from 'cdk8s';
import { Cpu } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as esbuild from 'esbuild';
// In your own project: import { ... } from 'cdk8s-model-serving';
import {
  DeploymentMode,
  ExplainerBackground,
  ExplainerMethod,
  ModelEndpoint,
  StorageUri,
  TransformerModule,
} from '../../src';

/** Bundles the TypeScript module (and the SDK helpers it uses) into one CommonJS file. */
function bundle(entry: string): string {
  const out = esbuild.buildSync({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'warning' });
  return out.outputFiles[0].text;
}

/** A few iris rows per class: the explainer's "feature absent" reference. */
const BACKGROUND = [
  [5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2], [5.4, 3.9, 1.7, 0.4],
  [7.0, 3.2, 4.7, 1.4], [6.4, 3.2, 4.5, 1.5], [5.5, 2.3, 4.0, 1.3],
  [6.3, 3.3, 6.0, 2.5], [5.8, 2.7, 5.1, 1.9], [7.1, 3.0, 5.9, 2.1],
];

export class TransformerChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    const module = TransformerModule.fromCode(bundle(path.join(__dirname, 'module', 'iris-transformer.ts')), 'iris-transformer.js');

    const iris = new ModelEndpoint(this, 'Iris', {
      name: 'iris',
      modelName: 'iris',
      storageUri: StorageUri.s3('models', 'iris/iris-logreg.onnx'),
    });
    iris.addTransformer({
      module,
      resources: { cpu: { request: Cpu.millis(100), limit: Cpu.millis(500) } },
      minReplicas: 1,
      maxReplicas: 4,
      propagateHeaders: ['x-request-id', 'traceparent', 'tracestate', 'authorization'],
    });
    iris.addExplainer({
      method: ExplainerMethod.KERNEL_SHAP,
      background: ExplainerBackground.fromRows(BACKGROUND),
      seed: 42,
      output: 'probabilities',
      minReplicas: 0,
    });

    const local = new ModelEndpoint(this, 'IrisInProcess', {
      name: 'iris-local',
      modelName: 'iris',
      mode: DeploymentMode.RAW,
      storageUri: StorageUri.https('https://models.example.com/iris/iris-logreg.onnx'),
    });
    local.addTransformer({ module, inProcess: true });
    local.addExplainer({ inProcess: true, background: ExplainerBackground.fromRows(BACKGROUND) });
  }
}

const app = new App();
new TransformerChart(app, 'transformer', { namespace: 'models' });
app.synth();
