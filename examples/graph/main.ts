/**
 * Inference graphs over three endpoints (a scaler, an iris classifier and a fraud scorer), one
 * graph of each of KServe's router kinds:
 *
 * - `pipeline` (Sequence): the scaler's answer feeds the classifier;
 * - `by-kind` (Switch): requests whose instances carry `"kind": "fraud"` go to the fraud scorer,
 *   every other request (`instances` present) to the classifier;
 * - `compare` (Ensemble): both classifiers at once, the answers merged by step name; the fraud
 *   scorer is a soft step with its own timeout, so its failure leaves the iris answer intact;
 * - `ab` (Splitter): 90% of requests to the classifier, 10% to the pipeline node;
 * - `pipeline-in-process`: the same Sequence run in one server (raw mode), which loads both models.
 *
 * Run `npx cdk8s synth --no-check-upgrade` in this folder.
 */
import { App, Chart, ChartProps, Duration } from 'cdk8s';
import { Construct } from 'constructs';
// In your own project: import { ... } from 'cdk8s-model-serving';
import {
  DeploymentMode,
  GraphDependency,
  GraphNode,
  GraphStep,
  GraphStepData,
  InferenceGraph,
  ModelEndpoint,
  StorageUri,
} from '../../src';

export class GraphChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = {}) {
    super(scope, id, props);
    const raw = { mode: DeploymentMode.RAW };
    const scaler = new ModelEndpoint(this, 'Scaler', { name: 'scaler', modelName: 'scaler', storageUri: StorageUri.s3('models', 'scaler/model.onnx'), ...raw });
    const iris = new ModelEndpoint(this, 'Iris', { name: 'iris', modelName: 'iris', storageUri: StorageUri.s3('models', 'iris/model.onnx'), ...raw });
    const fraud = new ModelEndpoint(this, 'Fraud', { name: 'fraud', modelName: 'fraud', storageUri: StorageUri.s3('models', 'fraud/model.onnx'), ...raw });

    // The scaler's answer feeds the classifier (a step without `data` gets the graph's request, as in KServe).
    const pipeline = () => GraphNode.sequence([GraphStep.endpoint(scaler), GraphStep.endpoint(iris, { data: GraphStepData.RESPONSE })]);
    new InferenceGraph(this, 'Pipeline', { name: 'pipeline', root: pipeline() });

    new InferenceGraph(this, 'ByKind', {
      name: 'by-kind',
      root: GraphNode.switchOn([
        GraphStep.endpoint(fraud, { condition: 'instances.#(kind=="fraud")' }),
        GraphStep.endpoint(iris, { condition: 'instances' }),
      ]),
    });

    new InferenceGraph(this, 'Compare', {
      name: 'compare',
      timeout: Duration.seconds(10),
      root: GraphNode.ensemble([
        GraphStep.endpoint(iris),
        GraphStep.endpoint(fraud, { dependency: GraphDependency.SOFT, timeout: Duration.seconds(2) }),
      ]),
    });

    new InferenceGraph(this, 'Ab', {
      name: 'ab',
      ...raw,
      root: GraphNode.splitter([
        GraphStep.endpoint(iris, { weight: 90 }),
        GraphStep.node('pipeline', { weight: 10 }),
      ]),
      nodes: { pipeline: pipeline() },
    });

    new InferenceGraph(this, 'PipelineInProcess', {
      name: 'pipeline-in-process',
      ...raw,
      inProcess: true,
      root: pipeline(),
    });
  }
}

const app = new App();
new GraphChart(app, 'graph', { namespace: 'models' });
app.synth();
