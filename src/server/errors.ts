/**
 * Every error the model server can answer with, declared once.
 *
 * Each entry has a stable `code` (clients and tests match on it), a message template (`%s` is
 * replaced by the arguments, in order), the HTTP status for REST and the gRPC status code
 * number for `GRPCInferenceService`, in the style of fastify's `lib/errors.js`. Handlers throw
 * `serverError(ERRORS.X, ...)`; the REST error handler and the gRPC service map it to
 * `{"error": message, "code": code}` or a gRPC status. Stack traces never leave the process.
 */

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html), for the server and the clients. */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** One declared error. */
export interface ErrorDefinition {
  readonly code: string;
  readonly message: string;
  readonly httpStatus: number;
  readonly grpcStatus: number;
}

function def(code: string, message: string, httpStatus: number, grpcStatus: number): ErrorDefinition {
  return { code, message, httpStatus, grpcStatus };
}

const G = GRPC_STATUS;

/** The error table. Keys equal the codes without the `MS_ERR_` prefix. */
export const ERRORS = {
  // --- request shape (400) ---
  INVALID_JSON: def('MS_ERR_INVALID_JSON', 'request body is not valid JSON: %s', 400, G.INVALID_ARGUMENT),
  EMPTY_BODY: def('MS_ERR_EMPTY_BODY', 'request body is empty', 400, G.INVALID_ARGUMENT),
  INVALID_REQUEST: def('MS_ERR_INVALID_REQUEST', 'invalid request: %s', 400, G.INVALID_ARGUMENT),
  UNKNOWN_INPUT: def('MS_ERR_UNKNOWN_INPUT', "model '%s' has no input named '%s' (inputs: %s)", 400, G.INVALID_ARGUMENT),
  MISSING_INPUT: def('MS_ERR_MISSING_INPUT', "model '%s' expects input '%s', which the request does not provide", 400, G.INVALID_ARGUMENT),
  DUPLICATE_INPUT: def('MS_ERR_DUPLICATE_INPUT', "input '%s' is given more than once", 400, G.INVALID_ARGUMENT),
  UNKNOWN_OUTPUT: def('MS_ERR_UNKNOWN_OUTPUT', "model '%s' has no output named '%s' (outputs: %s)", 400, G.INVALID_ARGUMENT),
  INVALID_DATATYPE: def('MS_ERR_INVALID_DATATYPE', "input '%s' has datatype %s, but the model expects %s", 400, G.INVALID_ARGUMENT),
  UNSUPPORTED_DATATYPE: def('MS_ERR_UNSUPPORTED_DATATYPE', "datatype '%s' is not supported (supported: %s)", 400, G.INVALID_ARGUMENT),
  INVALID_SHAPE: def('MS_ERR_INVALID_SHAPE', "input '%s': %s", 400, G.INVALID_ARGUMENT),
  INVALID_DATA: def('MS_ERR_INVALID_DATA', "input '%s': %s", 400, G.INVALID_ARGUMENT),
  BATCH_TOO_LARGE: def('MS_ERR_BATCH_TOO_LARGE', 'batch size %s is larger than the maximum of %s', 400, G.INVALID_ARGUMENT),
  INVALID_INSTANCES: def('MS_ERR_INVALID_INSTANCES', 'invalid instances: %s', 400, G.INVALID_ARGUMENT),
  INVALID_BINARY_DATA: def('MS_ERR_INVALID_BINARY_DATA', 'invalid binary tensor data: %s', 400, G.INVALID_ARGUMENT),
  // --- transport (4xx) ---
  UNSUPPORTED_MEDIA_TYPE: def('MS_ERR_UNSUPPORTED_MEDIA_TYPE', "unsupported content-type '%s': send application/json", 415, G.INVALID_ARGUMENT),
  BODY_TOO_LARGE: def('MS_ERR_BODY_TOO_LARGE', 'request body is larger than the limit of %s bytes', 413, G.RESOURCE_EXHAUSTED),
  ROUTE_NOT_FOUND: def('MS_ERR_ROUTE_NOT_FOUND', 'no route for %s %s', 404, G.UNIMPLEMENTED),
  // --- models ---
  MODEL_NOT_FOUND: def('MS_ERR_MODEL_NOT_FOUND', "model '%s' not found", 404, G.NOT_FOUND),
  MODEL_VERSION_NOT_FOUND: def('MS_ERR_MODEL_VERSION_NOT_FOUND', "model '%s' has no version '%s'", 404, G.NOT_FOUND),
  MODEL_NOT_READY: def('MS_ERR_MODEL_NOT_READY', "model '%s' is not ready (state %s%s)", 503, G.UNAVAILABLE),
  MODEL_LOAD_FAILED: def('MS_ERR_MODEL_LOAD_FAILED', "failed to load model '%s': %s", 400, G.FAILED_PRECONDITION),
  MEMORY_BUDGET_EXCEEDED: def('MS_ERR_MEMORY_BUDGET_EXCEEDED', "model '%s' needs about %s bytes, but only %s of the %s-byte memory budget can be freed", 503, G.RESOURCE_EXHAUSTED),
  // --- server ---
  SHUTTING_DOWN: def('MS_ERR_SHUTTING_DOWN', 'server is shutting down', 503, G.UNAVAILABLE),
  INFERENCE_TIMEOUT: def('MS_ERR_INFERENCE_TIMEOUT', 'inference took longer than %s ms', 504, G.DEADLINE_EXCEEDED),
  INFERENCE_FAILED: def('MS_ERR_INFERENCE_FAILED', "inference failed for model '%s': %s", 500, G.INTERNAL),
  INTERNAL: def('MS_ERR_INTERNAL', 'internal server error', 500, G.INTERNAL),
  // --- transformer and explainer components (src/server/transformer, src/server/explainer) ---
  PREDICTOR_UNREACHABLE: def('MS_ERR_PREDICTOR_UNREACHABLE', 'predictor at %s is unreachable (%s)', 502, G.UNAVAILABLE),
  PREDICTOR_TIMEOUT: def('MS_ERR_PREDICTOR_TIMEOUT', 'predictor at %s did not answer within %s ms', 504, G.DEADLINE_EXCEEDED),
  // ---- agent (issue 18 part 3): the runtime behind `--mode agent` ----
  UPSTREAM_UNREACHABLE: def('MS_ERR_UPSTREAM_UNREACHABLE', 'the runtime at %s is unreachable (%s)', 502, G.UNAVAILABLE),
  UPSTREAM_TIMEOUT: def('MS_ERR_UPSTREAM_TIMEOUT', 'the runtime at %s did not answer within %s ms', 504, G.DEADLINE_EXCEEDED),
  UPSTREAM_ANSWER_TOO_LARGE: def('MS_ERR_UPSTREAM_ANSWER_TOO_LARGE', 'the runtime at %s answered more than %s bytes', 502, G.RESOURCE_EXHAUSTED),
  UPSTREAM_BATCH_MISMATCH: def('MS_ERR_UPSTREAM_BATCH_MISMATCH', 'the runtime at %s answered a batch of %s with %s', 502, G.INTERNAL),
  // ---- end of agent ----
  PREDICTOR_ERROR: def('MS_ERR_PREDICTOR_ERROR', 'predictor at %s answered status %s with %s', 502, G.INTERNAL),
  TRANSFORMER_FAILED: def('MS_ERR_TRANSFORMER_FAILED', 'the transformer module failed in %s', 500, G.INTERNAL),
  TRANSFORMER_REJECTED: def('MS_ERR_TRANSFORMER_REJECTED', '%s', 400, G.INVALID_ARGUMENT),
  TRANSFORMER_INVALID_RESULT: def('MS_ERR_TRANSFORMER_INVALID_RESULT', 'the transformer module\'s %s returned %s, but %s is needed here', 500, G.INTERNAL),
  EXPLAIN_UNSUPPORTED_MODEL: def('MS_ERR_EXPLAIN_UNSUPPORTED_MODEL', "model '%s' cannot be explained: %s", 400, G.FAILED_PRECONDITION),
  INVALID_EXPLAIN_REQUEST: def('MS_ERR_INVALID_EXPLAIN_REQUEST', 'invalid explain request: %s', 400, G.INVALID_ARGUMENT),
} as const;

/** An error the server answers with; `toJSON()` is the body clients see. */
export class ServerError extends Error {
  public readonly code: string;
  public readonly statusCode: number;
  public readonly grpcStatus: number;

  constructor(definition: ErrorDefinition, message: string) {
    super(message);
    this.name = 'ServerError';
    this.code = definition.code;
    this.statusCode = definition.httpStatus;
    this.grpcStatus = definition.grpcStatus;
  }

  /** The JSON error body of the V1 and V2 protocols, plus our stable code. */
  public toJSON(): { error: string; code: string } {
    return { error: this.message, code: this.code };
  }
}

/** Creates the error `definition`, filling its `%s` placeholders with `args` in order. */
export function serverError(definition: ErrorDefinition, ...args: unknown[]): ServerError {
  let i = 0;
  const message = definition.message.replace(/%s/g, () => (i < args.length ? String(args[i++]) : ''));
  return new ServerError(definition, message);
}

/** True if `err` is one of ours. */
export function isServerError(err: unknown): err is ServerError {
  return err instanceof ServerError;
}
