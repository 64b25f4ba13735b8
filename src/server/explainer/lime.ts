/**
 * A LIME-style local linear explanation (Ribeiro et al. 2016, https://arxiv.org/abs/1602.04938),
 * as `lime`'s LimeTabularExplainer does for continuous features without discretisation:
 * perturbations are drawn from N(mean, std) of the background per feature (seeded), standardised,
 * weighted by the exponential kernel `sqrt(exp(-dist^2 / width^2))` around x (width
 * `0.75 sqrt(d)`), and a ridge regression (alpha 1) is fitted per output column.
 */
import { Plan } from './kernel-shap';
import { weightedLeastSquares } from './linalg';
import { Prng } from './prng';

export interface LimeResult {
  readonly prediction: number[];
  /** Intercept of the local model per output column. */
  readonly intercept: number[];
  /** `coefficients[output][feature]` on standardised features. */
  readonly coefficients: number[][];
  /** Contribution of each feature at x: coefficient x standardised value. */
  readonly attributions: number[][];
  /** Weighted R^2 of the local model, per output column. */
  readonly score: number[];
  /** The local model's value at x. */
  readonly local_prediction: number[];
  readonly samples: number;
}

export interface LimeOptions {
  /** Perturbations; 0 = 1000 (x itself included). */
  readonly samples: number;
  readonly seed: number;
}

/** Plans the LIME explanation of `x` with feature statistics from `background`. */
export function planLime(x: readonly number[], background: readonly (readonly number[])[], options: LimeOptions): Plan<LimeResult> {
  const d = x.length;
  const n = options.samples > 0 ? options.samples : 1000;
  const mean = new Array(d).fill(0);
  const std = new Array(d).fill(0);
  for (const b of background) for (let i = 0; i < d; i++) mean[i] += b[i] / background.length;
  for (const b of background) for (let i = 0; i < d; i++) std[i] += (b[i] - mean[i]) ** 2 / background.length;
  for (let i = 0; i < d; i++) std[i] = Math.sqrt(std[i]) || 1;
  const rng = new Prng(options.seed);
  const rows: number[][] = [x.slice()];
  const scaled: number[][] = [x.map((v, i) => (v - mean[i]) / std[i])];
  for (let s = 1; s < n; s++) {
    const z = new Array(d);
    for (let i = 0; i < d; i++) z[i] = rng.gaussian();
    scaled.push(z);
    rows.push(z.map((v: number, i: number) => mean[i] + v * std[i]));
  }
  const width = 0.75 * Math.sqrt(d);
  const weights = scaled.map((z) => {
    let dist2 = 0;
    for (let i = 0; i < d; i++) dist2 += (z[i] - scaled[0][i]) ** 2;
    return Math.sqrt(Math.exp(-dist2 / (width * width)));
  });
  return {
    rows,
    finish(outputs: number[][]): LimeResult {
      const k = outputs[0].length;
      const wsum = weights.reduce((a, b) => a + b, 0);
      const xm = new Array(d).fill(0);
      for (let s = 0; s < n; s++) for (let i = 0; i < d; i++) xm[i] += (weights[s] * scaled[s][i]) / wsum;
      const ym = new Array(k).fill(0);
      for (let s = 0; s < n; s++) for (let c = 0; c < k; c++) ym[c] += (weights[s] * outputs[s][c]) / wsum;
      const Xc = scaled.map((z) => z.map((v, i) => v - xm[i]));
      const Yc = Array.from({ length: k }, (_, c) => outputs.map((o) => o[c] - ym[c]));
      const beta = weightedLeastSquares(Xc, Yc, weights, 1);
      const intercept = beta.map((b, c) => ym[c] - b.reduce((a, v, i) => a + v * xm[i], 0));
      const score = beta.map((b, c) => {
        let ssr = 0;
        let sst = 0;
        for (let s = 0; s < n; s++) {
          const pred = b.reduce((a, v, i) => a + v * Xc[s][i], 0);
          ssr += weights[s] * (Yc[c][s] - pred) ** 2;
          sst += weights[s] * Yc[c][s] ** 2;
        }
        return sst > 0 ? 1 - ssr / sst : 1;
      });
      const local = beta.map((b, c) => intercept[c] + b.reduce((a, v, i) => a + v * scaled[0][i], 0));
      return {
        prediction: outputs[0].slice(),
        intercept,
        coefficients: beta,
        attributions: beta.map((b) => b.map((v, i) => v * scaled[0][i])),
        score,
        local_prediction: local,
        samples: n,
      };
    },
  };
}
