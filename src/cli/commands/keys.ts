/**
 * `archive-crypt keys …`: the security officer's commands. Flags and help live here; each action
 * loads its module (and node-forge) only when it runs.
 */
import { InvalidArgumentError, type Command } from 'commander';
import type { CliContext } from '../context.js';
import { addReportOptions, type ReportFlags } from '../output.js';

export interface PassphraseFlags {
  passphraseEnv?: string;
  passphraseFile?: string;
  /** `--pkcs11-module`, for a `pkcs11:` key. */
  pkcs11Module?: string;
}

const pkcs11ModuleHelp = 'PKCS#11 module (.so) for a pkcs11: key (or module-path= in the URI, or ARCHIVE_CRYPT_PKCS11_MODULE)';

/** How `keys csr` and `keys check` open their one --key (PassphraseFlags): its PKCS#11 module and passphrase source. */
function addKeyOpeningOptions(command: Command): Command {
  return command
    .option('--pkcs11-module <path>', pkcs11ModuleHelp)
    .option('--passphrase-env <var>', 'read the key passphrase from this environment variable')
    .option('--passphrase-file <file>', 'read the key passphrase from the first line of this file');
}

export function register(program: Command, ctx: CliContext): void {
  const keys = program
    .command('keys')
    .description('create and check the RSA key pair and certificate that Vonage encrypts archives with')
    .addHelpText(
      'after',
      `
Example (first-time setup):
  $ export ARCHIVE_KEY_PASSPHRASE='a long passphrase'
  $ archive-crypt keys generate --out keys --passphrase-env ARCHIVE_KEY_PASSPHRASE
  $ archive-crypt keys inspect keys/archive-certificate.pem`,
    );

  keys
    .command('generate')
    .description('generate an RSA key pair and a self-signed certificate for Vonage encrypted archiving')
    .requiredOption('--out <dir>', 'folder to write archive-private-key.pem and archive-certificate.pem into (created if missing)')
    .option('--pkcs11 <uri>', 'generate the key pair on a PKCS#11 token instead, e.g. "pkcs11:token=archive;object=archive-2026" (writes only the certificate)')
    .option('--pkcs11-module <path>', pkcs11ModuleHelp)
    .option('--bits <n>', 'RSA key size; Vonage accepts 2048 at most', wholeNumber, 2048)
    .option('--days <n>', 'certificate validity in days', wholeNumber, 365)
    .option('--subject <dn>', 'certificate subject, e.g. "CN=Archive key,O=Example Ltd,C=GB"', 'CN=Vonage archive encryption')
    .option('--passphrase-env <var>', 'read the new passphrase from this environment variable')
    .option('--passphrase-file <file>', 'read the new passphrase from the first line of this file')
    .option('--no-passphrase', 'write the private key unencrypted (not recommended)')
    .option('--pkcs12', 'also write archive-key.p12 (same passphrase) for importing into other tools')
    .addHelpText(
      'after',
      `
Writes <dir>/archive-private-key.pem (encrypted PKCS#8, mode 0600) and <dir>/archive-certificate.pem,
never overwriting a file. Without a passphrase option it asks twice on the terminal.
With --pkcs11 the RSA-2048 key is made on the token (sensitive, not extractable), the certificate is
signed there and stored beside it, and only <dir>/archive-certificate.pem is written; the token's PIN
comes from --passphrase-env, --passphrase-file, pin-source=file:PATH in the URI, or a prompt.

Example:
  $ export ARCHIVE_KEY_PASSPHRASE='a long passphrase'
  $ archive-crypt keys generate --out keys --subject "CN=Archive key,O=Example Ltd" \\
      --passphrase-env ARCHIVE_KEY_PASSPHRASE
  Then put the printed "certificate" value into Vonage's
  PUT https://api.opentok.com/v2/project/<apiKey>/archive/storage request.
  $ archive-crypt keys generate --out keys --pkcs11 "pkcs11:token=archive;object=archive-2026" \
      --pkcs11-module /usr/lib/softhsm/libsofthsm2.so --passphrase-env TOKEN_PIN`,
    )
    .action(async (opts: GenerateFlags) => {
      const { generateCommand } = await import('./keys-generate.js');
      await generateCommand(ctx, opts);
    });

  addKeyOpeningOptions(
    keys
      .command('csr')
      .description('create a PKCS#10 certificate signing request for your own CA')
      .requiredOption('-k, --key <file|uri>', 'private key (PEM, DER or PKCS#12), or a pkcs11: URI (signs on the token)')
      .requiredOption('--subject <dn>', 'subject, e.g. "CN=Archive key,O=Example Ltd,C=GB"')
      .requiredOption('-o, --output <file>', 'where to write the CSR (PEM); never overwritten'),
  )
    .addHelpText(
      'after',
      `
Example:
  $ archive-crypt keys csr --key keys/archive-private-key.pem --subject "CN=Archive key,O=Example Ltd" \\
      --output archive.csr --passphrase-env ARCHIVE_KEY_PASSPHRASE
  Have your CA sign archive.csr, then register the signed certificate with Vonage.`,
    )
    .action(async (opts: CsrFlags) => {
      const { csrCommand } = await import('./keys-csr.js');
      await csrCommand(ctx, opts);
    });

  addReportOptions(keys
    .command('inspect'), false)
    .description('show what a certificate, private key, CSR or PKCS#12 file holds and whether Vonage accepts it')
    .argument('<file>', 'PEM or DER file, a .p12 bundle, or a pkcs11: URI of a key on a token')
    .option('--strict', 'exit 3 unless the file holds a certificate Vonage accepts now (RSA of 2048 bits at most, not expired, already valid)')
    .option('--pkcs11-module <path>', pkcs11ModuleHelp)
    .option('--passphrase-env <var>', 'passphrase for an encrypted key or .p12, from this environment variable')
    .option('--passphrase-file <file>', 'passphrase for an encrypted key or .p12, from the first line of this file')
    .addHelpText(
      'after',
      `
Encrypted keys are described without their size unless a passphrase option is given.
Each certificate is shown with its Vonage "certificate" value ("Vonage cert": base64 of its PEM; "vonageCertificate"
in --json), ready for the PUT …/archive/storage request, whether the file is PEM, DER or PKCS#12.
Without --strict a certificate Vonage would refuse is reported and the exit code is 0.

Example:
  $ archive-crypt keys inspect keys/archive-certificate.pem
  $ archive-crypt keys inspect ca-signed.p12 --passphrase-env P12_PASSPHRASE --strict
  $ archive-crypt keys inspect keys/archive-private-key.pem --passphrase-env ARCHIVE_KEY_PASSPHRASE --json
  $ archive-crypt keys inspect "pkcs11:token=archive;object=archive-2026" --passphrase-env TOKEN_PIN`,
    )
    .action(async (file: string, opts: InspectFlags) => {
      const { inspectCommand } = await import('./keys-inspect.js');
      await inspectCommand(ctx, file, opts);
    });

  addKeyOpeningOptions(
    addReportOptions(keys.command('check'), false)
      .description('check that a private key belongs to a certificate (exit 0 if it does, 3 if not)')
      .requiredOption('-k, --key <file|uri>', 'private key (PEM, DER or PKCS#12), or a pkcs11: URI')
      .requiredOption('--cert <file>', 'certificate (PEM or DER)'),
  )
    .addHelpText(
      'after',
      `
Example:
  $ archive-crypt keys check --key keys/archive-private-key.pem --cert keys/archive-certificate.pem \\
      --passphrase-env ARCHIVE_KEY_PASSPHRASE`,
    )
    .action(async (opts: CheckFlags) => {
      const { checkCommand } = await import('./keys-check.js');
      await checkCommand(ctx, opts);
    });
}

export interface GenerateFlags extends PassphraseFlags {
  out: string;
  bits: number;
  days: number;
  subject: string;
  /** false when --no-passphrase is given. */
  passphrase: boolean;
  pkcs12?: boolean;
  /** `--pkcs11 URI`: make the key on a token. */
  pkcs11?: string;
}

export interface CsrFlags extends PassphraseFlags {
  key: string;
  subject: string;
  output: string;
}

export interface InspectFlags extends PassphraseFlags, ReportFlags {
  strict?: boolean;
}

export interface CheckFlags extends PassphraseFlags, ReportFlags {
  key: string;
  cert: string;
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number.');
  return Number(value);
}
