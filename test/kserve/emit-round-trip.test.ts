/**
 * Import → emit round trip over the KServe corpus (test/kserve/corpus/, sources per file): each
 * InferenceService is imported with `KServeImport` into an app whose cdk8s context selects the
 * KServe target, synthesized, and compared with the input.
 *
 * The comparison, after normalising both sides (the old per-framework spelling `predictor.sklearn`
 * as `predictor.model.modelFormat`, KServe 0.15's deployment-mode spellings as the old ones):
 * - every field of the input is in the output with the same value (env and containers matched by
 *   name, other lists in order), except the fields the import reported as not mapped exactly;
 * - every autoscaling and protocol field the output adds equals KServe's default for it, so the
 *   output does not behave differently where the input said nothing.
 * Additions that do not change behaviour are ours by design and not compared: labels, the Pod
 * Security context, our default resources, probes and ports of our runtime, the scratch volume.
 *
 * What cannot round-trip is listed per file in EXPECTED with the reason, and asserted.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Chart, Testing } from 'cdk8s';
import * as yaml from 'yaml';
import { KServeImport } from '../../src';
import { KSERVE, KSERVE_EMIT } from '../../src/contract';
import { expectValidManifests } from '../validation';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = { [key: string]: any };

const CORPUS = path.join(__dirname, 'corpus');

/** The per-framework fields of KServe's old spelling, as model formats (v1beta1 PredictorSpec). */
const FRAMEWORKS = ['sklearn', 'xgboost', 'tensorflow', 'pytorch', 'triton', 'onnx', 'pmml', 'lightgbm', 'paddle', 'huggingface'];

/** KServe's defaults for fields our output always sets (constants.DefaultMinReplicas, Knative's KPA, the HPA). */
function kserveDefault(field: string, serverless: boolean, component: Obj): unknown {
  switch (field) {
    case 'minReplicas': return 1;
    // Raw: the HPA's maximum is raised to the minimum (hpa_reconciler.go); serverless: 0, no limit.
    case 'maxReplicas': return serverless ? 0 : component.minReplicas ?? 1;
    case 'scaleMetric': return serverless ? 'concurrency' : 'cpu';
    case 'scaleTarget': return serverless ? 100 : 80;
    // Triton speaks V2 only (TritonSpec.GetProtocol, predictor_triton.go); every other runtime defaults to V1.
    case 'protocolVersion': return component.model?.modelFormat?.name === 'triton' ? 'v2' : 'v1';
    default: return undefined;
  }
}

function normaliseInput(isvc: Obj): Obj {
  const out = JSON.parse(JSON.stringify(isvc));
  const predictor = out.spec?.predictor ?? {};
  for (const framework of FRAMEWORKS) {
    if (predictor[framework]) {
      predictor.model = { modelFormat: { name: framework }, ...predictor[framework] };
      delete predictor[framework];
    }
  }
  const annotations: Obj = out.metadata?.annotations ?? {};
  const a = KSERVE.annotations;
  const mode = annotations[a.deploymentMode];
  if (mode === 'Knative') annotations[a.deploymentMode] = 'Serverless';
  if (mode === 'Standard') annotations[a.deploymentMode] = 'RawDeployment';
  // Annotations with a field of the same meaning, as the fields (KServe reads both; the emit writes the field).
  if (annotations[a.autoscalerClass] === 'hpa') delete annotations[a.autoscalerClass]; // constants.DefaultAutoscalerClass
  const asField: Array<[string, string]> = [
    [a.metric, 'scaleMetric'], [a.targetUtilizationPercentage, 'scaleTarget'], ['autoscaling.knative.dev/target', 'scaleTarget'],
  ];
  for (const [annotation, field] of asField) {
    if (annotations[annotation] === undefined) continue;
    predictor[field] ??= field === 'scaleTarget' ? Number(annotations[annotation]) : annotations[annotation];
    delete annotations[annotation];
  }
  // KServe copies the InferenceService's annotations to every component; the emit puts Knative's on the predictor.
  for (const [key, value] of Object.entries(annotations)) {
    if (!key.startsWith('autoscaling.knative.dev/')) continue;
    // Knative durations ('15m') as the emit writes them, in seconds.
    const seconds = /^(\d+)([smh])$/.exec(String(value));
    const written = key.endsWith('/scale-down-delay') && seconds ? `${Number(seconds[1]) * { s: 1, m: 60, h: 3600 }[seconds[2] as 's' | 'm' | 'h']}s` : value;
    predictor.annotations = { ...predictor.annotations, [key]: written };
    delete annotations[key];
  }
  return out;
}

