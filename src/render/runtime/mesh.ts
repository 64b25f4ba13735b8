/**
 * What runtimes mean for a ModelMesh: its members are our model server, which places models
 * on peers and forwards to them; third-party runtimes cannot take part. Internal.
 */
import { IConstruct } from 'constructs';
import { findCatalog } from './catalog';
import { servesFormat } from './select';
import { ModelFormat } from '../../constructs/model-format';
import { ServingRuntime } from '../../constructs/serving-runtime';

/** Throws if the scope's RuntimeCatalog does not allow our model server, which every member runs. */
export function assertMeshRuntimeAllowed(scope: IConstruct): void {
  const catalog = findCatalog(scope);
  if (catalog && !catalog.allows(ServingRuntime.MODEL_SERVER)) {
    throw new Error(`a ModelMesh runs ${ServingRuntime.MODEL_SERVER.name} on every member, which the RuntimeCatalog '${catalog.path}' does not allow (it allows ${catalog.runtimes.map(r => r.name).join(', ')}); add ServingRuntime.MODEL_SERVER to its 'runtimes'`);
  }
}

/** The refusal of a model whose format our server does not run, naming the runtimes that would serve it. */
export function meshFormatError(scope: IConstruct, model: string, format: ModelFormat): string {
  const available = findCatalog(scope)?.runtimes ?? ServingRuntime.builtIns();
  const serving = available.filter(r => servesFormat(r, format, false)).map(r => r.name);
  const where = serving.length > 0
    ? `serve it with a ModelEndpoint (runtimes for ${format.toString()}: ${serving.join(', ')})`
    : 'no runtime serves it; export the model to ONNX';
  return `model '${model}' has 'format' '${format.toString()}', which the mesh's model server does not run (it serves ONNX); a ModelMesh's members run only our model server, which routes between peers: ${where}`;
}
