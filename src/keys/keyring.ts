/**
 * The keyring: the private keys a run may use, whatever holds them — a file (a `KeyObject` in this
 * process) or a hardware token (PKCS#11, where the key never leaves the device). Everything that
 * unwraps a Vonage password (RSA-OAEP SHA-1, SHA-256 fallback) or a sealed file key (RSA-OAEP
 * SHA-256 with a label, docs/FORMAT.md §4) goes through `PrivateKeyHandle.decryptOaep`, so file and
 * token keys mix in one keyring (rotation from a file key to an HSM key).
 */
import { constants, createPublicKey, privateDecrypt, type KeyObject } from 'node:crypto';

export type OaepHash = 'sha1' | 'sha256';

/** One private RSA key, wherever it lives. */
export interface PrivateKeyHandle {
  /** Where the key came from, for messages and reports: a path or a `pkcs11:` URI. Never secret. */
  readonly label: string;
  /** The matching public key: key ids, certificate matching, modulus size. */
  readonly publicKey: KeyObject;
  /** RSA modulus size in bits. */
  readonly bits: number;
  /** `file` for a key in this process, `pkcs11` for a key on a token. */
  readonly kind: 'file' | 'pkcs11';
  /**
   * RSA-OAEP decryption with `hash` for both the digest and MGF1, and `label` (empty when absent).
   * Resolves `undefined` when the OAEP check fails (wrong key or hash) so callers can try the next
   * key; rejects with a KeyError when the holder cannot do it at all (a token without SHA-256 OAEP).
   */
  decryptOaep(data: Uint8Array, hash: OaepHash, label?: Uint8Array): Promise<Buffer | undefined>;
  /** Releases what the handle holds (a token session reference); the handle is unusable after. */
  close(): Promise<void>;
}

/** An ordered set of keys: the first one that opens a password or file key wins. */
export interface Keyring {
  readonly keys: readonly PrivateKeyHandle[];
  /** Closes every handle. */
  close(): Promise<void>;
}

/** Wraps a private key held in this process (loaded from a file). */
export function fileKeyHandle(key: KeyObject, label: string): PrivateKeyHandle {
  const publicKey = createPublicKey(key);
  return {
    label,
    publicKey,
    bits: key.asymmetricKeyDetails?.modulusLength ?? 0,
    kind: 'file',
    decryptOaep(data, hash, oaepLabel) {
      try {
        return Promise.resolve(
          privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash, ...(oaepLabel ? { oaepLabel } : {}) }, data),
        );
      } catch {
        return Promise.resolve(undefined); // OAEP's integrity check rejects a wrong key or hash.
      }
    },
    close: () => Promise.resolve(),
  };
}

/** A keyring over handles; `close()` closes each once. */
export function createKeyring(keys: readonly PrivateKeyHandle[]): Keyring {
  return {
    keys,
    async close() {
      await Promise.all(keys.map((key) => key.close()));
    },
  };
}
