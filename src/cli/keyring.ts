/**
 * The keyring of a decrypt run: every `--key` — a key file or a `pkcs11:` URI of a key on a token
 * (docs/HSM.md) — opened with one passphrase provider (asked at most once, only if a key file is
 * encrypted) and the PKCS#11 settings of src/cli/pkcs11.ts. Several keys support certificate
 * rotation: archives made under an old certificate still decrypt.
 */
import type { Keyring as LibraryKeyring } from '../keys/keyring.js';
import { UsageError } from '../errors.js';
import type { CliContext } from './context.js';
import { passphraseProvider } from './passphrase.js';
import { pkcs11Options, type Pkcs11Flags } from './pkcs11.js';

export interface Keyring {
  /** Where each key came from (a path or a `pkcs11:` URI), same order, for messages and reports. */
  paths: string[];
  /** The keys as the library's keyring (src/keys/keyring.ts), for decryptArchive and unsealArchive; close it when done. */
  handles: LibraryKeyring;
}

/**
 * Opens the private keys named by `--key` options, in order.
 * @throws UsageError without any key or for a malformed URI; KeyError for an unsafe, unreadable or
 *   undecryptable file, or a token key that cannot be opened.
 */
export async function loadKeyring(ctx: CliContext, paths: readonly string[] | undefined, options: Pkcs11Flags): Promise<Keyring> {
  if (!paths || paths.length === 0) throw new UsageError('give the private key with --key FILE or --key pkcs11:URI (repeat --key for older keys)');
  const { openKeyring } = await import('../keys/keyring.js');
  const handles = await openKeyring(paths, { passphrase: passphraseProvider(ctx, options), pkcs11: pkcs11Options(ctx, options) });
  return { paths: [...paths], handles };
}
