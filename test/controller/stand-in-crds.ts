/**
 * STAND-IN, to be deleted: permissive CRDs for our three kinds (any spec and status, with the status
 * subresource), until the `ctl-crd` part of issue 14 lands the generated ones.
 */
import { CRD_GROUP, CRD_KINDS, CRD_VERSION } from '../../src/contract';

export function standInCrds() {
  return Object.values(CRD_KINDS).map((k) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${CRD_GROUP}`, labels: { 'applyset.kubernetes.io/is-parent-type': 'true' } },
    spec: {
      group: CRD_GROUP,
      scope: 'Namespaced',
      names: { kind: k.kind, plural: k.plural, singular: k.singular, shortNames: k.shortNames, listKind: `${k.kind}List` },
      versions: [{
        name: CRD_VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: { 'type': 'object', 'x-kubernetes-preserve-unknown-fields': true },
              status: { 'type': 'object', 'x-kubernetes-preserve-unknown-fields': true },
            },
          },
        },
      }],
    },
  }));
}
