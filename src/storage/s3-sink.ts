/**
 * An S3 object as an output sink: a multipart upload through @aws-sdk/lib-storage that is completed
 * only by `commit()`, after the last check passed, and aborted otherwise (docs/SERVICE.md, "Never at
 * rest unencrypted"). An incomplete multipart upload is never visible as an object, so a crash or a
 * failed check leaves nothing at the key; `AbortMultipartUpload` then frees the parts already sent.
 */
import { Upload } from '@aws-sdk/lib-storage';
import { PassThrough } from 'node:stream';
import type { OutputSink } from './output-sink.js';
import { ArchiveCryptError, StorageError } from '../errors.js';
import { assertObjectAbsent, type ObjectSinkOptions } from './sink.js';
import { classifyS3Error, S3Source, type S3Connection } from './s3.js';

/** S3's minimum part size (every part but the last). */
const minimumPartSize = 5 * 1024 * 1024;

/**
 * Opens `s3://bucket/key` for writing. Refuses (OutputError, exit 6) when the object exists, unless
 * `options.overwrite` (idempotent service outputs: the same key, replaced whole by a later commit).
 *
 * @example
 * ```ts
 * const sink = await openS3Sink(connectS3({}, resolveRetryPolicy()), 'sealed', '46372/b40e…/archive.sealed');
 * await resealArchive({ source, archiveKey, recipients, sink }); // commits, or aborts on any failure
 * ```
 */
export async function openS3Sink(connection: S3Connection, bucket: string, key: string, options: ObjectSinkOptions = {}): Promise<OutputSink> {
  const name = `s3://${bucket}/${key}`;
  if (!options.overwrite) await assertObjectAbsent(new S3Source(connection, bucket, key, false), options.signal);
  const partSize = Math.max(minimumPartSize, options.partSize ?? 8 * 1024 * 1024);
  // The body is fed by write() and ended only by commit(): lib-storage completes the upload (or, for
  // a body smaller than one part, sends its single PUT) only when the body ends.
  const body = new PassThrough({ highWaterMark: partSize });
  const upload = new Upload({
    client: connection.client,
    params: { Bucket: bucket, Key: key, Body: body, ContentType: options.contentType ?? 'application/octet-stream' },
    partSize,
    queueSize: options.concurrency ?? 4,
    leavePartsOnError: false,
  });
  let failure: Error | undefined;
  const done = upload.done().then(
    () => undefined,
    (error: unknown) => {
      failure ??= asStorageError(error, name, connection);
      // A part that failed: wake a write() waiting for 'drain' (it listens for 'close').
      body.destroy();
      throw failure;
    },
  );
  done.catch(() => undefined); // observed through `failure` and by commit()/abort()
  let state: 'open' | 'committed' | 'aborted' = 'open';

  const waitForDrain = () =>
    new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        body.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        body.off('drain', onDrain);
        reject(failure ?? new StorageError(`${name}: the upload stopped`));
      };
      body.once('drain', onDrain);
      body.once('close', onClose);
    });

  return {
    name,
    async write(chunk) {
      if (failure) throw failure;
      if (state !== 'open') throw new Error(`output already ${state}`);
      // The stream keeps a reference to the chunk until the part is sent, so copy-free reuse is not offered.
      if (!body.write(chunk)) await waitForDrain();
    },
    async commit() {
      if (state !== 'open') throw new Error(`output already ${state}`);
      state = 'committed';
      body.end();
      await done;
    },
    async abort() {
      if (state !== 'open') return;
      state = 'aborted';
      // Destroying the body makes lib-storage stop reading, send AbortMultipartUpload for the parts
      // already uploaded, and reject done(): once that settled, nothing of this upload is left.
      body.destroy(new Error('aborted'));
      await done.catch(() => undefined);
    },
  };
}

function asStorageError(error: unknown, name: string, connection: S3Connection): Error {
  if (error instanceof ArchiveCryptError) return error;
  const { error: classified } = classifyS3Error(error, name, connection.customEndpoint);
  return classified instanceof ArchiveCryptError ? classified : new StorageError(`${name}: upload failed: ${classified.message}`, { cause: error });
}
