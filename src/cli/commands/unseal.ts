/**
 * `archive-crypt unseal`: verifies and decrypts a sealed file (docs/FORMAT.md) with `unsealArchive`
 * (large files on the worker pool). Each segment is released only after its tag verified; a file
 * output is renamed into place only after the final segment verified; to stdout, verified segments may
 * have gone out before a later failure, and the exit code says so.
 */
import type { Command } from 'commander';
import type { UnsealReport } from '../../engine/sealed/unseal.js';
import { UsageError } from '../../errors.js';
import type { SourceOptions } from '../../storage/open.js';
import type { OutputSink } from '../../storage/output-sink.js';
import type { CliContext } from '../context.js';
import { addKeyOptions, loadKeyring, planKeyring, type KeyFlags, type KeyPlan, type LoadedKeyring } from '../keyring.js';
import { addReportOptions, type ReportFlags } from '../output.js';
import { checkPlaintextPolicy, refuseExistingOutput, runPipeline } from '../pipeline.js';
import { addStorageOptions, storageOptionsFrom, type StorageFlags } from '../storage-options.js';

interface UnsealOptions extends KeyFlags, StorageFlags, ReportFlags {
  output?: string;
  quiet?: boolean;
}

const EXAMPLE = `
Without --output the file is only verified. With ARCHIVE_CRYPT_PLAINTEXT_FILES=deny, --output FILE is
refused (exit 6).

Examples:
  $ archive-crypt unseal meeting.sealed --key archive-private-key.pem --passphrase-env KEY_PASS --output meeting.ts
  unsealed meeting.sealed → meeting.ts: 67868 bytes, 2 segments verified (sealed from meeting.ts)
  $ archive-crypt unseal s3://vault/meeting.sealed --key key.pem --passphrase-env KEY_PASS --output - | ffplay -

Exit codes: 0 ok, 2 usage, 3 no key matches or key unusable, 4 integrity check failed (any change to the
file, truncation, trailing data), 5 storage, 6 output refused.
`;

export function register(program: Command, ctx: CliContext): void {
  addReportOptions(addStorageOptions(
    addKeyOptions(
program
      .command('unseal')
      .description('verify and decrypt a sealed file (to a file, to stdout, or verify only)')
      .argument('<source>', 'the sealed file: a path, - (stdin), s3://…, azure://… or https://…'))
      .option('-o, --output <file|->', 'write the plaintext to FILE (never overwritten) or - for stdout (default: verify only)')
      .option('--quiet', 'no progress bar and no summary; errors only')
  ))
    .addHelpText('after', EXAMPLE)
    .action((source: string, opts: UnsealOptions) => unsealCommand(ctx, source, opts));
}


interface UnsealPlan {
  storage: SourceOptions;
  keys: KeyPlan;
}

async function unsealCommand(ctx: CliContext, sourceSpec: string, opts: UnsealOptions): Promise<void> {
  const outputLabel = opts.output === undefined ? null : opts.output === '-' ? 'stdout' : opts.output;
  await runPipeline<UnsealPlan, LoadedKeyring, OutputSink, UnsealReport>(ctx, {
    progressLabel: 'unsealing',
    quiet: opts.quiet === true,
    readsStdin: sourceSpec === '-',
    async check() {
      if (opts.output === '-' && ctx.stdout.isTTY) {
        throw new UsageError('refusing to write plaintext to a terminal: pipe --output - into a program or give --output FILE');
      }
      const plan = { storage: storageOptionsFrom(opts, ctx), keys: planKeyring(ctx, opts) };
      checkPlaintextPolicy(ctx, opts.output);
      await refuseExistingOutput(opts.output);
      return plan;
    },
    describe: () => ({ source: sourceSpec, output: outputLabel }),
    keys: (plan) => loadKeyring(ctx, plan.keys),
    outputs: async (_plan, _keys, claim) => claim(await openOutput(ctx, opts.output)),
    async run({ plan, keys: keyring, outputs: sink, progress }) {
      const { unsealArchive } = await import('../../engine/sealed/unseal.js');
      const { openSource } = await import('../../storage/open.js');
      const source = await openSource(sourceSpec, plan.storage);
      try {
        return await unsealArchive({
          source,
          keyring: keyring.handles,
          sink,
          signal: ctx.signal,
          onProgress: (bytes, total) => progress.update(bytes, total),
        });
      } finally {
        await source.close?.();
      }
    },
    report(report) {
      const name = contextName(report.context);
      const { context, ...rest } = report;
      return {
        json: { ...rest, output: outputLabel, context: context.length === 0 ? null : context.toString('utf8') },
        text: `unsealed ${report.source} → ${outputLabel ?? 'nowhere (verify only)'}: ${report.plaintextBytes} bytes, ${report.segments} segments verified${name ? ` (sealed from ${name})` : ''}`,
      };
    },
  });
}

async function openOutput(ctx: CliContext, output: string | undefined): Promise<OutputSink> {
  const { nullSink, streamSink } = await import('../../storage/output-sink.js');
  if (output === undefined) return nullSink();
  if (output === '-') return streamSink(ctx.stdout);
  const { openFileSink } = await import('../../storage/file-sink.js');
  return openFileSink(output);
}

/** The original file name recorded by `seal`, if the context is archive-crypt's JSON. */
function contextName(context: Buffer | undefined): string | undefined {
  if (!context || context.length === 0) return undefined;
  try {
    const parsed = JSON.parse(context.toString('utf8')) as { name?: unknown };
    // Printed to a terminal: keep it to printable characters.
    return typeof parsed.name === 'string' ? parsed.name.replace(/[^\x20-\x7e]/g, '?') : undefined;
  } catch {
    return undefined;
  }
}
