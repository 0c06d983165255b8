/**
 * Seal and unseal on the native core with two threads and no worker (docs/ENGINE.md, "Threads"): the
 * body of a local file of a known size goes through one ring of `RING_SLOTS` reused slots, and the
 * addon's `sealedRing` does all the per-segment work in C. The main thread and a libuv thread (async
 * work: nothing to boot, where a worker thread costs 30–240 ms) claim runs from one counter for the
 * whole body and read, seal or open each by position in its slot, so the faster thread takes more
 * and neither waits at a window boundary; the main thread writes the finished runs out in order
 * between runs of its own, and a slot is claimed again only once its run was written. Unseal
 * releases a run's plaintext only up to its first failed segment (the C loop verifies each tag
 * before decrypting), and nothing after it.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { getSystemErrorName } from 'node:util';
import { StorageError } from '../../errors.js';
import { segmentError, TAG_LENGTH, type SegmentFailure, type SegmentKeys } from '../../format/sealed.js';
import type { NativeBinding, NativeRing } from '../../native.js';
import { writeReleasing, type OutputSink } from '../../storage/output-sink.js';
import { KEY_STATE_LENGTH, writeKeyState } from './key-state.js';

/** Slots in the ring: enough that the thread that finishes a run rarely finds its next slot unwritten. */
export const RING_SLOTS = 16;

/** The addon's functions this path needs (a build older than them has not). */
export type SealedRingBinding = NativeBinding & Required<Pick<NativeBinding, 'sealedRing' | 'sealedRingWork' | 'sealedRingRun' | 'sealedRingWait' | 'sealedRingFree'>>;

/** The native binding when it has the sealed ring. */
export function withSealedRing(native: NativeBinding | undefined): SealedRingBinding | undefined {
  return native && typeof native.sealedRing === 'function' ? (native as SealedRingBinding) : undefined;
}

const FAILURES: Record<number, SegmentFailure> = { 1: 'tag', 2: 'length', 3: 'missing-final' };
/** control[] layout and results per slot, as native/archive_crypt.c ("sealedRing") has them. */
const RELEASED = 1;
const STOP = 2;
const DONE = 3;
const FIELDS = 8;

export interface NativeWindowsInput {
  native: SealedRingBinding;
  seal: boolean;
  /** The file's keys: copied into the ring's key state and zeroed here. */
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

/** A run's read failure (results fields 4–6) as the engine's: a failed or short read is a storage failure. */
function readFailure(kind: number, errno: number, at: number): Error {
  if (kind === 2) return new StorageError(`the input file shrank while it was read (at byte ${at}); run again once it is complete`);
  if (kind === 1) return new StorageError(`cannot read the input file (${getSystemErrorName(-errno)})`);
  return new Error('archive-crypt native: sealedRing failed in OpenSSL');
}

/** Pushes the body through the ring; returns input bytes, output bytes and segments. */
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
  const state = new Uint8Array(new SharedArrayBuffer(KEY_STATE_LENGTH));
  writeKeyState(state, keys);
  keys.encryptionKey.fill(0);
  keys.macKey.fill(0);
  // Off-heap memory (never moved by the garbage collector) that the libuv thread works on.
  const data = Buffer.from(new SharedArrayBuffer(slot * RING_SLOTS));
  const control = new Int32Array(new SharedArrayBuffer(4 * (DONE + RING_SLOTS)));
  const results = new Float64Array(new SharedArrayBuffer(8 * FIELDS * RING_SLOTS));
  let ring: NativeRing;
  try {
    ring = native.sealedRing(seal, state, fd, data, slot, inputOffset, runInput, runs, start, start + length, segmentSize, control, results);
  } finally {
    // The ring holds its own copy of the keys from here on, and cleanses it when freed.
    state.fill(0);
  }
  // An executor that throws (the work could not be queued) rejects the promise: awaited below.
  const work = new Promise<void>((resolve, reject) => native.sealedRingWork(ring, (error) => (error ? reject(error) : resolve())));
  work.catch(() => undefined);
  let outputBytes = 0;
  try {
    for (let written = 0; written < runs; ) {
      if (signal?.aborted) throw input.cancelled();
      const s = written % RING_SLOTS;
      if (Atomics.load(control, DONE + s) !== written + 1) {
        // Take a run of our own; with none to take the next one is the libuv thread's, at most a run away.
        if (native.sealedRingRun(ring) < 0 && Atomics.load(control, DONE + s) !== written + 1) native.sealedRingWait(ring, written);
        continue;
      }
      const at = FIELDS * s;
      const out = results[at] ?? 0;
      if (out > 0) await writeReleasing(sink, data.subarray(s * slot, s * slot + out));
      outputBytes += out;
      const failure = FAILURES[results[at + 2] ?? 0];
      if (failure) throw segmentError(failure, results[at + 1] ?? -1, results[at + 3] === 1);
      if (results[at + 4]) throw readFailure(results[at + 4] ?? 0, results[at + 5] ?? 0, results[at + 6] ?? 0);
      written += 1;
      Atomics.store(control, RELEASED, written);
      input.onRead?.(Math.min(length, written * runInput));
      // A sink that writes synchronously (stdout redirected to a file) never returns to the event
      // loop: let it run once a lap of the ring (≈ 16 MiB), so a signal or an abort is seen at once.
      if (written % RING_SLOTS === 0) await nextTurn();
    }
    await work;
    // The last run holds the final segment: count what it held rather than a full run.
    const finalRun = length - (runs - 1) * runInput;
    const segments = (runs - 1) * runSegments + Math.floor(finalRun / (seal ? segmentSize : full)) + 1;
    return { inputBytes: length, outputBytes, segments };
  } finally {
    // No run may still be read into the ring when it is dropped or its keys are cleansed.
    Atomics.store(control, STOP, 1);
    await work.catch(() => undefined);
    native.sealedRingFree(ring);
  }
}
