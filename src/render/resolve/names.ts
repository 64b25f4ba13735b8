/**
 * Kubernetes name rules (DNS-1123 / DNS-1035), checked at synth time so a bad name fails
 * `cdk8s synth` instead of `kubectl apply`.
 */

const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_LABEL_LENGTH = 63;

/**
 * Throws unless `value` is a DNS-1035 label (starts with a letter), as Knative and KServe
 * require for service names.
 */
export function assertDns1035Label(prop: string, value: string): void {
  if (!DNS_1035_LABEL.test(value)) {
    throw new Error(`'${prop}' must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit), got '${value}'`);
  }
  assertLength(prop, value, value);
}

/** Throws unless `value` is a DNS-1123 label. */
export function assertDns1123Label(prop: string, value: string): void {
  if (!DNS_1123_LABEL.test(value)) {
    throw new Error(`'${prop}' must be a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit), got '${value}'`);
  }
  assertLength(prop, value, value);
}

/** Throws unless `value` is a DNS-1123 subdomain (a host name such as `iris.models.example.com`). */
export function assertDns1123Subdomain(prop: string, value: string): void {
  if (value.length > 253 || !DNS_1123_SUBDOMAIN.test(value) || value.split('.').some(l => l.length > MAX_LABEL_LENGTH)) {
    throw new Error(`'${prop}' must be a DNS-1123 subdomain (dot-separated lowercase labels of at most 63 characters, 253 in all), got '${value}'`);
  }
}

/**
 * Throws if a name derived from `base` (the base plus an upstream suffix such as
 * `-00001-private`) would exceed 63 characters, naming the derived name.
 */
export function assertDerivedLength(prop: string, base: string, derived: string): void {
  assertLength(prop, base, derived);
}

function assertLength(prop: string, base: string, derived: string): void {
  if (derived.length > MAX_LABEL_LENGTH) {
    const over = derived.length - MAX_LABEL_LENGTH;
    const which = derived === base ? `'${base}'` : `'${base}' derives '${derived}', which`;
    throw new Error(`'${prop}' is too long: ${which} has ${derived.length} characters, more than the 63 Kubernetes allows; shorten it by at least ${over}`);
  }
}
