/** PKCS#10 certificate signing requests, for organisations whose own CA signs the archive certificate. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { UsageError } from '../errors.js';
import { forgePki, sha256WithRsa, signDer, toForgeAttributes, toForgePublicKey, type DerSigner } from './certificate.js';
import type { NameAttribute } from './subject.js';

/**
 * Creates a PKCS#10 CSR (SHA-256 with RSA) for the key and subject; returns the PEM text
 * (`-----BEGIN CERTIFICATE REQUEST-----`), which `openssl req -verify` accepts. A key on a token
 * (keys/pkcs11.ts) is a `DerSigner` with its public key: it signs on the token.
 *
 * @example
 * ```ts
 * const { key } = await loadPrivateKey('keys/archive-private-key.pem', passphrase);
 * const pem = await createCsr({ privateKey: key, subject: parseSubject('CN=Archive key,O=Example Ltd') });
 * ```
 */
export async function createCsr(options: { privateKey: KeyObject | (DerSigner & { publicKey: KeyObject }); subject: readonly NameAttribute[] }): Promise<string> {
  const { privateKey } = options;
  const publicKey = 'sign' in privateKey ? privateKey.publicKey : createPublicKey(privateKey);
  if (publicKey.asymmetricKeyType !== 'rsa') throw new UsageError('only RSA keys are supported');
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = toForgePublicKey(publicKey);
  csr.setSubject(toForgeAttributes(options.subject));
  const signed = csr as typeof csr & { certificationRequestInfo: forge.asn1.Asn1; signatureOid: string; siginfo: { algorithmOid: string } };
  signed.siginfo.algorithmOid = sha256WithRsa;
  signed.signatureOid = sha256WithRsa;
  signed.certificationRequestInfo = forgePki.getCertificationRequestInfo(csr);
  (csr as unknown as { signature: string }).signature = await signDer(signed.certificationRequestInfo, privateKey);
  return forge.pki.certificationRequestToPem(csr).replace(/\r\n/g, '\n');
}
