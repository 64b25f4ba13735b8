/**
 * The CustomResourceDefinitions of ModelEndpoint, CanaryRollout and ModelMesh: the `spec` schema
 * generated from the construct props (./spec-model.generated.ts), the `status` the controller
 * writes through the status subresource, and the printer columns of `kubectl get`.
 */
import { SPEC_SCHEMAS } from './spec-model.generated';
import * as contract from '../../contract';

type Json = { [key: string]: unknown };

/** kubectl ApplySets (KEP-3659): objects of a CRD with this label may be applyset parents (the controller's inventory). */
const APPLYSET_PARENT_TYPE_LABEL = 'applyset.kubernetes.io/is-parent-type';

/** Condition types the controller sets (the list); `Ready` summarizes. */
export const CONDITION_TYPES = {
  ready: 'Ready',
  reconciled: 'Reconciled',
  predictorReady: 'PredictorReady',
  transformerReady: 'TransformerReady',
  explainerReady: 'ExplainerReady',
};

/** metav1.Condition, as the API conventions define it. */
const CONDITION: Json = {
  type: 'object',
  description: 'A condition in the standard metav1.Condition shape.',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: { type: 'string', maxLength: 316, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$', description: `The condition type: ${Object.values(CONDITION_TYPES).join(', ')}.` },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'The .metadata.generation the condition was set for.' },
    lastTransitionTime: { type: 'string', format: 'date-time', description: 'When the status last changed.' },
    reason: { type: 'string', maxLength: 1024, minLength: 1, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$', description: 'A CamelCase reason.' },
    message: { type: 'string', maxLength: 32768, description: 'What a person can act on.' },
  },
};

/** What the controller reports; `components` and `details` stay open for per-component facts. */
export const STATUS_SCHEMA: Json = {
  type: 'object',
  description: 'Written by the cdk8s-model-serving controller through the status subresource.',
  properties: {
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0, description: 'The .metadata.generation last reconciled.' },
    conditions: {
      'type': 'array',
      'description': `${Object.values(CONDITION_TYPES).join(', ')}.`,
      'items': CONDITION,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    },
    url: { type: 'string', description: 'The URL clients call.' },
    mode: { type: 'string', description: 'How the resource is deployed (Serverless, RawDeployment or Mesh), for the MODE column.' },
    traffic: {
      'type': 'array',
      'description': 'The traffic split in force.',
      'x-kubernetes-list-type': 'atomic',
      'items': {
        type: 'object',
        required: ['percent'],
        properties: {
          tag: { type: 'string', description: 'The route tag (stable, canary).' },
          version: { type: 'string', description: 'The model version.' },
          revisionName: { type: 'string', description: 'The Knative revision (serverless).' },
          deployment: { type: 'string', description: 'The Deployment (raw).' },
          percent: { type: 'integer', minimum: 0, maximum: 100 },
          mirrored: { type: 'boolean', description: 'Whether the share is a mirrored copy (shadow).' },
        },
      },
    },
    trafficSummary: { type: 'string', description: 'The split in one line (stable=90 canary=10), for the TRAFFIC column.' },
    serving: {
      'type': 'array',
      'description': 'The revisions or Deployments serving.',
      'x-kubernetes-list-type': 'atomic',
      'items': {
        type: 'object',
        required: ['kind', 'name'],
        properties: {
          kind: { type: 'string' },
          name: { type: 'string' },
          component: { type: 'string', description: 'predictor, transformer, explainer or mesh.' },
          version: { type: 'string' },
          ready: { type: 'boolean' },
          replicas: { type: 'integer' },
          readyReplicas: { type: 'integer' },
        },
      },
    },
    components: {
      type: 'object',
      description: 'Per component (predictor, transformer, explainer, mesh): what the controller observed.',
      additionalProperties: { 'type': 'object', 'x-kubernetes-preserve-unknown-fields': true },
    },
    rollout: {
      'type': 'object',
      'description': 'A CanaryRollout analysis: phase, the canary weight in force, the step, the last value of every check and the history of the last rollout.',
      'properties': {
        phase: { type: 'string', enum: ['Progressing', 'Paused', 'Promoting', 'Succeeded', 'Failed'] },
        weight: { type: 'integer', minimum: 0, maximum: 100, description: 'The canary\'s share of requests now.' },
        step: { type: 'integer', minimum: 0, description: 'The step in force, 1-based (0: before the first).' },
        message: { type: 'string' },
      },
      'x-kubernetes-preserve-unknown-fields': true,
    },
    details: {
      'type': 'object',
      'description': 'Anything else the controller reports.',
      'x-kubernetes-preserve-unknown-fields': true,
    },
  },
};

const COLUMNS = (modePath: string): Json[] => [
  { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
  { name: 'URL', type: 'string', jsonPath: '.status.url' },
  { name: 'Mode', type: 'string', jsonPath: modePath },
  { name: 'Traffic', type: 'string', jsonPath: '.status.trafficSummary' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

/**
 * One CRD, as a plain object (the install construct and the tests use it).
 *
 * @param specSchemas the generated spec schemas (the generator passes the ones it just made)
 */
export function customResourceDefinition(
  key: keyof typeof contract.CRD_KINDS,
  labels: { [k: string]: string } = {},
  specSchemas = SPEC_SCHEMAS,
): Json {
  const names = contract.CRD_KINDS[key];
  const spec = specSchemas[names.kind] as Json;
  if (!spec) throw new Error(`no generated spec schema for ${names.kind}; run 'npx projen crd:generate'`);
  const specRequired = Array.isArray(spec.required) && spec.required.length > 0;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${contract.CRD_GROUP}`, labels: { ...labels, [APPLYSET_PARENT_TYPE_LABEL]: 'true' } },
    spec: {
      group: contract.CRD_GROUP,
      names: {
        kind: names.kind,
        listKind: `${names.kind}List`,
        plural: names.plural,
        singular: names.singular,
        shortNames: names.shortNames,
        categories: ['cdk8s-model-serving'],
      },
      scope: 'Namespaced',
      versions: [{
        name: contract.CRD_VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: COLUMNS(names.kind === contract.CRD_KINDS.modelMesh.kind ? '.status.mode' : '.spec.mode'),
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: spec.description,
            ...(specRequired ? { required: ['spec'] } : {}),
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec,
              status: STATUS_SCHEMA,
            },
          },
        },
      }],
    },
  };
}

/** The three CRDs. */
export function customResourceDefinitions(labels: { [k: string]: string } = {}, specSchemas = SPEC_SCHEMAS): Json[] {
  return (Object.keys(contract.CRD_KINDS) as Array<keyof typeof contract.CRD_KINDS>).map(k => customResourceDefinition(k, labels, specSchemas));
}
