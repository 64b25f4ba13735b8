/**
 * A loaded ONNX model: an onnxruntime-node session plus metadata read from it once.
 */
import * as ort from 'onnxruntime-node';
import { Cancellation, RunBatcher } from './batcher';
import { DatatypeInfo, datatypeOfOrt } from '../inference/datatypes';
import { TensorMetadata } from '../inference/types';

/**
 * Node 24 has a global `Float16Array`, and onnxruntime-common then turns FP16 data into one, which
 * onnxruntime-node 1.30's binding cannot read (N-API has no type for it: "not enough space:
 * expected 8, got 0"). onnxruntime-common picks its FP16 array type once, at the first `Tensor`:
 * make that first tensor here, with `Float16Array` hidden, so FP16 stays a Uint16Array of IEEE
 * halves, as on Node 20 (test/server/binary-tensors.test.ts runs on both in CI).
 */
function keepFp16AsUint16(): void {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'Float16Array');
  if (!descriptor?.configurable) {
    new ort.Tensor('float32', new Float32Array(1), [1]);
    return;
  }
  delete (globalThis as { Float16Array?: unknown }).Float16Array;
  try {
    new ort.Tensor('float32', new Float32Array(1), [1]);
  } finally {
    Object.defineProperty(globalThis, 'Float16Array', descriptor);
  }
}
keepFp16AsUint16();

/** Input or output of a model, with everything the hot path needs precomputed. */
export interface TensorSpec extends TensorMetadata {
  readonly info: DatatypeInfo;
}

/** The platform string of V2 model metadata for ONNX Runtime models. */
export const ONNX_PLATFORM = 'onnx_onnxv1';

/** A model loaded into onnxruntime. */
export class OnnxModel {
  /** Loads the model at `path`; throws onnxruntime's error for a corrupt or missing file. */
  public static async load(path: string): Promise<OnnxModel> {
    const session = await ort.InferenceSession.create(path, {
      // One inference request is small; let many requests run side by side instead of
      // spreading each over all cores.
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
    return new OnnxModel(session);
  }

  public readonly inputs: TensorSpec[];
  public readonly outputs: TensorSpec[];
  public readonly inputsByName: Map<string, TensorSpec>;
  public readonly outputsByName: Map<string, TensorSpec>;
  public readonly outputNames: string[];
  /** Joins concurrent requests into one session call; unset for models that cannot batch. */
  public readonly batcher?: RunBatcher;

  private constructor(private readonly session: ort.InferenceSession) {
    this.inputs = session.inputMetadata.map((m) => spec(m, 'input'));
    this.outputs = session.outputMetadata.map((m) => spec(m, 'output'));
    this.inputsByName = new Map(this.inputs.map((t) => [t.name, t]));
    this.outputsByName = new Map(this.outputs.map((t) => [t.name, t]));
    this.outputNames = this.outputs.map((t) => t.name);
    if (batchable(this.inputs) && batchable(this.outputs)) {
      this.batcher = new RunBatcher(
        (feeds, names) => this.session.run(feeds, names),
        (type, data, dims) => new ort.Tensor(type, data as Float32Array, dims),
        MAX_BATCH_ROWS,
      );
    }
  }

  /**
   * Runs the model on `feeds` and returns the requested outputs. A request that waits in the
   * batcher's queue is dropped if `cancellation` is set before its turn (a started run finishes).
   */
  public async run(
    feeds: Record<string, ort.Tensor>, outputNames: readonly string[], cancellation?: Cancellation,
  ): Promise<Record<string, ort.Tensor>> {
    return this.batcher ? this.batcher.run(feeds, outputNames, cancellation) : this.session.run(feeds, outputNames);
  }

  /** Frees the native session. */
  public async release(): Promise<void> {
    await this.session.release();
  }
}

/** The most rows one joined session call carries. */
const MAX_BATCH_ROWS = 256;

/** Every tensor has a dynamic leading (batch) dimension and a numeric type. */
function batchable(tensors: TensorSpec[]): boolean {
  return tensors.length > 0 && tensors.every((t) => t.shape.length > 0 && t.shape[0] === -1 && t.datatype !== 'BYTES');
}

function spec(m: ort.InferenceSession.ValueMetadata, what: string): TensorSpec {
  if (!m.isTensor) {
    throw new Error(`${what} '${m.name}' is not a tensor (maps and sequences are not supported)`);
  }
  const info = datatypeOfOrt(m.type);
  if (!info) {
    throw new Error(`${what} '${m.name}' has element type '${m.type}', which the server does not support`);
  }
  // Symbolic (string) and unknown dimensions are dynamic: -1 in V2 metadata.
  const shape = m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1));
  return { name: m.name, datatype: info.datatype, shape, info };
}

/** Re-exported so callers build tensors with the same module instance. */
export { ort };
