/**
 * `archive-crypt batch`: decrypts (or verifies) every archive of a Vonage archive list straight from
 * the bucket or container Vonage uploaded them to, several at a time, resuming after a crash.
 */
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import type { BatchItemReport, BatchReport } from '../../engine/archive/batch.js';
import type { VonageArchive } from '../../vonage/archive.js';
import { BatchError, OutputError, UsageError, exitCodeOf } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addReportOptions, reportFailureOf, reportResult, type ReportFlags } from '../output.js';
import { addKeyOptions, loadKeyring, planKeyring, type KeyFlags } from '../keyring.js';
import { addStorageOptions, formatSize, parseCount, storageOptionsFrom, type StorageFlags } from '../storage-options.js';
import { defaultConcurrency } from '../../storage/parallel.js';

interface BatchFlags extends KeyFlags, StorageFlags, ReportFlags {
  archives: string;
  from: string;
  outDir?: string;
  verifyOnly?: boolean;
  concurrency?: string;
  threads?: string;
  apiKey?: string;
  mpegtsCheck: boolean;
  quiet?: boolean;
  apiUrl?: string;
  deleteAfter?: boolean;
}

const EXAMPLE = `
--archives takes the list response of GET /v2/project/<apiKey>/archive ({"count","items":[…]}) or
archive callback bodies, one JSON object per line; --archives vonage fetches every page of that list
from the Vonage API itself (credentials as for \`vonage archives\`). Individual stream archives (ZIP
files) and unencrypted ones ("password": "") are reported as skipped, not as failures. An archive held
in Vonage's fallback storage (status "available" with a "url") is read from that URL; --delete-after
deletes it from Vonage once its output verified and was written. Each archive is read from
[<prefix>/]<apiKey>/<id>/archive.mp4 (the prefix: what follows the bucket or container in --from; the
API key: --api-key, else each item's projectId/partnerId), decrypted and verified into
<out-dir>/<id>.ts (mode 0600, written only after every check passed). Archives whose output already
exists are skipped, so re-running after a crash resumes. Items whose status is not "uploaded" are not in
your storage and are skipped. On a terminal a bar shows the bytes done over all archives (the total
from the list's "size" fields), the rate and the archives done.

Examples:
  $ export KEY_PASS=…
  $ archive-crypt batch --archives archives.json --from s3://my-archives --out-dir ./decrypted \\
      --key keys/archive-private-key.pem --passphrase-env KEY_PASS --report report.json
  decrypted  b40ef09b-3811-4726-b508-e41a0f96c68f  67868 bytes
  failed     9a1c…  s3://my-archives/46372/9a1c…/archive.mp4: not found (check the bucket and key)
  batch: 1 decrypted, 0 verified, 0 skipped, 1 failed of 2 archives; report in report.json

  $ archive-crypt batch --archives archives.json --from azure://archives --verify-only --key key.pem \\
      --passphrase-env KEY_PASS --json

Exit codes: 0 all ok; otherwise the exit code of the first failed archive (3 key, 4 integrity, 5 storage…).
`;

export function register(program: Command, ctx: CliContext): void {
  addReportOptions(addStorageOptions(
    addKeyOptions(
program
      .command('batch')
      .description('decrypt and verify many archives from S3 or Azure, in parallel, resuming after a crash')
      .requiredOption('--archives <file|vonage>', 'Vonage archive list JSON, callback bodies one per line, or "vonage" to ask the API')
      .requiredOption('--from <store>', 's3://bucket or azure://container the archives were uploaded to')
      .option('--out-dir <dir>', 'folder for <id>.ts files (created 0700 if missing)')
      .option('--verify-only', 'decrypt to nowhere: only run the checks'))
      .option('--concurrency <n>', 'archives processed at once (default: 4)')
      .option('--threads <n>', 'decryption threads shared by all archives, 0 for none (default: cores − 1 above 2 cores, else 0)')
      .option('--api-key <key>', 'the Vonage API key (project id) in the object keys')
      .option('--no-mpegts-check', 'do not require the media to be MPEG-TS')
      .option('--quiet', 'no progress and no per-archive lines; the summary and errors only')
      .option('--delete-after', 'delete archives read from Vonage\'s fallback storage from Vonage once decrypted (needs --out-dir)')
      .option('--api-url <url>', 'Vonage Video API base URL for --archives vonage and --delete-after'),
  ), false)
    .addHelpText('after', EXAMPLE)
    .action((flags: BatchFlags) => batchCommand(ctx, flags));
}

