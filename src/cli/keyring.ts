/**
 * The keyring of a decrypt run: every `--key` file, loaded with one passphrase provider (asked at
 * most once, only if a key is encrypted). Several keys support certificate rotation: archives made
 * under an old certificate still decrypt.
 */
import type { KeyObject } from 'node:crypto';
import type { Keyring as LibraryKeyring } from '../keys/keyring.js';
import { UsageError } from '../errors.js';
import type { CliContext } from './context.js';
import { passphraseProvider, type PassphraseOptions } from './passphrase.js';

export interface Keyring {
  keys: KeyObject[];
  /** The file each key came from, same order, for messages and reports. */
  paths: string[];
  /** The same keys as the library's keyring (src/keys/keyring.ts), for decryptArchive and unsealArchive. */
  handles: LibraryKeyring;
}

/**
 * Loads the private keys named by `--key` options, in order.
 * @throws UsageError without any key; KeyError for an unsafe, unreadable or undecryptable file.
 */
export async function loadKeyring(ctx: CliContext, paths: readonly string[] | undefined, options: PassphraseOptions): Promise<Keyring> {
  if (!paths || paths.length === 0) throw new UsageError('give the private key with --key FILE (repeat --key for older keys)');
  const { loadPrivateKey } = await import('../keys/load.js');
  const passphrase = passphraseProvider(ctx, options);
  const keys: KeyObject[] = [];
  for (const path of paths) keys.push((await loadPrivateKey(path, passphrase)).key);
  const { createKeyring, fileKeyHandle } = await import('../keys/keyring.js');
  return { keys, paths: [...paths], handles: createKeyring(keys.map((key, i) => fileKeyHandle(key, paths[i] ?? ''))) };
}
