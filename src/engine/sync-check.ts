/**
 * The MPEG-TS sync-byte check as a pure function of absolute offsets (design.md §1: 0x47 at every
 * 188-byte packet start), so that any range can be checked on its own — by the thread that just
 * decrypted it, while the bytes are still in its cache — and the results merged in any order.
 */
import { TS_PACKET_SIZE, TS_SYNC_BYTE } from '../format/mpegts.js';

/**
 * Absolute offset of the first packet start in `bytes` (which start at absolute `offset`) without
 * the sync byte, or -1 when all have it.
 */
export function firstBadSyncByte(bytes: Uint8Array, offset: number): number {
  for (let i = (TS_PACKET_SIZE - (offset % TS_PACKET_SIZE)) % TS_PACKET_SIZE; i < bytes.length; i += TS_PACKET_SIZE) {
    if (bytes[i] !== TS_SYNC_BYTE) return offset + i;
  }
  return -1;
}
