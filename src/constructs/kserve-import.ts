import { Construct } from 'constructs';
import { CanaryRollout } from './canary-rollout';
import { IModelEndpoint, ModelEndpoint } from './model-endpoint';
import { ServingRuntime } from './serving-runtime';
import { buildNamespace, buildRuntimes } from '../kserve/import/build';
import { InputDocument, KServeInputError, parseDocuments } from '../kserve/import/documents';
import { importKServe } from '../kserve/import/import-documents';
import { formatEntry, isNotMapped } from '../kserve/import/report';

/** Options of `KServeImport.fromYaml` and `KServeImport.fromInferenceService`. */
export interface KServeImportOptions {
  /**
   * Build what maps and list the rest in `report`, instead of failing on the first field the
   * constructs cannot express.
   *
   * @default false - any unmapped, approximated or passed-through field fails with its document and path
   */
  readonly lenient?: boolean;

  /**
   * The name errors and the report give the input (`<fileName>#<document index>`).
   *
   * @default 'input'
   */
  readonly fileName?: string;
}

/** One line of the import report: a field the constructs did not express exactly, or a note. */
export interface KServeImportReportEntry {
  /** `<file>#<index>` of the document (index from 0). */
  readonly document: string;
  /** `Kind/name` of the object. */
  readonly object: string;
  /** The field's path (`spec.predictor.logger`), `.` for the whole object. */
  readonly path: string;
  /** `unmapped`, `approximated`, `passed-through` or `note`. */
  readonly outcome: string;
  /** Why, and what to do instead. */
  readonly reason: string;
}

/**
 * KServe resources as constructs: for apps that keep their KServe YAML and synthesize from it.
 *
 * Each `InferenceService` becomes a `ModelEndpoint` (with `addTransformer`/`addExplainer` for its
 * transformer and explainer), or a `CanaryRollout` while a canary split is in progress; each
 * `ServingRuntime`/`ClusterServingRuntime` a `ServingRuntime.custom(...)` that the endpoints naming it
 * use; each `InferenceGraph` an `InferenceGraph` whose steps call those endpoints. `TrainedModel`, ModelMesh
 * InferenceServices and non-KServe objects are kept as plain `ApiObject`s. Everything the constructs cannot express is in `report`; without `lenient`, any such
 * field fails the import. `npx cdk8s-model-serving kserve import` writes the same mapping as TypeScript.
 *
 * The constructs are children of this one (id `id`); endpoints keep their KServe names.
 *
 * @example
 * KServeImport.fromYaml(chart, 'kserve', fs.readFileSync('isvc.yaml', 'utf8'), { lenient: true });
 */
export class KServeImport extends Construct {
  /**
   * Imports every document of a KServe YAML text (multi-document, comments allowed).
   *
   * @throws if the text is not YAML, holds no KServe object, or has a field of the wrong type; and,
   * unless `lenient`, if a field has no counterpart
   */
  public static fromYaml(scope: Construct, id: string, yamlText: string, options: KServeImportOptions = {}): KServeImport {
    const file = options.fileName ?? 'input';
    return new KServeImport(scope, id, () => parseDocuments(file, yamlText), options);
  }

  /**
   * Imports one parsed InferenceService (or ServingRuntime) manifest, as from `yaml.parse`.
   *
   * @param manifest the object: `{ apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', ... }`
   */
  public static fromInferenceService(scope: Construct, id: string, manifest: any, options: KServeImportOptions = {}): KServeImport {
    const file = options.fileName ?? 'input';
    return new KServeImport(scope, id, () => {
      if (manifest === null || typeof manifest !== 'object' || Array.isArray(manifest)) {
        throw new KServeInputError(`${file}#0`, undefined, 'not a Kubernetes object: expected a map with apiVersion and kind');
      }
      return [{ file, index: 0, manifest }];
    }, options);
  }

  /** The endpoints built, in input order: `ModelEndpoint`s and `CanaryRollout`s. */
  public readonly endpoints: IModelEndpoint[] = [];
  /** The serving runtimes built from `ServingRuntime`/`ClusterServingRuntime` objects. */
  public readonly runtimes: ServingRuntime[] = [];
  /** What was not expressed exactly, and notes. */
  public readonly report: KServeImportReportEntry[];

  private constructor(scope: Construct, id: string, read: () => InputDocument[], options: KServeImportOptions) {
    super(scope, id);
    let plan;
    try {
      plan = importKServe(read());
    } catch (e) {
      // Bad input is the caller's: the message names the document and the field.
      if (e instanceof KServeInputError) throw new Error(`KServeImport: ${e.message}`);
      throw e;
    }
    const refused = plan.report.filter(isNotMapped);
    if (!options.lenient && refused.length > 0) {
      throw new Error(`KServeImport: ${refused.length} field(s) have no exact counterpart (set lenient: true to build the rest and list them in 'report'):\n${refused.map(e => `  ${formatEntry(e)}`).join('\n')}`);
    }
    this.report = plan.report.map(e => ({ ...e }));
    const runtimes = buildRuntimes(plan.runtimes, this);
    this.runtimes.push(...([...runtimes.values()] as ServingRuntime[]));
    for (const ns of plan.namespaces) {
      for (const built of buildNamespace(ns, this, runtimes, true)) {
        if (built instanceof ModelEndpoint || built instanceof CanaryRollout) this.endpoints.push(built);
      }
    }
  }
}
