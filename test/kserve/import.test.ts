/**
 * KServe import (src/kserve/import/, KServeImport): every corpus file is imported, synthesized and
 * validated (schema, Pod Security restricted, Knative default flags, and the real API server through
 * test/cluster/jest-setup.ts); then explicit checks per field family, the report, and bad input.
 */
import { Chart, Testing } from 'cdk8s';
import { CorpusFile, readCorpus } from './corpus';
import { KnativeFeature, KServeImport } from '../../src';
import { KServeInputError, parseDocuments } from '../../src/kserve/import/documents';
import { importKServe } from '../../src/kserve/import/import-documents';
import { collectManifestErrors, expectValidManifests, findByKind, Manifest } from '../validation';
import { offlineManifestErrors } from '../validation/schema-validator';

const corpus = readCorpus();

/** One chart per corpus file, built with the runtime API (lenient), synthesized once. */
const synthesized = new Map<string, Manifest[]>();
const imports = new Map<string, KServeImport>();
beforeAll(() => {
  for (const c of corpus) {
    const chart = Testing.chart();
    imports.set(c.file, KServeImport.fromYaml(chart, 'kserve', c.text, { lenient: true, fileName: c.file }));
    synthesized.set(c.file, Testing.synth(chart) as Manifest[]);
  }
});

const objectsOf = (file: string) => synthesized.get(file)!;
const one = (file: string, kind: string, name: string) => findByKind(objectsOf(file), kind, name)[0];
const knativeTemplate = (file: string, name: string) => one(file, 'Service', name).spec.template;
const reportPaths = (c: CorpusFile, outcome = 'unmapped') => c.plan.report.filter(e => e.outcome === outcome).map(e => `${e.object} ${e.path}`);
const file = (prefix: string) => corpus.find(c => c.file.startsWith(prefix))!;

describe('the corpus', () => {
  test('has a source URL and the licence note in every file, and its InferenceServices are valid for KServe\'s CRD', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(11);
    for (const c of corpus) {
      expect(c.text.split('\napiVersion')[0]).toMatch(/^# Source: [^]*https:\/\/kserve\.github\.io|^# Source: [^]*https:\/\/github\.com\/kserve\//);
      for (const d of c.docs.filter(doc => doc.manifest.kind === 'InferenceService')) {
        expect({ doc: `${c.file}#${d.index}`, errors: offlineManifestErrors(d.manifest) }).toEqual({ doc: `${c.file}#${d.index}`, errors: [] });
      }
    }
  });

  test.each(corpus.map(c => [c.file]))('%s: import → synth passes the offline validators (and the API server)', (name) => {
    const c = corpus.find(x => x.file === name)!;
    const flags = c.plan.namespaces.flatMap(ns => ns.statements.flatMap(s => (s.kind === 'endpoint' ? s.knativeFlags : [])));
    const passedThrough = new Set(c.plan.namespaces.flatMap(ns => ns.statements.filter(s => s.kind === 'api-object').map(s => `${s.manifest.kind}/${(s.manifest.metadata as Manifest).name}`)));
    const ours = objectsOf(name).filter(o => !passedThrough.has(`${o.kind}/${o.metadata.name}`));
    if (c.plan.namespaces.every(ns => ns.statements.every(s => s.kind === 'api-object'))) {
      expect(ours).toEqual([]); // only pass-through objects, kept as they are
      return;
    }
    // TorchServe writes under its working directory (ServingRuntime.TORCHSERVE.writableRootFilesystem), so
    // its pods (and the transformer in front of one) are exempt from the read-only-root project default only.
    const torchserve = new Set(ours.filter(o => JSON.stringify(o.spec ?? {}).includes('pytorch/torchserve-kfs')).map(o => o.metadata.name));
    const errors = collectManifestErrors(ours, { knativeFlags: flags }).filter(e => {
      const m = /^[A-Za-z]+\/([a-z0-9-]+?)(-transformer)?: .*readOnlyRootFilesystem must be true \(project default\)$/.exec(e);
      return !(m && (torchserve.has(m[1]) || torchserve.has(`${m[1]}${m[2] ?? ''}`)));
    });
    expect(errors).toEqual([]);
  });
});

