/**
 * The user module the example's transformer runs (`serve --mode transformer`).
 *
 * Clients send named features and get class names back:
 *
 *   POST /v1/models/iris:predict
 *   {"instances": [{"sepal_length": 6.3, "sepal_width": 3.3, "petal_length": 6.0, "petal_width": 2.5}]}
 *   -> {"predictions": [{"class": "virginica", "probabilities": [0.0000009, 0.0039, 0.9961]}]}
 *
 * `preprocess` turns the named features into the model's FP32 [N, 4] input (its name comes from
 * the predictor's metadata); `postprocess` maps the label ids to the class names the model was
 * trained with (the `labels` metadata of the iris models: setosa, versicolor, virginica). V2
 * clients keep the V2 protocol: their responses gain a BYTES `class_name` output.
 *
 * Bundled into one file by `main.ts` (esbuild) and mounted into the transformer from a
 * ConfigMap; the SDK is types plus a few helpers, so the bundle stays small.
 */
import { defineTransformer, isV1Request, isV2Response, outputRows, tensorFromRows, TransformerError } from '../../../src/server/sdk';

const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const LABELS = ['setosa', 'versicolor', 'virginica'];

export default defineTransformer({
  async preprocess(request, context) {
    if (!isV1Request(request)) {
      return request;
    }
    const rows = request.instances.map((instance, i) => FEATURES.map((feature) => {
      const value = (instance as Record<string, unknown>)[feature];
      if (typeof value !== 'number') {
        // A 400 with this message; any other error is a 500 without details.
        throw new TransformerError(`instance ${i}: feature '${feature}' must be a number`);
      }
      return value;
    }));
    const metadata = await context.modelMetadata();
    return { inputs: [tensorFromRows(metadata.inputs[0].name, 'FP32', rows)] };
  },

  async postprocess(response, context) {
    if (!isV2Response(response)) {
      return response;
    }
    const names = (outputRows(response, 'label') as number[]).map((id) => LABELS[id] ?? `class-${id}`);
    if (context.protocol === 'v1') {
      const probabilities = outputRows(response, 'probabilities') as number[][];
      return { predictions: names.map((name, i) => ({ class: name, probabilities: probabilities[i] })) };
    }
    return { ...response, outputs: [...response.outputs, { name: 'class_name', datatype: 'BYTES', shape: [names.length], data: names }] };
  },
});
