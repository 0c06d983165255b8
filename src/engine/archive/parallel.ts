/**
 * The many-thread Vonage decrypt on node:crypto, on the ring the sealed pipelines use (runRing,
 * engine/threads/ring.ts): the ciphertext is read in ranges into the ring's slots; each range is
 * decrypted in place by a pool thread (IV = the ciphertext block before it, docs/ARCHITECTURE.md §2.5)
 * or, when no thread is free — while the threads still boot, for instance — by the main thread
 * itself, so decryption starts at once. The main thread hashes the ciphertext as it is read and hands
 * the plaintext to the checks and the sink strictly in order. Only the last range removes padding,
 * which is why the ring looks one range ahead before it writes one.
 */
import { KEEP_MALLOC_HEAP_FROM, keepMallocHeap } from '../../crypto-backend.js';
import { AbortError } from '../../errors.js';
import { BLOCK_SIZE } from '../../format/opentok.js';
import { readIvAt } from './range-read.js';
import type { DecryptPool } from '../threads/pool.js';
import { ringSlots, runRing, type RingRun, type RingStep } from '../threads/ring.js';
import { checkedLength, removedPadding, type PipelineInput } from './serial.js';

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

/** A range's step: the sync-byte check made by the pool thread (-1: none found, undefined: checked here). */
type RangeStep = RingStep<number | undefined>;

/** Decrypts everything `reader` yields with the pool's help. Throws on the first failure. */
export async function decryptParallel(input: ParallelInput): Promise<void> {
  const { checks, pool, rangeSize, padding, positional } = input;
  // Also for the pool threads' outputs: the threshold it raises is the process's.
  if (input.backend.name === 'node' && (input.total ?? 0) >= KEEP_MALLOC_HEAP_FROM) keepMallocHeap();
  // The key is shared with the threads once for the whole archive and zeroed when it is done; the IV
  // of the range in slot s sits at 32 + 16·s.
  const state = new SharedArrayBuffer(32 + ringSlots(pool, true) * BLOCK_SIZE);
  const stateBytes = new Uint8Array(state);
  stateBytes.set(input.archiveKey.key);
  const ivOffset = (run: RingRun) => 32 + run.slot * BLOCK_SIZE;
  const ivOf = (run: RingRun) => stateBytes.subarray(ivOffset(run), ivOffset(run) + BLOCK_SIZE);
  // Hashing on this thread is costlier than decrypting: then leave decryption to the pool once it runs.
  const mainThreadBusy = checks.hashing;
  // A one-thread pool runs tasks in order, so it can hash the plaintext too: two digests on two cores.
  // Then every range goes to it, even while it boots (they queue), and this thread hashes the ciphertext.
  const hashSession = checks.hashing ? pool.openHashSession() : -1;
  if (hashSession >= 0) checks.hashPlaintextElsewhere();
  let hashSessionOpen = hashSession >= 0;
  let sessionChain: Promise<unknown> = Promise.resolve();
  let iv = Buffer.from(input.archiveKey.iv);
  const localCipher = input.backend.cipher('cbc-decrypt', input.archiveKey.key, iv);
  let ciphertextBytes = 0;
  let lastPaddingLength = 0;

  try {
    await runRing<number | undefined>({
      reader: input.reader,
      sink: input.sink,
      signal: input.signal,
      pool,
      slotBytes: rangeSize,
      readOffset: 0,
      readBytes: rangeSize,
      positional: positional && { fd: positional.fd, start: 0, length: positional.size },
      lookahead: true,
      cancelled: () => new AbortError('cancelled; no output was kept'),
      segmentsIn: () => 0,
      failure: () => undefined,
      onRead: (bytes) => input.onProgress?.(bytes, input.total),
      filled: (run) => {
        const ciphertext = new Uint8Array(run.data, run.offset, run.length);
        if (!positional) checks.ciphertext(ciphertext);
        else checks.countCiphertext(run.length);
        ciphertextBytes += run.length;
        // A short range is the end of the data: the length check can be made before decrypting it.
        if (run.length % BLOCK_SIZE !== 0) checkedLength(ciphertextBytes, padding, checks);
        if (!positional || run.read?.position === 0) ivOf(run).set(iv);
        // Copied before the range is decrypted in place: the next range's IV.
        if (!positional && run.length >= BLOCK_SIZE) iv = Buffer.from(ciphertext.subarray(run.length - BLOCK_SIZE));
      },
      useRemote: (p, run) => run.length > 0 && (hashSession >= 0 || p.capacity > 0 || (mainThreadBusy && p.booted > 0)),
      local: (run) => {
        const ciphertext = Buffer.from(run.data, run.offset, run.length);
        // The ring read the range itself; a positional range's IV is the block before it.
        if (run.read && run.read.position > 0) readIvAt(run.read, ivOf(run));
        localCipher.setIv(ivOf(run));
        localCipher.update(ciphertext);
        return { outputBytes: run.length, segments: 0, result: undefined };
      },
      remote: (p, run) => {
        const task = {
          state,
          ivOffset: ivOffset(run),
          data: run.data,
          offset: run.offset,
          length: run.length,
          syncCheckOffset: checks.checkingMpegTs ? ciphertextBytes - run.length : -1,
          hashSession,
          backend: input.backend.name,
          read: run.read,
        };
        // piscina may hand a new task to a thread that just became free before its queued ones, so the
        // ranges of a hash session are given one after the other.
        const decrypted = hashSession >= 0 ? sessionChain.then(() => p.decrypt(task)) : p.decrypt(task);
        if (hashSession >= 0) sessionChain = decrypted;
        return decrypted.then((result): RangeStep => ({ outputBytes: run.length, segments: 0, result: result.firstBadSync }));
      },
      output: (step, plaintext, last) => {
        let released = plaintext;
        if (last) {
          checkedLength(ciphertextBytes, padding, checks);
          if (plaintext.byteLength === 0) checks.recordFinal(); // nothing to unpad (-nopad of an empty input)
          else {
            lastPaddingLength = removedPadding(plaintext.subarray(plaintext.byteLength - BLOCK_SIZE), padding, checks);
            released = plaintext.subarray(0, plaintext.byteLength - lastPaddingLength);
          }
        }
        if (released.byteLength > 0) checks.plaintext(released, step.result);
        return released;
      },
    });
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
  }
}
