/**
 * A custom resource whose spec the constructs refuse. `field` names the JSON field
 * (`spec.minReplicas`); `detail` is the text the construct prints at `cdk8s synth`. The
 * validating webhook returns `message`; the controller puts it in the `Ready=False` condition.
 */
export class SpecError extends Error {
  /** The reason of the `Ready=False` condition and of the Event. */
  public static readonly REASON = 'InvalidSpec';

  constructor(
    /** The JSON path of the field at fault (`spec`, `spec.transformer.minReplicas`, `metadata.name`). */
    public readonly field: string,
    /** What the construct says (or, for a wrong JSON type, what the field must be). */
    public readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'SpecError';
  }
}
