/**
 * The bytes a REST transport sends for a V2 inference response: plain JSON, unless the request
 * asks for binary outputs (`binary_data` on an output, or `binary_data_output`), in which case
 * the body is the binary tensor data extension's JSON header plus raw bytes (`./binary-tensors`).
 */
import { FastifyReply } from 'fastify';
import { binaryOutputSelector, encodeBinaryResponse, INFERENCE_HEADER_CONTENT_LENGTH } from './binary-tensors';
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

/** Sends a V2 response through fastify as JSON or, if the request asks for binary outputs, as a binary body. */
export function sendInferReply(reply: FastifyReply, request: InferRequest, response: InferResponse) {
  const encoded = encodeInferReply(request, response);
  reply.type(encoded.contentType);
  if (encoded.headerLength !== undefined) {
    reply.header(INFERENCE_HEADER_CONTENT_LENGTH, encoded.headerLength);
  }
  return reply.send(encoded.body);
}

/**
 * `request` without its asks for binary outputs (`binary_data_output`, each output's
 * `binary_data`): what a transformer sends its predictor, whose answer it reads as JSON; the
 * client's asks apply to the transformer's own answer. Unchanged (same object) when there are none.
 */
export function withoutBinaryOutputs(request: InferRequest): InferRequest {
  if (!binaryOutputSelector(request)) return request;
  const { binary_data_output: _all, ...parameters } = request.parameters ?? {};
  const copy: { -readonly [K in keyof InferRequest]: InferRequest[K] } = { ...request };
  if (request.parameters) {
    copy.parameters = parameters;
  }
  if (request.outputs) {
    copy.outputs = request.outputs.map((o) => {
      if (!o.parameters || !('binary_data' in o.parameters)) return o;
      const { binary_data: _one, ...rest } = o.parameters;
      return { ...o, parameters: rest };
    });
  }
  return copy;
}
