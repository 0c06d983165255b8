/** Fingerprints in the form `openssl x509 -fingerprint -sha256` prints: uppercase hex pairs joined by colons. */
import { createHash, createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';

/** SHA-256 of the SubjectPublicKeyInfo DER of a public or private key, as bytes (also the sealed format's key id source). */
export function spkiSha256(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
}

/** SHA-256 of the SubjectPublicKeyInfo DER of a public or private key, colon hex. */
export function publicKeyFingerprint(key: KeyObject): string {
  return colonHex(spkiSha256(key));
}

/** SHA-256 of the certificate's DER, identical to `openssl x509 -noout -fingerprint -sha256`. */
export function certificateFingerprint(certificate: X509Certificate): string {
  return certificate.fingerprint256;
}

/**
 * Whether the private key belongs to the certificate (their SubjectPublicKeyInfo DER are equal).
 *
 * @example
 * ```ts
 * const { key } = await loadPrivateKey('key.pem', passphrase);
 * const { certificate } = await loadCertificate('cert.pem');
 * if (!keyMatchesCertificate(key, certificate)) throw new Error('wrong key');
 * ```
 */
export function keyMatchesCertificate(privateKey: KeyObject, certificate: X509Certificate): boolean {
  const fromKey = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const fromCertificate = certificate.publicKey.export({ type: 'spki', format: 'der' });
  return fromKey.equals(fromCertificate);
}

function colonHex(bytes: Buffer): string {
  return (bytes.toString('hex').toUpperCase().match(/../g) ?? []).join(':');
}
