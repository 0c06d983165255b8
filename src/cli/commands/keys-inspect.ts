/** `keys inspect`: a readable (or JSON) description of a key file. */
import { inspectKeyFile, type InspectedItem, type KeyDescription, type KeyFileReport, type VonageVerdict } from '../../keys/inspect.js';
import type { CliContext } from '../context.js';
import { passphraseProvider } from '../passphrase.js';
import type { InspectFlags } from './keys.js';

export async function inspectCommand(ctx: CliContext, file: string, opts: InspectFlags): Promise<void> {
  // Only ask for (or read) a passphrase when the user offered one: inspecting an encrypted key
  // without it still tells what the file is.
  const offered = opts.passphraseEnv !== undefined || opts.passphraseFile !== undefined;
  const report = await inspectKeyFile(file, offered ? { passphrase: passphraseProvider(ctx, opts) } : {});
  ctx.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
}

/** The text form: one paragraph per item, warnings last in each. */
export function formatReport(report: KeyFileReport): string {
  const container = { pem: 'PEM', der: 'DER', pkcs12: 'PKCS#12' }[report.container];
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
      );
      break;
    case 'private-key': {
      const encoding = { pkcs8: 'PKCS#8', pkcs1: 'PKCS#1', 'der-pkcs8': 'PKCS#8 DER', pkcs12: 'from PKCS#12' }[item.encoding];
      lines.push(`private key (${item.encrypted ? 'encrypted ' : ''}${encoding})`, field('key', keyText(item.key)));
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

function keyText(key: KeyDescription): string {
  if (key.type === null) return 'unknown (encrypted; give --passphrase-env VAR to see it)';
  const type = key.type.toUpperCase();
  return key.bits === null ? `${type} (encrypted; give --passphrase-env VAR to see its size)` : `${type} ${key.bits} bits`;
}

function verdictText(verdict: VonageVerdict): string {
  const word = verdict.accepted === null ? 'cannot tell' : verdict.accepted ? 'accepted' : 'NOT accepted';
  return `${word}: ${verdict.reason}`;
}
