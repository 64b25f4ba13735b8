/**
 * Custom resources the controller tests apply, in one place (their spec follows the CRD); the harness
 * installs the CRDs.
 */
import type { Json } from './harness';
import { CRD_GROUP, CRD_VERSION } from '../../src/contract';

export const API_VERSION = `${CRD_GROUP}/${CRD_VERSION}`;

/**
 * A ModelEndpoint; `transformer`: also a transformer in a custom container, without a `livenessPath`:
 * the CRD must not default the probe settings that the construct accepts only with one (`@noSchemaDefault`).
 */
export interface EndpointOptions {
  readonly storageUri?: string;
  readonly transformer?: boolean;
  readonly minReplicas?: number;
  readonly maxReplicas?: number;
}

export function modelEndpoint(name: string, namespace: string, options: EndpointOptions = {}): Json {
  return {
    apiVersion: API_VERSION,
    kind: 'ModelEndpoint',
    metadata: { name, namespace },
    spec: {
      modelName: name,
      storageUri: options.storageUri ?? 's3://models/iris',
      ...(options.minReplicas !== undefined ? { minReplicas: options.minReplicas } : {}),
      ...(options.maxReplicas !== undefined ? { maxReplicas: options.maxReplicas } : {}),
      ...(options.transformer ? { transformer: { container: { image: 'ghcr.io/example/iris-transformer:1.0' } } } : {}),
    },
  };
}
