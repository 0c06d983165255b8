/**
 * MPEG-TS structure check: the decrypted Vonage archive is a transport stream of 188-byte packets,
 * each starting with the sync byte 0x47. It is the best evidence available that the key was right
 * and the body intact, since the format carries no MAC.
 */
export const TS_PACKET_SIZE = 188;
export const TS_SYNC_BYTE = 0x47;

export interface MpegTsSummary {
  /** Whole packets seen. */
  packets: number;
  /** Bytes after the last whole packet. */
  trailingBytes: number;
  /**
   * Offset of the first whole packet without a sync byte, or undefined when every one had it. Bytes
   * after the last whole packet are only counted (`trailingBytes`): with the padding kept (`-nopad`)
   * they are the 1–16 padding bytes, which need not start with 0x47.
   */
  firstBadOffset: number | undefined;
}

/**
 * Absolute offset of the first packet start in `bytes` (which start at absolute `offset`) without
 * the sync byte, or -1 when all have it. A pure function of absolute offsets, so any range can be
 * checked on its own (by the thread that just decrypted it) and the results merged in any order.
 */
export function firstBadSyncByte(bytes: Uint8Array, offset: number): number {
  for (let i = (TS_PACKET_SIZE - (offset % TS_PACKET_SIZE)) % TS_PACKET_SIZE; i < bytes.length; i += TS_PACKET_SIZE) {
    if (bytes[i] !== TS_SYNC_BYTE) return offset + i;
  }
  return -1;
}

/** Checks packet starts incrementally over a stream of plaintext chunks of any size. */
export class MpegTsChecker {
  private offset = 0;
  private firstBad: number | undefined;

  update(chunk: Uint8Array): void {
    if (this.firstBad === undefined) {
      const bad = firstBadSyncByte(chunk, this.offset);
      if (bad >= 0) this.firstBad = bad;
    }
    this.offset += chunk.length;
  }

  summary(): MpegTsSummary {
    const packets = Math.floor(this.offset / TS_PACKET_SIZE);
    return {
      packets,
      trailingBytes: this.offset % TS_PACKET_SIZE,
      // The first bad start is the earliest: if it lies in the trailing part, every whole packet was good.
      firstBadOffset: this.firstBad !== undefined && this.firstBad < packets * TS_PACKET_SIZE ? this.firstBad : undefined,
    };
  }
}
