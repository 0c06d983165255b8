/** `keys check`: does this private key belong to this certificate? */
import { KeyError } from '../../errors.js';
import { keyMatchesCertificate, publicKeyFingerprint } from '../../keys/fingerprint.js';
import { loadCertificate, loadPrivateKey } from '../../keys/load.js';
import type { CliContext } from '../context.js';
import { passphraseProvider } from '../passphrase.js';
import type { CheckFlags } from './keys.js';

export async function checkCommand(ctx: CliContext, opts: CheckFlags): Promise<void> {
  const { certificate, publicKey } = await loadCertificate(opts.cert);
  const { key } = await loadPrivateKey(opts.key, passphraseProvider(ctx, opts));
  if (!keyMatchesCertificate(key, certificate)) {
    throw new KeyError(
      `${opts.key} does not belong to ${opts.cert} (public key SHA-256 ${publicKeyFingerprint(key)} vs ${publicKeyFingerprint(publicKey)})`,
    );
  }
  ctx.stdout.write(`${opts.key} matches ${opts.cert} (public key SHA-256 ${publicKeyFingerprint(publicKey)})\n`);
}
