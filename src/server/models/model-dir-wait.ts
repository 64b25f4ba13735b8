/**
 * Waiting for a model directory that another container makes: next to a serverless `oci://`
 * modelcar (a plain sidecar, started with the server, not before it) the server may look at
 * `--model-dir` before the sidecar has linked it there. `serve --model-dir-wait-seconds N` waits
 * up to N seconds (live, not ready) instead of marking the model FAILED at once.
 */
import * as fs from 'node:fs';

/** How often the directory is looked at while waiting. */
export const MODEL_DIR_POLL_MS = 100;

/** Whether `dir` exists (a link counts once its target exists, as the modelcar's does). */
export function modelDirExists(dir: string): boolean {
  return fs.existsSync(dir);
}

/** Resolves true once `dir` exists, false when `timeoutMs` ran out first. */
export function waitForModelDir(dir: string, timeoutMs: number, pollMs = MODEL_DIR_POLL_MS): Promise<boolean> {
  if (modelDirExists(dir)) return Promise.resolve(true);
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (modelDirExists(dir)) {
        clearInterval(timer);
        resolve(true);
      } else if (Date.now() >= deadline) {
        clearInterval(timer);
        resolve(false);
      }
    }, pollMs);
  });
}

/** The FAILED reason of a model whose directory never appeared. */
export function modelDirTimeoutReason(dir: string, waitSeconds: number): string {
  return `model directory ${dir} did not appear within ${waitSeconds} s (--model-dir-wait-seconds); ` +
    'with an oci:// modelcar, check that the sidecar started and that its image holds /models';
}
