/**
 * The self-signed webhook PKI: a CA and a serving certificate it signs, ECDSA P-256, made with
 * @peculiar/x509 on Node's WebCrypto. Pure apart from the key generation's randomness.
 */
import 'reflect-metadata'; // tsyringe, inside @peculiar/x509, needs it loaded first
import { webcrypto, X509Certificate } from 'crypto';
import { isIP } from 'net';
import * as x509 from '@peculiar/x509';
import type { ServingCertificate } from './server';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
/**
 * Clock skew between the controller and the API server that a new certificate tolerates: 5 minutes,
 * or a tenth of a (test-only) short lifetime, so renewal at a third of the lifetime stays meaningful.
 */
const backdateMs = (validityMs: number) => Math.min(5 * 60_000, validityMs / 10);

/** A CA certificate and its key, PEM. */
export interface CertificateAuthority {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A new self-signed CA valid for `validityMs` from `now`. */
export async function createCertificateAuthority(commonName: string, validityMs: number, now = new Date()): Promise<CertificateAuthority> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${commonName}`,
    notBefore: new Date(now.getTime() - backdateMs(validityMs)),
    notAfter: new Date(now.getTime() + validityMs),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      // eslint-disable-next-line no-bitwise -- X.509 key usage is a bit field
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemOf(cert), keyPem: await privateKeyPem(keys.privateKey) };
}

/**
 * A serving certificate for `hosts` (DNS names or IP addresses; the first is the subject's CN),
 * signed by `ca`, valid for `validityMs` from `now`.
 */
export async function issueServingCertificate(
  ca: CertificateAuthority, hosts: readonly string[], validityMs: number, now = new Date(),
): Promise<ServingCertificate> {
  if (hosts.length === 0) throw new Error('a serving certificate needs at least one host');
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), ALGORITHM, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${hosts[0]}`,
    issuer: caCert.subject,
    notBefore: new Date(now.getTime() - backdateMs(validityMs)),
    notAfter: new Date(now.getTime() + validityMs),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // eslint-disable-next-line no-bitwise -- X.509 key usage is a bit field
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hosts.map((h) => (isIP(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }))),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pemOf(cert), keyPem: await privateKeyPem(keys.privateKey) };
}

/** Validity of the first certificate in `pem` (Node's parser). */
export function validity(pem: string): { notBefore: Date; notAfter: Date } {
  const cert = new X509Certificate(pem);
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}

/** `true` once less than a third of the certificate's lifetime is left (what cert-manager does by default). */
export function needsRenewal(pem: string, now = new Date()): boolean {
  const { notBefore, notAfter } = validity(pem);
  return notAfter.getTime() - now.getTime() < (notAfter.getTime() - notBefore.getTime()) / 3;
}

/** Every PEM certificate in a bundle, in order. */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}

/** `true` when `certPem` is signed by `caPem` and names `host` (IP or DNS), as a TLS client checks it. */
export function servesHost(certPem: string, caPem: string, host: string): boolean {
  const cert = new X509Certificate(certPem);
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) return false;
  return (isIP(host) ? cert.checkIP(host) : cert.checkHost(host)) !== undefined;
}

/** PEM with one trailing newline, as `splitPemBundle` returns it, so a stored bundle compares equal to a new one. */
function pemOf(cert: x509.X509Certificate): string {
  return `${cert.toString('pem').trimEnd()}\n`;
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** 16 random bytes, positive (RFC 5280: at most 20 octets, non-negative). */
function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] %= 0x80;
  return Buffer.from(bytes).toString('hex');
}
