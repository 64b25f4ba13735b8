/**
 * Types of the in-process inference API (Open Inference Protocol V2 shapes).
 *
 * gRPC and REST both call this: the REST routes (`src/server/http/`) and the gRPC service
 * (`src/server/grpc/`) convert their wire format to these types and call `InferenceCore`.
 * Field names follow the V2 JSON protocol (`model_name`, `datatype`, ...).
 */

/** The OIP tensor datatypes the server accepts (all that onnxruntime-node supports). */
export type Datatype =
  | 'BOOL'
  | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64'
  | 'INT8' | 'INT16' | 'INT32' | 'INT64'
  | 'FP16' | 'FP32' | 'FP64'
  | 'BYTES';

/** A parameter value: string, number or boolean (V2 `$parameters`). */
export type ParameterValue = string | number | boolean;
export type Parameters = Record<string, ParameterValue>;

/**
 * Tensor contents as given by a client.
 *
 * REST passes JSON arrays (flat or nested, row-major). gRPC may pass a flat JS array (from
 * `InferTensorContents`) or a typed array (from `raw_input_contents`; if its type matches the
 * datatype it is used without a copy: Float32Array for FP32, BigInt64Array for INT64,
 * Uint16Array holding IEEE half bits for FP16, Uint8Array for BOOL, ...).
 */
export type TensorData = ArrayLike<unknown> | unknown[];

/** An input tensor of an inference request. */
export interface InferTensor {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly parameters?: Parameters;
  readonly data: TensorData;
}

/** A requested output. */
export interface InferRequestedOutput {
  readonly name: string;
  readonly parameters?: Parameters;
}

/** An inference request (V2 `$inference_request`). */
export interface InferRequest {
  readonly id?: string;
  readonly parameters?: Parameters;
  readonly inputs: readonly InferTensor[];
  readonly outputs?: readonly InferRequestedOutput[];
}

/**
 * An output tensor of an inference response.
 *
 * `data` is a flat, row-major plain array ready for JSON: numbers (INT64/UINT64 converted from
 * BigInt, FP16 decoded), booleans for BOOL, strings for BYTES. `raw` is the typed array the
 * runtime returned (BYTES: string[]), for gRPC's `raw_output_contents` and binary outputs; it is
 * not an own enumerable property, so `JSON.stringify` and object spread skip it.
 */
export interface InferOutputTensor {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: number[];
  readonly parameters?: Parameters;
  readonly data: number[] | boolean[] | string[];
  readonly raw?: ArrayLike<unknown>;
}

/** An inference response (V2 `$inference_response`). */
export interface InferResponse {
  readonly model_name: string;
  readonly model_version?: string;
  readonly id?: string;
  readonly parameters?: Parameters;
  readonly outputs: InferOutputTensor[];
}

/** Metadata of one tensor: `-1` marks a dynamic dimension. */
export interface TensorMetadata {
  readonly name: string;
  readonly datatype: Datatype;
  readonly shape: number[];
}

/** V2 `$metadata_model_response`. */
export interface ModelMetadata {
  readonly name: string;
  readonly versions?: string[];
  readonly platform: string;
  readonly inputs: TensorMetadata[];
  readonly outputs: TensorMetadata[];
}

/** V2 `$metadata_server_response`. */
export interface ServerMetadata {
  readonly name: string;
  readonly version: string;
  readonly extensions: string[];
}

/** Model states, as in the V2 model repository extension. */
export enum ModelState {
  LOADING = 'LOADING',
  READY = 'READY',
  UNAVAILABLE = 'UNAVAILABLE',
  FAILED = 'FAILED',
}

/** One entry of `POST /v2/repository/index`. */
export interface ModelIndexEntry {
  readonly name: string;
  readonly version?: string;
  readonly state: ModelState;
  readonly reason: string;
}