describe('field families', () => {
  test('new spelling: modelFormat sklearn over v2 runs MLServer, as KServe picks it (priority 2 over sklearnserver)', () => {
    const t = knativeTemplate('01-sklearn-model-format.yaml', 'sklearn-v2-iris');
    expect(t.spec.containers[0].image).toBe('docker.io/seldonio/mlserver:1.7.1');
  });

  test('old spelling: each framework field picks its runtime, over KServe\'s default protocol v1', () => {
    const f = '02-old-framework-fields.yaml';
    expect(knativeTemplate(f, 'sklearn-iris').spec.containers[0].image).toMatch(/^kserve\/sklearnserver:/);
    expect(knativeTemplate(f, 'xgboost-iris').spec.containers[0].image).toMatch(/^kserve\/xgbserver:/);
    expect(knativeTemplate(f, 'lightgbm-iris').spec.containers[0].image).toMatch(/^kserve\/lgbserver:/);
    expect(knativeTemplate(f, 'flower-sample').spec.containers[0].image).toMatch(/^tensorflow\/serving:/);
    expect(knativeTemplate(f, 'torchserve').spec.containers[0].image).toMatch(/^pytorch\/torchserve-kfs:/);
    expect(knativeTemplate(f, 'torchscript-cifar10').spec.containers[0].image).toMatch(/tritonserver/);
    expect(knativeTemplate(f, 'huggingface-bert').spec.containers[0].image).toMatch(/^kserve\/huggingfaceserver:/);
    const env = knativeTemplate(f, 'torchscript-cifar10').spec.containers[0].env;
    expect(env).toEqual(expect.arrayContaining([{ name: 'OMP_NUM_THREADS', value: '1' }]));
    expect(reportPaths(file('02'))).toEqual([
      'InferenceService/torchscript-cifar10 spec.predictor.triton.runtimeVersion',
      'InferenceService/huggingface-bert spec.predictor.huggingface.args',
    ]);
  });

  test('serverless scaling: scaleTarget/scaleMetric, replicas, containerConcurrency and timeout become Knative\'s settings', () => {
    const f = '03-autoscaling-serverless.yaml';
    const concurrency = knativeTemplate(f, 'flowers-sample').metadata.annotations;
    expect(concurrency['autoscaling.knative.dev/metric']).toBe('concurrency');
    expect(concurrency['autoscaling.knative.dev/target']).toBe('1');
    // KServe sets no max-scale when maxReplicas is unset: unbounded.
    expect(concurrency['autoscaling.knative.dev/max-scale']).toBe('0');
    const rps = knativeTemplate(f, 'flowers-sample-rps');
    expect(rps.metadata.annotations).toMatchObject({
      'autoscaling.knative.dev/metric': 'rps',
      'autoscaling.knative.dev/target': '50',
      'autoscaling.knative.dev/min-scale': '0',
      'autoscaling.knative.dev/max-scale': '5',
    });
    expect(rps.spec.containerConcurrency).toBe(10);
    expect(rps.spec.timeoutSeconds).toBe(60);
    const soft = knativeTemplate(f, 'torchserve-soft-limit').metadata.annotations;
    expect(soft['autoscaling.knative.dev/target']).toBe('10');
    expect(soft['autoscaling.knative.dev/scale-down-delay']).toBe('900s'); // 15m, as the construct writes durations
    expect(reportPaths(file('03'))).toEqual([]);
  });

  test('deployment modes: RawDeployment and Standard give a Deployment; Knative and no annotation a Knative Service', () => {
    const f = '04-raw-deployment-hpa.yaml';
    expect(one(f, 'Deployment', 'sklearn-iris-hpa').spec.template.spec.containers[0].resources).toEqual({
      requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '1Gi' },
    });
    const hpa = one(f, 'HorizontalPodAutoscaler', 'sklearn-iris-raw');
    expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 4 });
    expect(hpa.spec.metrics[0].resource).toEqual({ name: 'memory', target: { type: 'Utilization', averageUtilization: 60 } });
    expect(knativeTemplate(f, 'sklearn-iris-knative')).toBeDefined();
    expect(reportPaths(file('04'))).toEqual([]);
  });

  test('networking.kserve.io/visibility cluster-local: no public route (no VirtualService)', () => {
    const objs = objectsOf('04-raw-deployment-hpa.yaml');
    expect(objs.some(o => o.kind === 'VirtualService' && o.metadata.name === 'sklearn-iris-knative')).toBe(false);
  });

  test('serving.kserve.io/stop: the raw Deployment has 0 replicas and no autoscaler', () => {
    const f = '04-raw-deployment-hpa.yaml';
    expect(one(f, 'Deployment', 'sklearn-iris-stopped').spec.replicas).toBe(0);
    expect(objectsOf(f).some(o => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'sklearn-iris-stopped')).toBe(false);
  });

  test('canaryTrafficPercent below 100 becomes a CanaryRollout with this spec as stable, and the split is reported', () => {
    const c = file('05');
    const statements = c.plan.namespaces.flatMap(ns => ns.statements);
    expect(statements.map(s => (s.kind === 'endpoint' ? `${s.construct}/${s.id}` : s.kind))).toEqual([
      'CanaryRollout/sklearn-iris-canary', 'ModelEndpoint/sklearn-iris-promoted',
    ]);
    const entry = c.plan.report.find(e => e.path === 'spec.predictor.canaryTrafficPercent' && e.outcome === 'unmapped')!;
    expect(entry.reason).toMatch(/10% to this spec and 90% to the previous rolled-out revision/);
    expect(c.plan.namespaces[0].namespace).toBe('kserve-test');
    expect(objectsOf(c.file).every(o => o.metadata.namespace === 'kserve-test')).toBe(true);
  });

  test('transformer and explainer containers become the endpoint\'s transformer and explainer; ART is reported', () => {
    const f = '06-transformer-explainer.yaml';
    const transformer = knativeTemplate(f, 'torch-transformer-transformer').spec.containers[0];
    expect(transformer.image).toBe('kserve/image-transformer:latest');
    expect(transformer.args).toEqual(expect.arrayContaining(['--model_name', 'mnist']));
    const explainer = knativeTemplate(f, 'income-explainer').spec.containers[0];
    expect(explainer.image).toBe('kserve/alibi-explainer:v0.11.0');
    expect(knativeTemplate(f, 'income').spec.containers[0].resources.limits).toEqual({ cpu: '1', memory: '4Gi' });
    expect(reportPaths(file('06'))).toEqual(['InferenceService/artserver spec.explainer.art']);
    // KServe appends --predictor_host to the transformer's args; the construct sets PREDICTOR_HOST instead.
    expect(reportPaths(file('06'), 'approximated')).toEqual(['InferenceService/torch-transformer spec.transformer.containers.0']);
  });

  test('a custom container keeps its image, args and port; an h2c port means gRPC', () => {
    const c = knativeTemplate('07-custom-container.yaml', 'custom-model').spec.containers[0];
    expect(c.image).toBe('kserve/custom-model-grpc:latest');
    expect(c.args).toEqual(['--model_name=custom-model']);
    expect(c.ports).toEqual([expect.objectContaining({ containerPort: 8081, name: 'h2c' })]);
  });

  test('resources, GPUs, node selection, service account, labels and env carry over', () => {
    const f = '08-resources-scheduling.yaml';
    const pod = one(f, 'Deployment', 'flowers-gpu').spec.template;
    expect(pod.spec.containers[0].resources).toEqual({
      requests: { 'cpu': '2', 'memory': '4Gi', 'nvidia.com/gpu': '1' },
      limits: { 'cpu': '4', 'memory': '8Gi', 'nvidia.com/gpu': '1' },
    });
    expect(pod.spec.nodeSelector).toEqual({ 'nvidia.com/gpu.product': 'NVIDIA-A10G' });
    expect(pod.spec.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions)
      .toEqual([{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['us-east-1a', 'us-east-1b'] }]);
    expect(pod.spec.serviceAccountName).toBe('sa-models');
    expect(pod.metadata.labels.team).toBe('vision');
    expect(pod.spec.containers[0].env).toEqual(expect.arrayContaining([{ name: 'TF_CPP_MIN_LOG_LEVEL', value: '2' }]));
    expect(one(f, 'Deployment', 'flowers-gpu').metadata.namespace).toBe('ml-prod');
    expect(reportPaths(file('08'))).toEqual([]);
  });

  test('a ServingRuntime becomes ServingRuntime.custom and the InferenceService naming it runs it', () => {
    const f = '09-serving-runtime.yaml';
    const c = knativeTemplate(f, 'example-sklearn-isvc').spec.containers[0];
    expect(c.image).toBe('docker.io/seldonio/mlserver:1.3.2');
    expect(c.env).toEqual(expect.arrayContaining([{ name: 'MLSERVER_MODEL_IMPLEMENTATION', value: 'mlserver_sklearn.SKLearnModel' }]));
    expect(imports.get(f)!.runtimes.map(r => r.name)).toEqual(['example-mlserver-runtime', 'team-sklearnserver']);
    expect(imports.get(f)!.runtimes[1].args).toEqual(['--model_name={{modelName}}', '--model_dir=/mnt/models', '--http_port=8080']);
  });

  test('logger and batcher map to their props; a storage spec is reported, not dropped', () => {
    expect(reportPaths(file('10'))).toEqual([
      'InferenceService/sklearn-storage-spec spec.predictor.model.storage',
    ]);
  });

  test('ModelMesh InferenceServices, TrainedModel and other kinds pass through unchanged, reported', () => {
    const c = file('11');
    expect(reportPaths(c, 'passed-through')).toEqual([
      'InferenceService/example-sklearn-mm .', 'TrainedModel/model1 .', 'ConfigMap/model-settings .',
    ]);
    expect(one(c.file, 'TrainedModel', 'model1').spec).toEqual(c.docs[1].manifest.spec);
  });

  test('an InferenceGraph becomes an InferenceGraph construct: steps by serviceName call the InferenceService (not in the input: by name, over V2, noted)', () => {
    const c = file('11');
    const cm = findByKind(objectsOf(c.file), 'ConfigMap').find(m => m.metadata.labels?.['app.kubernetes.io/component'] === 'router')!;
    const base = (isvc: string) => `http://${isvc}.default.svc.cluster.local/v2/models/${isvc}/infer`;
    expect(JSON.parse(cm.data['graph.json'])).toEqual({
      nodes: {
        root: {
          routerType: 'Sequence',
          steps: [
            { name: 'cat_dog_classifier', serviceUrl: base('cat-dog-classifier') },
            { name: 'dog_breed_classifier', serviceUrl: base('dog-breed-classifier'), data: '$request', condition: '[@this].#(outputs.0.data.1==0)' },
          ],
        },
      },
    });
    expect(one(c.file, 'Service', 'dog-breed-pipeline').metadata.labels['app.kubernetes.io/component']).toBe('router');
    expect(reportPaths(c, 'note')).toEqual([
      'InferenceGraph/dog-breed-pipeline spec.nodes.root.steps.0.serviceName',
      'InferenceGraph/dog-breed-pipeline spec.nodes.root.steps.1.serviceName',
    ]);
    expect(reportPaths(c).filter(p => p.startsWith('InferenceGraph'))).toEqual([]);
  });

  test('an InferenceGraph over InferenceServices of the input names their endpoints; every field mapped', () => {
    const text = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: iris, namespace: ml }
spec: { predictor: { model: { modelFormat: { name: onnx }, storageUri: 's3://models/iris' } } }
---
apiVersion: serving.kserve.io/v1alpha1
kind: InferenceGraph
metadata:
  name: ab
  namespace: ml
  annotations: { serving.kserve.io/deploymentMode: RawDeployment }
spec:
  timeout: 30
  minReplicas: 2
  maxReplicas: 5
  resources: { requests: { cpu: 200m, memory: 128Mi }, limits: { cpu: "1", memory: 256Mi } }
  nodes:
    root:
      routerType: Splitter
      steps:
        - { serviceName: iris, weight: 80 }
        - { nodeName: other, weight: 20, dependency: Soft }
    other:
      routerType: Ensemble
      steps:
        - { name: ext, serviceUrl: 'http://ext.example.org/v1/models/x:predict' }
`;
    const plan = importKServe(parseDocuments('ab.yaml', text));
    expect(plan.report.filter(e => e.object === 'InferenceGraph/ab')).toEqual([]);
    const chart = new Chart(Testing.app(), 'ml', { namespace: 'ml' });
    KServeImport.fromYaml(chart, 'kserve', text, { fileName: 'ab.yaml' });
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests);
    const router = findByKind(manifests, 'Deployment', 'ab')[0];
    expect(router.spec.replicas).toBe(2);
    expect(router.spec.template.spec.containers[0].resources).toEqual({ requests: { cpu: '200m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } });
    const cm = findByKind(manifests, 'ConfigMap').find(m => m.metadata.labels?.['app.kubernetes.io/component'] === 'router')!;
    expect(JSON.parse(cm.data['graph.json'])).toEqual({
      nodes: {
        root: {
          routerType: 'Splitter',
          steps: [
            { name: 'iris', serviceUrl: 'http://iris.ml.svc.cluster.local:80/v1/models/iris:predict', weight: 80 },
            { name: 'other', nodeName: 'other', weight: 20, dependency: 'Soft' },
          ],
        },
        other: { routerType: 'Ensemble', steps: [{ name: 'ext', serviceUrl: 'http://ext.example.org/v1/models/x:predict' }] },
      },
      timeoutMs: 30000,
    });
  });
});

describe('environment references', () => {
  test('secret and ConfigMap keys become EnvValue references to the named objects; a fieldRef is reported', () => {
    const text = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: hf-llm }
spec:
  predictor:
    model:
      modelFormat: { name: huggingface }
      storageUri: hf://google-bert/bert-base-uncased
      env:
        - { name: HF_TOKEN, valueFrom: { secretKeyRef: { name: hf-secret, key: HF_TOKEN } } }
        - { name: LOG_LEVEL, valueFrom: { configMapKeyRef: { name: settings, key: level } } }
        - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
`;
    const chart = Testing.chart();
    const imported = KServeImport.fromYaml(chart, 'k', text, { lenient: true });
    const env = findByKind(Testing.synth(chart), 'Service', 'hf-llm')[0].spec.template.spec.containers[0].env;
    expect(env).toEqual(expect.arrayContaining([
      { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf-secret', key: 'HF_TOKEN' } } },
      { name: 'LOG_LEVEL', valueFrom: { configMapKeyRef: { name: 'settings', key: 'level' } } },
    ]));
    expect(env.some((e: { name: string }) => e.name === 'POD_IP')).toBe(false);
    expect(imported.report.filter(e => e.outcome === 'unmapped').map(e => e.path)).toEqual(['spec.predictor.model.env.2.valueFrom']);
  });
});

