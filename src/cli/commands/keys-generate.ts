/** `keys generate`: key pair + self-signed certificate, and what to send to Vonage. */
import { UsageError } from '../../errors.js';
import { archiveKeyPaths, assertPathsAbsent, generateArchiveKeys } from '../../keys/archive-keys.js';
import { assertValidityDays } from '../../keys/certificate.js';
import { VONAGE_MAX_KEY_BITS, assertKeyBits } from '../../keys/generate.js';
import { KEY_PROTECTION } from '../../keys/pbes2.js';
import { parseSubject } from '../../keys/subject.js';
import type { CliContext } from '../context.js';
import { newPassphrase } from '../passphrase.js';
import type { GenerateFlags } from './keys.js';

export async function generateCommand(ctx: CliContext, opts: GenerateFlags): Promise<void> {
  const sources = [opts.passphraseEnv !== undefined, opts.passphraseFile !== undefined, !opts.passphrase].filter(Boolean).length;
  if (sources > 1) throw new UsageError('give only one of --passphrase-env, --passphrase-file and --no-passphrase');
  assertKeyBits(opts.bits);
  assertValidityDays(opts.days);
  const subject = parseSubject(opts.subject);
  if (opts.pkcs12 && !opts.passphrase) throw new UsageError('--pkcs12 needs a passphrase: drop --no-passphrase or --pkcs12');
  // Refuse before asking for a passphrase: the user should not type it twice for nothing.
  await assertPathsAbsent(archiveKeyPaths(opts.out, opts.pkcs12));
  if (sources === 0 && (!ctx.stdin.isTTY || !ctx.stderr.isTTY)) {
    throw new UsageError('no passphrase for the new key and no terminal to ask: use --passphrase-env VAR, --passphrase-file FILE or --no-passphrase');
  }
  const passphrase = opts.passphrase ? await newPassphrase(ctx, opts) : null;
  if (opts.bits > VONAGE_MAX_KEY_BITS) {
    ctx.stderr.write(
      `archive-crypt: warning: Vonage accepts keys of ${VONAGE_MAX_KEY_BITS} bits at most; a ${opts.bits}-bit certificate cannot be registered for archive encryption\n`,
    );
  }
  if (!passphrase) ctx.stderr.write('archive-crypt: warning: the private key is written unencrypted (--no-passphrase)\n');

  const result = await generateArchiveKeys({ outDir: opts.out, bits: opts.bits, days: opts.days, subject, passphrase, pkcs12: Boolean(opts.pkcs12) });
  const days = Math.round((Date.parse(result.certificate.validTo) - Date.parse(result.certificate.validFrom)) / 86_400_000);
  const protection = result.encrypted ? `encrypted PKCS#8: ${KEY_PROTECTION}` : 'UNENCRYPTED PKCS#8';
  const lines = [
    `Wrote ${result.privateKeyPath} (RSA ${result.bits} bits, ${protection}; mode 0600)`,
    `Wrote ${result.certificatePath}`,
    ...(result.pkcs12Path ? [`Wrote ${result.pkcs12Path} (PKCS#12, same passphrase; mode 0600)`] : []),
    '',
    `Subject:             ${result.certificate.subject.split('\n').join(', ')}`,
    `Serial:              ${result.certificate.serialNumber.toUpperCase()}`,
    `Valid:               ${iso(result.certificate.validFrom)} to ${iso(result.certificate.validTo)} (${days} days)`,
    `SHA-256 fingerprint: ${result.fingerprintSha256}`,
    '',
    `Vonage "certificate" value (base64 of ${result.certificatePath}):`,
    result.vonageCertificateValue,
    '',
    'Register it: PUT https://api.opentok.com/v2/project/<apiKey>/archive/storage with body',
    '  {"type":"s3"|"azure","config":{…},"fallback":"none","certificate":"<the value above>"}',
    `Keep ${result.privateKeyPath} and its passphrase safe: without them no archive can be decrypted.`,
  ];
  ctx.stdout.write(`${lines.join('\n')}\n`);
}

function iso(opensslDate: string): string {
  return new Date(opensslDate).toISOString().replace('.000Z', 'Z');
}
