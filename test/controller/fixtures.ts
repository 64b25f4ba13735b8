/**
 * Custom resources the controller tests apply, in one place (their spec follows the CRD), and the
 * CRD installation.
 */
import type { Json, KubeClientLike } from './harness';
import { eventually } from './harness';
import { APPLYSET, CRD_GROUP, CRD_VERSION } from '../../src/contract';
import { customResourceDefinitions } from '../../src/render/controller/custom-resource-definitions';

export const API_VERSION = `${CRD_GROUP}/${CRD_VERSION}`;

/** A ModelEndpoint; `transformer`: also a transformer in a custom container. */
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

/** Installs our CRDs in the test cluster and waits until they are Established. */
export async function installCrds(client: KubeClientLike): Promise<void> {
  // The generated CRDs, labelled as applyset parent types (KEP-3659), as the install construct does.
  const crds = customResourceDefinitions({ [APPLYSET.isParentTypeLabel]: 'true' }) as Json[];
  for (const crd of crds) {
    const r = await client.apply(crd, { force: true });
    if (r.status >= 300) throw new Error(`CRD ${crd.metadata.name} refused: ${JSON.stringify(r.body)}`);
  }
  await eventually('our CRDs to be Established', async () => {
    for (const crd of crds) {
      const { body } = await client.request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      if (!(body.status?.conditions ?? []).some((c: Json) => c.type === 'Established' && c.status === 'True')) return false;
    }
    return true;
  });
}
