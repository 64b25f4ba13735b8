/**
 * JSON spec -> construct props, by the generated type model (src/render/controller/): the
 * controller and the webhook read the custom resources with the same types the CRD schema
 * declares. A value of the wrong JSON type, an unknown field or a missing required field is a
 * SpecError naming the field.
 */
import * as cdk8s from 'cdk8s';
import * as plus from 'cdk8s-plus-33';
import { decodeCodec, DecodeContext } from './codecs';
import { SpecError } from './spec-error';
import * as library from '../../index';
import { SpecProp, SpecType } from '../../render/controller/spec-model';
import { SPEC_MODEL } from '../../render/controller/spec-model.generated';

export type { DecodeContext } from './codecs';

/** Decodes a JSON value of `type` at `field`. */
export function decodeValue(value: unknown, type: SpecType, field: string, ctx: DecodeContext): unknown {
  if ('primitive' in type) return decodePrimitive(value, type.primitive, field);
  if ('array' in type) {
    if (!Array.isArray(value)) throw new SpecError(field, `must be an array, got ${describe(value)}`);
    return value.map((v, i) => decodeValue(v, type.array, `${field}[${i}]`, ctx));
  }
  if ('map' in type) {
    const object = requireObject(value, field);
    return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, decodeValue(v, type.map, `${field}.${k}`, ctx)]));
  }
  if ('codec' in type) return decodeCodec(type.codec, value, field, ctx);
  if ('enum' in type) {
    const e = SPEC_MODEL.enums[type.enum];
    const values = e.members.map(m => m.value);
    if (typeof value !== 'string' || !values.includes(value)) {
      throw new SpecError(field, `must be one of ${values.join(', ')}, got ${describe(value)}`);
    }
    return value;
  }
  if ('struct' in type) return decodeStruct(value, SPEC_MODEL.structs[type.struct].props, field, ctx);
  return decodeUnion(value, type.union, field, ctx);
}

/** An object of `props`: unknown fields refused, required ones present, null taken as absent. */
export function decodeStruct(value: unknown, props: SpecProp[], field: string, ctx: DecodeContext): { [name: string]: unknown } {
  const object = requireObject(value, field);
  const byName = new Map(props.map(p => [p.name, p]));
  for (const key of Object.keys(object)) {
    if (!byName.has(key)) throw new SpecError(`${field}.${key}`, `is not a field here; known fields: ${[...byName.keys()].join(', ')}`);
  }
  const out: { [name: string]: unknown } = {};
  for (const p of props) {
    const v = object[p.name];
    if (v === undefined || v === null) {
      if (!p.optional) throw new SpecError(`${field}.${p.name}`, 'is required');
      continue;
    }
    out[p.name] = decodeValue(v, p.type, `${field}.${p.name}`, ctx);
  }
  return out;
}

function decodeUnion(value: unknown, fqn: string, field: string, ctx: DecodeContext): unknown {
  const union = SPEC_MODEL.unions[fqn];
  const object = requireObject(value, field);
  const keys = union.factories.map(f => f.key);
  const set = Object.keys(object).filter(k => object[k] !== undefined && object[k] !== null);
  const unknown = set.filter(k => !keys.includes(k));
  if (unknown.length > 0) throw new SpecError(`${field}.${unknown[0]}`, `is not a field here; set exactly one of ${keys.join(', ')}`);
  if (set.length !== 1) throw new SpecError(field, `must set exactly one of ${keys.join(', ')}, got ${set.length === 0 ? 'none' : set.join(', ')}`);
  const factory = union.factories.find(f => f.key === set[0])!;
  const at = `${field}.${factory.key}`;
  const args = decodeStruct(object[factory.key], factory.params, at, ctx);
  const cls = classOf(fqn);
  const call = () => factory.flattened ? cls[factory.method](args) : cls[factory.method](...factory.params.map(p => args[p.name]));
  try {
    return call();
  } catch (e) {
    if (!(e instanceof Error) || e.constructor !== Error) throw e; // a bug, not the spec's fault
    throw new SpecError(at, e.message);
  }
}

/** Union-like classes come from our library or from the assemblies whose structs our props reuse. */
const ASSEMBLIES: { [assembly: string]: unknown } = { 'cdk8s-model-serving': library, 'cdk8s-plus-33': plus, 'cdk8s': cdk8s };

function classOf(fqn: string): any {
  const [assembly, name] = fqn.split('.');
  const cls = (ASSEMBLIES[assembly] as any)?.[name];
  if (!cls) throw new Error(`the spec model names ${fqn}, which no known assembly exports (regenerate with crd:generate)`);
  return cls;
}

function decodePrimitive(value: unknown, primitive: string, field: string): unknown {
  switch (primitive) {
    case 'integer':
      if (!Number.isInteger(value)) throw new SpecError(field, `must be an integer, got ${describe(value)}`);
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new SpecError(field, `must be a number, got ${describe(value)}`);
      return value;
    default:
      if (typeof value !== primitive) throw new SpecError(field, `must be a ${primitive}, got ${describe(value)}`);
      return value;
  }
}

function requireObject(value: unknown, field: string): { [key: string]: unknown } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SpecError(field, `must be an object, got ${describe(value)}`);
  return value as { [key: string]: unknown };
}

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
