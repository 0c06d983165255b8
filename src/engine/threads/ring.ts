/**
 * The ring pipeline shared by seal, unseal (docs/FORMAT.md) and the Vonage decrypt on node:crypto
 * (archive/parallel.ts): the input is read in runs (whole segments, or CBC ranges) into the slots of
 * one SharedArrayBuffer; each run is transformed in place — by a pool thread, or by the main thread
 * when no thread is free (while the threads boot, for instance) — and its output is written to the
 * sink strictly in order. A short read (even an empty one) ends the input. In the sealed format it
 * holds the final segment, so no known size is needed (stdin); a CBC decrypt asks for `lookahead`,
 * as its last run carries the padding whatever its length. A slot is reused only after the sink has
 * let go of it, so memory stays at the size of the ring (`ringSlots`).
 */
import { availableParallelism } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { StorageError, UsageError } from '../../errors.js';
import { writeReleasing, type OutputSink } from '../../storage/output-sink.js';
import { DecryptPool } from './pool.js';
import type { CiphertextReader } from '../reader.js';
import { readAt, type RunRead } from './run-read.js';

export type { RunRead } from './run-read.js';

/** Runs being read ahead of the one being handed out. */
const READ_AHEAD = 2;

/** With a pool from the caller (already booted, shared), runs of this size and up use it. */
export const DEFAULT_THRESHOLD_WITH_POOL = 4 * 1024 * 1024;
/**
 * A private pool's thread boots in 70–120 ms while this thread works alone. Measured on the reference
 * machine (2 cores, other test suites running, load ≈1.3–2): below 256 MiB a private pool did not beat
 * this thread alone (64 MiB 0.33 s against 0.32 s, 256 MiB 0.66 against 0.70 s); from 512 MiB it does
 * (1.04 against 1.14 s; 1 GiB 1.57 against 2.0 s). See bench/ANALYSIS.md, "Sealed format".
 */
export const DEFAULT_THRESHOLD_WITHOUT_POOL = 256 * 1024 * 1024;
/** Bytes per pool task (rounded down to whole segments, at least one). */
export const DEFAULT_TASK_SIZE = 4 * 1024 * 1024;
/** The serial path uses smaller runs: its reads only overlap the main thread's own work. */
export const SERIAL_TASK_SIZE = 1024 * 1024;

/**
 * The pool a run of `total` bytes uses: the caller's, or a private one (`owned`, to destroy after)
 * from `threshold` up; none below it, for unknown sizes (unless the threshold is 0), or on one core,
 * where a thread would only compete with this one.
 */
export function ringPool(threshold: number, total: number | undefined, shared: DecryptPool | undefined): { pool: DecryptPool | undefined; owned: DecryptPool | undefined } {
  const parallel = threshold === 0 || (total !== undefined && total >= threshold);
  if (!parallel) return { pool: undefined, owned: undefined };
  if (shared) return { pool: shared, owned: undefined };
  const owned = availableParallelism() > 1 ? new DecryptPool({ queueInThread: true }) : undefined;
  return { pool: owned, owned };
}

/** Checks the ring options shared by seal and unseal; returns the size from which the pool is used. */
export function ringThreshold(options: { parallelThreshold?: number | undefined; taskSize?: number | undefined; pool?: DecryptPool | undefined }): number {
  const threshold = options.parallelThreshold ?? (options.pool ? DEFAULT_THRESHOLD_WITH_POOL : DEFAULT_THRESHOLD_WITHOUT_POOL);
  if (!(threshold >= 0)) throw new UsageError('options.parallelThreshold must be a non-negative number');
  if (options.taskSize !== undefined && !(Number.isSafeInteger(options.taskSize) && options.taskSize > 0)) {
    throw new UsageError('options.taskSize must be a positive integer');
  }
  return threshold;
}

/** Slots of a ring served by `pool`: its tasks, the reads ahead, and the runs being written. */
export function ringSlots(pool: DecryptPool | undefined, lookahead = false): number {
  return (pool ? pool.threads * pool.tasksPerThread : 0) + READ_AHEAD + 2 + (lookahead ? 1 : 0);
}

