/**
 * A CBC range read by position by the thread that decrypts it (docs/ENGINE.md, "Threads"): the range
 * itself, and — except for the first, whose IV is the archive's — the ciphertext block before it,
 * which is the range's IV (design of CBC ranges: docs/ENGINE.md). Synchronous: a pool thread has
 * nothing else to do meanwhile, and the main thread reads a range only when no thread is free.
 */
import { StorageError } from '../../errors.js';
import { BLOCK_SIZE } from '../../format/opentok.js';
import { readAt } from '../threads/run-read.js';

export interface RangeRead {
  fd: number;
  /** Offset of the range in the file (a multiple of 16). */
  position: number;
}

/** Fills `target` from `read.position` and `iv` with the block before it (when there is one). */
export function readRangeAt(read: RangeRead, target: Uint8Array, iv: Uint8Array): void {
  if (readAt(read.fd, target, read.position) < target.byteLength) throw shrank(read.position);
  if (read.position > 0) readIvAt(read, iv);
}

/** Fills `iv` with the ciphertext block before the range at `read.position` (> 0). */
export function readIvAt(read: RangeRead, iv: Uint8Array): void {
  if (readAt(read.fd, iv.subarray(0, BLOCK_SIZE), read.position - BLOCK_SIZE) < BLOCK_SIZE) throw shrank(read.position);
}

/** The size was known when the ranges were planned: a shorter file changed under us. */
function shrank(position: number): StorageError {
  return new StorageError(`the archive file shrank while it was read (near byte ${position}); run again once it is complete`);
}