/** Paths (`spec.predictor.model.storageUri`) where `expected` has a value `actual` lacks or differs in. */
function missingOrDifferent(expected: unknown, actual: unknown, at: string, out: string[]): void {
  if (expected === undefined) return;
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) { out.push(at); return; }
    // Containers by position: KServe runs a component's first container whatever its name (and the emit names it kserve-container).
    const byPosition = at.endsWith('.containers');
    expected.forEach((e, i) => {
      if (byPosition) {
        const { name: _name, ...rest } = e as Obj;
        missingOrDifferent(rest, actual[i], `${at}[${i}]`, out);
        return;
      }
      const named = e && typeof e === 'object' && 'name' in e;
      const match = named ? actual.find((a: Obj) => a?.name === (e as Obj).name) : actual[i];
      missingOrDifferent(e, match, `${at}[${named ? (e as Obj).name : i}]`, out);
    });
    return;
  }
  if (expected && typeof expected === 'object') {
    if (!actual || typeof actual !== 'object') { out.push(at); return; }
    for (const [k, v] of Object.entries(expected)) missingOrDifferent(v, (actual as Obj)[k], at ? `${at}.${k}` : k, out);
    return;
  }
  // Kubernetes quantities and numbers-as-strings compare by text.
  if (String(expected) !== String(actual)) out.push(at);
}

/** Fields the output sets that the input left to KServe's default, with a different value. */
function changedDefaults(input: Obj, output: Obj): string[] {
  const serverless = output.metadata.annotations[KSERVE.annotations.deploymentMode] === 'Serverless';
  const out: string[] = [];
  for (const component of KSERVE.components) {
    const i = input.spec?.[component];
    const o = output.spec?.[component];
    if (!o) continue;
    for (const field of ['minReplicas', 'maxReplicas', 'scaleMetric', 'scaleTarget']) {
      if (i?.[field] === undefined && o[field] !== undefined && o[field] !== kserveDefault(field, serverless, i ?? {})) {
        out.push(`spec.${component}.${field}=${o[field]}`);
      }
    }
  }
  const protocol = output.spec?.predictor?.model?.protocolVersion;
  const inputPredictor = input.spec?.predictor ?? {};
  if (inputPredictor.model?.protocolVersion === undefined && protocol !== undefined && protocol !== kserveDefault('protocolVersion', serverless, inputPredictor)) {
    out.push(`spec.predictor.model.protocolVersion=${protocol}`);
  }
  return out;
}

interface FileOutcome {
  /** Per InferenceService name: input fields lost or changed, and defaults changed. */
  readonly differences: { [name: string]: string[] };
  /** The import's report of fields it did not map exactly (`path: outcome`). */
  readonly reported: string[];
  /** The synth error, when the KServe target refuses what the import built. */
  readonly refused?: string;
}

