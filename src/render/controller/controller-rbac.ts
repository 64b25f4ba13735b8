/**
 * The controller's least-privilege RBAC: the kinds the constructs render for a custom resource
 * (test/constructs/model-serving-controller.test.ts renders every mode, ingress, component and
 * monitoring choice and checks each object's kind is here), our custom resources and their
 * status, Events, and, by name, its Lease, TLS Secret and two webhook configurations.
 */
import * as contract from '../../contract';

export interface PolicyRule {
  readonly apiGroups: string[];
  readonly resources: string[];
  readonly verbs: string[];
  readonly resourceNames?: string[];
}

/** API group -> resources of the objects the constructs render for our custom resources. */
export const RENDERED_RESOURCES: { readonly [group: string]: readonly string[] } = {
  '': ['configmaps', 'services'],
  'apps': ['deployments'],
  'autoscaling': ['horizontalpodautoscalers'],
  'policy': ['poddisruptionbudgets'],
  'networking.k8s.io': ['ingresses', 'networkpolicies'],
  'serving.knative.dev': ['services'],
  'networking.istio.io': ['destinationrules', 'virtualservices'],
  'security.istio.io': ['authorizationpolicies', 'peerauthentications', 'requestauthentications'],
  // referencegrants: an HTTPRoute to KEDA's interceptor in its namespace (render/keda.ts).
  'gateway.networking.k8s.io': ['httproutes', 'referencegrants'],
  'monitoring.coreos.com': ['podmonitors', 'prometheusrules', 'servicemonitors'],
  // `autoscaler: Autoscaler.KEDA` (raw mode).
  'keda.sh': ['scaledobjects'],
  'http.keda.sh': ['httpscaledobjects'],
};

/** Server-side apply, prune, and the informers' list and watch. */
const CHILD_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'];

export interface ControllerRbacNames {
  readonly validatingWebhookConfiguration: string;
  readonly mutatingWebhookConfiguration: string;
  readonly leaseName: string;
  readonly tlsSecret: string;
  /** Whether the controller makes the TLS Secret itself (self-signed); with cert-manager it only reads it. */
  readonly writesTlsSecret: boolean;
  /** Whether it serves webhooks (it then needs its TLS Secret and patches its webhook configurations). */
  readonly webhooks: boolean;
}

/** The ClusterRole's and the controller namespace's Role's rules. */
export function controllerRbacRules(names: ControllerRbacNames): { cluster: PolicyRule[]; namespaced: PolicyRule[] } {
  const plurals = Object.values(contract.CRD_KINDS).map(k => k.plural);
  const cluster: PolicyRule[] = [
    // The custom resources: watched; their metadata carries the applyset inventory (patch).
    { apiGroups: [contract.CRD_GROUP], resources: plurals, verbs: ['get', 'list', 'watch', 'patch', 'update'] },
    { apiGroups: [contract.CRD_GROUP], resources: plurals.map(p => `${p}/status`), verbs: ['get', 'patch', 'update'] },
    ...Object.entries(RENDERED_RESOURCES).map(([group, resources]) => ({ apiGroups: [group], resources: [...resources], verbs: CHILD_VERBS })),
    { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  ];
  if (names.webhooks) {
    // Only its own two webhook configurations, for the caBundle.
    cluster.push(
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['validatingwebhookconfigurations'], verbs: ['get', 'patch', 'update'], resourceNames: [names.validatingWebhookConfiguration] },
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], verbs: ['get', 'patch', 'update'], resourceNames: [names.mutatingWebhookConfiguration] },
    );
  }
  // `create` cannot be limited by name (the name is not known before the object exists).
  const namespaced: PolicyRule[] = [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'update', 'patch'], resourceNames: [names.leaseName] },
    ...(!names.webhooks ? [] : names.writesTlsSecret
      ? [
        { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'update', 'patch'], resourceNames: [names.tlsSecret] },
      ]
      : [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [names.tlsSecret] }]),
  ];
  return { cluster, namespaced };
}
