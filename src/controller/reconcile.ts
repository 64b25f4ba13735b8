/**
 * The pure part of a reconcile (no I/O): turn the rendered objects into the children to apply
 * (inventory label, owner reference, hash annotation), decide which children need a write, and
 * which live children to prune. Inventory: kubectl ApplySets (KEP-3659), with the custom resource
 * as the parent: every child carries `applyset.kubernetes.io/part-of=<parent id>`, the parent the
 * id label and the sorted `contains-group-kinds` annotation, so pruning lists only those kinds.
 */
import { createHash } from 'node:crypto';
import { APPLYSET, CONTROLLER_FIELD_MANAGER, CRD_GROUP, DESIRED_HASH_ANNOTATION } from '../contract';
import type { KubeObject } from './kube';
import { quantityValue } from '../render/resolve/quantities';

/** `<kind>/<namespace>/<name>`: the work-queue key of a custom resource. */
export function objectKey(obj: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return `${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

/** The applyset id of a parent (KEP-3659): base64url(sha256("<name>.<namespace>.<kind>.<group>")), prefixed and versioned. */
export function applysetId(parent: { kind: string; apiVersion: string; metadata: { name: string; namespace?: string } }): string {
  const group = parent.apiVersion.includes('/') ? parent.apiVersion.split('/')[0] : '';
  const digest = createHash('sha256').update(`${parent.metadata.name}.${parent.metadata.namespace ?? ''}.${parent.kind}.${group}`).digest('base64url');
  return `applyset-${digest}-v1`;
}

/** `Kind.group` (`Deployment.apps`, `Service` for the core group), as in contains-group-kinds. */
export function groupKind(obj: { apiVersion: string; kind: string }): string {
  return obj.apiVersion.includes('/') ? `${obj.kind}.${obj.apiVersion.split('/')[0]}` : obj.kind;
}

/** The sorted, comma-separated group-kinds of `objs` (the parent's contains-group-kinds value). */
export function containsGroupKinds(objs: ReadonlyArray<{ apiVersion: string; kind: string }>): string {
  return [...new Set(objs.map(groupKind))].sort().join(',');
}

/** Identity of a child within its parent: apiVersion's group, kind, namespace, name. */
export function childKey(obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }): string {
  return `${groupKind(obj)}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

/** Deterministic JSON (sorted keys) for hashing. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * The children to apply: each rendered object with the parent's namespace (when it has none), the
 * part-of label, a controller owner reference (same namespace only: owner references cannot cross
 * namespaces) and the hash of everything else, so a change of the desired object is seen from the
 * hash alone. Does not modify `rendered`.
 */
export function prepareChildren(parent: KubeObject, rendered: readonly KubeObject[]): KubeObject[] {
  const id = applysetId(parent);
  return rendered.map((obj) => {
    const namespace = obj.metadata.namespace ?? parent.metadata.namespace;
    const child: KubeObject = {
      ...obj,
      metadata: {
        ...obj.metadata,
        namespace,
        labels: { ...obj.metadata.labels, [APPLYSET.partOfLabel]: id },
        ...(namespace === parent.metadata.namespace && parent.metadata.uid ? {
          ownerReferences: [...(obj.metadata.ownerReferences ?? []), {
            apiVersion: parent.apiVersion,
            kind: parent.kind,
            name: parent.metadata.name,
            uid: parent.metadata.uid,
            controller: true,
            blockOwnerDeletion: true,
          }],
        } : {}),
      },
    };
    const hash = createHash('sha256').update(canonicalJson(child)).digest('base64url').slice(0, 32);
    child.metadata.annotations = { ...obj.metadata.annotations, [DESIRED_HASH_ANNOTATION]: hash };
    return child;
  });
}

/** What the controller remembers of its last apply of a child (lost on restart; the live object decides then). */
export interface AppliedRecord {
  readonly hash: string;
  readonly resourceVersion: string;
}

/**
 * True when `desired` must be applied: the child is missing; its hash annotation differs (the CR
 * changed, including fields removed from the desired object, which server-side apply then removes);
 * or a field we set was changed by someone else (a hand edit, compared semantically). The live
 * object from the informer cache may lag behind our own last apply: when it is absent, or is the
 * very version our apply returned, the record of that apply answers instead.
 */
export function needsApply(desired: KubeObject, live: KubeObject | undefined, applied: AppliedRecord | undefined): boolean {
  const hash = desired.metadata.annotations?.[DESIRED_HASH_ANNOTATION];
  if (applied && applied.hash === hash && (!live || live.metadata.resourceVersion === applied.resourceVersion)) return false;
  if (!live) return true;
  if (live.metadata.annotations?.[DESIRED_HASH_ANNOTATION] !== hash) return true;
  return !isSemanticSubset(desired, live);
}

/**
 * True when every field of `desired` has the same value in `live` (fields only `live` has, such as
 * defaults and status, are ignored). Lists compare element by element in order (server-side apply
 * keeps the applier's order); quantities compare by value (`1000m` = `1`, `1Gi` = `1024Mi`), since
 * the API server stores them in canonical form; a number and its string compare equal (int-or-string).
 */
export function isSemanticSubset(desired: unknown, live: unknown): boolean {
  if (desired === live) return true;
  if (desired === null || desired === undefined) return live === null || live === undefined;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && desired.length === live.length && desired.every((d, i) => isSemanticSubset(d, live[i]));
  }
  if (typeof desired === 'object') {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSemanticSubset(v, (live as Record<string, unknown>)[k]));
  }
  if ((typeof desired === 'string' || typeof desired === 'number') && (typeof live === 'string' || typeof live === 'number')) {
    if (String(desired) === String(live)) return true;
    const a = quantityValue(String(desired));
    const b = quantityValue(String(live));
    return a !== undefined && b !== undefined && Math.abs(a - b) <= Math.abs(a) * 1e-12;
  }
  return false;
}

