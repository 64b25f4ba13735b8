/**
 * Knative Serving feature flags (`config-features` in `knative-serving`) that some endpoint
 * settings need. They are off in a default Knative install, so an endpoint that needs one
 * fails synth unless you declare, with `knativeFeatures`, that your cluster enables it.
 *
 * @see https://knative.dev/docs/serving/configuration/feature-flags/
 */
export enum KnativeFeature {
  /** Init containers, for a storage initializer in front of a custom container. */
  INIT_CONTAINERS = 'kubernetes.podspec-init-containers',
  /** PersistentVolumeClaim volumes, for `pvc://` models. */
  PERSISTENT_VOLUME_CLAIM = 'kubernetes.podspec-persistent-volume-claim',
  /** `nodeSelector` on the pod. */
  NODE_SELECTOR = 'kubernetes.podspec-nodeselector',
  /** `tolerations` on the pod. */
  TOLERATIONS = 'kubernetes.podspec-tolerations',
  /** `affinity` on the pod. */
  AFFINITY = 'kubernetes.podspec-affinity',
  /** A pod-level `securityContext`. */
  POD_SECURITY_CONTEXT = 'kubernetes.podspec-securitycontext',
  /** Environment variables from `fieldRef` (the downward API). */
  FIELD_REF = 'kubernetes.podspec-fieldref',
  /** Probes on containers other than the serving one, for a collocated transformer's predictor. */
  MULTI_CONTAINER_PROBING = 'multi-container-probing',
  // rt-storage (issue 15): oci:// models
  /** `shareProcessNamespace`, for an `oci://` model mounted through KServe's modelcar sidecar. */
  SHARE_PROCESS_NAMESPACE = 'kubernetes.podspec-shareprocessnamespace',
  /** `image` volumes, for an `oci://` model mounted as an image volume. */
  IMAGE_VOLUMES = 'kubernetes.podspec-volumes-image',
}
