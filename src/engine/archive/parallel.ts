/**
 * The many-thread pipeline for large archives. The ciphertext is read in ranges into a ring of slots
 * in one SharedArrayBuffer; each range is decrypted in place by a pool thread (IV = the ciphertext
 * block before it, docs/ARCHITECTURE.md §2.5) or, when no thread is free — while the threads still boot, for
 * instance — by the main thread itself, so decryption starts at once. The main thread hashes the
 * ciphertext as it is read and hands the plaintext to the checks and the sink strictly in order; a
 * slot is reused only after the sink has let go of it, so memory stays at the size of the ring.
 * Only the last range removes padding.
 */
import { KEEP_MALLOC_HEAP_FROM, keepMallocHeap } from '../../crypto-backend.js';
import { AbortError } from '../../errors.js';
import { BLOCK_SIZE } from '../../format/opentok.js';
import { readRangeAt } from './range-read.js';
import type { DecryptPool } from '../threads/pool.js';
import { writeReleasing } from '../../storage/output-sink.js';
import { checkedLength, removedPadding, type PipelineInput } from './serial.js';

/** Ranges being read ahead of the one being handed out. */
const READ_AHEAD = 2;

/** A range in flight: its plaintext, once known, is written in order. */
interface RangeInFlight {
  slot: number;
  /** Plaintext chunks, set when decryption finished. */
  plaintext: Uint8Array[] | undefined;
  /** The sync-byte check made by the pool thread (ranges decrypted in the ring only). */
  firstBadSync: number | undefined;
  done: Promise<void> | undefined;
}

export interface ParallelInput extends PipelineInput {
  pool: DecryptPool;
  /** Bytes per range, a multiple of 16. */
  rangeSize: number;
  /**
   * A local file of a known size, a positive multiple of 16: then each thread reads its own ranges
   * by position (and the IV before each) instead of this thread reading them all into the ring.
   */
  positional?: { fd: number; size: number } | undefined;
}