// Re-exported: the unit tests of the semantic comparison read it from here.
export { quantityValue };

/**
 * The live children to delete: carrying this parent's part-of label, controlled by this parent
 * (or by no one, e.g. a child whose owner reference was removed), and no longer rendered.
 */
export function planPrune(parent: KubeObject, desired: readonly KubeObject[], live: readonly KubeObject[]): KubeObject[] {
  const id = applysetId(parent);
  const keep = new Set(desired.map(childKey));
  return live.filter((obj) => {
    if (obj.metadata.labels?.[APPLYSET.partOfLabel] !== id) return false;
    if (keep.has(childKey(obj))) return false;
    if (obj.metadata.deletionTimestamp) return false;
    const controller = (obj.metadata.ownerReferences ?? []).find((r: { controller?: boolean }) => r.controller);
    return !controller || controller.uid === parent.metadata.uid;
  });
}

/**
 * The parent's applyset metadata, or undefined when it already carries it. `kinds`: the group-kinds
 * to record (the union of old and new while children are being applied; the new set after pruning).
 */
export function parentMetadataPatch(parent: KubeObject, kinds: string): KubeObject | undefined {
  const id = applysetId(parent);
  const labels = parent.metadata.labels ?? {};
  const annotations = parent.metadata.annotations ?? {};
  if (labels[APPLYSET.idLabel] === id && annotations[APPLYSET.containsGroupKindsAnnotation] === kinds
    && annotations[APPLYSET.toolingAnnotation] === TOOLING) return undefined;
  return {
    apiVersion: parent.apiVersion,
    kind: parent.kind,
    metadata: {
      name: parent.metadata.name,
      namespace: parent.metadata.namespace,
      labels: { [APPLYSET.idLabel]: id },
      annotations: { [APPLYSET.containsGroupKindsAnnotation]: kinds, [APPLYSET.toolingAnnotation]: TOOLING },
    },
  };
}

/** `applyset.kubernetes.io/tooling`: who manages the set (kubectl refuses to prune a set another tool manages). */
export const TOOLING = `${CONTROLLER_FIELD_MANAGER}/v1`;

/** The group-kinds named in the parent's annotation (what an earlier reconcile may have created). */
export function recordedGroupKinds(parent: KubeObject): string[] {
  const value: string | undefined = parent.metadata.annotations?.[APPLYSET.containsGroupKindsAnnotation];
  return value ? value.split(',').filter(Boolean) : [];
}

/** True for our custom resources' API group. */
export function isOurGroup(apiVersion: string): boolean {
  return apiVersion.split('/')[0] === CRD_GROUP;
}
