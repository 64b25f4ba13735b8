/** Custom resource spec -> construct props -> objects, in memory (used by the reconciler and the validating webhook). */
export { SpecError } from './spec-error';
export { CustomResource, DecodedSpec, KubeObject, renderCustomResource, rolloutAnalysisOf, RolloutTraffic, specToProps, validateCustomResource } from './render';
