/**
 * The in-process inference API. gRPC and REST both call this.
 *
 * - `InferenceCore` (`./core`): health, metadata, readiness, `infer`, repository load/unload.
 * - Types (`./types`): `InferRequest`, `InferResponse`, `InferTensor`, `InferOutputTensor`, ...
 * - Errors: `ServerError` from `../errors` carries `statusCode` (HTTP) and `grpcStatus`.
 * - `createCore(config)` (`./create`) builds a core with its repository and metrics from config.
 */
export * from './types';
export * from './core';
export { DATATYPES, datatypeInfo, toHalf, fromHalf } from './datatypes';
export { prepareRequest, toOrtTensor, fromOrtTensor, TensorLimits } from './tensors';
export { ServerError, ERRORS, GRPC_STATUS, isServerError } from '../errors';
