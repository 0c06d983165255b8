/**
 * The sealed pipelines' key state: the segment keys travel to a thread once per file, in a small
 * SharedArrayBuffer the main thread zeroes when the file is done, and each thread keys its contexts
 * from it once (format/sealed-runs.ts does the work). Small on purpose: pool threads load it.
 */
import { cryptoBackend, type CryptoBackendName } from '../../crypto-backend.js';
import { segmentError, type SegmentKeys } from '../../format/sealed.js';
import type { OpenedRun, SegmentContexts } from '../../format/sealed-runs.js';

/** Bytes of the shared key state: encryption key, MAC key, header tag. */
export const KEY_STATE_LENGTH = 96;

/** Writes the segment keys into the shared state layout (see `UnsealBatchTask.state`). */
export function writeKeyState(state: Uint8Array, keys: { encryptionKey: Uint8Array; macKey: Uint8Array; headerTag: Uint8Array }): void {
  state.set(keys.encryptionKey, 0);
  state.set(keys.macKey, 32);
  state.set(keys.headerTag, 64);
}

/** This thread's contexts for the file whose keys are in `state` (the contexts hold their own copies). */
export function contextsFromState(state: Uint8Array, backend: CryptoBackendName): SegmentContexts {
  const crypto = cryptoBackend(backend);
  return {
    cipher: crypto.cipher('ctr', state.subarray(0, 32), new Uint8Array(16)),
    mac: crypto.hmacSha256(state.subarray(32, 64)),
    headerTag: Uint8Array.from(state.subarray(64, 96)),
  };
}

export function freeContexts(contexts: SegmentContexts): void {
  contexts.cipher.free();
  contexts.mac.free();
  contexts.headerTag.fill(0);
}

/**
 * Runs `work` with the file's keys moved into a shared state (for pool tasks) and this thread's
 * contexts (for runs of its own). `keys` are zeroed at once — from then on the state and the
 * contexts hold the only copies — and both are wiped when `work` settles.
 */
export async function withKeyState<T>(
  keys: SegmentKeys,
  backend: CryptoBackendName,
  work: (state: SharedArrayBuffer, contexts: SegmentContexts) => Promise<T>,
): Promise<T> {
  const state = new SharedArrayBuffer(KEY_STATE_LENGTH);
  const stateBytes = new Uint8Array(state);
  writeKeyState(stateBytes, keys);
  keys.encryptionKey.fill(0);
  keys.macKey.fill(0);
  const contexts = contextsFromState(stateBytes, backend);
  try {
    return await work(state, contexts);
  } finally {
    stateBytes.fill(0);
    freeContexts(contexts);
  }
}

/** The IntegrityError for a failed run, worded as the streaming unsealer words it. */
export function batchFailure(result: OpenedRun): Error {
  return segmentError(result.failure ?? 'tag', result.failedIndex, result.failedLast);
}
