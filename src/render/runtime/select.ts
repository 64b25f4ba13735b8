/**
 * Which runtime serves an endpoint: the one it names, or the one KServe's rule picks for its
 * format and protocol from the scope's `RuntimeCatalog` (or the built-ins). Internal.
 *
 * KServe's rule (pkg/apis/serving/v1beta1/predictor_model.go, GetSupportingRuntimes and
 * sortSupportedRuntimeByPriority, kserve v0.20.0): keep the runtimes with an `autoSelect`
 * entry for the format (and its version, when the model names one) that speak the protocol,
 * then prefer the higher priority, stably. KServe breaks ties by creation time, which a
 * synthesized app does not have: the catalog's order decides instead.
 */
import { IConstruct } from 'constructs';
import { findCatalog } from './catalog';
import { InferenceProtocol } from '../../constructs/endpoint-options';
import { ModelFormat } from '../../constructs/model-format';
import { RuntimeModelFormat, ServingRuntime } from '../../constructs/serving-runtime';

/** What the selection reads from the endpoint's props. */
export interface RuntimeRequest {
  readonly format?: ModelFormat;
  readonly runtime?: ServingRuntime;
  readonly protocol: InferenceProtocol;
}

/** Whether `entry` matches `format` as KServe's format labels do (a version only if the model names one). */
function entryMatches(entry: RuntimeModelFormat, format: ModelFormat): boolean {
  if (entry.format.name !== format.name) return false;
  return format.version === undefined || entry.format.version === format.version;
}

/** Whether `runtime` serves `format`; `explicit` also counts entries without `autoSelect`. */
export function servesFormat(runtime: ServingRuntime, format: ModelFormat, explicit: boolean): boolean {
  return runtime.formats.some(e => entryMatches(e, format) && (explicit || e.autoSelect !== false));
}

/** The runtime's priority for the format: the first matching entry that has one. */
function priorityOf(runtime: ServingRuntime, format: ModelFormat): number | undefined {
  return runtime.formats.find(e => e.format.name === format.name && e.priority !== undefined)?.priority;
}

/** `name (format:version, ...)` of each runtime, for messages. */
function describe(runtimes: ServingRuntime[]): string {
  return runtimes.map(r => `${r.name} (${[...new Set(r.formats.map(f => f.format.toString()))].join(', ')})`).join('; ');
}

/**
 * The runtime of an endpoint, with the catalog's overrides.
 *
 * @param scope where the endpoint is, to find its `RuntimeCatalog`
 * @throws if the named runtime is not allowed or does not serve the format or protocol, or if
 * no runtime serves them
 */
export function selectRuntime(scope: IConstruct, request: RuntimeRequest): ServingRuntime {
  const catalog = findCatalog(scope);
  const available = catalog?.runtimes ?? ServingRuntime.builtIns();
  const format = request.format ?? ModelFormat.ONNX;
  const protocol = request.protocol;

  if (request.runtime) {
    const runtime = catalog ? catalog.apply(request.runtime) : request.runtime;
    if (request.format && !servesFormat(runtime, format, true)) {
      throw new Error(`'runtime' ${runtime.name} does not serve 'format' ${format.toString()}; it serves ${[...new Set(runtime.formats.map(f => f.format.toString()))].join(', ')}. Pick another runtime or leave 'runtime' out to pick one for the format`);
    }
    if (!runtime.protocols.includes(protocol)) {
      throw new Error(`'runtime' ${runtime.name} does not speak 'protocol' ${protocol}; it speaks ${runtime.protocols.join(', ')}. Set 'protocol' to one of these`);
    }
    return runtime;
  }

  const forFormat = available.filter(r => servesFormat(r, format, false));
  if (forFormat.length === 0) {
    throw new Error(`no runtime serves 'format' ${format.toString()}${catalog ? ` in the RuntimeCatalog '${catalog.path}'` : ''}. The runtimes and their formats: ${describe(available)}. Use one of these formats, set 'runtime' to a ServingRuntime.custom() that serves it${catalog ? ' (and add it to the catalog)' : ''}, or set 'container'`);
  }
  const candidates = forFormat.filter(r => r.protocols.includes(protocol));
  if (candidates.length === 0) {
    const protocols = [...new Set(forFormat.flatMap(r => r.protocols))];
    throw new Error(`no runtime serves 'format' ${format.toString()} over 'protocol' ${protocol}: ${forFormat.map(r => `${r.name} speaks ${r.protocols.join(', ')}`).join('; ')}. Set 'protocol' to one of ${protocols.join(', ')}`);
  }
  // Higher priority first; runtimes without one after those with one; otherwise catalog order.
  const ranked = candidates
    .map((runtime, index) => ({ runtime, index, priority: priorityOf(runtime, format) }))
    .sort((a, b) => {
      if (a.priority === undefined && b.priority === undefined) return a.index - b.index;
      if (a.priority === undefined) return 1;
      if (b.priority === undefined) return -1;
      return b.priority - a.priority || a.index - b.index;
    });
  return ranked[0].runtime;
}