function roundTrip(file: string): FileOutcome {
  const text = fs.readFileSync(path.join(CORPUS, file), 'utf8');
  const inputs = yaml.parseAllDocuments(text).map(d => d.toJSON() as Obj)
    .filter(d => d?.kind === KSERVE.kinds.inferenceService && d.metadata?.annotations?.[KSERVE.annotations.deploymentMode] !== 'ModelMesh');
  const app = Testing.app();
  app.node.setContext(KSERVE_EMIT.targetContextKey, 'kserve');
  const chart = new Chart(app, 'round-trip');
  let imported: KServeImport;
  let manifests: Obj[];
  try {
    imported = KServeImport.fromYaml(chart, 'kserve', text, { lenient: true, fileName: file });
    manifests = Testing.synth(chart);
  } catch (e) {
    return { differences: {}, reported: [], refused: (e as Error).message.split('\n')[0] };
  }
  // Schema and Pod Security restricted; not our project defaults, which an imported spec may have chosen against.
  // A TrainedModel passes through the import untouched (and has no vendored schema).
  const emitted = manifests.filter(m => [KSERVE.kinds.inferenceService, KSERVE.kinds.servingRuntime, KSERVE.kinds.inferenceGraph].includes(m.kind));
  expectValidManifests(emitted, { projectDefaults: false });
  const reported = imported.report.filter(e => e.outcome !== 'note').map(e => `${e.object} ${e.path}: ${e.outcome}`);
  const differences: { [name: string]: string[] } = {};
  for (const input of inputs) {
    const name = input.metadata.name;
    const output = manifests.find(m => m.kind === KSERVE.kinds.inferenceService && m.metadata.name === name);
    if (!output) { differences[name] = ['no InferenceService emitted']; continue; }
    const normalised = normaliseInput(input);
    const lost: string[] = [];
    missingOrDifferent({ metadata: { name, annotations: normalised.metadata.annotations, labels: normalised.metadata.labels }, spec: normalised.spec }, output, '', lost);
    // What the import reported is a known loss, listed in `reported`, not compared again.
    const known = imported.report.filter(e => e.object.endsWith(`/${name}`))
      .map(e => e.path.replace(new RegExp(`^spec\\.predictor\\.(${FRAMEWORKS.join('|')})\\.`), 'spec.predictor.model.'));
    // A reported field, what is under it, or a component whose only content was a reported field.
    const unexpected = lost.filter(p => !known.some(k => p === k || p.startsWith(`${k}.`) || p.startsWith(`${k}[`) || k.startsWith(`${p}.`)));
    differences[name] = [...unexpected, ...changedDefaults(normalised, output)];
  }
  return { differences, reported };
}

/**
 * What each corpus file gives, reviewed: `differences` lists, per InferenceService, what does not
 * round-trip (empty: equivalent); `reported` is what the import said it could not map, which the
 * emitted InferenceService therefore lacks.
 */
