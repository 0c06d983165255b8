/** `keys check`: does this private key belong to this certificate, and is the certificate still good? */
import { constants, publicEncrypt, randomBytes, type X509Certificate } from 'node:crypto';
import { KeyError } from '../../errors.js';
import { keyMatchesCertificate, publicKeyFingerprint } from '../../keys/fingerprint.js';
import { certificateValidity } from '../../keys/inspect.js';
import { loadCertificate, loadPrivateKey } from '../../keys/load.js';
import { isPkcs11Uri } from '../../keys/pkcs11-uri.js';
import type { CliContext } from '../context.js';
import { reportResult } from '../output.js';
import { passphraseProvider } from '../passphrase.js';
import { openCliPkcs11Key } from '../pkcs11.js';
import type { CheckFlags } from './keys.js';

export async function checkCommand(ctx: CliContext, opts: CheckFlags): Promise<void> {
  const { certificate, publicKey } = await loadCertificate(opts.cert);
  const fingerprints = (key: Parameters<typeof publicKeyFingerprint>[0]) => `public key SHA-256 ${publicKeyFingerprint(key)} vs ${publicKeyFingerprint(publicKey)}`;
  if (isPkcs11Uri(opts.key)) {
    const key = await openCliPkcs11Key(ctx, opts.key, opts);
    try {
      if (!key.publicKey.export({ type: 'spki', format: 'der' }).equals(publicKey.export({ type: 'spki', format: 'der' }))) {
        throw new KeyError(`${opts.key} does not belong to ${opts.cert} (${fingerprints(key.publicKey)})`);
      }
      // The token's public attributes could belong to another private key: prove it by unwrapping on
      // the token what Vonage would wrap to the certificate (OAEP SHA-1).
      const challenge = randomBytes(32);
      const opened = await key.decryptOaep(publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, challenge), 'sha1');
      if (!opened?.equals(challenge)) throw new KeyError(`the key ${opts.key} on token "${key.token.label}" cannot open what is encrypted to ${opts.cert}`);
    } finally {
      await key.close();
    }
    const validity = warnValidity(ctx, opts.cert, certificate);
    await reportResult(ctx, checkDocument(opts, publicKeyFingerprint(publicKey), validity, true), () =>
      ctx.stdout.write(`${opts.key} matches ${opts.cert} and unwraps on the token (public key SHA-256 ${publicKeyFingerprint(publicKey)})\n`),
    );
    return;
  }
  const { key } = await loadPrivateKey(opts.key, passphraseProvider(ctx, opts));
  if (!keyMatchesCertificate(key, certificate)) throw new KeyError(`${opts.key} does not belong to ${opts.cert} (${fingerprints(key)})`);
  const validity = warnValidity(ctx, opts.cert, certificate);
  await reportResult(ctx, checkDocument(opts, publicKeyFingerprint(publicKey), validity, false), () =>
    ctx.stdout.write(`${opts.key} matches ${opts.cert} (public key SHA-256 ${publicKeyFingerprint(publicKey)})\n`),
  );
}

/** The `--json` document of a key that matches its certificate. */
function checkDocument(opts: CheckFlags, publicKeySha256: string, validity: ReturnType<typeof certificateValidity>, onToken: boolean): Record<string, unknown> {
  return {
    key: opts.key,
    cert: opts.cert,
    matches: true,
    onToken,
    publicKeySha256,
    certificate: { state: validity.state, ...(validity.warning !== undefined ? { warning: validity.warning } : {}) },
  };
}

/**
 * The pair still decrypts the archives made for it, so a certificate past (or near) its end is a
 * warning, not a failure: it is time to register a new one with Vonage, keeping this key for the
 * archives already made.
 */
function warnValidity(ctx: CliContext, path: string, certificate: X509Certificate): ReturnType<typeof certificateValidity> {
  const validity = certificateValidity(certificate);
  const { state, warning } = validity;
  const advice = {
    valid: '',
    expiring: 'plan the rotation: keys generate, then vonage storage set (keep this key for older archives)',
    expired: 'Vonage will not take it; register a new one (keys generate, then vonage storage set) and keep this key for older archives',
    'not-yet-valid': 'check the clock of the machine that made it',
  }[state];
  if (warning !== undefined) ctx.stderr.write(`archive-crypt: warning: ${path} ${warning}: ${advice}\n`);
  return validity;
}