async function batchCommand(ctx: CliContext, flags: BatchFlags): Promise<void> {
  // Verifying without writing must be asked for: a forgotten --out-dir is not a silent dry run.
  if (flags.verifyOnly && flags.outDir !== undefined) throw new UsageError('give either --out-dir DIR or --verify-only, not both');
  if (!flags.verifyOnly && flags.outDir === undefined) {
    throw new UsageError('give --out-dir DIR to decrypt into files, or --verify-only to only run the checks');
  }
  if (flags.outDir !== undefined && !ctx.plaintextFilesAllowed) {
    throw new OutputError('plaintext files are not allowed here (ARCHIVE_CRYPT_PLAINTEXT_FILES=deny): use --verify-only', {
      code: 'ERR_POLICY',
    });
  }
  const concurrency = flags.concurrency === undefined ? 4 : parseCount(flags.concurrency, '--concurrency', 1, 64);
  const threads = flags.threads === undefined ? defaultThreads() : parseCount(flags.threads, '--threads', 0, 64);
  if (flags.deleteAfter && flags.outDir === undefined) throw new UsageError('--delete-after needs --out-dir: with --verify-only the archive would be gone with no copy kept');
  const flagged = storageOptionsFrom(flags, ctx);
  // Several archives download at once: unless told otherwise, each keeps fewer parts in flight.
  const storage = {
    ...flagged,
    download: { ...flagged.download, concurrency: flagged.download?.concurrency ?? Math.max(1, Math.ceil(defaultConcurrency / concurrency)) },
  };
  const { mkdir } = await import('node:fs/promises');
  const { readBatchArchives } = await import('./vonage-batch.js');
  const { archives, vonage } = await readBatchArchives(ctx, flags);
  const keyring = await loadKeyring(ctx, planKeyring(ctx, flags));
  if (flags.outDir !== undefined) {
    await mkdir(flags.outDir, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      throw new OutputError(`cannot create --out-dir ${flags.outDir} (${error.code ?? 'error'})`, { cause: error });
    });
  }

  const { openStore } = await import('../../storage/open.js');
  const { decryptBatch } = await import('../../engine/archive/batch.js');
  const { createDecryptPool } = await import('../../engine/threads/pool.js');
  const store = await openStore(flags.from, storage);
  // One pool for the whole batch: its threads boot once and serve every large archive.
  const pool = threads > 0 ? createDecryptPool({ threads }) : undefined;
  const display = await startBatchDisplay(ctx, archives, flags.quiet === true || flags.json === true);
  let report: BatchReport;
  try {
    report = await decryptBatch({
      archives,
      store,
      keyring: keyring.handles,
      concurrency,
      ...(flags.outDir !== undefined ? { outDir: flags.outDir } : { verifyOnly: true }),
      ...(flags.apiKey !== undefined ? { apiKey: flags.apiKey } : {}),
      checkMpegTs: flags.mpegtsCheck,
      ...(pool ? { pool } : {}),
      sourceOptions: storage,
      ...(vonage && flags.deleteAfter ? { deleteFromVonage: (id: string) => vonage.deleteArchive(id, ctx.signal) } : {}),
      signal: ctx.signal,
      onEvent: (event) => {
        if (event.type === 'progress') display.progress(event.id, event.bytes, event.total);
        else if (event.type === 'end') display.done(event.item);
      },
    });
  } finally {
    display.stop();
    await pool?.close();
    await store.close?.();
    await keyring.handles.close(); // Ends the token session, if a key is on a token.
  }

  const summary = () =>
    ctx.stderr.write(
    `batch: ${report.decrypted} decrypted, ${report.verified} verified, ${report.skipped} skipped, ${report.failed} failed of ${report.total} archives` +
      `${flags.report !== undefined ? `; report in ${flags.report}` : ''}\n`,
  );
  const firstFailure = report.archives.find((item) => item.status === 'failed');
  if (firstFailure) {
    const error = new BatchError(
      `${report.failed} of ${report.total} archives failed; first: ${firstFailure.id}: ${firstFailure.error?.message ?? 'unknown error'}`,
      exitCodeOf(firstFailure.error?.code),
    );
    await reportFailureOf(ctx, error, { ...report });
    summary();
    throw error;
  }
  await reportResult(ctx, { ...report }, () => undefined);
  summary();
}

