/**
 * The explainer: answers `:explain` with KernelSHAP (default) or LIME attributions computed by
 * calling the predictor. The rows every instance needs are concatenated and sent in requests
 * of up to `--explainer-batch-size` rows (one request per explanation when the batch size
 * allows; up to 4 requests in flight otherwise).
 *
 * Request (V1 `POST /v1/models/<name>:explain`, or `POST /v2/models/<name>/explain`):
 * `{"instances": [[x1, ..., xd], ...], "parameters": {"method": "kernel_shap"|"lime",
 * "samples": n, "seed": s, "output": "probabilities"}}` (parameters optional; defaults from the flags).
 *
 * Response: `{"model_name", "method", "output", "output_names", "feature_names",
 * "explanations": [{"prediction": [...], "base_value": [...], "attributions": [[...]], ...}]}`,
 * one explanation per instance; `attributions[o][i]` is feature i's share of output column o
 * (for a classifier's probabilities: one row per class).
 */
import { performance } from 'node:perf_hooks';
import { EXPLAINER_METHODS } from '../../contract';
import { ERRORS, serverError } from '../errors';
import { Background } from './background';
import { KernelShapResult, Plan, planKernelShap } from './kernel-shap';
import { LimeResult, planLime } from './lime';
import { InferRequest, ModelMetadata, TensorMetadata } from '../inference/types';
import { ExplainerConfig, ExplainerMethod } from '../transformer/config';
import { ComponentMetrics } from '../transformer/metrics';
import { PredictorClient } from '../transformer/predictor';

