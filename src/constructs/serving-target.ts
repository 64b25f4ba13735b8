/**
 * Which controller turns an endpoint's props into running pods.
 *
 * Set it per endpoint with `target`, or for a whole app with the cdk8s context key
 * `cdk8s-model-serving/target` (`app.node.setContext('cdk8s-model-serving/target', 'kserve')`
 * before any chart is added); the prop wins over the context.
 */
export enum ServingTarget {
  /**
   * Our own objects: a Knative Service (serverless) or a Deployment, Service and
   * HorizontalPodAutoscaler (raw), with the Istio, Gateway API or Ingress routes.
   */
  NATIVE = 'native',
  /**
   * A KServe `InferenceService` (`serving.kserve.io/v1beta1`), and a `ServingRuntime` when the
   * endpoint's runtime is not one KServe ships, for clusters that run KServe's controller.
   * KServe creates the pods, routes and autoscalers; the NetworkPolicy, monitors, alerts and
   * dashboard still come from the constructs, aimed at KServe's pods. Props KServe has no
   * field for fail at synth time, naming the prop.
   *
   * @see https://kserve.github.io/website/latest/reference/api/
   */
  KSERVE = 'kserve',
}
