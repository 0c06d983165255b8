/**
 * Self-signed X.509 v3 certificates for Vonage archive encryption. node-forge builds the structure;
 * the signature is made by Node's native crypto, so the private key never enters JavaScript memory
 * as a forge object.
 */
import { X509Certificate, randomBytes, sign, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { UsageError } from '../errors.js';
import { fromBinary } from './asn1.js';
import type { NameAttribute } from './subject.js';

/**
 * Signs DER with SHA-256 and RSASSA-PKCS1-v1_5 where the private key lives: a PKCS#11 token
 * (keys/pkcs11.ts) signs on the token. A `KeyObject` signs in this process.
 */
export interface DerSigner {
  sign(data: Uint8Array): Promise<Buffer>;
}

export interface SelfSignedCertificateOptions {
  privateKey: KeyObject | DerSigner;
  publicKey: KeyObject;
  subject: readonly NameAttribute[];
  /** Validity in days from `notBefore` (1 to 36500). */
  days: number;
  /** Start of validity; defaults to now. */
  notBefore?: Date;
}

/**
 * Creates a self-signed certificate: v3, SHA-256 with RSA, a random positive 128-bit serial,
 * basicConstraints CA:FALSE (critical), keyUsage digitalSignature + keyEncipherment (critical),
 * subject and authority key identifiers. Returns the PEM text.
 *
 * @example
 * ```ts
 * const pem = await createSelfSignedCertificate({ privateKey, publicKey, subject: parseSubject('CN=Archive key'), days: 365 });
 * ```
 */
export async function createSelfSignedCertificate(options: SelfSignedCertificateOptions): Promise<string> {
  const { days } = options;
  assertValidityDays(days);
  const cert = forge.pki.createCertificate();
  cert.publicKey = toForgePublicKey(options.publicKey);
  cert.serialNumber = randomSerial();
  const notBefore = new Date(Math.floor((options.notBefore ?? new Date()).getTime() / 1000) * 1000);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = new Date(notBefore.getTime() + days * 86_400_000);
  const attributes = toForgeAttributes(options.subject);
  cert.setSubject(attributes);
  cert.setIssuer(attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: true },
  ]);
  const signed = cert as typeof cert & { tbsCertificate: forge.asn1.Asn1; signatureOid: string };
  cert.siginfo.algorithmOid = sha256WithRsa;
  signed.signatureOid = sha256WithRsa;
  signed.tbsCertificate = forgePki.getTBSCertificate(cert);
  cert.signature = await signDer(signed.tbsCertificate, options.privateKey);
  const pem = forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
  // Parse once with OpenSSL (through Node) so that a malformed certificate can never be written.
  new X509Certificate(pem);
  return pem;
}

/** @throws UsageError (exit 2) unless `days` is a whole number from 1 to 36500. */
export function assertValidityDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > 36500) throw new UsageError('--days must be a whole number from 1 to 36500');
}

/** forge functions that exist but are missing from @types/node-forge. */
export const forgePki = forge.pki as typeof forge.pki & {
  getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1;
  getCertificationRequestInfo(csr: forge.pki.CertificateSigningRequest): forge.asn1.Asn1;
};

export const sha256WithRsa = forge.pki.oids.sha256WithRSAEncryption as string;

/** Signs the DER of a forge structure with SHA-256 / RSASSA-PKCS1-v1_5; returns forge's binary string. */
export async function signDer(structure: forge.asn1.Asn1, privateKey: KeyObject | DerSigner): Promise<string> {
  const tbs = fromBinary(forge.asn1.toDer(structure).getBytes());
  const signature = 'sign' in privateKey ? await privateKey.sign(tbs) : sign('sha256', tbs, privateKey);
  return signature.toString('binary');
}

export function toForgePublicKey(publicKey: KeyObject): forge.pki.rsa.PublicKey {
  if (publicKey.asymmetricKeyType !== 'rsa') throw new UsageError('only RSA keys are supported');
  return forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
}

export function toForgeAttributes(subject: readonly NameAttribute[]): forge.pki.CertificateField[] {
  const tag = { utf8: forge.asn1.Type.UTF8, printable: forge.asn1.Type.PRINTABLESTRING, ia5: forge.asn1.Type.IA5STRING };
  return subject.map((a) => ({ type: a.oid, value: a.value, valueTagClass: tag[a.stringType] }) as unknown as forge.pki.CertificateField);
}

/** 16 random bytes, first byte 0x01–0x7f: positive and minimally DER-encoded (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}
