/**
 * Settings of `serve --mode router` (parsed by `../config.ts`) and the graph spec file.
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--mode router` | `SERVER_MODE` | - |
 * | `--graph-spec` | `GRAPH_SPEC` | `/etc/inference-graph/graph.json` (GRAPH.specDir/specKey, where the construct mounts it) |
 * | `--propagate-headers` | `PROPAGATE_HEADERS` | as the transformer's: `x-request-id,traceparent,tracestate,x-b3-*` |
 * | `--model-dir` | `MODEL_DIR` | models for `model` steps, loaded only when the graph has such steps |
 * | `--max-body-bytes` | `MAX_BODY_BYTES` | bounds the request body and every step's answer |
 * | `--request-timeout-ms` | `REQUEST_TIMEOUT_MS` | the graph deadline when the spec sets no `timeoutMs` |
 */
import * as fs from 'node:fs';
import { GRAPH } from '../../contract';
import { GraphSpec } from '../../contract/graph-spec';
import { validateGraphSpec } from '../../contract/graph-validate';

export interface RouterConfig {
  /** Path of the graph spec (JSON). */
  readonly specPath: string;
  /** Lower-case header names forwarded to every step (`x-request-id` always is). */
  readonly propagateHeaders: readonly string[];
}

export const DEFAULT_GRAPH_SPEC_PATH = `${GRAPH.specDir}/${GRAPH.specKey}`;

/** A spec file that cannot be read, parsed or validated; the message says which and why. */
export class GraphSpecError extends Error {}

/** Reads and validates the graph spec at `path`. */
export function loadGraphSpec(path: string): GraphSpec {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new GraphSpecError(`cannot read the graph spec '${path}' (${GRAPH.specFlag} / ${GRAPH.specEnv}): ${(err as Error).message}`);
  }
  let spec: GraphSpec;
  try {
    spec = JSON.parse(text) as GraphSpec;
  } catch (err) {
    throw new GraphSpecError(`the graph spec '${path}' is not JSON: ${(err as Error).message}`);
  }
  const errors = validateGraphSpec(spec);
  if (errors.length > 0) {
    throw new GraphSpecError(`the graph spec '${path}' is not valid:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
  }
  return spec;
}

/** Whether any step runs a model in this process. */
export function hasModelSteps(spec: GraphSpec): boolean {
  return Object.values(spec.nodes).some((n) => n.steps.some((s) => s.model !== undefined));
}
