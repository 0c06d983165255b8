/** `keys generate`: key pair + self-signed certificate, and what to send to Vonage. */
import { UsageError } from '../../errors.js';
import { archiveKeyPaths, assertPathsAbsent, generateArchiveKeys } from '../../keys/archive-keys.js';
import { assertValidityDays } from '../../keys/certificate.js';
import { VONAGE_MAX_KEY_BITS, assertKeyBits } from '../../keys/generate.js';
import { KEY_PROTECTION } from '../../keys/pbes2.js';
import { parseSubject } from '../../keys/subject.js';
import type { X509Certificate } from 'node:crypto';
import type { CliContext } from '../context.js';
import { pkcs11Options } from '../pkcs11.js';
import { newPassphrase } from '../passphrase.js';
import type { GenerateFlags } from './keys.js';

export async function generateCommand(ctx: CliContext, opts: GenerateFlags): Promise<void> {
  if (opts.pkcs11 !== undefined) return generateOnToken(ctx, opts, opts.pkcs11);
  const sources = [opts.passphraseEnv !== undefined, opts.passphraseFile !== undefined, !opts.passphrase].filter(Boolean).length;
  if (sources > 1) throw new UsageError('give only one of --passphrase-env, --passphrase-file and --no-passphrase');
  assertKeyBits(opts.bits);
  assertValidityDays(opts.days);
  warnShortValidity(ctx, opts.days);
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
  const protection = result.encrypted ? `encrypted PKCS#8: ${KEY_PROTECTION}` : 'UNENCRYPTED PKCS#8';
  const wrote = [
    `Wrote ${result.privateKeyPath} (RSA ${result.bits} bits, ${protection}; mode 0600)`,
    `Wrote ${result.certificatePath}`,
    ...(result.pkcs12Path ? [`Wrote ${result.pkcs12Path} (PKCS#12, same passphrase; mode 0600)`] : []),
  ];
  writeSummary(ctx, wrote, result, `Keep ${result.privateKeyPath} and its passphrase safe: without them no archive can be decrypted.`);
}

/** `--pkcs11 URI`: the key pair is made on the token; only the certificate is written. */
async function generateOnToken(ctx: CliContext, opts: GenerateFlags, uri: string): Promise<void> {
  if (opts.bits !== VONAGE_MAX_KEY_BITS) throw new UsageError(`--pkcs11 makes RSA-${VONAGE_MAX_KEY_BITS} keys (what Vonage accepts): drop --bits`);
  if (opts.pkcs12) throw new UsageError('--pkcs12 cannot be used with --pkcs11: the private key never leaves the token');
  if (!opts.passphrase) throw new UsageError('--no-passphrase does not apply to --pkcs11: the token protects the key');
  assertValidityDays(opts.days);
  warnShortValidity(ctx, opts.days);
  const subject = parseSubject(opts.subject);
  const { generateTokenKeys } = await import('../../keys/pkcs11-generate.js');
  const result = await generateTokenKeys({ uri, outDir: opts.out, days: opts.days, subject, pkcs11: pkcs11Options(ctx, opts) });
  const wrote = [
    `Generated RSA ${result.bits} bits on token "${result.token.label}" (sensitive, not extractable): ${result.keyUri}`,
    `Stored the certificate on the token beside the key (label "${result.object.label}", id ${result.object.id})`,
    `Wrote ${result.certificatePath}`,
  ];
  writeSummary(ctx, wrote, result, `Decrypt with --key "${result.keyUri}"; the token and its PIN are needed for every archive.`);
}

/** The part of the summary both kinds of key share: the certificate and what to send to Vonage. */
function writeSummary(
  ctx: CliContext,
  wrote: string[],
  result: { certificate: X509Certificate; certificatePath: string; fingerprintSha256: string; vonageCertificateValue: string },
  keepSafe: string,
): void {
  const days = Math.round((Date.parse(result.certificate.validTo) - Date.parse(result.certificate.validFrom)) / 86_400_000);
  const lines = [
    ...wrote,
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
    keepSafe,
  ];
  ctx.stdout.write(`${lines.join('\n')}\n`);
}

function iso(opensslDate: string): string {
  return new Date(opensslDate).toISOString().replace('.000Z', 'Z');
}

/** A certificate that lapses within weeks means a rotation soon after set-up: say so, but do as asked. */
function warnShortValidity(ctx: CliContext, days: number): void {
  if (days < 30) {
    ctx.stderr.write(`archive-crypt: warning: --days ${days} makes a certificate that expires in under 30 days; plan the next rotation (keys check warns as expiry nears)\n`);
  }
}