/** Decrypts everything `reader` yields with the pool's help. Throws on the first failure. */
export async function decryptParallel(input: ParallelInput): Promise<void> {
  const { reader, checks, sink, signal, pool, rangeSize, padding } = input;
  pool.start();
  // Also for the pool threads' outputs: the threshold it raises is the process's.
  if (input.backend.name === 'node' && (input.total ?? 0) >= KEEP_MALLOC_HEAP_FROM) keepMallocHeap();
  const slots = pool.threads * pool.tasksPerThread + READ_AHEAD + 3;
  const ring = new SharedArrayBuffer(slots * rangeSize);
  // The key is shared with the threads once for the whole archive and zeroed when it is done; the IV
  // of the range in slot s sits at 32 + 16·s.
  const state = new SharedArrayBuffer(32 + slots * BLOCK_SIZE);
  const stateBytes = new Uint8Array(state);
  stateBytes.set(input.archiveKey.key);
  // Hashing on this thread is costlier than decrypting: then leave decryption to the pool once it runs.
  const mainThreadBusy = checks.hashing;
  // A one-thread pool runs tasks in order, so it can hash the plaintext too: two digests on two cores.
  // Then every range goes to it, even while it boots (they queue), and this thread hashes the ciphertext.
  const hashSession = checks.hashing ? pool.openHashSession() : -1;
  if (hashSession >= 0) checks.hashPlaintextElsewhere();
  let lastPaddingLength = 0;
  let hashSessionOpen = hashSession >= 0;
  let sessionChain: Promise<unknown> = Promise.resolve();
  const free = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  const reads: { slot: number; filled: Promise<number>; position: number }[] = [];
  const positional = input.positional;
  let nextPosition = 0;
  const inFlight: RangeInFlight[] = [];
  let iv = Buffer.from(input.archiveKey.iv);
  const localCipher = input.backend.cipher('cbc-decrypt', input.archiveKey.key, iv);
  let ciphertextBytes = 0;
  let endOfData = false;

  const flushOldest = async (last: boolean) => {
    const range = inFlight.shift();
    if (!range) return;
    await range.done;
    const chunks = range.plaintext ?? [];
    if (last) lastPaddingLength = removePadding(chunks, padding, checks);
    for (const chunk of chunks) {
      if (chunk.byteLength === 0) continue;
      checks.plaintext(chunk, range.firstBadSync);
      await writeReleasing(sink, chunk);
    }
    free.push(range.slot);
  };

  // Keep reads going ahead into free slots so that neither this thread nor the pool waits for the disk.
  const readAhead = () => {
    while (!endOfData && reads.length < READ_AHEAD && free.length > 0) {
      const slot = free.pop() as number;
      const position = nextPosition;
      nextPosition += rangeSize;
      // Positional: the thread that decrypts the range reads it; here only its length is known.
      const filled = positional ? Promise.resolve(Math.max(0, Math.min(rangeSize, positional.size - position))) : reader.fill(Buffer.from(ring, slot * rangeSize, rangeSize));
      filled.catch(() => undefined); // surfaces when its turn comes
      reads.push({ slot, filled, position });
    }
  };

  try {
    for (;;) {
      if (signal?.aborted) throw new AbortError('cancelled; no output was kept');
      readAhead();
      const next = reads.shift();
      if (!next) {
        if (endOfData) break;
        await flushOldest(false); // every slot holds a range: write the oldest to make room
        continue;
      }
      const n = await next.filled;
      const { slot, position } = next;
      if (n < rangeSize) endOfData = true; // reads already started past the end come back empty
      if (n === 0) {
        free.push(slot);
        continue;
      }
      const ciphertext = Buffer.from(ring, slot * rangeSize, n);
      const rangeStart = ciphertextBytes; // also its plaintext offset: only the very end loses padding
      if (!positional) checks.ciphertext(ciphertext);
      else checks.countCiphertext(n);
      ciphertextBytes += n;
      // A short range is the end of the data: the length check can be made before decrypting it.
      if (n % BLOCK_SIZE !== 0) checkedLength(ciphertextBytes, padding, checks);
      const ivOffset = 32 + slot * BLOCK_SIZE;
      if (!positional || position === 0) stateBytes.set(iv, ivOffset);
      if (!positional) iv = Buffer.from(ciphertext.subarray(n - BLOCK_SIZE, n)); // copied before the range is decrypted in place
      const read = positional ? { fd: positional.fd, position } : undefined;
      const range: RangeInFlight = { slot, plaintext: undefined, firstBadSync: undefined, done: undefined };
      if (hashSession >= 0 || pool.capacity > 0 || (mainThreadBusy && pool.booted > 0)) {
        const syncCheckOffset = checks.checkingMpegTs ? rangeStart : -1;
        const task = { state, ivOffset, data: ring, offset: slot * rangeSize, length: n, syncCheckOffset, hashSession, backend: input.backend.name, read };
        // piscina may hand a new task to a thread that just became free before its queued ones, so the
        // ranges of a hash session are given one after the other.
        const decrypted = hashSession >= 0 ? sessionChain.then(() => pool.decrypt(task)) : pool.decrypt(task);
        range.done = decrypted.then((result) => {
          range.plaintext = [ciphertext];
          range.firstBadSync = result.firstBadSync;
        });
        if (hashSession >= 0) sessionChain = range.done;
        // A failure surfaces when the range is flushed; until then keep it from counting as unhandled.
        range.done.catch(() => undefined);
      } else {
        if (read) readRangeAt(read, ciphertext, stateBytes.subarray(ivOffset, ivOffset + BLOCK_SIZE));
        localCipher.setIv(stateBytes.subarray(ivOffset, ivOffset + BLOCK_SIZE));
        localCipher.update(ciphertext);
        range.plaintext = [ciphertext];
      }
      inFlight.push(range);
      input.onProgress?.(ciphertextBytes, input.total);
      // Everything but the newest range is known not to be the last: write what is ready.
      while (inFlight.length > 1 && inFlight[0]?.plaintext) await flushOldest(false);
    }
    checkedLength(ciphertextBytes, padding, checks);
    while (inFlight.length > 0) await flushOldest(inFlight.length === 1);
    if (ciphertextBytes === 0) checks.recordFinal(); // nothing to unpad (-nopad of an empty input)
    if (hashSession >= 0) {
      // The held-back last block minus its padding (nothing is held when there was no data).
      await sessionChain;
      checks.setPlaintextDigest(await pool.digest(hashSession, ciphertextBytes === 0 ? 0 : BLOCK_SIZE - lastPaddingLength));
      hashSessionOpen = false;
    }
  } finally {
    localCipher.free();
    stateBytes.fill(0, 0, 32);
    // Frees the thread's hash state once the session's last task is through.
    if (hashSessionOpen) void sessionChain.catch(() => undefined).then(() => pool.digest(hashSession, -1).catch(() => undefined));
    // Let running tasks finish before the ring is dropped, so no thread writes into reused memory.
    await Promise.allSettled([...inFlight.flatMap((range) => (range.done ? [range.done] : [])), ...reads.map((read) => read.filled)]);
  }
}

/** Checks and strips the PKCS#7 padding at the end of the last range (the final block sits in its last chunk); returns its length. */
function removePadding(chunks: Uint8Array[], padding: 'pkcs7' | 'none', checks: PipelineInput['checks']): number {
  const lastIndex = chunks.length - 1;
  const last = chunks[lastIndex];
  if (!last) return 0;
  const n = removedPadding(last.subarray(last.byteLength - BLOCK_SIZE), padding, checks);
  chunks[lastIndex] = last.subarray(0, last.byteLength - n);
  return n;
}
