/**
 * The set-up seal and unseal share (one skeleton, style.md §13): check the options, pick the crypto
 * backend, learn the input's size, open its reader, choose the pool (the caller's, a private one, or
 * none), and on any failure abort the sink and name a cancellation as one; the private pool and the
 * reader are closed whatever happens. Each pipeline supplies only its own work.
 */
import { availableParallelism } from 'node:os';
import { AbortError, ArchiveCryptError } from '../../errors.js';
import { loadNative } from '../../native.js';
import { cryptoBackend, type CryptoBackend, type CryptoBackendName } from '../../crypto-backend.js';
import type { Source } from '../../storage/source.js';
import type { OutputSink } from '../output.js';
import { openCiphertextReader, type CiphertextReader } from '../reader.js';
import type { DecryptPool } from '../threads/pool.js';
import { withSealedRing, type SealedRingBinding } from './windows.js';
import { DEFAULT_TASK_SIZE, SERIAL_TASK_SIZE, ringPool, ringThreshold } from '../threads/ring.js';

/**
 * From this size the native windows run (a libuv thread has nothing to boot; below it the second
 * thread's start-up is not paid back).
 */
export const WINDOWS_THRESHOLD = 4 * 1024 * 1024;
/** Bytes per run in the native ring (rounded down to whole segments; windows.ts has RING_SLOTS of them). */
export const WINDOWS_TASK_SIZE = 1024 * 1024;


/** The options both pipelines take, checked in one place. */
export interface SealedPipelineOptions {
  source: Source;
  sink: OutputSink;
  signal?: AbortSignal | undefined;
  pool?: DecryptPool | undefined;
  parallelThreshold?: number | undefined;
  taskSize?: number | undefined;
  crypto?: CryptoBackendName | undefined;
}

export interface SealedPipeline {
  backend: CryptoBackend;
  /** The input's size, when the source knows it (not stdin). */
  total: number | undefined;
  reader: CiphertextReader;
  /** Decided by `choosePool` (seal calls it at once, unseal once the header is read). */
  pool: DecryptPool | undefined;
  /**
   * Also decided by `choosePool`: the native core's two-thread windows (windows.ts) — a local file
   * of a known size, the native backend, two cores, no pool given — with the file's descriptor.
   */
  windows: { native: SealedRingBinding; fd: number; size: number } | undefined;
  /** Picks the pool for an input of `total` bytes; returns the bytes per run to aim for. */
  choosePool(): number;
  /**
   * With a pool and a local file of a known size, where each thread reads its runs by position: the
   * body's `length` bytes from file offset `start`; else undefined (the reader feeds the ring).
   */
  positional(start: number): { fd: number; start: number; length: number } | undefined;
}

/**
 * Runs `work` on the shared set-up. `prepare` runs first (the pipeline's own option checks and
 * whatever it makes of them), so a bad option fails before the source is touched; the sink is
 * aborted on every failure.
 */
export async function runSealedPipeline<P, T>(
  options: SealedPipelineOptions,
  prepare: () => P,
  cancelled: (cause?: unknown) => AbortError,
  work: (pipeline: SealedPipeline, prepared: P) => Promise<T>,
): Promise<T> {
  const { source, sink, signal } = options;
  let privatePool: DecryptPool | undefined;
  try {
    const threshold = ringThreshold(options);
    const prepared = prepare();
    const backend = cryptoBackend(options.crypto);
    if (signal?.aborted) throw cancelled();
    const total = (await source.stat(signal)).size;
    const reader = await openCiphertextReader(source, { signal });
    const pipeline: SealedPipeline = {
      backend,
      total,
      reader,
      pool: undefined,
      windows: undefined,
      choosePool() {
        const native = backend.name === 'native' ? withSealedRing(loadNative()) : undefined;
        const fd = reader.positionalFd;
        if (native && fd !== undefined && total !== undefined && !options.pool && availableParallelism() > 1 && total >= (options.parallelThreshold ?? WINDOWS_THRESHOLD)) {
          pipeline.windows = { native, fd, size: total };
          return options.taskSize ?? WINDOWS_TASK_SIZE;
        }
        const { pool, owned } = ringPool(threshold, total, options.pool);
        privatePool = owned;
        pipeline.pool = pool;
        return options.taskSize ?? (pool ? DEFAULT_TASK_SIZE : SERIAL_TASK_SIZE);
      },
      positional(start) {
        const fd = reader.positionalFd;
        return pipeline.pool && fd !== undefined && total !== undefined ? { fd, start, length: total - start } : undefined;
      },
    };
    try {
      const result = await work(pipeline, prepared);
      if (signal?.aborted) throw cancelled();
      await sink.commit();
      return result;
    } finally {
      await reader.close();
    }
  } catch (error) {
    await sink.abort();
    if (error instanceof ArchiveCryptError) throw error;
    if ((error as Error).name === 'AbortError') throw cancelled(error);
    throw error;
  } finally {
    await privatePool?.destroy();
  }
}
