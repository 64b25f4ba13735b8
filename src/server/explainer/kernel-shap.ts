/**
 * KernelSHAP (Lundberg & Lee 2017, https://arxiv.org/abs/1705.07874), as in the `shap`
 * package's KernelExplainer: Shapley values of one prediction, estimated by a weighted linear
 * regression over feature coalitions.
 *
 * - The value of a coalition S is the mean model output over the background rows with the
 *   features in S taken from x (interventional expectation); the base value is the mean output
 *   over the background, `E[f(X)]`.
 * - Only features where x differs from some background row take part (the others get 0).
 * - With M such features, if every coalition fits the budget (2^M - 2 <= samples) all of them
 *   are used with the exact Shapley kernel weight `(M-1) / (C(M,|S|) |S| (M-|S|))`, which makes
 *   the result the exact Shapley values of the coalition game. Otherwise `samples` coalitions
 *   are drawn with the seeded PRNG: sizes in proportion to the kernel's total weight per size,
 *   members uniformly, each with its complement (paired sampling), repeats merged by weight.
 * - The regression is constrained so attributions sum to `f(x) - base`: the last feature is
 *   eliminated, as in `shap`.
 *
 * The work is split into `plan` (the rows the predictor must score) and `finish` (the solve),
 * so the explainer can send the rows of all instances in one predictor request.
 */
import { weightedLeastSquares } from './linalg';
import { Prng } from './prng';

/** One explanation of one instance, per model output column. */
export interface KernelShapResult {
  /** f(x), one value per output column. */
  readonly prediction: number[];
  /** E[f(X)] over the background, per output column. */
  readonly base_value: number[];
  /** `attributions[output][feature]`; each row sums to prediction - base_value. */
  readonly attributions: number[][];
  /** Coalitions evaluated, and whether that was all of them (exact Shapley values). */
  readonly coalitions: number;
  readonly exact: boolean;
}

export interface KernelShapOptions {
  /** Coalition budget; 0 = auto (2M + 2048, as shap's "auto"). */
  readonly samples: number;
  readonly seed: number;
}

/** Rows to score for one instance, and the solve once their outputs are known. */
export interface Plan<T> {
  readonly rows: number[][];
  finish(outputs: number[][]): T;
}

/** Plans the KernelSHAP explanation of `x` against `background`. */
export function planKernelShap(x: readonly number[], background: readonly (readonly number[])[], options: KernelShapOptions): Plan<KernelShapResult> {
  const d = x.length;
  const nb = background.length;
  const varying: number[] = [];
  for (let i = 0; i < d; i++) {
    if (background.some((b) => b[i] !== x[i])) varying.push(i);
  }
  const M = varying.length;
  const { masks, weights, exact } = coalitions(M, options);
  const rows: number[][] = [x.slice()];
  for (const b of background) rows.push(b.slice());
  for (const mask of masks) {
    for (const b of background) {
      const r = b.slice();
      for (let j = 0; j < M; j++) if (mask[j]) r[varying[j]] = x[varying[j]];
      rows.push(r);
    }
  }
  return {
    rows,
    finish(outputs: number[][]): KernelShapResult {
      const k = outputs[0].length;
      const fx = outputs[0].slice();
      const base = new Array(k).fill(0);
      for (let r = 1; r <= nb; r++) for (let c = 0; c < k; c++) base[c] += outputs[r][c] / nb;
      const attributions = Array.from({ length: k }, () => new Array(d).fill(0));
      if (M === 1) {
        for (let c = 0; c < k; c++) attributions[c][varying[0]] = fx[c] - base[c];
      } else if (M > 1) {
        // v(S) per coalition: mean over the background rows.
        const values = masks.map((_, s) => {
          const v = new Array(k).fill(0);
          const at = 1 + nb + s * nb;
          for (let r = 0; r < nb; r++) for (let c = 0; c < k; c++) v[c] += outputs[at + r][c] / nb;
          return v;
        });
        // Eliminate the last varying feature: phi_last = (fx - base) - sum(others).
        const X = masks.map((m) => {
          const row = new Array(M - 1);
          for (let j = 0; j < M - 1; j++) row[j] = (m[j] ? 1 : 0) - (m[M - 1] ? 1 : 0);
          return row;
        });
        const Y = Array.from({ length: k }, (_, c) => masks.map((m, s) => values[s][c] - base[c] - (m[M - 1] ? 1 : 0) * (fx[c] - base[c])));
        const phis = weightedLeastSquares(X, Y, weights);
        for (let c = 0; c < k; c++) {
          let sum = 0;
          for (let j = 0; j < M - 1; j++) {
            attributions[c][varying[j]] = phis[c][j];
            sum += phis[c][j];
          }
          attributions[c][varying[M - 1]] = fx[c] - base[c] - sum;
        }
      }
      return { prediction: fx, base_value: base, attributions, coalitions: masks.length, exact };
    },
  };
}

function binomial(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return r;
}

/** The coalitions (as boolean masks over the M varying features) and their kernel weights. */
function coalitions(M: number, options: KernelShapOptions): { masks: boolean[][]; weights: number[]; exact: boolean } {
  if (M < 2) return { masks: [], weights: [], exact: true };
  const budget = options.samples > 0 ? options.samples : 2 * M + 2048;
  const total = 2 ** M - 2;
  const masks: boolean[][] = [];
  const weights: number[] = [];
  if (M <= 30 && total <= budget) {
    for (let bits = 1; bits < 2 ** M - 1; bits++) {
      const m = new Array<boolean>(M);
      let s = 0;
      for (let j = 0; j < M; j++) {
        m[j] = Math.floor(bits / 2 ** j) % 2 === 1;
        if (m[j]) s++;
      }
      masks.push(m);
      weights.push((M - 1) / (binomial(M, s) * s * (M - s)));
    }
    return { masks, weights, exact: true };
  }
  // Sampling: size s with probability proportional to the kernel's total weight (M-1)/(s(M-s)).
  const rng = new Prng(options.seed);
  const sizeWeights = Array.from({ length: M - 1 }, (_, i) => (M - 1) / ((i + 1) * (M - i - 1)));
  const sizeTotal = sizeWeights.reduce((a, b) => a + b, 0);
  const index = new Map<string, number>();
  const add = (m: boolean[]) => {
    const key = m.map((b) => (b ? '1' : '0')).join('');
    const at = index.get(key);
    if (at === undefined) {
      index.set(key, masks.length);
      masks.push(m);
      weights.push(1);
    } else {
      weights[at] += 1;
    }
  };
  for (let n = 0; n + 2 <= budget; n += 2) {
    let u = rng.next() * sizeTotal;
    let s = 1;
    while (s < M - 1 && u >= sizeWeights[s - 1]) {
      u -= sizeWeights[s - 1];
      s++;
    }
    const m = new Array<boolean>(M).fill(false);
    for (const j of rng.sample(M, s)) m[j] = true;
    add(m);
    add(m.map((b) => !b));
  }
  return { masks, weights, exact: false };
}
