/**
 * Decoding of the spec types with a fixed JSON form (their schemas are in scripts/crd/schema.ts):
 * durations ("30s", "1h30m"), byte and CPU quantities, environment values, storage URIs, model
 * formats, model copies, and names of referenced ServiceAccounts, Secrets and ConfigMaps.
 */
import { Duration, Size } from 'cdk8s';
import { ConfigMap, Cpu, EnvFieldPaths, EnvValue, Secret, ServiceAccount } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import { SpecError } from './spec-error';
import { ModelCopies, ModelFormat, StorageUri } from '../../index';
import { CodecName } from '../../render/controller/spec-model';

/** Where imported references (`Secret.fromSecretName`) are created, one construct id per field. */
export interface DecodeContext {
  readonly references: Construct;
}

const DURATION_UNITS: { [unit: string]: number } = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const BYTE_UNITS: { [unit: string]: number } = {
  '': 1,
  'Ki': 2 ** 10,
  'Mi': 2 ** 20,
  'Gi': 2 ** 30,
  'Ti': 2 ** 40,
  'Pi': 2 ** 50,
  'k': 1e3,
  'M': 1e6,
  'G': 1e9,
  'T': 1e12,
  'P': 1e15,
};

/** "1h30m" -> Duration.minutes(90): the smallest unit written, so the construct sees whole units. */
export function decodeDuration(value: unknown, field: string): Duration {
  if (typeof value !== 'string' || !/^([0-9]+(ms|s|m|h|d))+$/.test(value)) {
    throw new SpecError(field, `must be a duration such as 30s, 5m, 1h30m or 500ms, got ${JSON.stringify(value)}`);
  }
  let ms = 0;
  let smallest = DURATION_UNITS.d;
  for (const [, amount, unit] of value.matchAll(/([0-9]+)(ms|s|m|h|d)/g)) {
    ms += Number(amount) * DURATION_UNITS[unit];
    smallest = Math.min(smallest, DURATION_UNITS[unit]);
  }
  if (smallest === DURATION_UNITS.d) return Duration.days(ms / smallest);
  if (smallest === DURATION_UNITS.h) return Duration.hours(ms / smallest);
  if (smallest === DURATION_UNITS.m) return Duration.minutes(ms / smallest);
  if (smallest === DURATION_UNITS.s) return Duration.seconds(ms / smallest);
  return Duration.millis(ms);
}

/** "512Mi", "2G", 1048576 -> Size (kept in KiB, the unit `Size` counts in). */
export function decodeSize(value: unknown, field: string): Size {
  const text = typeof value === 'number' ? String(value) : value;
  const m = typeof text === 'string' ? /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(text) : null;
  if (!m) throw new SpecError(field, `must be a quantity of bytes such as 512Mi or 2Gi, got ${JSON.stringify(value)}`);
  const bytes = Number(m[1]) * BYTE_UNITS[m[2] ?? ''];
  if (!Number.isInteger(bytes)) throw new SpecError(field, `must be a whole number of bytes, got ${JSON.stringify(value)}`);
  return Size.kibibytes(bytes / 1024);
}

/** "500m" -> Cpu.millis(500), "2" or 2 -> Cpu.units(2). */
export function decodeCpu(value: unknown, field: string): Cpu {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text === 'string' && /^[0-9]+m$/.test(text)) return Cpu.millis(Number(text.slice(0, -1)));
  if (typeof text === 'string' && /^[0-9]+(\.[0-9]+)?$/.test(text)) return Cpu.units(Number(text));
  throw new SpecError(field, `must be a CPU quantity such as 500m or 2, got ${JSON.stringify(value)}`);
}

export function decodeCodec(codec: CodecName, value: unknown, field: string, ctx: DecodeContext): unknown {
  switch (codec) {
    case 'duration': return decodeDuration(value, field);
    case 'size': return decodeSize(value, field);
    case 'cpu': return decodeCpu(value, field);
    case 'envValue': return decodeEnvValue(value, field, ctx);
    case 'storageUri': return construct(field, () => StorageUri.fromUri(requireString(value, field)));
    case 'modelFormat': return decodeModelFormat(value, field);
    case 'modelCopies': return decodeModelCopies(value, field);
    case 'serviceAccountName': return ServiceAccount.fromServiceAccountName(ctx.references, field, requireName(value, field));
    case 'secretName': return Secret.fromSecretName(ctx.references, field, requireName(value, field));
    case 'configMapName': return ConfigMap.fromConfigMapName(ctx.references, field, requireName(value, field));
  }
}

function decodeEnvValue(value: unknown, field: string, ctx: DecodeContext): EnvValue {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SpecError(field, 'must be an object with exactly one of value, secretKeyRef, configMapKeyRef and fieldPath');
  }
  const v = value as { [k: string]: any };
  const set = ['value', 'secretKeyRef', 'configMapKeyRef', 'fieldPath'].filter(k => v[k] !== undefined);
  if (set.length !== 1) throw new SpecError(field, `must set exactly one of value, secretKeyRef, configMapKeyRef and fieldPath, got ${set.length === 0 ? 'none' : set.join(', ')}`);
  if (v.value !== undefined) return EnvValue.fromValue(requireString(v.value, `${field}.value`));
  if (v.fieldPath !== undefined) return EnvValue.fromFieldRef(requireString(v.fieldPath, `${field}.fieldPath`) as EnvFieldPaths);
  const ref = v.secretKeyRef ?? v.configMapKeyRef;
  const refField = `${field}.${set[0]}`;
  const name = requireName(ref?.name, `${refField}.name`);
  const key = requireString(ref?.key, `${refField}.key`);
  if (v.secretKeyRef) return EnvValue.fromSecretValue({ secret: Secret.fromSecretName(ctx.references, refField, name), key });
  return EnvValue.fromConfigMap(ConfigMap.fromConfigMapName(ctx.references, refField, name), key);
}

/** "onnx" -> ModelFormat.ONNX; "sklearn:1.3" -> ModelFormat.custom('sklearn', '1.3'). */
function decodeModelFormat(value: unknown, field: string): ModelFormat {
  const [name, version, extra] = requireString(value, field).split(':');
  if (extra !== undefined) throw new SpecError(field, `must be a format name with an optional ':version', got ${JSON.stringify(value)}`);
  const constant = (ModelFormat as any)[name.toUpperCase()];
  if (version === undefined && constant instanceof ModelFormat && constant.name === name) return constant;
  return construct(field, () => ModelFormat.custom(name, version));
}

function decodeModelCopies(value: unknown, field: string): ModelCopies {
  if (value === 'all') return ModelCopies.EVERY_MEMBER;
  if (typeof value === 'number') return construct(field, () => ModelCopies.count(value));
  throw new SpecError(field, `must be a positive integer or 'all', got ${JSON.stringify(value)}`);
}

export function requireString(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new SpecError(field, `must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function requireName(value: unknown, field: string): string {
  const name = requireString(value, field);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name) || name.length > 253) {
    throw new SpecError(field, `must be the name of an object in the namespace (DNS-1123 subdomain), got ${JSON.stringify(value)}`);
  }
  return name;
}

/** Runs a factory of the library; its error, the one `cdk8s synth` prints, becomes a SpecError at `field`. */
export function construct<T>(field: string, make: () => T): T {
  try {
    return make();
  } catch (e) {
    if (e instanceof SpecError || !(e instanceof Error) || e.constructor !== Error) throw e; // a TypeError is a bug, not the spec's fault
    throw new SpecError(field, e.message);
  }
}
