/**
 * Runs of whole sealed segments (docs/FORMAT.md §5), sealed or verified and opened in place: the unit
 * of work of the seal and unseal pipelines, run by a pool thread or by the main thread. The IV and
 * tag layout and the failure messages are those of sealed.ts; this file adds only the in-place loop
 * over caller memory, on contexts made once per run (a crypto backend's, docs/ENGINE.md).
 *
 * Unseal packs the plaintext to the start of the run (segment j at j·segmentSize), so it is one
 * contiguous buffer for the sink; writing there never overwrites ciphertext not yet read. Seal writes
 * segment j (C ‖ T) at j·(segmentSize + 32), at or below the plaintext still to be read.
 */
import { timingSafeEqual } from 'node:crypto';
import type { InPlaceCipher, InPlaceDigest } from '../crypto-backend.js';
import { IV_LENGTH, TAG_LENGTH, writeSegmentIv, type SegmentFailure } from './sealed.js';

/** One thread's contexts for one file: AES-256-CTR under the encryption key, HMAC under the MAC key. */
export interface SegmentContexts {
  cipher: InPlaceCipher;
  mac: InPlaceDigest;
  headerTag: Uint8Array;
}

/**
 * What opening a run found. On a failure the segments before `failedIndex` are verified and their
 * plaintext (`plaintextBytes`) may be released; nothing of the failed segment or after it is.
 */
export interface OpenedRun {
  plaintextBytes: number;
  /** Segments verified and decrypted. */
  segments: number;
  /** Index (in the file) of the first segment that failed, or -1. */
  failedIndex: number;
  failure: SegmentFailure | undefined;
  /** True when the failed segment is the final one. */
  failedLast: boolean;
}

/** Scratch for one segment's IV and tag (per call: runs are long, this is small). */
function scratch(): { iv: Uint8Array; tag: Uint8Array } {
  const bytes = new Uint8Array(IV_LENGTH + TAG_LENGTH);
  return { iv: bytes.subarray(0, IV_LENGTH), tag: bytes.subarray(IV_LENGTH) };
}

/** T = HMAC-SHA256(mac key, header tag ‖ IV ‖ C) into `tag`. */
function writeTag(contexts: SegmentContexts, iv: Uint8Array, data: Uint8Array, offset: number, length: number, tag: Uint8Array): void {
  contexts.mac.update(contexts.headerTag);
  contexts.mac.update(iv);
  contexts.mac.update(data, offset, length);
  contexts.mac.final(tag);
}

/**
 * Opens the segments of `data`, which starts at segment `firstIndex`. A non-final run holds whole
 * full segments only; a final run ends with the final segment, the 0 … full−1 bytes after its last
 * full segment (none: the final segment is missing; fewer than a tag: impossible length).
 */
export function openSegmentRun(contexts: SegmentContexts, data: Uint8Array, firstIndex: number, segmentSize: number, final: boolean): OpenedRun {
  const full = segmentSize + TAG_LENGTH;
  const fullCount = Math.floor(data.byteLength / full);
  const rest = data.byteLength - fullCount * full;
  const count = final ? fullCount + 1 : fullCount;
  const { iv, tag } = scratch();
  let plaintextBytes = 0;
  for (let j = 0; j < count; j += 1) {
    const index = firstIndex + j;
    const isLast = final && j === fullCount;
    const failed = (failure: SegmentFailure): OpenedRun => ({ plaintextBytes, segments: j, failedIndex: index, failure, failedLast: isLast });
    if (isLast && rest === 0) return failed('missing-final');
    if (isLast && rest < TAG_LENGTH) return failed('length');
    const start = j * full;
    const ciphertextLength = (isLast ? rest : full) - TAG_LENGTH;
    writeSegmentIv(iv, index, isLast);
    writeTag(contexts, iv, data, start, ciphertextLength, tag);
    // Constant time, and before any decryption: an early-exit compare would let a forger learn the tag byte by byte.
    if (!timingSafeEqual(tag, data.subarray(start + ciphertextLength, start + ciphertextLength + TAG_LENGTH))) return failed('tag');
    contexts.cipher.setIv(iv);
    contexts.cipher.update(data, start, ciphertextLength);
    if (plaintextBytes !== start) data.copyWithin(plaintextBytes, start, start + ciphertextLength);
    plaintextBytes += ciphertextLength;
  }
  return { plaintextBytes, segments: count, failedIndex: -1, failure: undefined, failedLast: false };
}

/**
 * Seals a run of plaintext in place: the plaintext sits at `plaintextOffset` of `data` (the caller
 * leaves 32 bytes per segment of room before it). A non-final run holds whole segments; a final run
 * ends with the final, shorter (possibly empty) segment. Returns the sealed bytes written.
 */
export function sealSegmentRun(
  contexts: SegmentContexts,
  data: Uint8Array,
  plaintextOffset: number,
  plaintextLength: number,
  firstIndex: number,
  segmentSize: number,
  final: boolean,
): number {
  const count = final ? Math.floor(plaintextLength / segmentSize) + 1 : plaintextLength / segmentSize;
  const { iv, tag } = scratch();
  let out = 0;
  for (let j = 0; j < count; j += 1) {
    const isLast = final && j === count - 1;
    const from = plaintextOffset + j * segmentSize;
    const length = isLast ? plaintextLength - j * segmentSize : segmentSize;
    writeSegmentIv(iv, firstIndex + j, isLast);
    contexts.cipher.setIv(iv);
    contexts.cipher.update(data, from, length);
    if (out !== from) data.copyWithin(out, from, from + length);
    writeTag(contexts, iv, data, out, length, tag);
    data.set(tag, out + length);
    out += length + TAG_LENGTH;
  }
  return out;
}
