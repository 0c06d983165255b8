/**
 * `archive-crypt reseal`: a Vonage archive decrypted, verified and sealed for other recipients in one
 * pass. The plaintext never touches a disk; the output is sealed (authenticated) ciphertext, so the
 * plaintext-file policy does not apply to it.
 */
import type { KeyObject } from 'node:crypto';
import { Option, type Command } from 'commander';
import type { ResealReport } from '../../engine/archive/reseal.js';
import { UsageError } from '../../errors.js';
import type { Padding } from '../../format/opentok.js';
import type { SourceOptions } from '../../storage/open.js';
import type { OutputSink } from '../../storage/output-sink.js';
import { addPasswordOptions, archiveDecryptOptions, checkPasswordFlags, parseSha256, readPasswordInput, type PasswordFlags, type PasswordInput } from '../archive-password.js';
import type { CliContext } from '../context.js';
import { addReportOptions, type ReportFlags } from '../output.js';
import { refuseExistingOutput, runPipeline } from '../pipeline.js';
import { sealedInputError } from '../report.js';
import { addRecipientOption, loadRecipients, recipientPaths } from '../recipients.js';
import { addKeyOptions, loadKeyring, planKeyring, type KeyFlags, type KeyPlan, type LoadedKeyring } from '../keyring.js';
import { addStorageOptions, parseCount, storageOptionsFrom, type StorageFlags } from '../storage-options.js';

interface ResealFlags extends KeyFlags, PasswordFlags, StorageFlags, ReportFlags {
  to?: string[];
  output: string;
  expectSha256?: string;
  padding: Padding;
  mpegtsCheck: boolean;
  segmentLog2?: string;
  quiet?: boolean;
}

const EXAMPLE = `
The archive is decrypted with your key, every check of 'decrypt' runs (length, padding, MPEG-TS, sha256sum
and size of --archive-json), and the media is sealed for the --to certificates as it goes: the sealed
file appears at --output only after every check passed. Recipients open it with 'archive-crypt unseal'.

Examples:
  $ archive-crypt reseal s3://my-archives/46372/b40ef09b…/archive.mp4 --archive-json archive.json \\
      --key keys/archive-private-key.pem --passphrase-env KEY_PASS --to auditor-cert.pem --output b40ef09b.sealed
  resealed s3://my-archives/46372/b40ef09b…/archive.mp4 → b40ef09b.sealed for key ids 91ab2c3d4e5f6071
    checks  length ok, padding ok, MPEG-TS ok (361 packets), sha256 ok (ciphertext), size ok

Exit codes: 0 ok, 2 usage, 3 key or password unusable, 4 integrity check failed, 5 storage, 6 output refused.
`;

export function register(program: Command, ctx: CliContext): void {
  addReportOptions(addStorageOptions(
    addPasswordOptions(
      addKeyOptions(
addRecipientOption(
program
        .command('reseal')
        .description('decrypt a Vonage archive and seal it for other recipients in one pass, plaintext never on disk')
        .argument('<source>', 'the Vonage encrypted archive: a path, - (stdin), s3://…, azure://… or https://…')),)
    )
      .requiredOption('-o, --output <file|->', 'the sealed file: FILE, s3://bucket/key or azure://container/blob (never overwritten, visible only after every check passed), or - for stdout')
      .option('--expect-sha256 <b64|hex>', 'expected SHA-256 of the encrypted archive or the media')
      .addOption(new Option('--padding <mode>', 'pkcs7 strips the padding; none keeps it').choices(['pkcs7', 'none']).default('pkcs7'))
      .option('--no-mpegts-check', 'do not require the media to be MPEG-TS')
      .option('--segment-log2 <n>', 'sealed segment size as a power of two, 10 (1 KiB) to 24 (16 MiB) (default: 16, for 64 KiB)')
      .option('--quiet', 'no progress bar and no summary; errors only'),
  ))
    .addHelpText('after', EXAMPLE)
    .action((source: string, flags: ResealFlags) => resealCommand(ctx, source, flags));
}


