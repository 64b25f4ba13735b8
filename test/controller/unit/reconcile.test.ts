/**
 * The pure part of a reconcile (src/controller/reconcile.ts): children with inventory and owner,
 * the decision to apply, the semantic comparison, pruning and the parent's applyset metadata.
 */
import * as fc from 'fast-check';
import { APPLYSET, DESIRED_HASH_ANNOTATION } from '../../../src/contract';
import {
  applysetId, containsGroupKinds, isSemanticSubset, needsApply, parentMetadataPatch, planPrune, prepareChildren, quantityValue, TOOLING,
} from '../../../src/controller/reconcile';
import { seeded } from '../../seeded';

const parent = {
  apiVersion: 'serving.cdk8s-model-serving.io/v1alpha1',
  kind: 'ModelEndpoint',
  metadata: { name: 'iris', namespace: 'prod', uid: 'uid-1', generation: 3 },
};
const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'iris', namespace: 'prod', labels: { app: 'iris' } }, spec: { replicas: 2, template: { spec: { containers: [{ name: 'c', image: 'x:1', resources: { limits: { cpu: '1000m', memory: '1Gi' } } }] } } } };
const service = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'iris' }, spec: { ports: [{ port: 80, targetPort: 8080 }] } };

describe('applyset inventory', () => {
  test('the parent id follows KEP-3659: base64url of sha256(name.namespace.kind.group), prefixed and versioned', () => {
    // echo -n iris.prod.ModelEndpoint.serving.cdk8s-model-serving.io | openssl dgst -sha256 -binary | base64 (URL alphabet, no padding)
    expect(applysetId(parent)).toBe('applyset-DXKJoL_LVoSSozu7vrveMoHyXk3vPk5watXfkvhsQ8k-v1');
    expect(applysetId(parent)).toBe(applysetId({ ...parent, metadata: { ...parent.metadata, uid: 'other' } } as typeof parent));
    expect(applysetId(parent)).not.toBe(applysetId({ ...parent, metadata: { ...parent.metadata, namespace: 'dev' } }));
  });

  test('contains-group-kinds lists Kind.group, sorted and without duplicates, core kinds without a group', () => {
    expect(containsGroupKinds([deployment, service, deployment])).toBe('Deployment.apps,Service');
  });

  test('children get the namespace, the part-of label, a controller owner reference and a hash; the rendered objects are not modified', () => {
    const rendered = [deployment, service];
    const before = JSON.stringify(rendered);
    const [d, s] = prepareChildren(parent, rendered as never);
    expect(JSON.stringify(rendered)).toBe(before);
    expect(s.metadata.namespace).toBe('prod');
    for (const c of [d, s]) {
      expect(c.metadata.labels[APPLYSET.partOfLabel]).toBe(applysetId(parent));
      expect(c.metadata.ownerReferences).toEqual([{ apiVersion: parent.apiVersion, kind: 'ModelEndpoint', name: 'iris', uid: 'uid-1', controller: true, blockOwnerDeletion: true }]);
      expect(c.metadata.annotations[DESIRED_HASH_ANNOTATION]).toMatch(/^[A-Za-z0-9_-]{32}$/);
    }
    expect(d.metadata.labels.app).toBe('iris');
  });

  test('a child in another namespace gets no owner reference (they cannot cross namespaces)', () => {
    const [c] = prepareChildren(parent, [{ ...service, metadata: { name: 'x', namespace: 'other' } }] as never);
    expect(c.metadata.ownerReferences).toBeUndefined();
    expect(c.metadata.labels[APPLYSET.partOfLabel]).toBe(applysetId(parent));
  });

  test('the hash changes with any field of the desired object, and only then', () => {
    const [a] = prepareChildren(parent, [deployment] as never);
    const [b] = prepareChildren(parent, [deployment] as never);
    const [c] = prepareChildren(parent, [{ ...deployment, spec: { ...deployment.spec, replicas: 3 } }] as never);
    expect(a.metadata.annotations[DESIRED_HASH_ANNOTATION]).toBe(b.metadata.annotations[DESIRED_HASH_ANNOTATION]);
    expect(a.metadata.annotations[DESIRED_HASH_ANNOTATION]).not.toBe(c.metadata.annotations[DESIRED_HASH_ANNOTATION]);
  });

  test('the parent metadata patch carries id, kinds and tooling, and is undefined once the parent has them', () => {
    const patch = parentMetadataPatch(parent as never, 'Deployment.apps,Service')!;
    expect(patch.metadata.labels).toEqual({ [APPLYSET.idLabel]: applysetId(parent) });
    expect(patch.metadata.annotations).toEqual({ [APPLYSET.containsGroupKindsAnnotation]: 'Deployment.apps,Service', [APPLYSET.toolingAnnotation]: TOOLING });
    const updated = { ...parent, metadata: { ...parent.metadata, labels: patch.metadata.labels, annotations: patch.metadata.annotations } };
    expect(parentMetadataPatch(updated as never, 'Deployment.apps,Service')).toBeUndefined();
    expect(parentMetadataPatch(updated as never, 'Service')).toBeDefined();
  });
});

