/**
 * `archive-crypt decrypt`: decrypts and verifies one Vonage encrypted archive (docs/ARCHITECTURE.md §4, §6).
 * Output goes to a named file (only after every check passed), to stdout, or nowhere (verify only).
 */
import { Option, type Command } from 'commander';
import type { DecryptReport } from '../../engine/archive/decrypt.js';
import type { OutputSink } from '../../storage/output-sink.js';
import { UsageError } from '../../errors.js';
import type { Padding } from '../../format/opentok.js';
import type { CliContext } from '../context.js';
import { addKeyOptions, loadKeyring, planKeyring, type KeyFlags, type KeyPlan, type LoadedKeyring } from '../keyring.js';
import type { SourceOptions } from '../../storage/open.js';
import { addPasswordOptions, archiveDecryptOptions, checkPasswordFlags, parseSha256, readPasswordInput, type PasswordFlags, type PasswordInput } from '../archive-password.js';
import { addReportOptions, type ReportFlags } from '../output.js';
import { checkPlaintextPolicy, refuseExistingOutput, runPipeline } from '../pipeline.js';
import { addStorageOptions, storageOptionsFrom, type StorageFlags } from '../storage-options.js';
import { formatDecryptSummary, sealedInputError, type DecryptJson, type KeyUsed } from '../report.js';

interface DecryptOptions extends KeyFlags, StorageFlags, PasswordFlags, ReportFlags {
  output?: string;
  expectSha256?: string;
  padding: Padding;
  mpegtsCheck: boolean;
  quiet?: boolean;
  deleteAfter?: boolean;
  apiUrl?: string;
}

const EXAMPLE = `
Exactly one of --password, --password-file or --archive-json gives the archive password. The archive JSON
(REST object, list response with --archive-id, or callback body) also supplies sha256sum and size, which
are then checked.

Output: --output FILE writes the media (mode 0600) only after every check passed; --output - streams it to
stdout (then --json goes to stderr) — the media flows before the last checks, so trust it only when the
exit code is 0; without --output nothing is written (verify only). With ARCHIVE_CRYPT_PLAINTEXT_FILES=deny,
--output FILE is refused (exit 6).

Examples:
  # verify an archive against its REST JSON, writing nothing
  $ export KEY_PASS=…   # passphrase of the private key
  $ archive-crypt decrypt archive.mp4 --key archive-private-key.pem --passphrase-env KEY_PASS \\
      --archive-json archive.json
  verified archive.mp4 → nowhere (verify only)
    archive  b40ef09b-3811-4726-b508-e41a0f96c68f
    key      archive-private-key.pem (key 1 of 1, RSA-OAEP SHA-1)
    length   ok: 67872 bytes encrypted, 67868 bytes decrypted
    padding  ok (PKCS#7 removed)
    MPEG-TS  ok: 361 packets of 188 bytes
    sha256   ok: matches the encrypted archive
    size     ok: 67872 bytes, matches the encrypted archive

  # decrypt to a file, with the previous key as a fallback
  $ archive-crypt decrypt archive.mp4 --key current.pem --key previous.pem --passphrase-env KEY_PASS \\
      --password-file password.txt --output meeting.ts

  # straight from the bucket Vonage uploads to (<apiKey>/<archiveId>/archive.mp4), AWS credentials as usual
  $ archive-crypt decrypt s3://my-archives/46372/b40ef09b-3811-4726-b508-e41a0f96c68f/archive.mp4 \\
      --key key.pem --passphrase-env KEY_PASS --archive-json archive.json --output meeting.ts

  # an archive Vonage holds in its fallback storage: fetch it, verify it, then delete it from Vonage
  $ export VONAGE_API_KEY=46372 VONAGE_API_SECRET=…
  $ archive-crypt decrypt --vonage-archive b40ef09b-3811-4726-b508-e41a0f96c68f --key key.pem \\
      --passphrase-env KEY_PASS --output meeting.ts --delete-after

  # play it without writing the media anywhere
  $ archive-crypt decrypt archive.mp4 --key key.pem --passphrase-env KEY_PASS --archive-json archive.json \\
      --output - | ffplay -

Exit codes: 0 ok, 2 usage, 3 key or password unusable, 4 integrity check failed, 5 storage, 6 output refused.
`;

export function register(program: Command, ctx: CliContext): void {
  const command = addKeyOptions(
program
    .command('decrypt')
    .description('decrypt and verify a Vonage encrypted archive (to a file, to stdout, or verify only)')
    .argument('[source]', 'the encrypted archive: a path, - (stdin), s3://bucket/key, azure://container/blob or https://… (optional with --vonage-archive)'));
  addPasswordOptions(command)
    .option('-o, --output <file|->', 'write the media to FILE, s3://… or azure://… (never overwritten, visible only after every check passed) or - for stdout (default: verify only)')
    .option('--expect-sha256 <b64|hex>', 'expected SHA-256 of the encrypted archive or the media (overrides sha256sum of --archive-json)')
    .addOption(new Option('--padding <mode>', 'pkcs7 strips the padding; none keeps it, like openssl enc -d -nopad').choices(['pkcs7', 'none']).default('pkcs7'))
    .option('--no-mpegts-check', 'do not require the media to be MPEG-TS')
    .option('--quiet', 'no progress bar and no summary; errors only')
    .option('--vonage-archive <id>', 'fetch the archive JSON (password, sha256sum, size) from the Vonage API; without <source>, read its fallback-storage url')
    .option('--delete-after', 'with --vonage-archive and --output FILE: delete the archive from Vonage\'s fallback storage once verified')
    .option('--api-url <url>', 'Vonage Video API base URL for --vonage-archive (env VONAGE_VIDEO_API_URL)');
  addReportOptions(addStorageOptions(command))
    .addHelpText('after', EXAMPLE)
    .action((source: string | undefined, opts: DecryptOptions) => decryptCommand(ctx, source, opts));
}


