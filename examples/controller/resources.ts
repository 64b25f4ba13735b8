/**
 * One custom resource of each kind, as a user writes them for `kubectl apply` once the
 * controller is installed: the spec is the construct's props in plain JSON.
 */
export const API_VERSION = 'serving.cdk8s-model-serving.io/v1alpha1';

export const RESOURCES = [
  {
    kind: 'ModelEndpoint',
    name: 'iris',
    spec: {
      modelName: 'iris',
      storageUri: 's3://models/iris/iris-logreg.onnx',
      storageCredentials: 'model-store-credentials',
      minReplicas: 1,
      maxReplicas: 5,
      scaleMetric: 'concurrency',
      scaleTarget: 20,
      timeout: '30s',
      resources: { cpu: { request: '500m', limit: '1' }, memory: { request: '512Mi', limit: '1Gi' } },
      transformer: { module: { code: { code: 'exports.preprocess = (body) => body;\n' } } },
      explainer: { method: 'kernel_shap', samples: 256 },
    },
  },
  {
    kind: 'CanaryRollout',
    name: 'diabetes',
    spec: {
      modelName: 'diabetes',
      stable: { version: 'v1', storageUri: 's3://models/diabetes/v1/model.onnx' },
      canary: { version: 'v2', storageUri: 's3://models/diabetes/v2/model.onnx' },
      trafficPercent: 10,
      mode: 'RawDeployment',
    },
  },
  {
    kind: 'ModelMesh',
    name: 'churn',
    spec: {
      memoryPerServer: '2Gi',
      replicas: 3,
      models: [
        { name: 'churn-small', storageUri: 's3://models/churn/small/model.onnx', memoryEstimate: '64Mi', copies: 'all' },
        { name: 'churn-large', storageUri: 's3://models/churn/large/model.onnx', memoryEstimate: '512Mi', copies: 2 },
      ],
    },
  },
];
