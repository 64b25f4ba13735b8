/**
 * The NetworkPolicy that admits only the ingress gateway (and Knative's activator), the
 * endpoint's own components and namespaces the user names.
 */
import { ApiObject, JsonPatch } from 'cdk8s';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import * as contract from '../contract';
import { objectLabels } from './pod-template';
import { ResolvedEndpoint } from './resolve/resolved-endpoint';

/**
 * @param ports the pod ports to admit; empty admits every port (Knative's queue-proxy
 * listens on ports of its own in front of the model container)
 */
export function endpointNetworkPolicy(scope: Construct, resolved: ResolvedEndpoint, ports: number[]): k8s.KubeNetworkPolicy {
  // kserve-emit: KServe's label on every pod of the InferenceService, whatever labels it was given.
  const endpointPods = resolved.kserve
    ? { [contract.KSERVE_EMIT.podLabel]: resolved.name }
    : { [contract.LABELS.endpoint]: resolved.name };
  const peers: k8s.NetworkPolicyPeer[] = [
    // The endpoint's own components (transformer, explainer, canary) call each other.
    { podSelector: { matchLabels: endpointPods } },
  ];
  if (resolved.allowedNamespaces.length > 0) {
    peers.push({
      namespaceSelector: {
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [...resolved.allowedNamespaces] }],
      },
    });
  }
  return new k8s.KubeNetworkPolicy(scope, 'NetworkPolicy', {
    metadata: { name: resolved.name, namespace: resolved.namespace, labels: objectLabels(resolved) },
    spec: {
      podSelector: { matchLabels: endpointPods },
      policyTypes: ['Ingress'],
      ingress: [{
        from: peers,
        ...(ports.length > 0 ? { ports: ports.map(port => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) })) } : {}),
      }],
    },
  });
}

/**
 * Admits Prometheus (pods in `namespace`) to the metrics port of the endpoint's pods, and to
 * nothing else, by adding a rule to the endpoint's NetworkPolicy (id `NetworkPolicy` in
 * `scope`). Does nothing when the endpoint has no NetworkPolicy.
 */
export function admitMetricsScrapes(scope: Construct, namespace: string, port: number): void {
  const policy = scope.node.tryFindChild('NetworkPolicy');
  if (!policy) return;
  ApiObject.of(policy).addJsonPatch(JsonPatch.add('/spec/ingress/-', {
    from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } }],
    // The L1 converts IntOrString ports when it renders, after patches apply.
    ports: [{ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) }],
  }));
}
