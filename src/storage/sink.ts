/**
 * Opening an output by name: a path (the file sink), `s3://bucket/key` (a multipart upload) or
 * `azure://container/blob` (a block list). Every one keeps the `OutputSink` contract: nothing is
 * visible at the name before `commit()`, which callers reach only after the last check passed.
 */
import type { OutputSink } from './output-sink.js';
import { OutputError, StorageError, UsageError } from '../errors.js';
import { azureCredentials, type SourceOptions } from './open.js';
import { resolveRetryPolicy } from './retry.js';
import type { Source } from './source.js';
import { parseSourceSpec } from './uri.js';

export interface ObjectSinkOptions {
  /**
   * Replace an existing object on commit instead of refusing up front. Only for outputs whose name
   * is derived from their content's identity (the service's `<project>/<archive>` keys), where a
   * rerun writes the same thing again.
   */
  overwrite?: boolean;
  /** Bytes per uploaded part or block (S3: at least 5 MiB; default 8 MiB for S3, 4 MiB for Azure). */
  partSize?: number;
  /** Parts or blocks in flight (default 4). */
  concurrency?: number;
  contentType?: string;
  signal?: AbortSignal;
}

export type SinkOptions = ObjectSinkOptions & Pick<SourceOptions, 'env' | 's3' | 'azure' | 'retry'> & { mode?: number };

/**
 * Opens a named output: a path, `s3://bucket/key` or `azure://container/blob`. `-` (stdout) is the
 * caller's: only the CLI owns the process's streams. Throws UsageError for a malformed name and
 * OutputError when the output exists (and `overwrite` is not set).
 *
 * @example
 * ```ts
 * const sink = await openSink('s3://sealed-archives/46372/b40e….sealed', { s3: { region: 'eu-west-1' } });
 * ```
 */
export async function openSink(spec: string, options: SinkOptions = {}): Promise<OutputSink> {
  if (spec === '-') throw new UsageError('openSink does not write to stdout; use streamSink(process.stdout)');
  const location = parseSourceSpec(spec);
  switch (location.kind) {
    case 's3': {
      const [{ connectS3 }, { openS3Sink }] = await Promise.all([import('./s3.js'), import('./s3-sink.js')]);
      return openS3Sink(connectS3(options.s3 ?? {}, resolveRetryPolicy(options.retry), options.env), location.bucket, location.key, options);
    }
    case 'azure': {
      const [{ connectContainer }, { openAzureSink }] = await Promise.all([import('./azure.js'), import('./azure-sink.js')]);
      const credentials = azureCredentials(options);
      return openAzureSink(
        connectContainer(location.container, credentials),
        location.blob,
        {
          notFound: `the container name and the account in ${credentials.variable}`,
          accessDenied: `the account key in ${credentials.variable} (it needs write access)`,
        },
        options,
      );
    }
    case 'file': {
      const { openFileSink } = await import('./file-sink.js');
      return openFileSink(location.path, options.mode !== undefined ? { mode: options.mode } : {});
    }
    default:
      throw new UsageError(`cannot write to ${location.kind === 'stdin' ? '-' : 'a URL'}: give a path, s3://bucket/key or azure://container/blob`);
  }
}

/** Resolves when `object` does not exist; OutputError (exit 6) when it does. */
export async function assertObjectAbsent(object: Source, signal?: AbortSignal): Promise<void> {
  try {
    await object.stat(signal);
  } catch (error) {
    if (error instanceof StorageError && error.code === 'ERR_NOT_FOUND') return;
    throw error;
  }
  throw new OutputError(`${object.name} already exists; refusing to overwrite (remove it or choose another --output)`);
}
