/**
 * JSON schemas of the HTTP routes. Request schemas check structure only (the tensor checks that
 * need model metadata run in the inference core); `data` arrays are not validated item by item
 * here, which would cost a pass over every element before the real conversion pass.
 */

const parameters = { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } };
// The binary tensor data extension's parameters (`./binary-tensors`), typed where they appear.
const requestParameters = { ...parameters, properties: { binary_data_output: { type: 'boolean' } } };
const outputParameters = { ...parameters, properties: { binary_data: { type: 'boolean' } } };
const binaryInputParameters = { ...parameters, properties: { binary_data_size: { type: 'integer', minimum: 0 } } };

export const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, code: { type: 'string' } },
  required: ['error'],
};

/** 4xx/5xx answers of every route. */
export const errorResponses = { '4xx': errorSchema, '5xx': errorSchema };

const tensorMetadata = {
  type: 'object',
  properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer' } } },
};

const requestedOutputs = {
  type: 'array',
  items: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, parameters: outputParameters } },
};

/** A V2 infer request whose inputs have `required` fields and these input `parameters`. */
function inferRequestWith(required: string[], inputParameters: object) {
  return {
    type: 'object',
    required: ['inputs'],
    properties: {
      id: { type: 'string' },
      parameters: requestParameters,
      inputs: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required,
          properties: {
            name: { type: 'string' },
            shape: { type: 'array', items: { type: 'integer', minimum: 0 } },
            datatype: { type: 'string' },
            parameters: inputParameters,
            data: { type: 'array' },
          },
        },
      },
      outputs: requestedOutputs,
    },
  };
}

export const inferRequestSchema = inferRequestWith(['name', 'shape', 'datatype', 'data'], parameters);

/**
 * The JSON header of a binary tensor body: as `inferRequestSchema`, but an input may carry
 * `parameters.binary_data_size` instead of `data` (which one, and the sizes, are checked with the
 * bytes, in `./binary-tensors`).
 */
export const binaryInferHeaderSchema = inferRequestWith(['name', 'shape', 'datatype'], binaryInputParameters);

export const inferResponseSchema = {
  type: 'object',
  properties: {
    model_name: { type: 'string' },
    model_version: { type: 'string' },
    id: { type: 'string' },
    parameters: { type: 'object', additionalProperties: true },
    outputs: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          datatype: { type: 'string' },
          shape: { type: 'array', items: { type: 'integer' } },
          parameters: { type: 'object', additionalProperties: true },
          data: { type: 'array' },
        },
      },
    },
  },
};

export const modelMetadataSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    versions: { type: 'array', items: { type: 'string' } },
    platform: { type: 'string' },
    inputs: { type: 'array', items: tensorMetadata },
    outputs: { type: 'array', items: tensorMetadata },
  },
};

export const serverMetadataSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } },
};

/** KServe V1 server liveness (`GET /`), as KServe's own server and Python client have it. */
export const v1ServerLiveSchema = { type: 'object', properties: { status: { type: 'string' } } };
export const liveSchema = { type: 'object', properties: { live: { type: 'boolean' } } };
export const readySchema = { type: 'object', properties: { ready: { type: 'boolean' } } };
export const modelReadySchema = { type: 'object', properties: { name: { type: 'string' }, ready: { type: 'boolean' } } };

export const v1PredictRequestSchema = {
  type: 'object',
  required: ['instances'],
  properties: { instances: { type: 'array', minItems: 1 } },
};

export const v1PredictResponseSchema = {
  type: 'object',
  properties: { predictions: { type: 'array' } },
};

export const v1ModelsSchema = { type: 'object', properties: { models: { type: 'array', items: { type: 'string' } } } };

export const repositoryIndexRequestSchema = {
  anyOf: [{ type: 'null' }, { type: 'object', properties: { ready: { type: 'boolean' } } }],
};

export const repositoryIndexResponseSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: { name: { type: 'string' }, version: { type: 'string' }, state: { type: 'string' }, reason: { type: 'string' } },
  },
};

export const repositoryActionResponseSchema = {
  type: 'object',
  properties: { name: { type: 'string' }, load: { type: 'boolean' }, unload: { type: 'boolean' } },
};

export const nameParams = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] };
export const nameVersionParams = {
  type: 'object',
  properties: { name: { type: 'string' }, version: { type: 'string' } },
  required: ['name', 'version'],
};

/** Route options of V2 `infer` (both paths, `params` picks which), for the predictor and the transformer. */
export function inferRouteOptions(params: object) {
  return {
    config: { protocol: 'v2' as const },
    schema: { params, body: inferRequestSchema, response: { 200: inferResponseSchema, ...errorResponses } },
  };
}

/** Route options of V2 `infer` for a binary tensor body (its JSON header is the `body` checked). */
export function binaryInferRouteOptions(params: object) {
  return {
    config: { protocol: 'v2' as const },
    schema: { params, body: binaryInferHeaderSchema, response: { 200: inferResponseSchema, ...errorResponses } },
  };
}