interface ResealPlan {
  recipientFiles: readonly string[];
  log2SegmentSize: number;
  expectOverride: Buffer | undefined;
  storage: SourceOptions;
  input: PasswordInput;
  keys: KeyPlan;
}

/** The recipients' public keys and the keyring: both are what the run needs before any output. */
interface ResealKeys {
  recipients: KeyObject[];
  keyring: LoadedKeyring;
  close(): Promise<void>;
}

async function resealCommand(ctx: CliContext, sourceSpec: string, flags: ResealFlags): Promise<void> {
  const outputLabel = flags.output === '-' ? 'stdout' : flags.output;
  await runPipeline<ResealPlan, ResealKeys, OutputSink, ResealReport>(ctx, {
    progressLabel: 'resealing',
    quiet: flags.quiet === true,
    readsStdin: sourceSpec === '-',
    async check() {
      checkPasswordFlags(flags);
      const recipientFiles = recipientPaths(ctx, flags.to);
      const log2SegmentSize = flags.segmentLog2 === undefined ? 16 : parseCount(flags.segmentLog2, '--segment-log2', 10, 24);
      if (flags.output === '-' && ctx.stdout.isTTY) throw new UsageError('refusing to write a sealed file to a terminal: redirect --output - or give --output FILE');
      const expectOverride = flags.expectSha256 === undefined ? undefined : parseSha256(flags.expectSha256, '--expect-sha256');
      const storage = storageOptionsFrom(flags, ctx);
      const keys = planKeyring(ctx, flags);
      await refuseExistingOutput(flags.output);
      return { recipientFiles, log2SegmentSize, expectOverride, storage, keys, input: await readPasswordInput(flags) };
    },
    describe: (plan) => ({ source: sourceSpec, output: outputLabel, ...(plan.input.archiveId !== undefined ? { archiveId: plan.input.archiveId } : {}) }),
    async keys(plan) {
      const recipients = await loadRecipients(plan.recipientFiles);
      const keyring = await loadKeyring(ctx, plan.keys);
      return { recipients, keyring, close: () => keyring.handles.close() };
    },
    async outputs(plan, _keys, claim) {
      if (flags.output === '-') return claim((await import('../../storage/output-sink.js')).streamSink(ctx.stdout));
      const { openSink } = await import('../../storage/sink.js');
      return claim(await openSink(flags.output, plan.storage));
    },
    async run({ plan, keys, outputs: sink, progress }) {
      const { openSource } = await import('../../storage/open.js');
      const { resealArchive } = await import('../../engine/archive/reseal.js');
      const { input, storage } = plan;
      const source = await openSource(sourceSpec, storage);
      try {
        return await resealArchive({
          ...archiveDecryptOptions(input, flags, plan.expectOverride, { signal: ctx.signal, onProgress: (bytes, total) => progress.update(bytes, total) }),
          source,
          keyring: keys.keyring.handles,
          sink,
          recipients: keys.recipients,
          log2SegmentSize: plan.log2SegmentSize,
          context: { ...(input.archiveId !== undefined ? { archiveId: input.archiveId } : {}), source: source.name },
        });
      } catch (error) {
        throw await sealedInputError(error, source);
      } finally {
        await source.close?.();
      }
    },
    report(report, plan) {
      const { checks } = report;
      return {
        json: { ...report, output: outputLabel, ...(plan.input.archiveId !== undefined ? { archiveId: plan.input.archiveId } : {}) },
        text:
          `resealed ${report.source} → ${outputLabel} for key ids ${report.recipients.join(', ')}\n` +
          `  checks  length ${checks.length}, padding ${checks.padding}, MPEG-TS ${checks.mpegts.status} (${checks.mpegts.packets} packets), ` +
          `sha256 ${checks.sha256.status}${checks.sha256.matched ? ` (${checks.sha256.matched})` : ''}, size ${checks.size.status}`,
      };
    },
    async failure(error) {
      const { ArchiveCheckError } = await import('../../engine/archive/decrypt.js');
      return error instanceof ArchiveCheckError ? { ...error.report, output: outputLabel } : undefined;
    },
  });
}
