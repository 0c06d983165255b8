/**
 * The keyring: the private keys a run may use, whatever holds them — a file (a `KeyObject` in this
 * process) or a hardware token (PKCS#11, where the key never leaves the device). Everything that
 * unwraps a Vonage password (RSA-OAEP SHA-1, SHA-256 fallback) or a sealed file key (RSA-OAEP
 * SHA-256 with a label, docs/FORMAT.md §4) goes through `PrivateKeyHandle.decryptOaep`, so file and
 * token keys mix in one keyring (rotation from a file key to an HSM key).
 */
import { constants, createPublicKey, privateDecrypt, type KeyObject } from 'node:crypto';
import type { PassphraseSource } from './load.js';
import type { Pkcs11Options } from './pkcs11.js';
import { isPkcs11Uri } from './pkcs11-uri.js';

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

/** How `openKeyring` opens each entry: a passphrase for encrypted key files, PKCS#11 settings for tokens. */
export interface OpenKeyringOptions {
  passphrase?: PassphraseSource;
  pkcs11?: Pkcs11Options;
}

/**
 * Opens each entry — a key file path, or a `pkcs11:` URI (RFC 7512) for a key on a token — in order.
 * The PKCS#11 code loads only when an entry is a URI. On failure, what was opened is closed again.
 *
 * @example
 * ```ts
 * const keyring = await openKeyring(['keys/2025.pem', 'pkcs11:token=archive;object=archive-2026'], {
 *   passphrase: () => Promise.resolve(process.env.KEY_PASSPHRASE!),
 *   pkcs11: { module: '/usr/lib/softhsm/libsofthsm2.so', pin: () => Promise.resolve(process.env.TOKEN_PIN!) },
 * });
 * ```
 * @throws KeyError for a key that cannot be opened (file or token); UsageError for a malformed URI.
 */
export async function openKeyring(entries: readonly string[], options: OpenKeyringOptions = {}): Promise<Keyring> {
  const keys: PrivateKeyHandle[] = [];
  try {
    for (const entry of entries) {
      if (isPkcs11Uri(entry)) {
        const { openPkcs11Key } = await import('./pkcs11.js');
        keys.push(await openPkcs11Key(entry, options.pkcs11));
      } else {
        const { loadPrivateKey } = await import('./load.js');
        keys.push(fileKeyHandle((await loadPrivateKey(entry, options.passphrase)).key, entry));
      }
    }
  } catch (error) {
    await Promise.all(keys.map((key) => key.close()));
    throw error;
  }
  return createKeyring(keys);
}