/** What `check` settled before any key is opened or any output is claimed. */
interface DecryptPlan {
  sourceSpec: string;
  storage: SourceOptions;
  expectOverride: Buffer | undefined;
  /** From --password, --password-file or --archive-json; with --vonage-archive, fetched in `run`. */
  input: PasswordInput | undefined;
  keys: KeyPlan;
}

async function decryptCommand(ctx: CliContext, sourceArgument: string | undefined, opts: DecryptOptions): Promise<void> {
  const extras: { archiveId?: string; key?: KeyUsed } = {};
  const outputLabel = opts.output === undefined ? null : opts.output === '-' ? 'stdout' : opts.output;
  await runPipeline<DecryptPlan, LoadedKeyring, OutputSink, DecryptReport>(ctx, {
    progressLabel: 'decrypting',
    quiet: opts.quiet === true,
    readsStdin: sourceArgument === '-',
    async check() {
      checkPasswordFlags(opts);
      if (sourceArgument === undefined && opts.vonageArchive === undefined) throw new UsageError('missing <source>: give the archive (path, -, s3://…) or --vonage-archive ID');
      if (opts.output === '-' && ctx.stdout.isTTY) {
        throw new UsageError('refusing to write media to a terminal: pipe --output - into a player (| ffplay -) or give --output FILE');
      }
      if (opts.deleteAfter && (opts.output === undefined || opts.output === '-')) {
        throw new UsageError('--delete-after needs --output FILE: the archive is deleted only once a verified copy is on disk');
      }
      const storage = storageOptionsFrom(opts, ctx);
      const expectOverride = opts.expectSha256 === undefined ? undefined : parseSha256(opts.expectSha256, '--expect-sha256');
      const keys = planKeyring(ctx, opts);
      checkPlaintextPolicy(ctx, opts.output);
      await refuseExistingOutput(opts.output);
      const input = opts.vonageArchive === undefined ? await readPasswordInput(opts) : undefined;
      if (input?.archiveId !== undefined) extras.archiveId = input.archiveId;
      const sourceSpec = sourceArgument ?? `Vonage archive ${opts.vonageArchive ?? ''}`;
      return { sourceSpec, storage, expectOverride, input, keys };
    },
    describe: (plan) => ({ source: plan.sourceSpec, output: outputLabel }),
    keys: (plan) => loadKeyring(ctx, plan.keys),
    outputs: async (plan, _keys, claim) => claim(await openOutput(ctx, opts.output, plan.storage)),
    async run({ plan, keys: keyring, outputs: sink, progress }) {
      const vonage = opts.vonageArchive === undefined ? undefined : await (await import('./vonage-decrypt.js')).fetchVonageArchive(ctx, opts, sourceArgument);
      const input = vonage?.input ?? plan.input;
      // checkPasswordFlags let exactly one source through: --vonage-archive, or one read by `check`.
      if (input === undefined) throw new UsageError('no archive password: give --password, --password-file or --archive-json');
      if (input.archiveId !== undefined) extras.archiveId = input.archiveId;
      const { openSource } = await import('../../storage/open.js');
      const { decryptArchive } = await import('../../engine/archive/decrypt.js');
      const source = await openSource(vonage?.source ?? plan.sourceSpec, plan.storage);
      let report: DecryptReport;
      try {
        report = await decryptArchive({
          ...archiveDecryptOptions(input, opts, plan.expectOverride, { signal: ctx.signal, onProgress: (bytes, total) => progress.update(bytes, total) }),
          source,
          keyring: keyring.handles,
          onKeyUnwrapped: ({ index, label, oaepHash }) => (extras.key = { index, path: label, oaepHash, of: keyring.handles.keys.length }),
          sink,
        });
      } catch (error) {
        throw await sealedInputError(error, source);
      } finally {
        await source.close?.();
      }
      // Only reached once the output is committed: the media is safe before Vonage's copy goes.
      await vonage?.afterVerified();
      return report;
    },
    report(report) {
      const result: DecryptJson = { ...report, output: outputLabel, ...extras };
      return { json: { ...result }, text: formatDecryptSummary(result) };
    },
    async failure(error) {
      const { ArchiveCheckError } = await import('../../engine/archive/decrypt.js');
      return error instanceof ArchiveCheckError ? { ...error.report, output: outputLabel, ...extras } : { ...extras };
    },
  });
}

async function openOutput(ctx: CliContext, output: string | undefined, storage: SourceOptions): Promise<OutputSink> {
  const { nullSink, streamSink } = await import('../../storage/output-sink.js');
  if (output === undefined) return nullSink();
  if (output === '-') return streamSink(ctx.stdout);
  const { openSink } = await import('../../storage/sink.js');
  return openSink(output, storage);
}