describe('image pull secrets', () => {
  test('the predictor\'s imagePullSecrets become the endpoint\'s, on the pod; one without a name fails naming its path', () => {
    const text = (secrets: string) => `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: private-iris }
spec:
  predictor:
    imagePullSecrets: ${secrets}
    model:
      modelFormat: { name: onnx }
      protocolVersion: v2
      storageUri: s3://models/iris/model.onnx
`;
    const chart = Testing.chart();
    const imported = KServeImport.fromYaml(chart, 'k', text('[{ name: regcred }, { name: mirror-cred }]'));
    expect(imported.report.filter(e => e.outcome === 'unmapped')).toEqual([]);
    const pod = findByKind(Testing.synth(chart), 'Service', 'private-iris')[0].spec.template.spec;
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }, { name: 'mirror-cred' }]);
    expect(() => KServeImport.fromYaml(Testing.chart(), 'k', text('[{ key: regcred }]')))
      .toThrow(/spec\.predictor\.imagePullSecrets\.0\.name: each image pull secret needs its Secret name/);
  });
});

describe('Knative feature flags', () => {
  test('an oci:// model (a modelcar) in serverless mode declares the process-namespace flag a default Knative refuses', () => {
    const text = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: iris-oci }
spec:
  predictor:
    model:
      modelFormat: { name: onnx }
      protocolVersion: v2
      storageUri: oci://registry.example.com/models/iris:1
`;
    const chart = Testing.chart();
    KServeImport.fromYaml(chart, 'k', text);
    const manifests = Testing.synth(chart);
    expectValidManifests(manifests, { knativeFlags: [KnativeFeature.SHARE_PROCESS_NAMESPACE] });
    expect(findByKind(manifests, 'Service', 'iris-oci')[0].spec.template.spec.shareProcessNamespace).toBe(true);
  });

  test('node selection in serverless mode declares the Knative flags it needs, as KServe\'s cluster must enable them', () => {
    const text = `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: gpu-iris }
spec:
  predictor:
    nodeSelector: { pool: gpu }
    tolerations: [{ key: gpu, operator: Exists }]
    model: { modelFormat: { name: onnx }, protocolVersion: v2, storageUri: 's3://models/iris.onnx' }
`;
    const chart = Testing.chart();
    KServeImport.fromYaml(chart, 'k', text);
    const template = findByKind(Testing.synth(chart), 'Service', 'gpu-iris')[0].spec.template;
    expect(template.spec.nodeSelector).toEqual({ pool: 'gpu' });
    expect(template.spec.tolerations).toEqual([{ key: 'gpu', operator: 'Exists' }]);
    const statement = importKServe(parseDocuments('x.yaml', text)).namespaces[0].statements[0];
    expect(statement.kind === 'endpoint' && statement.knativeFlags).toEqual(['kubernetes.podspec-nodeselector', 'kubernetes.podspec-tolerations']);
  });
});

describe('logger (payload logging)', () => {
  const isvc = (format: string, mode = 'request') => `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: iris, namespace: ml }
spec:
  predictor:
    logger: { mode: ${mode}, url: 'http://message-dumper.logs.svc.cluster.local' }
    model: { modelFormat: { name: ${format} }, storageUri: 's3://m/iris.onnx' }
`;
  test('served by our model server: maps to the logger prop, rendered as --payload-log-* flags, nothing reported', () => {
    const chart = Testing.chart();
    const imported = KServeImport.fromYaml(chart, 'k', isvc('onnx'));
    expect(imported.report.filter(e => e.outcome === 'unmapped')).toEqual([]);
    const args: string[] = findByKind(Testing.synth(chart), 'Service', 'iris')[0].spec.template.spec.containers[0].args;
    expect(args.slice(args.indexOf('--payload-log-url'), args.indexOf('--payload-log-url') + 4))
      .toEqual(['--payload-log-url', 'http://message-dumper.logs.svc.cluster.local', '--payload-log-mode', 'request']);
    const plan = importKServe(parseDocuments('x.yaml', isvc('onnx')));
    expect(JSON.stringify(plan.namespaces[0].statements[0])).toContain('LoggerMode');
  });
  test('served by a third-party runtime: maps too, and the agent sidecar logs for it', () => {
    const chart = Testing.chart();
    const imported = KServeImport.fromYaml(chart, 'k', isvc('sklearn').replace('s3://m/iris.onnx', 's3://m/iris/'));
    expect(imported.report.filter(e => e.outcome === 'unmapped')).toEqual([]);
    const containers = findByKind(Testing.synth(chart), 'Service', 'iris')[0].spec.template.spec.containers;
    expect(containers.map((c: any) => c.name)).toEqual(['model-server', 'agent']);
    expect(containers[1].args).toContain('--payload-log-url');
  });
  test('a batcher maps to the batcher prop (maxLatency in ms as a Duration); its timeout is reported', () => {
    const plan = importKServe(parseDocuments('x.yaml', `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: iris }
