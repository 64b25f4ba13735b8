/**
 * The import's entry point: KServe documents in, an `ImportPlan` out (what to build per namespace, and
 * the report). Checks each document's kind and apiVersion, maps runtimes before the InferenceServices
 * that name them, and keeps everything else as plain ApiObjects, reported.
 */
import { InputDocument, KServeInputError, documentName } from './documents';
import { FieldReader, Json } from './fields';
import { mapInferenceGraph } from './inference-graph';
import { mapInferenceService } from './inference-service';
import { VariableNames } from './names';
import { ImportPlan, NamespacePlan, RuntimeStatement, Statement } from './plan';
import { ReportEntry } from './report';
import { mapServingRuntime, RuntimeIndex } from './serving-runtime';
import { KSERVE } from '../../contract';

const LEFTOVER_REASON = 'no counterpart in cdk8s-model-serving';

/** The apiVersion each KServe kind is read in. */
const READ_VERSIONS: { [kind: string]: string } = {
  [KSERVE.kinds.inferenceService]: KSERVE.inferenceServiceApiVersion,
  [KSERVE.kinds.servingRuntime]: KSERVE.alphaApiVersion,
  [KSERVE.kinds.clusterServingRuntime]: KSERVE.alphaApiVersion,
  [KSERVE.kinds.trainedModel]: KSERVE.alphaApiVersion,
  [KSERVE.kinds.inferenceGraph]: KSERVE.alphaApiVersion,
};

/** Kinds kept as plain ApiObjects, with the reason the report gives. */
const PASSED_THROUGH_KINDS: { [kind: string]: string } = {
  [KSERVE.kinds.trainedModel]: 'a TrainedModel adds a model to a multi-model InferenceService at run time; the constructs place many models with ModelMesh.addModel, which needs a mesh and a memory estimate per model: kept as a plain ApiObject for KServe\'s controller',
};

/** Kubernetes version order (v1alpha1 < v1beta1 < v1 < v2alpha1 ...), as a sortable tuple. */
function versionRank(apiVersion: string): number[] {
  const m = /^v([0-9]+)(?:(alpha|beta)([0-9]+))?$/.exec(apiVersion.split('/')[1] ?? '');
  if (!m) return [0, 0, 0];
  return [Number(m[1]), m[2] === 'alpha' ? 0 : m[2] === 'beta' ? 1 : 2, Number(m[3] ?? 0)];
}

