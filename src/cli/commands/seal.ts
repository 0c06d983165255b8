/**
 * `archive-crypt seal`: encrypts any input in the sealed format (docs/FORMAT.md) for one or more
 * recipient certificates with `sealArchive`: the input flows through memory run by run; the output is
 * ciphertext, so the plaintext-file policy does not apply.
 */
import type { KeyObject } from 'node:crypto';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { SealReport } from '../../engine/sealed/seal.js';
import { UsageError } from '../../errors.js';
import type { SourceOptions } from '../../storage/open.js';
import type { OutputSink } from '../../storage/output-sink.js';
import type { CliContext } from '../context.js';
import { addReportOptions, type ReportFlags } from '../output.js';
import { refuseExistingOutput, runPipeline } from '../pipeline.js';
import { addRecipientOption, loadRecipients, recipientPaths } from '../recipients.js';
import { addStorageOptions, parseCount, storageOptionsFrom, type StorageFlags } from '../storage-options.js';

interface SealOptions extends StorageFlags, ReportFlags {
  to?: string[];
  output: string;
  segmentLog2?: string;
  name: boolean;
  quiet?: boolean;
}

const EXAMPLE = `
The header records, readable without a key, the recipients' key ids and the input's file name (leave it
out with --no-name). Each recipient can unseal with the private key of its certificate.

Examples:
  $ archive-crypt seal meeting.ts --to archive-certificate.pem --to auditor.pem --output meeting.sealed
  sealed meeting.ts → meeting.sealed: 67868 bytes in 2 segments for key ids 3f1c0a9e5b7d2468, 91ab…
  $ archive-crypt unseal meeting.sealed --key auditor-key.pem --passphrase-env KEY_PASS --output - | ffplay -
`;

export function register(program: Command, ctx: CliContext): void {
  addReportOptions(addStorageOptions(
    addRecipientOption(
program
      .command('seal')
      .description('encrypt and authenticate a file for one or more recipient certificates (sealed format)')
      .argument('<input>', 'what to seal: a path, - (stdin), s3://…, azure://… or https://…'))
      .requiredOption('-o, --output <file|->', 'where the sealed file goes: FILE, s3://bucket/key or azure://container/blob (never overwritten, visible only once complete) or - for stdout')
      .option('--segment-log2 <n>', 'segment size as a power of two, 10 (1 KiB) to 24 (16 MiB) (default: 16, for 64 KiB)')
      .option('--no-name', 'do not record the input file name in the header')
      .option('--quiet', 'no progress bar and no summary; errors only')
  ))
    .addHelpText('after', EXAMPLE)
    .action((input: string, opts: SealOptions) => sealCommand(ctx, input, opts));
}


interface SealPlan {
  log2SegmentSize: number;
  recipientFiles: readonly string[];
  storage: SourceOptions;
}

async function sealCommand(ctx: CliContext, inputSpec: string, opts: SealOptions): Promise<void> {
  const outputLabel = opts.output === '-' ? 'stdout' : opts.output;
  await runPipeline<SealPlan, KeyObject[], OutputSink, SealReport>(ctx, {
    progressLabel: 'sealing',
    quiet: opts.quiet === true,
    readsStdin: inputSpec === '-',
    async check() {
      const log2SegmentSize = opts.segmentLog2 === undefined ? 16 : parseCount(opts.segmentLog2, '--segment-log2', 10, 24);
      const recipientFiles = recipientPaths(ctx, opts.to);
      if (opts.output === '-' && ctx.stdout.isTTY) throw new UsageError('refusing to write a sealed file to a terminal: redirect --output - or give --output FILE');
      const storage = storageOptionsFrom(opts, ctx);
      await refuseExistingOutput(opts.output);
      return { log2SegmentSize, recipientFiles, storage };
    },
    describe: () => ({ source: inputSpec, output: outputLabel }),
    keys: (plan) => loadRecipients(plan.recipientFiles),
    async outputs(plan, _keys, claim) {
      if (opts.output === '-') return claim((await import('../../storage/output-sink.js')).streamSink(ctx.stdout));
      const { openSink } = await import('../../storage/sink.js');
      return claim(await openSink(opts.output, plan.storage));
    },
    async run({ plan, keys: recipients, outputs: sink, progress }) {
      const { sealArchive } = await import('../../engine/sealed/seal.js');
      const { openSource } = await import('../../storage/open.js');
      const context = opts.name && inputSpec !== '-' ? Buffer.from(JSON.stringify({ name: basename(inputSpec) }), 'utf8') : undefined;
      const source = await openSource(inputSpec, plan.storage);
      try {
        return await sealArchive({
          source,
          recipients,
          sink,
          log2SegmentSize: plan.log2SegmentSize,
          ...(context ? { context } : {}),
          signal: ctx.signal,
          onProgress: (bytes, total) => progress.update(bytes, total),
        });
      } finally {
        await source.close?.();
      }
    },
    report: (report) => ({
      json: { ...report, output: outputLabel },
      text: `sealed ${report.source} → ${outputLabel}: ${report.plaintextBytes} bytes in ${report.segments} segments for key ids ${report.recipients.join(', ')}`,
    }),
  });
}
