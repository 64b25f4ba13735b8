/** Dense linear algebra for the small systems the explainers solve (d <= a few hundred). */

/**
 * Solves `A x = b` for each right-hand side (columns of `B`, given as `B[rhs][row]`) by
 * Gaussian elimination with partial pivoting. A singular direction (pivot ~ 0) gets 0.
 */
export function solve(A: number[][], B: number[][]): number[][] {
  const n = A.length;
  const m = A.map((row) => row.slice());
  const rhs = B.map((b) => b.slice());
  const scale = Math.max(1e-300, ...m.map((row) => Math.max(...row.map(Math.abs))));
  const pivots: boolean[] = new Array(n).fill(true);
  for (let col = 0; col < n; col++) {
    let p = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[p][col])) p = r;
    if (Math.abs(m[p][col]) <= 1e-12 * scale) {
      pivots[col] = false;
      continue;
    }
    if (p !== col) {
      [m[p], m[col]] = [m[col], m[p]];
      for (const b of rhs) [b[p], b[col]] = [b[col], b[p]];
    }
    for (let r = col + 1; r < n; r++) {
      const f = m[r][col] / m[col][col];
      if (f === 0) continue;
      for (let c = col; c < n; c++) m[r][c] -= f * m[col][c];
      for (const b of rhs) b[r] -= f * b[col];
    }
  }
  return rhs.map((b) => {
    const x = new Array(n).fill(0);
    for (let r = n - 1; r >= 0; r--) {
      if (!pivots[r]) continue;
      let s = b[r];
      for (let c = r + 1; c < n; c++) s -= m[r][c] * x[c];
      x[r] = s / m[r][r];
    }
    return x;
  });
}

/**
 * Weighted least squares without intercept for several targets: minimizes
 * `sum_i w_i (y_i - X_i . beta)^2 + ridge |beta|^2` per target. `Y[target][i]`.
 */
export function weightedLeastSquares(X: number[][], Y: number[][], w: number[], ridge = 0): number[][] {
  const p = X.length > 0 ? X[0].length : 0;
  const A: number[][] = Array.from({ length: p }, () => new Array(p).fill(0));
  const B: number[][] = Y.map(() => new Array(p).fill(0));
  for (let i = 0; i < X.length; i++) {
    const xi = X[i];
    const wi = w[i];
    for (let a = 0; a < p; a++) {
      const wa = wi * xi[a];
      if (wa === 0) continue;
      for (let b = a; b < p; b++) A[a][b] += wa * xi[b];
      for (let t = 0; t < Y.length; t++) B[t][a] += wa * Y[t][i];
    }
  }
  for (let a = 0; a < p; a++) {
    A[a][a] += ridge;
    for (let b = 0; b < a; b++) A[a][b] = A[b][a];
  }
  return solve(A, B);
}
