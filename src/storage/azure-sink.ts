/**
 * An Azure block blob as an output sink: blocks are staged as the data comes (several in flight) and
 * the block list is committed only by `commit()`, after the last check passed (docs/SERVICE.md,
 * "Never at rest unencrypted"). Staged, uncommitted blocks are not part of any visible blob; the
 * service discards them on its own (after a week at the latest), so `abort()` only stops staging.
 */
import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { randomBytes } from 'node:crypto';
import type { OutputSink } from './output-sink.js';
import { ArchiveCryptError, StorageError } from '../errors.js';
import { AzureSource, classifyAzureError } from './azure.js';
import type { FailureHints } from './failure.js';
import { resolveRetryPolicy } from './retry.js';
import { assertObjectAbsent, type ObjectSinkOptions } from './sink.js';

const defaultBlockSize = 4 * 1024 * 1024;

/**
 * Opens `azure://container/blob` for writing. Refuses (OutputError, exit 6) when the blob exists,
 * unless `options.overwrite` (idempotent service outputs).
 *
 * @example
 * ```ts
 * const sink = await openAzureSink(connectContainer('sealed', credentials), '46372/b40e…/archive.sealed', hints);
 * ```
 */
export async function openAzureSink(
  container: ContainerClient,
  blobName: string,
  hints: FailureHints,
  options: ObjectSinkOptions = {},
): Promise<OutputSink> {
  const name = `azure://${container.containerName}/${blobName}`;
  const blob: BlockBlobClient = container.getBlockBlobClient(blobName);
  if (!options.overwrite) {
    await assertObjectAbsent(new AzureSource(blob, name, hints, resolveRetryPolicy()), options.signal);
  }
  const blockSize = options.partSize ?? defaultBlockSize;
  const concurrency = options.concurrency ?? 4;
  // Block ids must have one length within a blob; a random prefix keeps two writers' blocks apart.
  const upload = randomBytes(8).toString('hex');
  const blockIds: string[] = [];
  const inFlight = new Set<Promise<void>>();
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let failure: Error | undefined;
  let state: 'open' | 'committed' | 'aborted' = 'open';

  const fail = (error: unknown): Error => {
    failure ??=
      error instanceof ArchiveCryptError
        ? error
        : ((e) => (e instanceof ArchiveCryptError ? e : new StorageError(`${name}: upload failed: ${e.message}`, { cause: error })))(
            classifyAzureError(error, name, hints).error,
          );
    return failure;
  };

  const stage = async (final: boolean) => {
    while (pendingBytes >= blockSize || (final && pendingBytes > 0)) {
      const all = Buffer.concat(pending, pendingBytes);
      const block = all.subarray(0, Math.min(blockSize, all.length));
      const rest = all.subarray(block.length);
      pending = rest.length > 0 ? [rest] : [];
      pendingBytes = rest.length;
      const id = Buffer.from(`${upload}-${String(blockIds.length).padStart(6, '0')}`).toString('base64');
      blockIds.push(id);
      const staging = blob.stageBlock(id, block, block.length, options.signal ? { abortSignal: options.signal } : {}).then(
        () => undefined,
        (error: unknown) => {
          throw fail(error);
        },
      );
      const tracked = staging.finally(() => inFlight.delete(tracked));
      tracked.catch(() => undefined); // surfaced through `failure`
      inFlight.add(tracked);
      while (inFlight.size >= concurrency) await Promise.race(inFlight).catch(() => undefined);
      if (failure) throw failure;
    }
  };

  return {
    name,
    async write(chunk) {
      if (failure) throw failure;
      if (state !== 'open') throw new Error(`output already ${state}`);
      pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      pendingBytes += chunk.byteLength;
      await stage(false);
    },
    async commit() {
      if (state !== 'open') throw new Error(`output already ${state}`);
      state = 'committed';
      await stage(true);
      await Promise.allSettled(inFlight);
      if (failure) throw failure;
      try {
        // The one call that makes the blob (or its new version) visible, all blocks at once.
        await blob.commitBlockList(blockIds, { blobHTTPHeaders: { blobContentType: options.contentType ?? 'application/octet-stream' } });
      } catch (error) {
        throw fail(error);
      }
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      pending = [];
      await Promise.allSettled(inFlight);
    },
  };
}
