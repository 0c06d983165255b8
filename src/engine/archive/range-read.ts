/**
 * A CBC range read by position by the thread that decrypts it (docs/ENGINE.md, "Threads"): the range
 * itself, and — except for the first, whose IV is the archive's — the ciphertext block before it,
 * which is the range's IV (design of CBC ranges: docs/ENGINE.md). Synchronous: a pool thread has
 * nothing else to do meanwhile, and the main thread reads a range only when no thread is free.
 */
import { readSync } from 'node:fs';
import { StorageError } from '../../errors.js';
import { BLOCK_SIZE } from '../../format/opentok.js';

export interface RangeRead {
  fd: number;
  /** Offset of the range in the file (a multiple of 16). */
  position: number;
}

/** Fills `target` from `read.position` and `iv` with the block before it (when there is one). */
export function readRangeAt(read: RangeRead, target: Uint8Array, iv: Uint8Array): void {
  readFully(read.fd, target, read.position);
  if (read.position > 0) readFully(read.fd, iv.subarray(0, BLOCK_SIZE), read.position - BLOCK_SIZE);
}

function readFully(fd: number, target: Uint8Array, position: number): void {
  let filled = 0;
  while (filled < target.byteLength) {
    const n = readSync(fd, target, filled, target.byteLength - filled, position + filled);
    // The size was known when the ranges were planned: a shorter file changed under us.
    if (n === 0) throw new StorageError(`the archive file shrank while it was read (at byte ${position + filled}); run again once it is complete`);
    filled += n;
  }
}
