/**
 * Recipients of the sealed format: the 32-byte file key wrapped with RSA-OAEP-SHA-256 (MGF1-SHA-256,
 * label "archive-crypt/v1") for each recipient certificate, and found again by key id, then by trial.
 * See docs/FORMAT.md "Recipients".
 */
import {
  X509Certificate,
  constants,
  createHash,
  createPublicKey,
  privateDecrypt,
  publicEncrypt,
  type KeyObject,
} from 'node:crypto';
import { IntegrityError, KeyError } from '../errors.js';
import {
  FILE_KEY_LENGTH,
  KEY_ID_LENGTH,
  OAEP_LABEL,
  RECIPIENT_RSA_OAEP_SHA256,
  type RecipientStanza,
} from '../format/sealed.js';

/** Smallest RSA modulus we seal to; Vonage keys are 2048 bits, anything smaller is too weak. */
export const MIN_RECIPIENT_BITS = 2048;

const oaepLabel = Buffer.from(OAEP_LABEL, 'utf8');

/**
 * Key id of a public key (or the public half of a private key, or a certificate's key):
 * SHA-256 of its SubjectPublicKeyInfo DER, first 8 bytes.
 *
 * @example
 * ```ts
 * keyIdOf((await loadCertificate('cert.pem')).publicKey).toString('hex') // 'a1b2c3d4e5f60718'
 * ```
 */
export function keyIdOf(key: KeyObject | X509Certificate): Buffer {
  const publicKey = key instanceof X509Certificate ? key.publicKey : key.type === 'private' ? createPublicKey(key) : key;
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return createHash('sha256').update(spki).digest().subarray(0, KEY_ID_LENGTH);
}

/**
 * Wraps the file key for one recipient.
 *
 * @throws KeyError when the key is not RSA or smaller than 2048 bits.
 */
export function wrapFileKey(fileKey: Uint8Array, recipient: KeyObject | X509Certificate): RecipientStanza {
  const publicKey = recipient instanceof X509Certificate ? recipient.publicKey : recipient;
  if (publicKey.asymmetricKeyType !== 'rsa') {
    throw new KeyError(`recipient key is ${publicKey.asymmetricKeyType ?? 'not asymmetric'}; sealing needs an RSA certificate`);
  }
  const bits = publicKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RECIPIENT_BITS) {
    throw new KeyError(`recipient key is ${bits} bits; sealing needs at least ${MIN_RECIPIENT_BITS}`);
  }
  const wrappedKey = publicEncrypt(
    { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel },
    fileKey,
  );
  return { type: RECIPIENT_RSA_OAEP_SHA256, keyId: keyIdOf(publicKey), wrappedKey };
}

/**
 * Finds the file key: first the stanzas whose key id matches one of `privateKeys`, then (so that a
 * damaged key id reads as damage, not as "wrong key") every other stanza of the right length.
 *
 * @throws KeyError "no key matches" when no private key opens any stanza; IntegrityError when a
 *   stanza with a matching key id does not unwrap (the wrapped key was modified).
 */
export function unwrapFileKey(stanzas: readonly RecipientStanza[], privateKeys: readonly KeyObject[]): Buffer {
  const candidates = privateKeys
    .filter((key) => key.asymmetricKeyType === 'rsa')
    .map((key) => ({ key, keyId: keyIdOf(key), bytes: (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8 }));
  let matchedButFailed = false;
  for (const stanza of stanzas) {
    for (const candidate of candidates) {
      if (!candidate.keyId.equals(stanza.keyId)) continue;
      const fileKey = tryUnwrap(stanza, candidate.key);
      if (fileKey !== undefined) return fileKey;
      matchedButFailed = true;
    }
  }
  for (const stanza of stanzas) {
    for (const candidate of candidates) {
      if (candidate.keyId.equals(stanza.keyId) || stanza.wrappedKey.length !== candidate.bytes) continue;
      const fileKey = tryUnwrap(stanza, candidate.key);
      if (fileKey !== undefined) return fileKey;
    }
  }
  if (matchedButFailed) throw new IntegrityError('invalid wrapped file key');
  const ids = stanzas.map((s) => Buffer.from(s.keyId).toString('hex')).join(', ');
  throw new KeyError(`no key matches: this file is sealed for key ids ${ids}; pass the matching private key with --key`);
}

function tryUnwrap(stanza: RecipientStanza, key: KeyObject): Buffer | undefined {
  if (stanza.type !== RECIPIENT_RSA_OAEP_SHA256) return undefined;
  let fileKey: Buffer;
  try {
    fileKey = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel }, stanza.wrappedKey);
  } catch {
    return undefined;
  }
  if (fileKey.length === FILE_KEY_LENGTH) return fileKey;
  fileKey.fill(0);
  return undefined;
}
