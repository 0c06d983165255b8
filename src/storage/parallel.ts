/**
 * s5cmd-style parallel download: a large object is fetched as concurrent ranged GETs and the parts
 * are handed out strictly in order. Memory stays bounded: `concurrency` parts in flight plus the one
 * being handed out, each at most `partSize` bytes.
 */
import { UsageError } from '../errors.js';
import type { Source } from './source.js';

/**
 * How a large object is downloaded. Set once where a source is opened (`SourceOptions.download`,
 * from --part-size/--download-concurrency or the config file) and carried by the source
 * (`Source.download`), so that no command has to hand it on to the engine.
 */
export interface DownloadOptions {
  /** Bytes per ranged GET (default 8 MiB). */
  partSize?: number | undefined;
  /** Ranged GETs in flight at once (default 4); 1 fetches the parts one after the other. */
  concurrency?: number | undefined;
}

export interface ParallelReadOptions extends DownloadOptions {
  /** First byte (default 0). */
  start?: number;
  /** End, exclusive (default: the object's size). */
  end?: number;
  signal?: AbortSignal;
}

export const defaultPartSize = 8 * 1024 * 1024;
export const defaultConcurrency = 4;

/**
 * Yields the bytes `[start, end)` of `source` in order, in parts of `options.partSize` (else the
 * source's own `download` settings, else 8 MiB), `concurrency` at a time. Falls back to one sequential `read()` when
 * the source is not rangeable, its size is unknown, or the range fits in one part. Each part gets
 * the source's own retry/resume behaviour; the first part that fails cancels the others.
 *
 * @example
 * ```ts
 * const source = await openSource('s3://bucket/46372/0c3a…/archive.mp4', options);
 * for await (const chunk of readParallel(source, { partSize: 8 << 20, concurrency: 4 })) decipher.update(chunk);
 * ```
 */
export async function* readParallel(source: Source, options: ParallelReadOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const partSize = options.partSize ?? source.download?.partSize ?? defaultPartSize;
  const concurrency = options.concurrency ?? source.download?.concurrency ?? defaultConcurrency;
  if (!Number.isInteger(partSize) || partSize < 1) throw new UsageError('options.partSize must be a positive integer');
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new UsageError('options.concurrency must be a positive integer');
  const start = options.start ?? 0;
  const end = options.end ?? (source.rangeable ? (await source.stat(options.signal)).size : undefined);

  if (!source.rangeable || end === undefined || end - start <= partSize) {
    yield* source.read(start, end, options.signal);
    return;
  }

  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  const pending: Promise<Uint8Array[]>[] = [];
  let nextPartStart = start;
  const launch = () => {
    const partStart = nextPartStart;
    const partEnd = Math.min(end, partStart + partSize);
    nextPartStart = partEnd;
    const part = collect(source.read(partStart, partEnd, signal));
    // A failure surfaces when its turn comes; until then it must not count as unhandled.
    part.catch(() => undefined);
    pending.push(part);
  };
  try {
    while (pending.length < concurrency && nextPartStart < end) launch();
    while (pending.length > 0) {
      const chunks = await (pending.shift() as Promise<Uint8Array[]>);
      if (nextPartStart < end) launch();
      yield* chunks;
    }
  } finally {
    // Early exit (error in a part, consumer stopped): cancel whatever is still downloading.
    controller.abort();
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return parts;
}