describe('needsApply', () => {
  const [desired] = prepareChildren(parent, [deployment] as never);
  const hash = desired.metadata.annotations[DESIRED_HASH_ANNOTATION];
  /** What the API server returns: our fields, canonical quantities, defaults and status added. */
  const live = () => JSON.parse(JSON.stringify({
    ...desired,
    metadata: { ...desired.metadata, resourceVersion: '10', uid: 'u', managedFields: [{}] },
    spec: { ...desired.spec, strategy: { type: 'RollingUpdate' }, template: { spec: { containers: [{ ...desired.spec.template.spec.containers[0], imagePullPolicy: 'IfNotPresent', resources: { limits: { cpu: '1', memory: '1Gi' } } }] } } },
    status: { replicas: 2 },
  }));

  test('a missing child is applied', () => {
    expect(needsApply(desired, undefined, undefined)).toBe(true);
  });

  test('a live child with the same hash and our values (defaults and canonical quantities aside) is left alone', () => {
    expect(needsApply(desired, live(), undefined)).toBe(false);
  });

  test('a hand edit of a field we set is applied again', () => {
    const edited = live();
    edited.spec.replicas = 5;
    expect(needsApply(desired, edited, undefined)).toBe(true);
  });

  test('a changed hash (the CR changed, maybe removing fields) is applied', () => {
    const old = live();
    old.metadata.annotations[DESIRED_HASH_ANNOTATION] = 'old';
    expect(needsApply(desired, old, undefined)).toBe(true);
  });

  test('a cache that has not seen our last apply yet costs no second write; a newer version of the object is compared', () => {
    expect(needsApply(desired, undefined, { hash, resourceVersion: '10' })).toBe(false);
    const stale = live();
    stale.metadata.resourceVersion = '10';
    stale.spec.replicas = 7; // the same version our apply returned cannot differ: trust the record
    expect(needsApply(desired, stale, { hash, resourceVersion: '10' })).toBe(false);
    stale.metadata.resourceVersion = '11';
    expect(needsApply(desired, stale, { hash, resourceVersion: '10' })).toBe(true);
  });
});

describe('isSemanticSubset', () => {
  test('quantities compare by value, int-or-string by text', () => {
    expect(isSemanticSubset({ cpu: '1000m', mem: '1024Mi', port: 8080 }, { cpu: '1', mem: '1Gi', port: '8080' })).toBe(true);
    expect(isSemanticSubset({ cpu: '500m' }, { cpu: '1' })).toBe(false);
    expect(isSemanticSubset({ name: 'a' }, { name: 'b' })).toBe(false);
  });

  test('lists compare in order and by length; extra live fields inside elements are ignored', () => {
    expect(isSemanticSubset([{ a: 1 }, { b: 2 }], [{ a: 1, x: 0 }, { b: 2 }])).toBe(true);
    expect(isSemanticSubset([{ a: 1 }], [{ a: 1 }, { b: 2 }])).toBe(false);
    expect(isSemanticSubset([{ b: 2 }, { a: 1 }], [{ a: 1 }, { b: 2 }])).toBe(false);
  });

  test('any JSON value is a subset of itself and of itself with added fields (seeded property)', () => {
    fc.assert(fc.property(fc.jsonValue(), fc.string(), (value, extra) => {
      expect(isSemanticSubset(value, value)).toBe(true);
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        expect(isSemanticSubset(value, { ...value, [`x-${extra}`]: 1 })).toBe(true);
      }
    }), seeded({ seed: 777, numRuns: 300 }));
  });

  test('quantityValue parses the Kubernetes suffixes and refuses other text', () => {
    expect(quantityValue('250m')).toBe(0.25);
    expect(quantityValue('2Ki')).toBe(2048);
    expect(quantityValue('1e3')).toBe(1000);
    expect(quantityValue('1.5G')).toBe(1.5e9);
    expect(quantityValue('iris')).toBeUndefined();
    expect(quantityValue('')).toBeUndefined();
  });
});

describe('planPrune', () => {
  const id = applysetId(parent);
  const child = (kind: string, name: string, extra: object = {}) => ({
    apiVersion: 'v1', kind, metadata: { name, namespace: 'prod', labels: { [APPLYSET.partOfLabel]: id }, ownerReferences: [{ controller: true, uid: 'uid-1' }], ...extra },
  });

  test('prunes what this parent rendered before and renders no longer, and nothing else', () => {
    const desired = prepareChildren(parent, [service] as never);
    const live = [
      child('Service', 'iris'), // still rendered
      child('ConfigMap', 'old'), // no longer rendered
      { ...child('ConfigMap', 'foreign'), metadata: { ...child('ConfigMap', 'foreign').metadata, labels: { [APPLYSET.partOfLabel]: 'applyset-other-v1' } } },
      child('ConfigMap', 'other-owner', { ownerReferences: [{ controller: true, uid: 'uid-2' }] }),
      child('ConfigMap', 'deleting', { deletionTimestamp: '2026-01-01T00:00:00Z' }),
    ];
    expect(planPrune(parent as never, desired, live as never).map((o) => o.metadata.name)).toEqual(['old']);
  });
});
