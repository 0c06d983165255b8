/**
 * One job of the service: a Vonage archive read from its store (or fallback URL), decrypted with every
 * check, and resealed, verified or decrypted into the destination, with a JSON report beside the
 * output. Idempotent: the output names follow from `<project>/<archiveId>`, the report is written
 * last, and a job whose report exists is done — a rerun after a crash rewrites the same names.
 */
import type { KeyObject } from 'node:crypto';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { nullSink, type OutputSink } from '../storage/output-sink.js';
import type { DecryptReport } from '../engine/archive/decrypt.js';
import { IntegrityError, StorageError } from '../errors.js';
import type { Keyring } from '../keys/keyring.js';
import { openSource, type SourceOptions } from '../storage/open.js';
import { openSink } from '../storage/sink.js';
import type { ServiceAction } from './config.js';
import type { ArchiveJobData } from './queue.js';

export interface ProcessArchiveOptions {
  action: ServiceAction;
  /** `s3://bucket[/prefix]` or `azure://container[/prefix]` where Vonage uploads. */
  source?: string;
  /** `s3://bucket[/prefix]`, `azure://container[/prefix]` or a folder. */
  destination?: string;
  /** Recipients' public keys (reseal). */
  recipients: readonly KeyObject[];
  /** The worker's keys (files or PKCS#11 token keys) that open archive passwords; the caller closes it. */
  keyring: Keyring;
  storage: SourceOptions;
  signal?: AbortSignal;
}

/** What one job produced; also the job's return value in BullMQ and the basis of its log line. */
export interface ArchiveOutcome {
  jobId?: string;
  project: string;
  archiveId: string;
  action: ServiceAction;
  /** `done` now, or `already-done` when an earlier run had written the report. */
  result: 'done' | 'already-done';
  source: string;
  output?: string;
  report?: string;
  bytes: number;
  seconds: number;
  checks?: DecryptReport['checks'];
}

/** Output names for an archive: the media (or sealed file) and the report beside it. */
export function outputNames(destination: string | undefined, job: Pick<ArchiveJobData, 'project' | 'archiveId'>, action: ServiceAction): { output?: string; report?: string } {
  if (destination === undefined) return {};
  const base = `${job.project}/${job.archiveId}`;
  const join2 = (name: string) => (/^(s3|azure):\/\//.test(destination) ? `${destination.replace(/\/+$/, '')}/${base}/${name}` : join(destination, base, name));
  return {
    ...(action === 'verify' ? {} : { output: join2(action === 'reseal' ? 'archive.sealed' : 'archive.ts') }),
    report: join2('report.json'),
  };
}

/** Where the archive is read from: the fallback URL if Vonage kept it, else the customer's store. */
export function archiveSourceName(source: string | undefined, job: ArchiveJobData): string {
  if (job.url !== undefined) return job.url;
  if (source === undefined) throw new StorageError(`archive ${job.archiveId} has no url and service.source is not set: name the store Vonage uploads to`, { code: 'ERR_NOT_FOUND' });
  return `${source.replace(/\/+$/, '')}/${job.project}/${job.archiveId}/archive.mp4`;
}

/**
 * Loads what a job of this worker will need (the pipeline and the store adapters with their SDKs), so
 * that `ready` means ready: left to the first job, this loading took 0.3–1.6 s of its wall time on a
 * loaded 2-core machine and weighed on every benchmark row with more processes (bench/ANALYSIS.md).
 */
export async function preloadArchivePipeline(options: Pick<ProcessArchiveOptions, 'action' | 'source' | 'destination'>): Promise<void> {
  const stores = [options.source, options.destination].filter((name) => name !== undefined);
  await Promise.all([
    options.action === 'reseal' ? import('../engine/archive/reseal.js') : import('../engine/archive/decrypt.js'),
    ...(stores.some((name) => name.startsWith('s3://')) ? [import('../storage/s3.js'), import('../storage/s3-sink.js')] : []),
    ...(stores.some((name) => name.startsWith('azure://')) ? [import('../storage/azure.js'), import('../storage/azure-sink.js')] : []),
    ...(options.destination !== undefined && !/^(s3|azure):\/\//.test(options.destination) ? [import('../storage/file-sink.js')] : []),
  ]);
}

export async function processArchive(job: ArchiveJobData, options: ProcessArchiveOptions): Promise<ArchiveOutcome> {
  const started = performance.now();
  const { output, report } = outputNames(options.destination, job, options.action);
  const sourceName = archiveSourceName(options.source, job);
  const base = { project: job.project, archiveId: job.archiveId, action: options.action, source: sourceName, ...(output ? { output } : {}), ...(report ? { report } : {}) };
  if (report !== undefined && (await exists(report, options.storage))) {
    return { ...base, result: 'already-done', bytes: 0, seconds: (performance.now() - started) / 1000 };
  }
  const expectSha256 = job.sha256sum === undefined ? undefined : Buffer.from(job.sha256sum, 'base64');
  if (expectSha256 !== undefined && expectSha256.length !== 32) throw new IntegrityError(`archive ${job.archiveId}: sha256sum is not a base64 SHA-256`);

  const source = await openSource(sourceName, options.storage);
  try {
    await source.stat(options.signal);
    const sink = output === undefined ? nullSink() : await openIdempotentSink(output, options);
    const common = {
      source,
      password: job.password,
      keyring: options.keyring,
      sink,
      ...(expectSha256 ? { expectSha256 } : {}),
      ...(job.size !== undefined ? { expectSize: job.size } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    let result: DecryptReport;
    try {
      if (options.action === 'reseal') {
        const { resealArchive } = await import('../engine/archive/reseal.js');
        result = await resealArchive({ ...common, recipients: options.recipients, context: { archiveId: job.archiveId, project: job.project, source: source.name } });
      } else {
        const { decryptArchive } = await import('../engine/archive/decrypt.js');
        result = await decryptArchive(common);
      }
    } catch (error) {
      // Whatever failed, the unverified output is never completed (abort is idempotent).
      await sink.abort();
      throw error;
    }
    const outcome: ArchiveOutcome = { ...base, result: 'done', bytes: result.ciphertextBytes, seconds: (performance.now() - started) / 1000, checks: result.checks };
    if (report !== undefined) await writeReport(report, { ...outcome, report: undefined, finishedAt: new Date().toISOString() }, options);
    return outcome;
  } finally {
    await source.close?.();
  }
}

/** Same name every run: an earlier, interrupted run may have committed its output but no report. */
async function openIdempotentSink(name: string, options: ProcessArchiveOptions): Promise<OutputSink> {
  if (!/^(s3|azure):\/\//.test(name)) {
    await mkdir(dirname(name), { recursive: true, mode: 0o700 });
    await unlink(name).catch(() => undefined);
  }
  return openSink(name, { ...options.storage, overwrite: true, ...(options.signal ? { signal: options.signal } : {}) });
}

async function writeReport(name: string, report: object, options: ProcessArchiveOptions): Promise<void> {
  const sink = await openIdempotentSink(name, options);
  try {
    await sink.write(Buffer.from(`${JSON.stringify(report, null, 2)}\n`));
    await sink.commit();
  } catch (error) {
    await sink.abort();
    throw error;
  }
}

async function exists(name: string, storage: SourceOptions): Promise<boolean> {
  if (!/^(s3|azure):\/\//.test(name)) return lstat(name).then(() => true, () => false);
  const source = await openSource(name, storage);
  try {
    await source.stat();
    return true;
  } catch (error) {
    if (error instanceof StorageError && error.code === 'ERR_NOT_FOUND') return false;
    throw error;
  } finally {
    await source.close?.();
  }
}