const newer = (a: string, b: string) => {
  const [x, y] = [versionRank(a), versionRank(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] > y[i];
  return false;
};

/** Checks apiVersion and kind; returns the kind. */
function checkKind(doc: InputDocument): string {
  const m = doc.manifest as Json;
  const where = documentName(doc);
  if (typeof m.kind !== 'string' || typeof m.apiVersion !== 'string') {
    throw new KServeInputError(where, m.kind === undefined || typeof m.kind === 'string' ? 'apiVersion' : 'kind', 'not a Kubernetes object: apiVersion and kind must be strings');
  }
  if (typeof m.metadata?.name !== 'string') throw new KServeInputError(where, 'metadata.name', 'is required (a string)');
  const group = m.apiVersion.split('/')[0];
  const wanted = READ_VERSIONS[m.kind];
  if (group === KSERVE.group && wanted !== undefined && m.apiVersion !== wanted) {
    throw new KServeInputError(where, 'apiVersion', `${m.kind} '${m.apiVersion}' is not supported: the import reads ${wanted}${newer(m.apiVersion, wanted) ? ' (a newer version needs a newer cdk8s-model-serving)' : ' (convert it with KServe\'s conversion webhook first)'}`);
  }
  return m.kind;
}

/** Maps KServe documents (any order) to what the constructs build, per namespace, with the report. */
export function importKServe(docs: readonly InputDocument[]): ImportPlan {
  if (docs.length === 0) throw new KServeInputError('input', undefined, 'not KServe: no documents');
  const kinds = docs.map(checkKind);
  if (!docs.some(d => String((d.manifest as Json).apiVersion).startsWith(`${KSERVE.group}/`))) {
    throw new KServeInputError(docs.length === 1 ? documentName(docs[0]) : 'input', 'apiVersion', `not KServe: no ${KSERVE.group} object (InferenceService, ServingRuntime, ...) in ${docs.length} document(s)`);
  }
  const report: ReportEntry[] = [];
  const variables = new VariableNames();
  const runtimeIndex = new RuntimeIndex();
  const runtimes: RuntimeStatement[] = [];
  const byNamespace = new Map<string, NamespacePlan>();
  const statementsOf = (ns: string | undefined): Statement[] => {
    const key = ns ?? '';
    if (!byNamespace.has(key)) byNamespace.set(key, { namespace: ns, statements: [] });
    return byNamespace.get(key)!.statements;
  };
  const finish = (r: FieldReader) => {
    r.mark('apiVersion');
    r.mark('kind');
    r.leftovers(LEFTOVER_REASON);
    report.push(...r.entries);
  };

  // Runtimes first, so an InferenceService can name one defined later in the input.
  docs.forEach((doc, i) => {
    if (kinds[i] !== KSERVE.kinds.servingRuntime && kinds[i] !== KSERVE.kinds.clusterServingRuntime) return;
    if (!String((doc.manifest as Json).apiVersion).startsWith(`${KSERVE.group}/`)) return;
    const r = new FieldReader(doc);
    runtimes.push(mapServingRuntime(r, variables, runtimeIndex));
    finish(r);
  });
  docs.forEach((doc, i) => {
    const m = doc.manifest as Json;
    const kserve = String(m.apiVersion).startsWith(`${KSERVE.group}/`);
    const kind = kinds[i];
    if (kserve && (kind === KSERVE.kinds.servingRuntime || kind === KSERVE.kinds.clusterServingRuntime)) return;
    const r = new FieldReader(doc);
    const namespace = typeof m.metadata?.namespace === 'string' ? m.metadata.namespace : undefined;
    // Graphs last, once the endpoints their steps name have variables.
    if (kserve && kind === KSERVE.kinds.inferenceGraph) return;
    if (kserve && kind === KSERVE.kinds.inferenceService) {
      const statement = mapInferenceService(r, { runtimes: runtimeIndex, variables });
      statementsOf(namespace).push(statement);
      if (statement.kind === 'endpoint') finish(r);
      else report.push(...r.entries);
      return;
    }
    const reason = kserve
      ? PASSED_THROUGH_KINDS[kind] ?? `a KServe kind the import does not know (${kind}): kept as a plain ApiObject`
      : 'not a KServe object: kept as a plain ApiObject';
    r.report('.', 'passed-through', reason);
    report.push(...r.entries);
    statementsOf(namespace).push({ kind: 'api-object', document: r.document, id: `${kind.toLowerCase()}-${m.metadata.name}`, manifest: m });
  });
  docs.forEach((doc, i) => {
    const m = doc.manifest as Json;
    if (kinds[i] !== KSERVE.kinds.inferenceGraph || !String(m.apiVersion).startsWith(`${KSERVE.group}/`)) return;
    const namespace = typeof m.metadata?.namespace === 'string' ? m.metadata.namespace : undefined;
    const statements = statementsOf(namespace);
    const endpoints = new Map<string, string>();
    for (const s of statements) if (s.kind === 'endpoint') endpoints.set(s.id, s.variable);
    const r = new FieldReader(doc);
    statements.push(mapInferenceGraph(r, { endpoints }));
    finish(r);
  });
  // KServe may auto-select a runtime by format for any InferenceService; the constructs use one only where named.
  const named = JSON.stringify([...byNamespace.values()]);
  for (const r of runtimes) {
    if (!named.includes(`"name":"${r.variable}"`)) {
      report.push({ document: r.document, object: `ServingRuntime/${r.runtimeName}`, path: '.', outcome: 'note', reason: 'no InferenceService here names it in runtime:, so no endpoint uses it (KServe could auto-select it by format): name it in an endpoint\'s runtime' });
    }
  }
  const namespaces = [...byNamespace.values()].sort((a, b) => (a.namespace ?? '').localeCompare(b.namespace ?? ''));
  return { runtimes, namespaces, report };
}
