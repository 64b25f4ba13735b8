/**
 * Mesh mode of the model server (`serve --mode mesh`): one member of a ModelMesh.
 * See `./node` for placement and forwarding, `./registry` for the model registry file.
 */
export { MeshNode, MeshRepository, MeshInferenceCore, MAX_FORWARD_ATTEMPTS, SERVED_BY_HEADER } from './node';
export { holders, rank, score, unitHash } from './hrw';
export type { Member } from './hrw';
export { Membership } from './membership';
export { parseRegistry, ModelRegistryFile } from './registry';
export type { RegistryModel } from './registry';