spec:
  predictor:
    batcher: { maxBatchSize: 8, maxLatency: 250, timeout: 60 }
    model: { modelFormat: { name: sklearn }, storageUri: 's3://m/iris/' }
`));
    const code = JSON.stringify(plan.namespaces[0].statements[0]);
    expect(code).toContain('maxBatchSize');
    expect(code).toContain('millis');
    expect(plan.report.filter(e => e.outcome === 'unmapped').map(e => e.path)).toEqual(['spec.predictor.batcher.timeout']);
  });
  test('an unknown mode is an error naming the field', () => {
    expect(() => importKServe(parseDocuments('x.yaml', isvc('onnx', 'both')))).toThrow(/spec.predictor.logger.mode.*must be all, request or response, got 'both'/);
  });
  test('a transformer\'s logger: reported, saying why (an imported transformer is a container of the user\'s)', () => {
    const plan = importKServe(parseDocuments('x.yaml', `${isvc('onnx')}  transformer:
    logger: { url: 'http://transformer-events.logs.svc.cluster.local' }
    containers: [{ name: kserve-container, image: 'example/feast-transformer:1' }]
`));
    const entry = plan.report.find(e => e.path === 'spec.transformer.logger')!;
    expect(entry.outcome).toBe('unmapped');
    expect(entry.reason).toMatch(/the transformer's logger maps to the transformer's own 'logger' only where our transformer runs; an imported transformer is your container/);
  });
});

describe('the report and strict mode', () => {
  test('a field the import never reads is reported with its path, not dropped', () => {
    const plan = importKServe(parseDocuments('x.yaml', `apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata: { name: iris }