const EXPECTED: { [file: string]: FileOutcome } = {
  '01-sklearn-model-format.yaml': { differences: { 'sklearn-v2-iris': [] }, reported: [] },
  '02-old-framework-fields.yaml': {
    differences: {
      'sklearn-iris': [],
      'xgboost-iris': [],
      'lightgbm-iris': [],
      'flower-sample': [],
      'torchserve': [],
      'style-sample': [],
      'torchscript-cifar10': [],
      'huggingface-bert': [],
    },
    reported: [
      // KServe's runtimeVersion re-tags the runtime's image; the constructs pin images instead.
      'InferenceService/torchscript-cifar10 spec.predictor.triton.runtimeVersion: unmapped',
      // Extra args for a runtime KServe ships: ModelEndpoint has no prop for them.
      'InferenceService/huggingface-bert spec.predictor.huggingface.args: unmapped',
    ],
  },
  '03-autoscaling-serverless.yaml': { differences: { 'flowers-sample': [], 'flowers-sample-rps': [], 'torchserve-soft-limit': [] }, reported: [] },
  '04-raw-deployment-hpa.yaml': {
    differences: { 'sklearn-iris-hpa': [], 'sklearn-iris-raw': [], 'sklearn-iris-knative': [], 'sklearn-iris-stopped': [] },
    reported: [],
  },
  '05-canary.yaml': {
    differences: { 'sklearn-iris-canary': [], 'sklearn-iris-promoted': [] },
    // The YAML holds only the canary (KServe keeps the previous revision, not its spec): no CanaryRollout to build.
    reported: ['InferenceService/sklearn-iris-canary spec.predictor.canaryTrafficPercent: unmapped'],
  },
  '06-transformer-explainer.yaml': {
    differences: {
      // The import leaves a component's maxReplicas to the constructs' default, 3; KServe's is 0 (no limit).
      'torch-transformer': ['spec.transformer.maxReplicas=3'],
      'artserver': [],
      'income': ['spec.explainer.maxReplicas=3'],
    },
    reported: [
      // KServe appends --predictor_host and --model_name to a custom transformer; the construct passes PREDICTOR_HOST instead.
      'InferenceService/torch-transformer spec.transformer.containers.0: approximated',
      // KServe's ART explainer has no counterpart in the constructs.
      'InferenceService/artserver spec.explainer.art: unmapped',
    ],
  },
  '07-custom-container.yaml': { differences: { 'custom-model': [] }, reported: [] },
  '08-resources-scheduling.yaml': { differences: { 'flowers-gpu': [] }, reported: [] },
  '09-serving-runtime.yaml': {
    differences: { 'example-sklearn-isvc': [] },
    // Runtime-level default resources: ServingRuntime.custom() has no field; the endpoint's resources apply.
    reported: ['ServingRuntime/example-mlserver-runtime spec.containers.0.resources: unmapped'],
  },
  '10-logger-batcher-storage.yaml': {
    differences: { 'sklearn-logger': [], 'torchserve-batcher': [], 'sklearn-storage-spec': [] },
    // logger and batcher map to their props (KServe's own fields on emit); a storage spec has no prop.
    reported: [
      'InferenceService/sklearn-storage-spec spec.predictor.model.storage: unmapped',
    ],
  },
  '11-modelmesh-trainedmodel-graph.yaml': {
    // Nothing to round-trip among InferenceServices: a ModelMesh InferenceService (ModelMesh is not an
    // InferenceService target here) and a TrainedModel have no counterpart, so the import keeps them as
    // they are (ApiObjects, emitted unchanged), and the ConfigMap is not KServe's. The InferenceGraph
    // round-trips (its own test below).
    differences: {},
    reported: [
      'InferenceService/example-sklearn-mm .: passed-through',
      'TrainedModel/model1 .: passed-through',
      'ConfigMap/model-settings .: passed-through',
    ],
  },
};

describe('import → emit round trip over the corpus', () => {
  const files = fs.readdirSync(CORPUS).filter(f => f.endsWith('.yaml')).sort();

  test('every corpus file has an expected outcome', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(files);
  });

  test.each(files)('%s', (file) => {
    const outcome = roundTrip(file);
    if (process.env.PRINT_ROUND_TRIP) console.log(JSON.stringify({ [file]: outcome }, null, 2));
    expect(outcome).toEqual(EXPECTED[file]);
  });
});

test('an InferenceGraph round-trips: imported as an InferenceGraph construct, emitted for the KServe target with the same nodes', () => {
  const file = '11-modelmesh-trainedmodel-graph.yaml';
  const text = fs.readFileSync(path.join(CORPUS, file), 'utf8');
  const input = yaml.parseAllDocuments(text).map(d => d.toJSON() as Obj).find(d => d?.kind === KSERVE.kinds.inferenceGraph)!;
  const app = Testing.app();
  app.node.setContext(KSERVE_EMIT.targetContextKey, 'kserve');
  const chart = new Chart(app, 'round-trip');
  KServeImport.fromYaml(chart, 'kserve', text, { lenient: true, fileName: file });
  const emitted = Testing.synth(chart).find(m => m.kind === KSERVE.kinds.inferenceGraph && m.metadata.name === input.metadata.name);
  expect(emitted.spec.nodes).toEqual(input.spec.nodes);
});
