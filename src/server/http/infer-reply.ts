/**
 * The bytes a REST transport sends for a V2 inference response: plain JSON, unless the request
 * asks for binary outputs (`binary_data` on an output, or `binary_data_output`), in which case
 * the body is the binary tensor data extension's JSON header plus raw bytes (`./binary-tensors`).
 */
import { binaryOutputSelector, encodeBinaryResponse } from './binary-tensors';
import { InferRequest, InferResponse } from '../inference/types';

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
export const BINARY_CONTENT_TYPE = 'application/octet-stream';

/** A V2 response ready to send. */
export interface InferReply {
  readonly contentType: string;
  /** The `Inference-Header-Content-Length` header's value; set only for a binary body. */
  readonly headerLength?: number;
  readonly body: string | Buffer;
}

/** Encodes `response` to `request` as JSON, or as a binary body if any output asks for it. */
export function encodeInferReply(request: InferRequest, response: InferResponse): InferReply {
  const isBinary = binaryOutputSelector(request);
  const binary = isBinary && encodeBinaryResponse(response, isBinary);
  if (binary) {
    return { contentType: BINARY_CONTENT_TYPE, headerLength: binary.headerLength, body: binary.body };
  }
  return { contentType: JSON_CONTENT_TYPE, body: JSON.stringify(response) };
}
