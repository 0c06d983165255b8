/**
 * Positional reads of the sealed pipelines' runs (docs/ENGINE.md, "Threads"): where the input is a
 * local file of a known size, the thread that transforms a run — a pool thread or the main thread —
 * reads it itself, so the copies out of the page cache are spread over the cores like the crypto and
 * no thread waits for another to hand it bytes. Kept apart from ring.ts so a worker loads only this.
 */
import { readSync } from 'node:fs';
import { StorageError } from '../../errors.js';

/** A run's bytes in a local file. */
export interface RunRead {
  fd: number;
  /** Offset of the run's first byte in the file. */
  position: number;
}

/**
 * Reads `target.byteLength` bytes at `position` of `fd` (fewer only at the end of the file); returns
 * the bytes read. Synchronous: the calling thread has nothing else to do meanwhile.
 */
export function readAt(fd: number, target: Uint8Array, position: number): number {
  let filled = 0;
  try {
    while (filled < target.byteLength) {
      const n = readSync(fd, target, filled, target.byteLength - filled, position + filled);
      if (n === 0) break;
      filled += n;
    }
  } catch (error) {
    throw new StorageError(`cannot read the input file (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  }
  return filled;
}
