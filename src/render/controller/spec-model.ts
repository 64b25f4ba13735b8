/**
 * The type model of our custom resources' `spec`, shared by the generator (scripts/crd/) and the
 * decoder (src/controller/spec/): what each JSON field is and how it becomes a construct prop.
 * The generator derives it from the jsii assembly; it is written into
 * src/render/controller/spec-model.generated.ts, never by hand.
 */

/** How one JSON value maps to a prop value. */
export type SpecType =
  | { readonly primitive: 'string' | 'number' | 'integer' | 'boolean' }
  | { readonly array: SpecType }
  | { readonly map: SpecType }
  /** A jsii struct (interface with `datatype`): an object of its props. */
  | { readonly struct: string }
  /** A jsii enum: the member's string value. */
  | { readonly enum: string }
  /** A union-like class: an object with exactly one key, the factory, whose value holds its parameters. */
  | { readonly union: string }
  /** A type with a fixed JSON form (quantities, durations, names of referenced objects, ...). */
  | { readonly codec: CodecName };

/** Types whose JSON form is fixed here rather than derived from the assembly. */
export type CodecName =
  | 'duration' | 'size' | 'cpu' | 'envValue'
  | 'storageUri' | 'modelFormat' | 'modelCopies'
  | 'serviceAccountName' | 'secretName' | 'configMapName';

export interface SpecProp {
  /** The prop name (also the JSON field). */
  readonly name: string;
  readonly type: SpecType;
  readonly optional: boolean;
  readonly description: string;
  /** The JSON form of the prop's `@default`, when that is a literal. */
  readonly default?: unknown;
}

export interface SpecStruct {
  readonly fqn: string;
  readonly props: SpecProp[];
}

export interface SpecFactory {
  /** The JSON key: the method name without a leading `from` (`fromModelDir` -> `modelDir`). */
  readonly key: string;
  /** The static method of the class. */
  readonly method: string;
  readonly description: string;
  /** The parameters, in call order. */
  readonly params: SpecProp[];
  /** Whether the only parameter is a struct whose props are the object's fields (`istio(options)`). */
  readonly flattened: boolean;
}

export interface SpecUnion {
  readonly fqn: string;
  readonly description: string;
  readonly factories: SpecFactory[];
}

export interface SpecEnum {
  readonly fqn: string;
  readonly description: string;
  /** Member name -> string value. */
  readonly members: Array<{ readonly name: string; readonly value: string; readonly description: string }>;
}

/** One custom resource: its props type plus what `add*` methods contribute (`spec.transformer`). */
export interface SpecRoot {
  readonly kind: string;
  /** The construct the controller instantiates. */
  readonly construct: string;
  /** The construct's props struct. */
  readonly props: string;
  readonly description: string;
  /** Fields set by calling a method of the construct after construction. */
  readonly methods: Array<{ readonly field: string; readonly method: string; readonly type: string; readonly description: string }>;
}

export interface SpecModel {
  readonly roots: SpecRoot[];
  readonly structs: { [fqn: string]: SpecStruct };
  readonly unions: { [fqn: string]: SpecUnion };
  readonly enums: { [fqn: string]: SpecEnum };
}
