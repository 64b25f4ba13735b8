/** Finders over synthesized manifests: tests look objects up by kind, never by array index. */

export function findByKind(manifests: any[], kind: string, where: { apiVersion?: string; name?: string } = {}): any[] {
  return manifests.filter(m => m.kind === kind
    && (where.apiVersion === undefined || m.apiVersion === where.apiVersion)
    && (where.name === undefined || m.metadata?.name === where.name));
}

/** The one object of `kind` (and apiVersion/name if given); fails unless exactly one exists. */
export function findOne(manifests: any[], kind: string, where: { apiVersion?: string; name?: string } = {}): any {
  const found = findByKind(manifests, kind, where);
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${kind}${where.apiVersion ? ` (${where.apiVersion})` : ''}${where.name ? ` named ${where.name}` : ''}, found ${found.length}: ${manifests.map(m => `${m.apiVersion}/${m.kind}/${m.metadata?.name}`).join(', ')}`);
  }
  return found[0];
}
