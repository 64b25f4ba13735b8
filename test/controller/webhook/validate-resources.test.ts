/** The validating webhook's handler in process: which reviews it checks and what it answers. */
import * as contract from '../../../src/contract';
import { validateCustomResource } from '../../../src/controller/spec';
import { reviewCustomResource } from '../../../src/controller/webhook/validate-resources';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

function review(kind: string, operation: string, object: unknown, group = contract.CRD_GROUP): Obj {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u-9', kind: { group, version: contract.CRD_VERSION, kind }, operation, namespace: 'models', name: 'iris', object },
  };
}
const endpoint = (spec: Obj) => ({ apiVersion: `${contract.CRD_GROUP}/${contract.CRD_VERSION}`, kind: 'ModelEndpoint', metadata: { name: 'iris', namespace: 'models' }, spec });

describe('validating webhook', () => {
  test('a valid ModelEndpoint is allowed', () => {
    expect(reviewCustomResource(review('ModelEndpoint', 'CREATE', endpoint({ modelName: 'iris', storageUri: 's3://models/iris' })), validateCustomResource).response)
      .toEqual({ uid: 'u-9', allowed: true });
  });
  test('fails: an invalid spec is refused with 422 and the field-naming message', () => {
    const { response } = reviewCustomResource(review('ModelEndpoint', 'UPDATE', endpoint({ modelName: 'iris', storageUri: 's3://models/iris', minReplicas: 3, maxReplicas: 1 })), validateCustomResource);
    expect(response.allowed).toBe(false);
    expect(response.status).toEqual({ code: 422, reason: 'Invalid', message: "spec.minReplicas: 'minReplicas' (3) must not be greater than 'maxReplicas' (1)" });
  });
  test('the resource is validated in the review\'s namespace when the object names none', () => {
    let seen: Obj = {};
    reviewCustomResource(review('CanaryRollout', 'CREATE', { metadata: { name: 'iris' }, spec: {} }), (r) => { seen = r; });
    expect(seen).toEqual({ apiVersion: `${contract.CRD_GROUP}/${contract.CRD_VERSION}`, kind: 'CanaryRollout', metadata: { name: 'iris', namespace: 'models' }, spec: {} });
  });
  test('DELETE, and kinds of other groups, are allowed without validation', () => {
    const refuse = () => { throw new Error('must not be called'); };
    expect(reviewCustomResource(review('ModelEndpoint', 'DELETE', undefined), refuse).response.allowed).toBe(true);
    expect(reviewCustomResource(review('Pod', 'CREATE', {}, ''), refuse).response.allowed).toBe(true);
  });
  test('fails: a review without an object name is refused with 400', () => {
    const r = review('ModelEndpoint', 'CREATE', { spec: {} });
    delete r.request.name;
    expect(reviewCustomResource(r, validateCustomResource).response.status?.code).toBe(400);
  });
});