/** Where one run lies in the ring. */
export interface RingRun {
  data: SharedArrayBuffer;
  /** Index of the run's slot (`offset` = slot × slotBytes). */
  slot: number;
  /** Start of the run's slot in `data`. */
  offset: number;
  /** Bytes read into the slot (at `readOffset`). */
  length: number;
  /** Index of the run's first segment in the file. */
  firstIndex: number;
  /** True when the run ends the input. */
  final: boolean;
  /** Positional input: where the run's `length` bytes are, for the thread that reads them. */
  read?: RunRead | undefined;
}

export interface RingStep<R> {
  /** The run's output (written from the start of its slot) in bytes, and its segments. */
  outputBytes: number;
  segments: number;
  result: R;
  /** Positional input, run on a pool thread: the bytes that thread read (short: the file shrank). */
  bytesRead?: number | undefined;
}

export interface RingInput<R> {
  reader: CiphertextReader;
  sink: OutputSink;
  signal: AbortSignal | undefined;
  pool: DecryptPool | undefined;
  /** Bytes per slot (room for a run's output). */
  slotBytes: number;
  /** Where in its slot a run is read, and the length of a full read. */
  readOffset: number;
  readBytes: number;
  /** Segments a run of `length` input bytes holds. */
  segmentsIn(length: number, final: boolean): number;
  /** Transforms a run in place on the calling thread. */
  local(run: RingRun): RingStep<R>;
  /** Transforms a run in place on a pool thread. */
  remote(pool: DecryptPool, run: RingRun): Promise<RingStep<R>>;
  /** An error to throw once the run's output (if any) was released, or undefined. */
  failure(step: RingStep<R>): Error | undefined;
  /**
   * A local file of a known size (`length` bytes from `start`): then no read goes through `reader`;
   * each run is read by position by the thread that transforms it (pool thread or this one), so the
   * copies out of the page cache are shared between the cores like the crypto.
   */
  positional?: { fd: number; start: number; length: number } | undefined;
  /** Called after each read with the input bytes read so far. */
  onRead?: ((bytes: number) => void) | undefined;
  cancelled(): Error;
  /**
   * The end of the input is only known after the newest run (CBC: the last run carries the padding
   * whatever its length): a run is released only once a later one was read or the input ended, and
   * an empty read at the end makes the run before it the last.
   */
  lookahead?: boolean | undefined;
  /** Called on this thread, in order, once a run's length is known and before it is transformed. */
  filled?: ((run: RingRun) => void) | undefined;
  /** Whether `run` goes to the pool (default: when it has room now). */
  useRemote?: ((pool: DecryptPool, run: RingRun) => boolean) | undefined;
  /** The part of a released run's output to write (default: all of it); `last` on the input's last run. */
  output?: ((step: RingStep<R>, output: Uint8Array, last: boolean) => Uint8Array) | undefined;
}

/** A run in flight: its step, once known, is released in order. */
interface RunInFlight<R> {
  slot: number;
  /** Input bytes of the run, and where a pool thread reads them (positional input). */
  length: number;
  read: RunRead | undefined;
  step: RingStep<R> | undefined;
  done: Promise<void> | undefined;
}