/**
 * Measured on 2 cores (bench/RESULTS.md): a pool thread competes with the main thread and the
 * downloads for the same cores and costs ≈100 MB, so it pays only where there are cores to spare.
 */
function defaultThreads(): number {
  const cores = availableParallelism();
  return cores > 2 ? cores - 1 : 0;
}

/**
 * Per-archive lines on stderr, plus, when stderr is a terminal, one bar over the bytes of all archives:
 * the total starts as the sum of the list's "size" fields and is corrected as each archive ends
 * (skipped: nothing read; failed: part of it); an archive without a size adds its size once its
 * source knows it.
 */
async function startBatchDisplay(ctx: CliContext, archives: readonly VonageArchive[], quiet: boolean) {
  const cliProgress = !quiet && ctx.stderr.isTTY ? await import('cli-progress') : undefined;
  const expected = new Map(archives.map((archive) => [archive.id, archive.size]));
  const read = new Map<string, number>();
  let totalBytes = archives.reduce((sum, archive) => sum + (archive.size ?? 0), 0);
  let doneBytes = 0;
  let failed = 0;
  let done = 0;
  const started = Date.now();
  const bar = cliProgress
    ? new cliProgress.SingleBar({
        stream: ctx.stderr,
        format: 'batch {bar} {percentage}% | {doneBytes} / {totalBytes} | {rate} | {done}/{archives} archives | {failed} failed | ETA {eta_formatted}',
        hideCursor: true,
        clearOnComplete: true,
        etaBuffer: 50,
        fps: 10,
      })
    : undefined;
  const payload = () => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    return { doneBytes: formatSize(doneBytes), totalBytes: formatSize(totalBytes), rate: `${formatSize(doneBytes / seconds)}/s`, done, archives: archives.length, failed };
  };
  // Lines printed under a live bar would tear it: they wait until the bar is gone.
  const held: string[] = [];
  bar?.start(totalBytes, 0, payload());
  const redraw = () => {
    bar?.setTotal(totalBytes);
    bar?.update(doneBytes, payload());
  };
  return {
    progress(id: string, bytes: number, total: number | undefined) {
      if (expected.get(id) === undefined && total !== undefined) {
        expected.set(id, total);
        totalBytes += total;
      }
      doneBytes += bytes - (read.get(id) ?? 0);
      read.set(id, bytes);
      redraw();
    },
    done(item: BatchItemReport) {
      done += 1;
      if (item.status === 'failed') failed += 1;
      // From now on this archive counts what was read: nothing of a skipped one, part of a failed one,
      // and the real size of one whose listed size was wrong.
      totalBytes += (read.get(item.id) ?? 0) - (expected.get(item.id) ?? 0);
      redraw();
      const line = `${item.status.padEnd(10)} ${item.id}  ${item.status === 'failed' ? (item.error?.message ?? '') : item.status === 'skipped' ? (item.note ?? 'output exists') : `${item.bytes ?? 0} bytes${item.deletedFromVonage ? ', deleted from Vonage' : item.note ? `; ${item.note}` : ''}`}`;
      if (!quiet || item.status === 'failed') {
        if (bar) held.push(line);
        else ctx.stderr.write(`${line}\n`);
      }
    },
    stop() {
      bar?.stop();
      for (const line of held) ctx.stderr.write(`${line}\n`);
    },
  };
}
