/**
 * Messages between the main thread and the pool threads, in one place: each task is the argument of
 * one of `worker.ts`'s named handlers (piscina's `name`; pool.ts calls them by name), each result its
 * answer.
 *
 * Nothing large travels in a message: ciphertext and plaintext live in a SharedArrayBuffer ring that
 * both sides see, and the archive key lives in a small SharedArrayBuffer per archive that the main
 * thread zeroes when the archive is done (with the IV of each range beside it). A task names a region
 * of the ring; the worker decrypts it in place.
 *
 * A pool of ONE thread runs its tasks in the order they were given, which lets that thread also hash
 * the plaintext of an archive in order (a "hash session"): the main thread then hashes only the
 * ciphertext, and the two SHA-256 digests run on two cores.
 */
import type { CryptoBackendName } from '../../crypto-backend.js';
import type { OpenedRun } from '../../format/sealed-runs.js';
import type { RangeRead } from '../archive/range-read.js';
import type { RunRead } from './run-read.js';

/** Decrypt `length` bytes at `offset` of `data` in place with AES-256-CBC, no padding removal. */
export interface DecryptRangeTask {
  /** The crypto backend the main thread runs on (the same in every thread of an archive). */
  backend: CryptoBackendName;
  /**
   * Per-archive shared state: the 32-byte AES key at offset 0 (zeroed by the main thread when the
   * archive is done), then one 16-byte IV per ring slot.
   */
  state: SharedArrayBuffer;
  /** Offset in `state` of this range's IV: the ciphertext block before it (or the archive IV). */
  ivOffset: number;
  /** The ring holding the ciphertext; the plaintext replaces it. */
  data: SharedArrayBuffer;
  offset: number;
  /** A positive multiple of 16. */
  length: number;
  /** Absolute plaintext offset of the range when the MPEG-TS sync bytes are to be checked, else -1. */
  syncCheckOffset: number;
  /**
   * Hash session the plaintext goes into (in task order), or -1. The last 16 bytes seen are held back
   * until the next range or the digest, because they may turn out to be padding.
   */
  hashSession: number;
  /** Set when the thread reads the range itself by position (and its IV, the block before it, into `state`). */
  read?: RangeRead | undefined;
}

/** Ends a hash session: hashes `tailBytes` of the held-back last block and answers the SHA-256 (or discards it when -1). */
export interface DigestTask {
  hashSession: number;
  tailBytes: number;
}

/**
 * Verify and decrypt a run of whole sealed segments (docs/FORMAT.md §5) of `data` in place. Each
 * segment's tag is checked (constant time) before it is decrypted; the plaintext of the verified
 * segments is packed to the start of the run (segment j at j·segmentSize), so it is contiguous.
 */
export interface UnsealBatchTask {
  backend: CryptoBackendName;
  /**
   * Per-file shared state, zeroed by the main thread when the file is done: encryption key (32
   * bytes), MAC key (32), header tag (32).
   */
  state: SharedArrayBuffer;
  data: SharedArrayBuffer;
  offset: number;
  length: number;
  /** Index of the run's first segment in the file. */
  firstIndex: number;
  segmentSize: number;
  /** True when the run ends the file: its last segment is the final one (shorter, flagged last). */
  final: boolean;
  /** Set when the thread reads the run's `length` bytes itself, by position, into `offset` of `data`. */
  read?: RunRead | undefined;
}

/**
 * Seal a run of plaintext in place (docs/FORMAT.md §5): the plaintext sits at `offset` +
 * `plaintextOffset` (32 bytes of room per segment before it); the sealed segments (C ‖ T) are
 * written from `offset` on.
 */
export interface SealRunTask {
  backend: CryptoBackendName;
  /** As for `UnsealBatchTask`: encryption key, MAC key, header tag; zeroed when the file is done. */
  state: SharedArrayBuffer;
  data: SharedArrayBuffer;
  offset: number;
  plaintextOffset: number;
  /** Plaintext bytes: whole segments, except in the final run. */
  length: number;
  firstIndex: number;
  segmentSize: number;
  /** True when the run ends the input: its last segment is the final, shorter (possibly empty) one. */
  final: boolean;
  /** Set when the thread reads the run's plaintext itself, by position, to `plaintextOffset`. */
  read?: RunRead | undefined;
}

/** Reply to a `DecryptRangeTask`: plaintext bytes written in place (always `length`). */
export interface DecryptRangeResult {
  plaintextBytes: number;
  /** Absolute offset of the first packet start without a sync byte, -1 if none (or not checked). */
  firstBadSync: number;
}

/**
 * Reply to an `UnsealBatchTask` (also what the main thread gets when it opens a run itself); with
 * `read`, the bytes the thread read (fewer than `length`: the file shrank, and nothing was opened).
 */
export type UnsealBatchResult = OpenedRun & { bytesRead?: number | undefined };

/** Reply to a `SealRunTask`: sealed bytes written from `offset`; with `read`, as for unseal. */
export interface SealRunResult {
  sealedBytes: number;
  bytesRead?: number | undefined;
}
