/**
 * Explain routes: KServe V1 `POST /v1/models/<name>:explain` and the V2-style
 * `POST /v2/models/<name>/explain`. Registered by the explainer component and, with
 * `--explainer-method`, by a predictor (in process).
 */
import { FastifyInstance } from 'fastify';
import { Explainer } from './explainer';
import { errorResponses, nameParams } from '../http/schemas';
import { loggedCall } from '../payload-log/logged-call';
import { PayloadLogger } from '../payload-log/payload-logger';

const explainBody = {
  type: 'object',
  required: ['instances'],
  properties: {
    instances: { type: 'array', minItems: 1, items: { type: 'array', items: { type: 'number' } } },
    parameters: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
  },
};

const matrix = { type: 'array', items: { type: 'array', items: { type: 'number' } } };
const vector = { type: 'array', items: { type: 'number' } };
const explainResponse = {
  type: 'object',
  properties: {
    model_name: { type: 'string' },
    method: { type: 'string' },
    output: { type: 'string' },
    output_names: { type: 'array', items: { type: 'string' } },
    feature_names: { type: 'array', items: { type: 'string' } },
    explanations: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          prediction: vector,
          base_value: vector,
          attributions: matrix,
          coalitions: { type: 'integer' },
          exact: { type: 'boolean' },
          intercept: vector,
          coefficients: matrix,
          score: vector,
          local_prediction: vector,
          samples: { type: 'integer' },
        },
      },
    },
  },
};

/** Adds the explain routes; `headersOf` picks the headers forwarded to the predictor. */
export function registerExplainRoutes(
  app: FastifyInstance,
  explainer: Explainer,
  headersOf: (headers: Record<string, string | string[] | undefined>) => Record<string, string>,
  payloadLog?: PayloadLogger,
): void {
  const opts = (protocol: 'v1' | 'v2') => ({
    config: { protocol },
    schema: { params: nameParams, body: explainBody, response: { 200: explainResponse, ...errorResponses } },
  });
  const handler = async (req: { params: { name: string }; body: unknown; headers: Record<string, string | string[] | undefined> }) =>
    loggedCall(payloadLog, req.params.name, req.body, () => explainer.explain(req.params.name, req.body, headersOf(req.headers)));
  app.post<{ Params: { name: string }; Body: unknown }>('/v1/models/:name(^[^:/]+)::explain', opts('v1'), handler);
  app.post<{ Params: { name: string }; Body: unknown }>('/v2/models/:name/explain', opts('v2'), handler);
}
