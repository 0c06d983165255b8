/**
 * s5cmd-style parallel download: a large object is fetched as concurrent ranged GETs and handed
 * out strictly in order.
 *
 * Every connection stays busy: a GET that ends starts the next part at once, not when its turn to
 * be handed out comes (an early part that is slow would otherwise leave the connections that
 * finished after it idle, and each part's first-byte latency would add up behind the consumer).
 * The oldest part streams to the consumer as its bytes arrive; later parts are held until their
 * turn. Memory stays bounded: `concurrency` GETs in flight and at most `concurrency + 2` parts held
 * at once (each at most `partSize` bytes).
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
  /** Ranged GETs in flight at once (default 8); 1 fetches the parts one after the other. */
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
/**
 * Eight GETs of 8 MiB (aws-cli: ten): each part spends one first-byte latency (20 ms at 40 MB/s is
 * 9 % of an 8 MiB part), so four connections top out near 3.6× one stream and eight leave room for a
 * store's slower answers. What it costs is memory: about 8 MiB per GET in flight (bench/ANALYSIS.md).
 */
export const defaultConcurrency = 8;

/**
 * Parts that may wait for their turn, downloaded, while every connection keeps downloading: enough
 * for the usual skew between parts; each more would cost 8 MiB of peak RSS (measured: 2 → 8 waiting
 * parts at 8 connections, 160-205 → 225-240 MB).
 */
const waitingParts = 2;

/** One ranged GET's bytes, as they arrive. */
interface Part {
  chunks: Uint8Array[];
  done: boolean;
  /** Wakes the consumer waiting on this part (new bytes, its end, or a failure anywhere). */
  wake: (() => void) | undefined;
}

/**
 * Yields the bytes `[start, end)` of `source` in order, in parts of `options.partSize` (else the
 * source's own `download` settings, else 8 MiB), `concurrency` at a time. Falls back to one
 * sequential `read()` when the source is not rangeable, its size is unknown, or the range fits in
 * one part. Each part gets the source's own retry/resume behaviour; the first part that fails
 * fails the read at once and cancels the others.
 *
 * @example
 * ```ts
 * const source = await openSource('s3://bucket/46372/0c3a…/archive.mp4', options);
 * for await (const chunk of readParallel(source, { partSize: 8 << 20, concurrency: 8 })) decipher.update(chunk);
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
  /** Parts not yet handed out completely, oldest (the one streaming to the consumer) first. */
  const held: Part[] = [];
  let inFlight = 0;
  let nextPartStart = start;
  let failure: { error: unknown } | undefined;

  const download = async (part: Part, from: number, to: number) => {
    try {
      for await (const chunk of source.read(from, to, signal)) {
        part.chunks.push(chunk);
        part.wake?.();
      }
      part.done = true;
      inFlight -= 1;
      part.wake?.();
      launch();
    } catch (error) {
      failure ??= { error };
      controller.abort();
      // The consumer may be waiting on any part: wake it to see the failure.
      held[0]?.wake?.();
    }
  };
  const launch = () => {
    while (!failure && inFlight < concurrency && held.length < concurrency + waitingParts && nextPartStart < end) {
      const part: Part = { chunks: [], done: false, wake: undefined };
      const from = nextPartStart;
      nextPartStart = Math.min(end, from + partSize);
      held.push(part);
      inFlight += 1;
      void download(part, from, nextPartStart);
    }
  };

  try {
    launch();
    while (held.length > 0) {
      const part = held[0] as Part;
      for (let index = 0; ; ) {
        if (failure) throw failure.error;
        if (index < part.chunks.length) {
          const chunk = part.chunks[index] as Uint8Array;
          // Let go of what was handed out: the part's array must not keep every chunk alive.
          part.chunks[index++] = empty;
          yield chunk;
        } else if (part.done) {
          break;
        } else {
          await new Promise<void>((resolve) => (part.wake = resolve));
          part.wake = undefined;
        }
      }
      held.shift();
      launch();
    }
  } finally {
    // Early exit (a failed part, the consumer stopped): cancel whatever is still downloading.
    controller.abort();
  }
}

const empty = new Uint8Array(0);
