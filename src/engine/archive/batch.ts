/**
 * Decrypts many Vonage archives from one bucket or container: each archive is found at
 * `[<prefix>/]<apiKey>/<archiveId>/archive.mp4` (the store's prefix, if any), decrypted and verified into `<outDir>/<archiveId>.ts` (or only
 * verified), several at a time. One failure does not stop the others; archives whose output already
 * exists are skipped, so a re-run after a crash resumes where it stopped.
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { AbortError, ArchiveCryptError, UsageError } from '../../errors.js';
import { openSource, type SourceOptions } from '../../storage/open.js';
import type { ObjectStore } from '../../storage/source.js';
import { redactUrl } from '../../storage/uri.js';
import { archiveObjectKey, type VonageArchive } from '../../vonage/archive.js';
import type { Keyring } from '../../keys/keyring.js';
import { ArchiveCheckError, decryptArchive, type DecryptReport } from './decrypt.js';
import { nullSink, openFileSink } from '../output.js';
import type { DecryptPool } from '../threads/pool.js';

export type BatchStatus = 'decrypted' | 'verified' | 'skipped' | 'failed';

export interface BatchItemReport {
  id: string;
  object: string;
  status: BatchStatus;
  output?: string;
  bytes?: number;
  /** Why an archive was skipped, or what went wrong after it verified. */
  note?: string;
  /** For archives read from Vonage's fallback storage with `deleteFromVonage`: whether that worked. */
  deletedFromVonage?: boolean;
  checks?: DecryptReport['checks'];
  error?: { code: string; message: string };
}

export interface BatchReport {
  ok: boolean;
  total: number;
  decrypted: number;
  verified: number;
  skipped: number;
  failed: number;
  archives: BatchItemReport[];
}

export interface DecryptBatchOptions {
  archives: readonly VonageArchive[];
  store: ObjectStore;
  /** The keys to unwrap the passwords with (src/keys/keyring.ts); the caller closes it. */
  keyring: Keyring;
  /** Folder for `<id>.ts` files; omitted with `verifyOnly`. */
  outDir?: string;
  verifyOnly?: boolean;
  /** The API key (project id) part of the object key; else each archive's `projectId`. */
  apiKey?: string;
  /** Archives processed at once (default 4). */
  concurrency?: number;
  checkMpegTs?: boolean;
  /** Ranged GETs per archive: bytes per part and parts in flight. */
  download?: { partSize?: number | undefined; concurrency?: number | undefined };
  /** One worker pool shared by every archive of the batch (the caller closes it). */
  pool?: DecryptPool;
  signal?: AbortSignal;
  /** How archives held in Vonage's fallback storage (with a `url`) are read. */
  sourceOptions?: SourceOptions;
  /**
   * Deletes an archive read from Vonage's fallback storage once its output is committed (the
   * advice is to download, then delete at once rather than leave it there for the 72 hours).
   */
  deleteFromVonage?: (archiveId: string) => Promise<void>;
  /** Called when an archive starts or ends, and with byte progress. */
  onEvent?: (event: BatchEvent) => void;
}

export type BatchEvent =
  | { type: 'start'; id: string; object: string }
  | { type: 'progress'; id: string; bytes: number; total: number | undefined }
  | { type: 'end'; item: BatchItemReport };

/**
 * @example
 * ```ts
 * const report = await decryptBatch({ archives, store: await openStore('s3://bucket'), keyring, outDir: 'out' });
 * if (!report.ok) process.exitCode = 4;
 * ```
 */
export async function decryptBatch(options: DecryptBatchOptions): Promise<BatchReport> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError('concurrency must be a positive integer');
  if (!options.verifyOnly && options.outDir === undefined) throw new UsageError('give an output folder, or verify only');
  const ids = new Set<string>();
  for (const archive of options.archives) {
    if (ids.has(archive.id)) throw new UsageError(`archive ${archive.id} is listed twice`);
    if (!/^[A-Za-z0-9._-]+$/.test(archive.id)) throw new UsageError(`archive id ${JSON.stringify(archive.id)} is not a safe file name`);
    ids.add(archive.id);
  }

  const items: BatchItemReport[] = new Array<BatchItemReport>(options.archives.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < options.archives.length; i = next++) {
      const archive = options.archives[i] as VonageArchive;
      items[i] = await processOne(archive, options);
      options.onEvent?.({ type: 'end', item: items[i] as BatchItemReport });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, options.archives.length) }, worker));
  if (options.signal?.aborted) throw new AbortError('cancelled; finished archives were kept, the unfinished ones removed');

  const count = (status: BatchStatus) => items.filter((item) => item.status === status).length;
  return {
    ok: count('failed') === 0,
    total: items.length,
    decrypted: count('decrypted'),
    verified: count('verified'),
    skipped: count('skipped'),
    failed: count('failed'),
    archives: items,
  };
}