spec:
  predictor:
    hostIPC: true
    model: { modelFormat: { name: onnx }, storageUri: 's3://m/iris.onnx', restartPolicy: Always }
`));
    expect(plan.report.filter(e => e.outcome === 'unmapped').map(e => e.path)).toEqual([
      'spec.predictor.hostIPC', 'spec.predictor.model.restartPolicy',
    ]);
  });

  test('fails without lenient, naming the document and every unmapped field', () => {
    const chart = Testing.chart();
    expect(() => KServeImport.fromYaml(chart, 'k', file('10').text, { fileName: '10.yaml' }))
      .toThrow(/1 field\(s\) have no exact counterpart[\s\S]*10.yaml#2 InferenceService\/sklearn-storage-spec spec.predictor.model.storage/);
  });

  test('fromInferenceService imports one parsed manifest into the chart\'s namespace', () => {
    const chart = new Chart(Testing.app(), 'c', { namespace: 'team-a' });
    const imported = KServeImport.fromInferenceService(chart, 'k', { apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', metadata: { name: 'iris' }, spec: { predictor: { model: { modelFormat: { name: 'onnx' }, protocolVersion: 'v2', storageUri: 's3://models/iris.onnx' } } } });
    expect(imported.endpoints.map(e => `${e.namespace}/${e.name}`)).toEqual(['team-a/iris']);
    expect(imported.report).toEqual([]);
  });
});

describe('bad input names the document and the field', () => {
  const fails = (text: string) => () => importKServe(parseDocuments('in.yaml', text));
  test('fails on text that is not YAML', () => {
    expect(fails('a: [1, 2\n')).toThrow(KServeInputError);
    expect(fails('a: [1, 2\n')).toThrow(/^in.yaml#0: not YAML/);
  });
  test('fails on YAML that is not KServe', () => {
    expect(fails('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n')).toThrow(/in.yaml#0 apiVersion: not KServe/);
    expect(fails('- a\n- b\n')).toThrow(/in.yaml#0: not a Kubernetes object/);
  });
  test('fails on a newer apiVersion', () => {
    expect(fails('apiVersion: serving.kserve.io/v1\nkind: InferenceService\nmetadata: { name: x }\nspec: {}\n'))
      .toThrow(/in.yaml#0 apiVersion: InferenceService 'serving.kserve.io\/v1' is not supported: the import reads serving.kserve.io\/v1beta1 \(a newer version/);
  });
  test('fails on a field of the wrong type', () => {
    expect(fails('---\n---\napiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata: { name: x }\nspec: { predictor: { minReplicas: "2", sklearn: { storageUri: "gs://b/m" } } }\n'))
      .toThrow(/in.yaml#1 spec.predictor.minReplicas: must be an integer, got string "2"/);
  });
});
