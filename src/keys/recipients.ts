/**
 * Recipients of the sealed format: the 32-byte file key wrapped with RSA-OAEP-SHA-256 (MGF1-SHA-256,
 * label "archive-crypt/v1") for each recipient certificate, and found again by key id, then by trial.
 * See docs/FORMAT.md "Recipients".
 */
import type { Keyring } from './keyring.js';
import {
  X509Certificate,
  constants,
  privateDecrypt,
  publicEncrypt,
  type KeyObject,
} from 'node:crypto';
import { IntegrityError, KeyError } from '../errors.js';
import { spkiSha256 } from './fingerprint.js';
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
  return spkiSha256(key instanceof X509Certificate ? key.publicKey : key).subarray(0, KEY_ID_LENGTH);
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
 * The order keys are tried in: first the stanzas whose key id matches a key (`byId`), then (so that a
 * damaged key id reads as damage, not as "wrong key") every other stanza of the right length.
 */
function* unwrapAttempts<K>(stanzas: readonly RecipientStanza[], keys: readonly { key: K; keyId: Buffer; bytes: number }[]) {
  for (const stanza of stanzas) for (const candidate of keys) if (candidate.keyId.equals(stanza.keyId)) yield { stanza, key: candidate.key, byId: true };
  for (const stanza of stanzas) {
    for (const candidate of keys) if (!candidate.keyId.equals(stanza.keyId) && stanza.wrappedKey.length === candidate.bytes) yield { stanza, key: candidate.key, byId: false };
  }
}

function noKeyOpens(stanzas: readonly RecipientStanza[], matchedButFailed: boolean): Error {
  if (matchedButFailed) return new IntegrityError('invalid wrapped file key');
  const ids = stanzas.map((s) => Buffer.from(s.keyId).toString('hex')).join(', ');
  return new KeyError(`no key matches: this file is sealed for key ids ${ids}; pass the matching private key with --key`);
}

/** A wrapped file key of the right length, or undefined (zeroed) when it is not one. */
function fileKeyOf(stanza: RecipientStanza, unwrapped: Buffer | undefined): Buffer | undefined {
  if (unwrapped === undefined || unwrapped.length === FILE_KEY_LENGTH) return unwrapped;
  unwrapped.fill(0);
  return undefined;
}

/**
 * Finds the file key with the keys of `keyring` (file or token keys, src/keys/keyring.ts), every key
 * tried before giving up.
 *
 * @throws KeyError "no key matches" when no key opens any stanza; IntegrityError when a stanza with
 *   a matching key id does not unwrap (the wrapped key was modified).
 */
export async function unwrapFileKey(stanzas: readonly RecipientStanza[], keyring: Keyring): Promise<Buffer> {
  const candidates = keyring.keys.map((key) => ({ key, keyId: keyIdOf(key.publicKey), bytes: key.bits / 8 }));
  let matchedButFailed = false;
  for (const { stanza, key, byId } of unwrapAttempts(stanzas, candidates)) {
    if (stanza.type !== RECIPIENT_RSA_OAEP_SHA256) continue;
    const fileKey = fileKeyOf(stanza, await key.decryptOaep(stanza.wrappedKey, 'sha256', oaepLabel));
    if (fileKey !== undefined) return fileKey;
    matchedButFailed ||= byId;
  }
  throw noKeyOpens(stanzas, matchedButFailed);
}

/** `unwrapFileKey` for keys in this process, synchronous (the streaming unsealer's `fileKey` callback). */
export function unwrapFileKeySync(stanzas: readonly RecipientStanza[], privateKeys: readonly KeyObject[]): Buffer {
  const candidates = privateKeys
    .filter((key) => key.asymmetricKeyType === 'rsa')
    .map((key) => ({ key, keyId: keyIdOf(key), bytes: (key.asymmetricKeyDetails?.modulusLength ?? 0) / 8 }));
  let matchedButFailed = false;
  for (const { stanza, key, byId } of unwrapAttempts(stanzas, candidates)) {
    if (stanza.type !== RECIPIENT_RSA_OAEP_SHA256) continue;
    let unwrapped: Buffer | undefined;
    try {
      unwrapped = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel }, stanza.wrappedKey);
    } catch {
      unwrapped = undefined; // OAEP's check rejects a wrong key
    }
    const fileKey = fileKeyOf(stanza, unwrapped);
    if (fileKey !== undefined) return fileKey;
    matchedButFailed ||= byId;
  }
  throw noKeyOpens(stanzas, matchedButFailed);
}
