/**
 * What the CLI hands the PKCS#11 layer (keys/pkcs11.ts): the module from `--pkcs11-module`, the
 * environment, and the PIN from the passphrase sources — `--passphrase-env`, `--passphrase-file`, or a
 * hidden prompt naming the token (a URI's `pin-source` wins over all of them). docs/HSM.md.
 */
import type { Pkcs11KeyHandle, Pkcs11Options } from '../keys/pkcs11.js';
import type { CliContext } from './context.js';
import { passphraseProvider, type PassphraseOptions, type PassphraseProvider } from './passphrase.js';

export interface Pkcs11Flags extends PassphraseOptions {
  /** `--pkcs11-module PATH`. */
  pkcs11Module?: string;
}

/** PKCS#11 options for a command: asks for each token's PIN at most once. */
export function pkcs11Options(ctx: CliContext, flags: Pkcs11Flags): Pkcs11Options {
  const prompts = new Map<string, PassphraseProvider>();
  return {
    ...(flags.pkcs11Module !== undefined ? { module: flags.pkcs11Module } : {}),
    env: ctx.env,
    pin: (token) => {
      let provider = prompts.get(token);
      if (!provider) prompts.set(token, (provider = passphraseProvider(ctx, flags, `PIN for token "${token}": `)));
      return provider();
    },
  };
}

/** Opens a `pkcs11:` key for a command, loading the PKCS#11 code only now. */
export async function openCliPkcs11Key(ctx: CliContext, uri: string, flags: Pkcs11Flags): Promise<Pkcs11KeyHandle> {
  const { openPkcs11Key } = await import('../keys/pkcs11.js');
  return openPkcs11Key(uri, pkcs11Options(ctx, flags));
}
