/**
 * The format of a model, as KServe's `modelFormat`. Enum-like: use a constant or `custom()`.
 *
 * Our model server runs ONNX models; other formats get a `ServingRuntime` that serves them.
 *
 * @see https://kserve.github.io/website/latest/modelserving/servingruntimes/
 */
export class ModelFormat {
  /** ONNX, served by our model server through onnxruntime. */
  public static readonly ONNX = new ModelFormat('onnx');
  /** scikit-learn (joblib or pickle). */
  public static readonly SKLEARN = new ModelFormat('sklearn');
  /** XGBoost. */
  public static readonly XGBOOST = new ModelFormat('xgboost');
  /** LightGBM. */
  public static readonly LIGHTGBM = new ModelFormat('lightgbm');
  /** TensorFlow SavedModel. */
  public static readonly TENSORFLOW = new ModelFormat('tensorflow');
  /** PyTorch (TorchScript or MAR). */
  public static readonly PYTORCH = new ModelFormat('pytorch');
  /** Hugging Face transformers. */
  public static readonly HUGGINGFACE = new ModelFormat('huggingface');
  /** MLflow model (served by MLServer). */
  public static readonly MLFLOW = new ModelFormat('mlflow');
  /** NVIDIA TensorRT plan (served by Triton). */
  public static readonly TENSORRT = new ModelFormat('tensorrt');
  /** A Triton model repository of any backend (served by Triton). */
  public static readonly TRITON = new ModelFormat('triton');

  /**
   * Any other format.
   *
   * @param name the format name, lowercase
   * @param version the format version
   * @default version - any version
   */
  public static custom(name: string, version?: string): ModelFormat {
    if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) {
      throw new Error(`'ModelFormat.custom' takes a lowercase name of letters, digits, '.', '_' and '-', got '${name}'`);
    }
    return new ModelFormat(name, version);
  }

  /** The format name. */
  public readonly name: string;
  /** The format version, if one was given. */
  public readonly version?: string;

  private constructor(name: string, version?: string) {
    this.name = name;
    this.version = version;
  }

  /**
   * The same format at a version, as KServe's `modelFormat.version` (`'1'` for sklearn 1.x).
   */
  public withVersion(version: string): ModelFormat {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(version)) {
      throw new Error(`'ModelFormat.withVersion' takes a version of letters, digits, '.', '_' and '-', got '${version}'`);
    }
    return new ModelFormat(this.name, version);
  }

  /** `name` or `name:version`, as KServe's format labels. */
  public toString(): string {
    return this.version !== undefined ? `${this.name}:${this.version}` : this.name;
  }

  /** Whether our own model server can run this format. */
  public get servedByModelServer(): boolean {
    return this.name === 'onnx';
  }
}