const FLOAT_TYPES = new Set(['FP16', 'FP32', 'FP64']);
const NUMERIC_INPUTS = new Set(['FP16', 'FP32', 'FP64', 'INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);
const MAX_IN_FLIGHT = 4;

export interface ExplainResponse {
  readonly model_name: string;
  readonly method: ExplainerMethod;
  readonly output: string;
  readonly output_names: string[];
  readonly feature_names: string[];
  readonly explanations: Array<KernelShapResult | LimeResult>;
}

/** Explains predictions of one predictor. */
export class Explainer {
  constructor(
    private readonly predictor: PredictorClient,
    private readonly config: ExplainerConfig,
    private readonly background: Background,
    private readonly metrics?: ComponentMetrics,
  ) {}

  /** Explains each instance of `body`; `headers` are forwarded to the predictor. */
  public async explain(name: string, body: unknown, headers: Record<string, string>): Promise<ExplainResponse> {
    const { instances, method, samples, seed, outputName } = this.parse(body);
    const metadata = await this.predictor.modelMetadata(name);
    const input = this.inputOf(name, metadata);
    const output = this.outputOf(name, metadata, outputName);
    const d = this.background.rows[0].length;
    instances.forEach((x, i) => {
      if (x.length !== d) {
        throw serverError(ERRORS.INVALID_EXPLAIN_REQUEST, `instance ${i} has ${x.length} values, but the background data set has ${d} features`);
      }
    });
    const plans: Array<Plan<KernelShapResult | LimeResult>> = instances.map((x) => (method === 'lime'
      ? planLime(x, this.background.rows, { samples, seed })
      : planKernelShap(x, this.background.rows, { samples, seed })));
    const rows = plans.flatMap((p) => p.rows);
    const outputs = await this.score(name, input, output.name, rows, d, headers);
    let at = 0;
    const explanations = plans.map((p) => {
      const mine = outputs.slice(at, at + p.rows.length);
      at += p.rows.length;
      return p.finish(mine);
    });
    this.metrics?.explanations.inc({ model: name, method }, instances.length);
    const k = outputs[0]?.length ?? 1;
    return {
      model_name: name,
      method,
      output: output.name,
      output_names: k === 1 ? [output.name] : Array.from({ length: k }, (_, c) => `${output.name}[${c}]`),
      feature_names: this.background.featureNames ?? Array.from({ length: d }, (_, i) => `x${i}`),
      explanations,
    };
  }

  private parse(body: unknown) {
    const b = body as { instances?: unknown; parameters?: Record<string, unknown> } | undefined;
    if (!b || typeof b !== 'object' || !Array.isArray(b.instances) || b.instances.length === 0) {
      throw serverError(ERRORS.INVALID_EXPLAIN_REQUEST, 'the body must be {"instances": [[x1, ..., xd], ...]}');
    }
    const instances = b.instances.map((x, i) => {
      if (!Array.isArray(x) || x.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
        throw serverError(ERRORS.INVALID_EXPLAIN_REQUEST, `instance ${i} must be an array of finite numbers`);
      }
      return x as number[];
    });
    const p = b.parameters ?? {};
    const method = (p.method ?? this.config.method) as ExplainerMethod;
    if (!Object.values(EXPLAINER_METHODS).includes(method)) {
      throw serverError(ERRORS.INVALID_EXPLAIN_REQUEST, `parameters.method must be one of ${Object.values(EXPLAINER_METHODS).join(', ')}, got '${String(p.method)}'`);
    }
    const int = (key: string, dflt: number, max: number) => {
      const v = p[key];
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
        throw serverError(ERRORS.INVALID_EXPLAIN_REQUEST, `parameters.${key} must be an integer between 0 and ${max}, got ${JSON.stringify(v)}`);
      }
      return v;
    };
    const outputName = p.output === undefined ? this.config.output : String(p.output);
    return { instances, method, samples: int('samples', this.config.samples, 100_000), seed: int('seed', this.config.seed, 2 ** 31 - 1), outputName };
  }

  private inputOf(name: string, metadata: ModelMetadata): TensorMetadata {
    if (metadata.inputs.length !== 1) {
      throw serverError(ERRORS.EXPLAIN_UNSUPPORTED_MODEL, name, `it has ${metadata.inputs.length} inputs; the explainer needs one [N, d] numeric input`);
    }
    const input = metadata.inputs[0];
    const d = this.background.rows[0].length;
    if (!NUMERIC_INPUTS.has(input.datatype) || input.shape.length !== 2 || (input.shape[1] !== -1 && input.shape[1] !== d)) {
      throw serverError(ERRORS.EXPLAIN_UNSUPPORTED_MODEL, name, `input '${input.name}' is ${input.datatype} [${input.shape.join(',')}]; the explainer needs a numeric [N, ${d}] input (${d} = background columns)`);
    }
    return input;
  }

  private outputOf(name: string, metadata: ModelMetadata, wanted: string | undefined): TensorMetadata {
    const output = wanted !== undefined ? metadata.outputs.find((o) => o.name === wanted) : metadata.outputs.find((o) => FLOAT_TYPES.has(o.datatype));
    if (!output || !FLOAT_TYPES.has(output.datatype)) {
      throw serverError(ERRORS.EXPLAIN_UNSUPPORTED_MODEL, name, wanted !== undefined
        ? `it has no floating-point output '${wanted}' (outputs: ${metadata.outputs.map((o) => `${o.name} ${o.datatype}`).join(', ')})`
        : 'it has no floating-point output to explain');
    }
    return output;
  }

  /** Scores `rows` in batches; returns one array of output values per row. */
  private async score(
    name: string, input: TensorMetadata, output: string, rows: number[][], d: number, headers: Record<string, string>,
  ): Promise<number[][]> {
    const batch = this.config.batchSize;
    const chunks: Array<[number, number]> = [];
    for (let start = 0; start < rows.length; start += batch) chunks.push([start, Math.min(rows.length, start + batch)]);
    const results: number[][] = new Array(rows.length);
    const typed = this.predictor.protocol !== 'v1' && this.predictor.protocol !== 'v2' && input.datatype === 'FP32';
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) {
        const [start, end] = chunks[next++];
        const n = end - start;
        const data: number[] | Float32Array = typed ? new Float32Array(n * d) : new Array(n * d);
        for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) data[r * d + i] = rows[start + r][i];
        const request: InferRequest = { inputs: [{ name: input.name, datatype: input.datatype, shape: [n, d], data }], outputs: [{ name: output }] };
        const started = performance.now();
        const response = await this.predictor.infer(name, undefined, request, { headers });
        this.metrics?.predictorDuration.observe({ model: name, protocol: this.predictor.protocol }, (performance.now() - started) / 1000);
        const out = response.outputs.find((o) => o.name === output);
        if (!out || out.shape[0] !== n) {
          throw serverError(ERRORS.PREDICTOR_ERROR, this.predictor.target, 200, `a response without output '${output}' for ${n} rows`);
        }
        const k = out.shape.slice(1).reduce((a, b) => a * b, 1);
        const values = out.data as number[];
        for (let r = 0; r < n; r++) results[start + r] = values.slice(r * k, (r + 1) * k);
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_IN_FLIGHT, chunks.length) }, worker));
    return results;
  }
}
