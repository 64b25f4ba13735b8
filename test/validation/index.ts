/**
 * Jest helpers that run every offline validator on synthesized objects (`Testing.synth(chart)` output).
 *
 * @example
 * const manifests = Testing.synth(chart);
 * expectValidManifests(manifests);
 * const ksvc = findByKind(manifests, 'Service', 'iris');
 */
import { describe, isObject, Manifest } from './_util';
import { checkKnativeDefaultFeatures } from './knative-features';
import { checkProjectDefaults, checkRestricted } from './pod-security';
import { validateManifest } from './schema-validator';

export { validateManifest, validateManifests, schemaRegistry } from './schema-validator';
export { checkBaseline, checkRestricted, checkProjectDefaults } from './pod-security';
export { checkKnativeDefaultFeatures, knativeDefaultFeatures } from './knative-features';
export type { Manifest } from './_util';

export interface ValidationOptions {
  /** Knative feature flags to treat as enabled. @default - Knative's defaults only */
  readonly knativeFlags?: readonly string[];
  /** Run the Pod Security Standards restricted checks. @default true */
  readonly restricted?: boolean;
  /** Run this project's pod defaults (read-only root, resources, no token automount). @default true */
  readonly projectDefaults?: boolean;
}

function isKnative(obj: Manifest): boolean {
  return typeof obj.apiVersion === 'string' && obj.apiVersion.startsWith('serving.knative.dev/')
    && ['Service', 'Configuration', 'Revision'].includes(obj.kind);
}

/**
 * Runs every validator on every object.
 *
 * @returns one `Kind/name: message` line per problem, empty when everything is valid
 */
export function collectManifestErrors(objs: readonly unknown[], options: ValidationOptions = {}): string[] {
  const errs: string[] = [];
  for (const obj of objs) {
    const found = [...validateManifest(obj)];
    if (isObject(obj)) {
      if (options.restricted !== false) found.push(...checkRestricted(obj));
      if (options.projectDefaults !== false) found.push(...checkProjectDefaults(obj));
      if (isKnative(obj)) found.push(...checkKnativeDefaultFeatures(obj, options.knativeFlags));
    }
    errs.push(...found.map((e) => `${describe(obj)}: ${e}`));
  }
  return errs;
}

/**
 * Fails the current jest test with a readable list when any object is invalid: schema (strict), names and
 * labels, Pod Security restricted and project defaults on every pod template, Knative default feature flags
 * on Knative Services.
 */
export function expectValidManifests(objs: readonly unknown[], options: ValidationOptions = {}): void {
  if (!Array.isArray(objs)) throw new Error('expectValidManifests: expected an array of objects, as Testing.synth(chart) returns');
  const errs = collectManifestErrors(objs, options);
  if (errs.length > 0) {
    throw new Error(`${errs.length} validation error(s) in ${objs.length} synthesized object(s):\n${errs.map((e) => `  - ${e}`).join('\n')}`);
  }
}

/**
 * The objects of `kind` (and `name`, if given). Throws when there are none, so tests never index an
 * empty array.
 */
export function findByKind(objs: readonly unknown[], kind: string, name?: string): Manifest[] {
  const found = objs.filter((o): o is Manifest => isObject(o) && o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length === 0) {
    const have = objs.map((o) => describe(o)).join(', ');
    throw new Error(`findByKind: no ${kind}${name ? `/${name}` : ''} among: ${have || '(no objects)'}`);
  }
  return found;
}
