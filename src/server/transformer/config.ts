/**
 * Settings of the transformer and explainer components (parsed by `../config.ts`).
 *
 * | flag | env | default |
 * |---|---|---|
 * | `--mode transformer` / `--mode explainer` | `SERVER_MODE` | a predictor (no component) |
 * | `--predictor-host` | `PREDICTOR_HOST` | required in both modes: `host:port` of the predictor |
 * | `--predictor-protocol` | `PREDICTOR_PROTOCOL` | `v2` (`v1`, `v2` REST or `grpc-v2`) |
 * | `--transformer-module` | `TRANSFORMER_MODULE` | required for `--mode transformer`; in a predictor, runs the module in process |
 * | `--propagate-headers` | `PROPAGATE_HEADERS` | `x-request-id,traceparent,tracestate,x-b3-*` (comma-separated; add `authorization` to forward it) |
 * | `--explainer-method` | `EXPLAINER_METHOD` | `kernel_shap` (or `lime`); in a predictor, adds the `:explain` routes in process |
 * | `--explainer-background` | `EXPLAINER_BACKGROUND` | `<model dir>/background.json` (a `.json`/`.csv` path, relative to the model dir, or inline JSON rows) |
 * | `--explainer-samples` | `EXPLAINER_SAMPLES` | `0` = auto: every coalition when 2^d - 2 <= 2d + 2048, else 2d + 2048 sampled (LIME: 1000 samples) |
 * | `--explainer-seed` | `EXPLAINER_SEED` | `0` |
 * | `--explainer-output` | `EXPLAINER_OUTPUT` | the model's first floating-point output |
 * | `--explainer-batch-size` | `EXPLAINER_BATCH_SIZE` | `1024` rows per predictor request (match the predictor's `--max-batch-size`) |
 * | `--explainer-max-background` | `EXPLAINER_MAX_BACKGROUND` | `50` rows (larger sets are subsampled with the seed) |
 */
import { DEFAULT_PROPAGATED_HEADERS, EXPLAINER_METHODS, SERVER_MODES } from '../../contract';

/** Protocols a transformer or explainer can speak to its predictor. */
export type PredictorProtocol = 'v1' | 'v2' | 'grpc-v2';
export type ExplainerMethod = 'kernel_shap' | 'lime';

/** What this process is: a predictor (with optional in-process parts), a transformer or an explainer. */
export type ComponentKind = 'predictor' | 'transformer' | 'explainer';

/** Explainer settings. */
export interface ExplainerConfig {
  readonly method: ExplainerMethod;
  readonly background?: string;
  readonly samples: number;
  readonly seed: number;
  readonly output?: string;
  readonly batchSize: number;
  readonly maxBackground: number;
}

/** Transformer/explainer settings; absent for a plain predictor. */
export interface ComponentConfig {
  readonly kind: ComponentKind;
  /** `host:port` of the predictor (transformer and explainer modes). */
  readonly predictorHost?: string;
  readonly predictorProtocol: PredictorProtocol;
  /** Path of the user module (transformer mode, or in process in a predictor). */
  readonly transformerModule?: string;
  /** Lower-case header names forwarded to the predictor. */
  readonly propagateHeaders: string[];
  /** Set in explainer mode, or in a predictor given `--explainer-method` (in process). */
  readonly explainer?: ExplainerConfig;
}

type Key = 'predictorHost' | 'predictorProtocol' | 'transformerModule' | 'propagateHeaders' | 'explainerMethod'
| 'explainerBackground' | 'explainerSamples' | 'explainerSeed' | 'explainerOutput' | 'explainerBatchSize' | 'explainerMaxBackground';

const PREDICTOR_PROTOCOLS: PredictorProtocol[] = ['v1', 'v2', 'grpc-v2'];
const METHODS = Object.values(EXPLAINER_METHODS);

/**
 * `--propagate-headers`: lower-case header names (the default list when unset); `where` names the
 * flag in the message of `fail`. The transformer, the explainer and the graph router forward them.
 */
export function parsePropagateHeaders(value: string | undefined, where: string, fail: (message: string) => never): string[] {
  const headers = (value ?? DEFAULT_PROPAGATED_HEADERS.join(','))
    .split(',').map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0);
  for (const h of headers) {
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(h)) {
      fail(`${where} must be comma-separated header names, got '${h}'`);
    }
  }
  return headers;
}

/**
 * Parses the component settings; `undefined` for a plain predictor without in-process parts.
 * `raw` reads a flag or its variable, `where` names them in messages, `fail` throws a ConfigError.
 */
export function parseComponentConfig(
  mode: string,
  raw: (key: Key) => string | undefined,
  where: (key: Key) => string,
  fail: (message: string) => never,
): ComponentConfig | undefined {
  const kind: ComponentKind = mode === SERVER_MODES.transformer ? 'transformer' : mode === SERVER_MODES.explainer ? 'explainer' : 'predictor';
  const int = (key: Key, min: number, max: number, dflt: number): number => {
    const v = raw(key);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      fail(`${where(key)} must be an integer between ${min} and ${max}, got '${v}'`);
    }
    return n;
  };
  const predictorHost = raw('predictorHost');
  const protocol = raw('predictorProtocol') ?? 'v2';
  if (!PREDICTOR_PROTOCOLS.includes(protocol as PredictorProtocol)) {
    fail(`${where('predictorProtocol')} must be one of ${PREDICTOR_PROTOCOLS.join(', ')}, got '${protocol}'`);
  }
  const transformerModule = raw('transformerModule');
  const method = raw('explainerMethod');
  if (method !== undefined && !METHODS.includes(method)) {
    fail(`${where('explainerMethod')} must be one of ${METHODS.join(', ')}, got '${method}'`);
  }
  if (kind === 'predictor' && transformerModule === undefined && method === undefined) {
    return undefined;
  }
  if (kind !== 'predictor') {
    if (predictorHost === undefined) {
      fail(`${where('predictorHost')} is required in ${kind} mode: give the predictor's host:port`);
    }
    if (!/^[^\s/,]+:\d{1,5}$/.test(predictorHost)) {
      fail(`${where('predictorHost')} must be host:port, got '${predictorHost}'`);
    }
  }
  if (kind === 'transformer' && transformerModule === undefined) {
    fail(`${where('transformerModule')} is required in transformer mode: give the path of the module that exports preprocess and/or postprocess`);
  }
  const headers = parsePropagateHeaders(raw('propagateHeaders'), where('propagateHeaders'), fail);
  let explainer: ExplainerConfig | undefined;
  if (kind === 'explainer' || method !== undefined) {
    explainer = {
      method: (method ?? EXPLAINER_METHODS.kernelShap) as ExplainerMethod,
      background: raw('explainerBackground'),
      samples: int('explainerSamples', 0, 1_000_000, 0),
      seed: int('explainerSeed', 0, 2 ** 31 - 1, 0),
      output: raw('explainerOutput'),
      batchSize: int('explainerBatchSize', 1, 1_000_000, 1024),
      maxBackground: int('explainerMaxBackground', 1, 100_000, 50),
    };
  }
  return {
    kind,
    predictorHost,
    predictorProtocol: protocol as PredictorProtocol,
    transformerModule: kind === 'explainer' ? undefined : transformerModule,
    propagateHeaders: headers,
    explainer,
  };
}
