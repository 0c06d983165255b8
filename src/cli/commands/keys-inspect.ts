/** `keys inspect`: a readable (or JSON) description of a key file. */
import { inspectKeyFile, inspectTokenKey, type InspectedItem, type KeyDescription, type KeyFileReport, type TokenKeyFacts, type VonageVerdict } from '../../keys/inspect.js';
import { KeyError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { reportFailureOf, reportResult } from '../output.js';
import { passphraseProvider } from '../passphrase.js';
import { isPkcs11Uri } from '../../keys/pkcs11-uri.js';
import { openCliPkcs11Key } from '../pkcs11.js';
import type { InspectFlags } from './keys.js';

export async function inspectCommand(ctx: CliContext, file: string, opts: InspectFlags): Promise<void> {
  if (isPkcs11Uri(file)) {
    const key = await openCliPkcs11Key(ctx, file, opts);
    let report: KeyFileReport;
    try {
      report = await inspectTokenKey(key);
    } finally {
      await key.close();
    }
    await writeReport(ctx, report, opts);
    return;
  }
  // Only ask for (or read) a passphrase when the user offered one: inspecting an encrypted key
  // without it still tells what the file is.
  const offered = opts.passphraseEnv !== undefined || opts.passphraseFile !== undefined;
  await writeReport(ctx, await inspectKeyFile(file, offered ? { passphrase: passphraseProvider(ctx, opts) } : {}), opts);
}

/** The report first, always; then, with --strict, the verdict as the exit code. */
async function writeReport(ctx: CliContext, report: KeyFileReport, opts: InspectFlags): Promise<void> {
  const refusal = opts.strict ? strictRefusal(report) : undefined;
  if (refusal !== undefined) {
    const error = new KeyError(refusal);
    // The JSON is the report with the verdict; the text form is printed as it is without --strict.
    await reportFailureOf(ctx, error, { ...report });
    if (ctx.report?.json !== true) ctx.stdout.write(formatReport(report));
    throw error;
  }
  await reportResult(ctx, { ...report }, () => ctx.stdout.write(formatReport(report)));
}

/** Why `--strict` fails for this report, or undefined when every certificate is one Vonage takes now. */
export function strictRefusal(report: KeyFileReport): string | undefined {
  const certificates = report.items.filter((item) => item.kind === 'certificate');
  if (certificates.length === 0) return `${report.file} holds no certificate: Vonage needs the X.509 certificate (keys generate writes archive-certificate.pem)`;
  const refused = certificates.find((item) => item.vonage.accepted !== true);
  if (refused === undefined) return undefined;
  const which = certificates.length > 1 ? ` (certificate ${refused.subject})` : '';
  return `Vonage would not accept ${report.file}${which}: ${refused.vonage.reason}`;
}

/** The text form: one paragraph per item, warnings last in each. */
export function formatReport(report: KeyFileReport): string {
  const container = { pem: 'PEM', der: 'DER', pkcs12: 'PKCS#12', pkcs11: 'PKCS#11 token' }[report.container];
  const out = [`${report.file} (${container})`];
  for (const warning of report.warnings) out.push(`warning: ${warning}`);
  for (const item of report.items) out.push('', ...formatItem(item));
  return `${out.join('\n')}\n`;
}

function formatItem(item: InspectedItem): string[] {
  const field = (name: string, value: string) => `  ${`${name}:`.padEnd(13)}${value}`;
  const lines: string[] = [];
  switch (item.kind) {
    case 'certificate':
      lines.push(
        'certificate',
        field('subject', item.subject),
        field('issuer', `${item.issuer}${item.selfSigned ? ' (self-signed)' : ''}`),
        field('serial', item.serialNumber),
        field('valid', `${item.notBefore} to ${item.notAfter} (${item.daysLeft >= 0 ? `${item.daysLeft} days left` : 'expired'})`),
        field('key', keyText(item.key)),
        field('SHA-256', item.fingerprintSha256),
        // Alone on its line to the end, so a double-click or `awk '{print $3}'` takes all of it.
        field('Vonage cert', item.vonageCertificate),
      );
      break;
    case 'private-key': {
      const encoding = { pkcs8: 'PKCS#8', pkcs1: 'PKCS#1', 'der-pkcs8': 'PKCS#8 DER', pkcs12: 'from PKCS#12', pkcs11: `on token "${item.token?.token.label ?? ''}"` }[item.encoding];
      lines.push(`private key (${item.encrypted ? 'encrypted ' : ''}${encoding})`, field('key', keyText(item.key)));
      if (item.token) lines.push(...tokenLines(item.token, field));
      break;
    }
    case 'csr':
      lines.push(
        'certificate signing request',
        field('subject', item.subject),
        field('signature', item.signatureValid ? 'valid' : 'INVALID'),
        field('key', keyText(item.key)),
      );
      break;
    case 'public-key':
      lines.push('public key', field('key', keyText(item.key)));
      break;
  }
  if (item.key.publicKeySha256) lines.push(field('key SHA-256', `${item.key.publicKeySha256} (of the public key)`));
  lines.push(field('Vonage', verdictText(item.vonage)));
  for (const warning of item.warnings) lines.push(`  warning: ${warning}`);
  return lines;
}

/** How the token holds the key: the facts a security officer checks before trusting it. */
function tokenLines(facts: TokenKeyFacts, field: (name: string, value: string) => string): string[] {
  const yesNo = (value: boolean | null, yes: string, no: string) => (value === null ? `${yes}: not reported` : value ? yes : no);
  const { token } = facts;
  return [
    field('token', `"${token.label}" (${[token.manufacturer, token.model, token.serial ? `serial ${token.serial}` : ''].filter(Boolean).join(', ')})`),
    field('object', `label "${facts.object.label}", id ${facts.object.id || '(none)'}`),
    field('protection', [yesNo(facts.sensitive, 'sensitive', 'NOT sensitive'), yesNo(facts.extractable, 'EXTRACTABLE', 'not extractable'),
      ...(facts.alwaysSensitive ? ['always sensitive'] : []), ...(facts.neverExtractable ? ['never extractable'] : []),
      yesNo(facts.local, 'generated on the token', 'imported')].join(', ')),
    field('uses', facts.uses.join(', ') || 'none'),
  ];
}

function keyText(key: KeyDescription): string {
  if (key.type === null) return 'unknown (encrypted; give --passphrase-env VAR to see it)';
  const type = key.type.toUpperCase();
  return key.bits === null ? `${type} (encrypted; give --passphrase-env VAR to see its size)` : `${type} ${key.bits} bits`;
}

function verdictText(verdict: VonageVerdict): string {
  const word = verdict.accepted === null ? 'cannot tell' : verdict.accepted ? 'accepted' : 'NOT accepted';
  return `${word}: ${verdict.reason}`;
}
