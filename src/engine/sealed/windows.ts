/**
 * Seal and unseal on the native core with two threads and no worker (docs/ENGINE.md, "Threads"): the
 * body of a local file of a known size goes through two reused windows of `RUNS_PER_WINDOW` runs, and
 * the addon's `sealedRuns` does all the per-segment work in C. The main thread and a libuv thread
 * (async work: nothing to boot, where a worker thread costs 30–240 ms) each read runs of the window
 * by position and seal or open them in place, taking them from one atomic claim counter, so the
 * faster thread takes more. While the main thread writes window w in order, the libuv thread is
 * already on window w + 1. Unseal releases a run's plaintext only up to its first failed segment
 * (the C loop verifies each tag before decrypting), and nothing after it.
 */
import { StorageError } from '../../errors.js';
import { segmentError, TAG_LENGTH, type SegmentFailure, type SegmentKeys } from '../../format/sealed.js';
import type { NativeBinding } from '../../native.js';
import type { OutputSink } from '../output.js';
import { KEY_STATE_LENGTH, writeKeyState } from './key-state.js';

/** Runs per window: enough that the thread that finishes first rarely waits for the other. */
export const RUNS_PER_WINDOW = 8;

const FAILURES: Record<number, SegmentFailure> = { 1: 'tag', 2: 'length', 3: 'missing-final' };

export interface NativeWindowsInput {
  native: NativeBinding & Required<Pick<NativeBinding, 'sealedRuns'>>;
  seal: boolean;
  /** The file's keys: copied into the jobs' key state and zeroed here. */
  keys: SegmentKeys;
  /** The body: `length` bytes of `fd` from `start` (seal: the plaintext; unseal: the segments). */
  fd: number;
  start: number;
  length: number;
  /** Segments per run. */
  runSegments: number;
  sink: OutputSink;
  signal: AbortSignal | undefined;
  onRead: ((bytes: number) => void) | undefined;
  cancelled(): Error;
}

type Window = { data: Buffer; claims: Int32Array; results: Float64Array };

/** The native error of a job as the engine's: a failed or short read is a storage failure. */
function storageFailure(error: unknown): Error {
  const { errno, shrankAt, message } = error as { errno?: number; shrankAt?: number; message?: string };
  if (typeof shrankAt === 'number') return new StorageError(`the input file shrank while it was read (at byte ${shrankAt}); run again once it is complete`, { cause: error });
  if (typeof errno === 'number') return new StorageError(`cannot read the input file (${message ?? 'error'})`, { cause: error });
  return error instanceof Error ? error : new Error(String(error));
}

/** Pushes the body through the windows; returns input bytes, output bytes and segments. */
export async function runNativeWindows(input: NativeWindowsInput): Promise<{ inputBytes: number; outputBytes: number; segments: number }> {
  const { native, seal, keys, fd, start, length, runSegments, sink, signal } = input;
  const segmentSize = keys.segmentSize;
  const full = segmentSize + TAG_LENGTH;
  const runInput = runSegments * (seal ? segmentSize : full);
  // Seal reads a run's plaintext after 32 bytes of room per segment and writes C ‖ T from the start.
  const inputOffset = seal ? runSegments * TAG_LENGTH : 0;
  const slot = runSegments * full;
  // Every run is full but the last, which holds the final segment (for seal possibly empty).
  const runs = Math.floor(length / runInput) + 1;
  const windowCount = Math.ceil(runs / RUNS_PER_WINDOW);
  const state = new Uint8Array(new SharedArrayBuffer(KEY_STATE_LENGTH));
  writeKeyState(state, keys);
  // From here on the state holds the only copy; the C jobs copy it and cleanse their copies.
  keys.encryptionKey.fill(0);
  keys.macKey.fill(0);
  // Off-heap memory (never moved by the garbage collector) that the libuv thread works on.
  const make = (): Window => ({
    data: Buffer.from(new SharedArrayBuffer(slot * RUNS_PER_WINDOW)),
    claims: new Int32Array(new SharedArrayBuffer(4)),
    results: new Float64Array(4 * RUNS_PER_WINDOW),
  });
  const pair: [Window, Window] = [make(), make()];
  const jobs: Promise<void>[] = [];
  const windowOf = (w: number) => {
    const firstRun = w * RUNS_PER_WINDOW;
    const count = Math.min(RUNS_PER_WINDOW, runs - firstRun);
    const firstPosition = start + firstRun * runInput;
    return { window: pair[w % 2] as Window, count, firstPosition, end: Math.min(start + length, firstPosition + count * runInput), firstIndex: firstRun * runSegments, final: w === windowCount - 1 };
  };
  const args = (w: number) => {
    const { window, count, firstPosition, end, firstIndex, final } = windowOf(w);
    return [seal, state, fd, window.data, slot, inputOffset, runInput, count, firstPosition, end, firstIndex, segmentSize, final, window.claims, window.results] as const;
  };
  const startAsync = (w: number): void => {
    (pair[w % 2] as Window).claims[0] = 0;
    jobs[w] = new Promise<void>((resolve, reject) => native.sealedRuns(...args(w), (error) => (error ? reject(storageFailure(error)) : resolve())));
    jobs[w]?.catch(() => undefined); // awaited in its turn
  };
  let outputBytes = 0;
  try {
    startAsync(0);
    for (let w = 0; w < windowCount; w += 1) {
      if (signal?.aborted) throw input.cancelled();
      try {
        native.sealedRuns(...args(w));
      } catch (error) {
        throw storageFailure(error);
      }
      // No run of window w is left to claim: the libuv thread may go on to w + 1 (its window's output
      // was written last round) while this thread writes w.
      if (w + 1 < windowCount) startAsync(w + 1);
      await jobs[w];
      const { window, count, end } = windowOf(w);
      for (let i = 0; i < count; i += 1) {
        const out = window.results[4 * i] ?? 0;
        const failedIndex = window.results[4 * i + 1] ?? -1;
        const failure = FAILURES[window.results[4 * i + 2] ?? 0];
        if (out > 0) await (sink.writeAndRelease ? sink.writeAndRelease(window.data.subarray(i * slot, i * slot + out)) : sink.write(Buffer.from(window.data.subarray(i * slot, i * slot + out))));
        outputBytes += out;
        if (failure) throw segmentError(failure, failedIndex, window.results[4 * i + 3] === 1);
      }
      input.onRead?.(end - start);
    }
    // The last run holds the final segment: count what it held rather than a full run.
    const finalRun = length - (runs - 1) * runInput;
    const segments = (runs - 1) * runSegments + Math.floor(finalRun / (seal ? segmentSize : full)) + 1;
    return { inputBytes: length, outputBytes, segments };
  } finally {
    // No job may still read into the windows when they are dropped or the keys are zeroed.
    await Promise.allSettled(jobs);
    state.fill(0);
  }
}
