/**
 * s5cmd-style parallel download: a large object is fetched as concurrent ranged GETs and the parts
 * are handed out strictly in order. Memory stays bounded: `concurrency` parts in flight plus the one
 * being handed out, each at most `partSize` bytes.
 */
import type { Source } from './source.js';

export interface ParallelReadOptions {
  /** First byte (default 0). */
  start?: number;
  /** End, exclusive (default: the object's size). */
  end?: number;
  /** Bytes per ranged GET (default 8 MiB). */
  partSize?: number;
  /** Ranged GETs in flight at once (default 4); 1 fetches the parts one after the other. */
  concurrency?: number;
  signal?: AbortSignal;
}

export const defaultPartSize = 8 * 1024 * 1024;
export const defaultConcurrency = 4;

/**
 * Yields the bytes `[start, end)` of `source` in order. Falls back to one sequential `read()` when
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
  const partSize = options.partSize ?? defaultPartSize;
  const concurrency = options.concurrency ?? defaultConcurrency;
  if (!Number.isInteger(partSize) || partSize < 1) throw new RangeError('options.partSize must be a positive integer');
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('options.concurrency must be a positive integer');
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
