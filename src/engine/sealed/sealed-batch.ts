/**
 * Verifies and decrypts a run of whole sealed segments in place (docs/FORMAT.md §5, §8 steps 8–9):
 * the unit of work of the unseal pipeline, run by a pool thread (`worker.ts`) or by the main thread.
 * Each segment's tag is checked in constant time before a single byte of it is decrypted, and the run
 * stops at the first segment that fails, so plaintext exists only for verified segments.
 *
 * The plaintext is packed to the start of the run (segment j at j·segmentSize): the run's plaintext
 * is then one contiguous buffer for the sink. Writing there never overwrites ciphertext not yet read:
 * slice s of segment j goes to j·segmentSize + s, which is at or below where its own ciphertext was.
 */
import { createCipheriv, createDecipheriv, createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { IntegrityError } from '../../errors.js';
import { IV_LENGTH, TAG_LENGTH } from '../../format/sealed.js';
import type { UnsealBatchResult } from '../threads/messages.js';
import { UPDATE_SLICE } from '../update-slice.js';

/**
 * Largest slice handed to `decipher.update`: its output is a fresh allocation each call, and larger
 * ones page-fault (design.md §7). One call per default 64 KiB segment measured faster than 16 or
 * 32 KiB slices (1.6 against 1.4–1.5 GB/s per core for AES-256-CTR).
 */

/** Bytes of the shared key state: encryption key, MAC key, header tag. */
export const KEY_STATE_LENGTH = 96;

/** The keys of one file, as KeyObjects made once per run (not once per segment). */
export interface BatchKeys {
  encryptionKey: KeyObject;
  macKey: KeyObject;
  headerTag: Uint8Array;
}

/** Writes the segment keys into the shared state layout (see `UnsealBatchTask.state`). */
export function writeKeyState(state: Uint8Array, keys: { encryptionKey: Uint8Array; macKey: Uint8Array; headerTag: Uint8Array }): void {
  state.set(keys.encryptionKey, 0);
  state.set(keys.macKey, 32);
  state.set(keys.headerTag, 64);
}

/** Reads the segment keys back from the shared state (the KeyObjects hold their own copies). */
export function readKeyState(state: Uint8Array): BatchKeys {
  return {
    encryptionKey: createSecretKey(state.subarray(0, 32)),
    macKey: createSecretKey(state.subarray(32, 64)),
    headerTag: Buffer.from(state.subarray(64, 96)),
  };
}

/**
 * Opens the segments of `data`, which starts at segment `firstIndex`. A non-final run holds whole
 * full segments only; a final run ends with the final segment, the 0 … full−1 bytes after its last
 * full segment (none: the final segment is missing; fewer than a tag: impossible length).
 */
export function openSealedBatch(keys: BatchKeys, data: Buffer, firstIndex: number, segmentSize: number, final: boolean): UnsealBatchResult {
  const full = segmentSize + TAG_LENGTH;
  const fullCount = Math.floor(data.length / full);
  const rest = data.length - fullCount * full;
  const count = final ? fullCount + 1 : fullCount;
  // header tag ‖ IV: the part of every segment's MAC input before its ciphertext.
  const prefix = Buffer.alloc(TAG_LENGTH + IV_LENGTH);
  prefix.set(keys.headerTag);
  const iv = prefix.subarray(TAG_LENGTH);
  let plaintextBytes = 0;
  for (let j = 0; j < count; j += 1) {
    const index = firstIndex + j;
    const isLast = final && j === fullCount;
    const failed = (failure: UnsealBatchResult['failure']): UnsealBatchResult => ({ plaintextBytes, segments: j, failedIndex: index, failure });
    if (isLast && rest === 0) return failed('missing-final');
    if (isLast && rest < TAG_LENGTH) return failed('length');
    const start = j * full;
    const ciphertextLength = (isLast ? rest : full) - TAG_LENGTH;
    const ciphertext = data.subarray(start, start + ciphertextLength);
    iv.fill(0);
    iv.writeBigUInt64BE(BigInt(index), 0);
    iv[8] = isLast ? 1 : 0;
    const mac = createHmac('sha256', keys.macKey);
    mac.update(prefix);
    mac.update(ciphertext);
    // Constant time, and before any decryption: an early-exit compare would let a forger learn the tag byte by byte.
    if (!timingSafeEqual(mac.digest(), data.subarray(start + ciphertextLength, start + ciphertextLength + TAG_LENGTH))) return failed(isLast ? 'final-tag' : 'tag');
    const decipher = createDecipheriv('aes-256-ctr', keys.encryptionKey, iv);
    for (let at = 0; at < ciphertextLength; at += UPDATE_SLICE) {
      decipher.update(ciphertext.subarray(at, Math.min(at + UPDATE_SLICE, ciphertextLength))).copy(data, plaintextBytes + at);
    }
    decipher.final();
    plaintextBytes += ciphertextLength;
  }
  return { plaintextBytes, segments: count, failedIndex: -1, failure: undefined };
}

/** The IntegrityError for a failed run, with the same messages as the serial unsealer. */
export function batchFailure(result: UnsealBatchResult): IntegrityError {
  const i = result.failedIndex;
  switch (result.failure) {
    case 'missing-final':
      return new IntegrityError('truncated sealed file: final segment missing');
    case 'length':
      return new IntegrityError(`invalid segment length in final segment ${i} (truncated, extended or modified file)`);
    case 'final-tag':
      return new IntegrityError(`invalid segment tag in final segment ${i} (truncated, extended or modified file)`);
    default:
      return new IntegrityError(`invalid segment tag in segment ${i}`);
  }
}

/**
 * Seals a run of plaintext in place: the plaintext sits at `plaintextOffset` of `data` (the caller
 * leaves 32 bytes per segment of room before it), and segment j (C ‖ T) is written at j·(segmentSize
 * + 32), always at or below the plaintext still to be read. A non-final run holds whole segments; a
 * final run ends with the final, shorter (possibly empty) segment. Returns the sealed bytes written.
 */
export function sealRun(
  keys: BatchKeys,
  data: Buffer,
  plaintextOffset: number,
  plaintextLength: number,
  firstIndex: number,
  segmentSize: number,
  final: boolean,
): number {
  const count = final ? Math.floor(plaintextLength / segmentSize) + 1 : plaintextLength / segmentSize;
  const prefix = Buffer.alloc(TAG_LENGTH + IV_LENGTH);
  prefix.set(keys.headerTag);
  const iv = prefix.subarray(TAG_LENGTH);
  let out = 0;
  for (let j = 0; j < count; j += 1) {
    const isLast = final && j === count - 1;
    const from = plaintextOffset + j * segmentSize;
    const length = isLast ? plaintextLength - j * segmentSize : segmentSize;
    iv.fill(0);
    iv.writeBigUInt64BE(BigInt(firstIndex + j), 0);
    iv[8] = isLast ? 1 : 0;
    const cipher = createCipheriv('aes-256-ctr', keys.encryptionKey, iv);
    for (let at = 0; at < length; at += UPDATE_SLICE) {
      cipher.update(data.subarray(from + at, from + Math.min(at + UPDATE_SLICE, length))).copy(data, out + at);
    }
    cipher.final();
    const mac = createHmac('sha256', keys.macKey);
    mac.update(prefix);
    mac.update(data.subarray(out, out + length));
    mac.digest().copy(data, out + length);
    out += length + TAG_LENGTH;
  }
  return out;
}