async function processOne(archive: VonageArchive, options: DecryptBatchOptions): Promise<BatchItemReport> {
  const apiKey = options.apiKey ?? archive.projectId;
  const object = apiKey === undefined ? '' : storeKey(options.store.prefix, archiveObjectKey(apiKey, archive.id));
  const fallbackUrl = archive.url === undefined ? undefined : URL.canParse(archive.url) ? redactUrl(new URL(archive.url)) : 'a malformed fallback url';
  // The name of the object really read (the Source's own), not a second spelling of it.
  const item: BatchItemReport = { id: archive.id, object: fallbackUrl ?? (object ? options.store.object(object).name : ''), status: 'failed' };
  try {
    if (options.signal?.aborted) throw new AbortError('cancelled');
    const skipped = skipReason(archive);
    if (skipped !== undefined) {
      item.status = 'skipped';
      item.note = skipped;
      return item;
    }
    if (apiKey === undefined && fallbackUrl === undefined) throw new UsageError('no API key: give --api-key, or use archive JSON with projectId/partnerId');
    const password = archive.password as string;
    const output = options.verifyOnly ? undefined : join(options.outDir as string, `${archive.id}.ts`);
    if (output !== undefined) {
      item.output = output;
      if (await exists(output)) {
        item.status = 'skipped';
        item.note = 'already decrypted';
        return item;
      }
    }
    options.onEvent?.({ type: 'start', id: archive.id, object: item.object });
    const report = await decryptArchive({
      source: archive.url !== undefined ? await openSource(archive.url, options.sourceOptions) : options.store.object(object),
      password,
      keyring: options.keyring,
      sink: output === undefined ? nullSink() : await openFileSink(output),
      ...(archive.sha256sum ? { expectSha256: Buffer.from(archive.sha256sum, 'base64') } : {}),
      ...(archive.size !== undefined ? { expectSize: archive.size } : {}),
      ...(options.checkMpegTs === false ? { checkMpegTs: false } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.pool ? { pool: options.pool } : {}),
      ...(options.download ? { download: options.download } : {}),
      onProgress: (bytes, total) => options.onEvent?.({ type: 'progress', id: archive.id, bytes, total }),
    });
    item.status = output === undefined ? 'verified' : 'decrypted';
    item.bytes = report.plaintextBytes;
    item.checks = report.checks;
    if (archive.url !== undefined && output !== undefined && options.deleteFromVonage) {
      try {
        await options.deleteFromVonage(archive.id);
        item.deletedFromVonage = true;
      } catch (error) {
        // The output is verified and kept; only the clean-up failed, and a re-run will not retry it.
        item.deletedFromVonage = false;
        item.note = `decrypted, but deleting it from Vonage failed: ${error instanceof Error ? error.message : String(error)}`;
      }
    }
  } catch (error) {
    item.status = 'failed';
    if (error instanceof ArchiveCheckError) item.checks = error.report.checks;
    item.error =
      error instanceof ArchiveCryptError
        ? { code: error.code, message: error.message }
        : { code: 'ERR_UNEXPECTED', message: error instanceof Error ? error.message : String(error) };
  }
  return item;
}

/**
 * Archives that are not to be decrypted, and why: only composed archives are encrypted (individual
 * stream archives are ZIP files Vonage leaves unencrypted, and then `password` is empty); archives
 * that are neither uploaded to your storage nor held in Vonage's fallback storage have no file.
 */
function skipReason(archive: VonageArchive): string | undefined {
  if (archive.outputMode === 'individual') return 'individual stream archive: a ZIP file Vonage does not encrypt';
  if (archive.status !== undefined && archive.status !== 'uploaded' && !(archive.status === 'available' && archive.url !== undefined)) {
    return `status "${archive.status}": not in your storage`;
  }
  if (!archive.password) return 'not encrypted ("password" is empty): nothing to decrypt';
  return undefined;
}

/**
 * The key of an archive in a store narrowed to a folder: `s3://bucket/copies/` and `s3://bucket/copies`
 * both mean `copies/<apiKey>/<id>/archive.mp4` (as `list` finds them), and `s3://bucket//` the root.
 */
function storeKey(prefix: string, key: string): string {
  const folder = prefix.replace(/\/+$/, '');
  return folder === '' ? key : `${folder}/${key}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