/** Pushes the whole input through the ring; returns input bytes, output bytes and segments. */
export async function runRing<R>(input: RingInput<R>): Promise<{ inputBytes: number; outputBytes: number; segments: number }> {
  const { reader, sink, signal, pool, slotBytes } = input;
  pool?.start();
  const lookahead = input.lookahead === true;
  const slots = ringSlots(pool, lookahead);
  const ring = new SharedArrayBuffer(slots * slotBytes);
  const free = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  const reads: { slot: number; filled: Promise<number>; read: RunRead | undefined }[] = [];
  const inFlight: RunInFlight<R>[] = [];
  let nextIndex = 0;
  let inputBytes = 0;
  let outputBytes = 0;
  let segments = 0;
  let finalSeen = false;

  // Without lookahead a run is released once transformed; with it, also only once it is not the newest.
  const releasable = () => inFlight[0]?.step !== undefined && (!lookahead || finalSeen || inFlight.length > 1);
  const releaseOldest = async () => {
    const run = inFlight.shift();
    if (!run) return;
    await run.done;
    const step = run.step as RingStep<R>;
    if (step.bytesRead !== undefined && step.bytesRead < run.length) throw shrank(run.read);
    let output: Uint8Array = new Uint8Array(ring, run.slot * slotBytes, step.outputBytes);
    if (input.output) output = input.output(step, output, finalSeen && inFlight.length === 0);
    if (output.byteLength > 0) await writeReleasing(sink, output);
    outputBytes += output.byteLength;
    segments += step.segments;
    free.push(run.slot);
    const failure = input.failure(step);
    if (failure) throw failure;
  };

  // Reads run ahead into free slots, so that neither this thread nor the pool waits for the disk.
  // Positional input is only planned here: the thread that takes the run reads it.
  const positional = input.positional;
  let planned = 0;
  let planEnded = false;
  const readAhead = () => {
    while (!finalSeen && !planEnded && reads.length < READ_AHEAD && free.length > 0) {
      const slot = free.pop() as number;
      if (positional) {
        const n = Math.max(0, Math.min(input.readBytes, positional.length - planned));
        reads.push({ slot, filled: Promise.resolve(n), read: { fd: positional.fd, position: positional.start + planned } });
        planned += n;
        planEnded = n < input.readBytes;
        continue;
      }
      const filled = reader.fill(new Uint8Array(ring, slot * slotBytes + input.readOffset, input.readBytes));
      filled.catch(() => undefined); // surfaces when its turn comes
      reads.push({ slot, filled, read: undefined });
    }
  };

  try {
    for (;;) {
      if (signal?.aborted) throw input.cancelled();
      readAhead();
      const next = reads.shift();
      if (!next) {
        if (finalSeen) break;
        await releaseOldest(); // every slot holds a run: release the oldest to make room
        continue;
      }
      // While the read is pending, release runs as the pool finishes them: a slow pipe must not hold
      // back output that is verified already.
      for (;;) {
        if (releasable()) {
          await releaseOldest();
          continue;
        }
        const oldest = inFlight[0];
        if (!oldest?.done || oldest.step) break;
        const first = await untilAborted(
          Promise.race([next.filled.then(() => 'read' as const), oldest.done.then(() => 'run' as const)]),
          signal,
          () => input.cancelled(),
        );
        if (first === 'read') break;
      }
      const n = await untilAborted(next.filled, signal, () => input.cancelled());
      if (finalSeen) {
        free.push(next.slot); // a read started past the end
        continue;
      }
      const final = n < input.readBytes;
      finalSeen = final;
      if (lookahead && final && n === 0 && inFlight.length > 0) {
        free.push(next.slot); // the run before it is the last
        continue;
      }
      inputBytes += n;
      const run: RingRun = { data: ring, slot: next.slot, offset: next.slot * slotBytes, length: n, firstIndex: nextIndex, final, read: next.read };
      input.filled?.(run);
      nextIndex += input.segmentsIn(n, final);
      const inFlightRun: RunInFlight<R> = { slot: next.slot, length: n, read: next.read, step: undefined, done: undefined };
      let worked = false;
      if (pool && (input.useRemote ? input.useRemote(pool, run) : pool.capacity > 0)) {
        inFlightRun.done = input.remote(pool, run).then((step) => {
          inFlightRun.step = step;
        });
        // A failure surfaces when the run is released; until then keep it from counting as unhandled.
        inFlightRun.done.catch(() => undefined);
      } else {
        if (next.read && readAt(next.read.fd, new Uint8Array(ring, run.offset + input.readOffset, n), next.read.position) < n) throw shrank(next.read);
        inFlightRun.step = input.local(run);
        worked = true;
      }
      inFlight.push(inFlightRun);
      input.onRead?.(inputBytes);
      while (releasable()) await releaseOldest();
      // Positional reads never wait, so after a run of its own this thread yields once to the event
      // loop: that is where the pool's answers arrive (else the pool idles until the ring is full).
      if (worked && pool && positional) await nextTurn();
    }
    while (inFlight.length > 0) await releaseOldest();
    return { inputBytes, outputBytes, segments };
  } finally {
    // Let running tasks finish before the caller zeroes the keys they read. Reads still pending are
    // not waited for: a pipe may never deliver again (Ctrl-C on an open stdin), and they only write
    // into this ring, which nothing uses any more.
    await Promise.allSettled(inFlight.flatMap((run) => (run.done ? [run.done] : [])));
  }
}

/** The size was known when the runs were planned: a shorter file changed while it was read. */
function shrank(read: RunRead | undefined): StorageError {
  return new StorageError(`the input file shrank while it was read (near byte ${read?.position ?? 0}); run again once it is complete`);
}

/** Resolves as `promise` does, or rejects with `cancelled()` as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, cancelled: () => Error): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
