export * from './endpoint-ingress';
export * from './endpoint-monitoring';
export * from './endpoint-options';
export * from './knative-features';
export * from './model-endpoint';
export * from './model-format';
export * from './scheduling';
export * from './storage-uri';
