/**
 * The sealed format (docs/FORMAT.md): an authenticated header, then segments of AES-256-CTR ciphertext
 * each followed by an HMAC-SHA256 tag. Pure byte functions, no I/O. Every segment can be verified and
 * decrypted on its own from `SegmentKeys`, its index and whether it is the last one, so a worker thread
 * can take any segment in any order.
 *
 * @example
 * ```ts
 * const { bytes, keys } = sealHeader({ salt: randomBytes(32), recipients }, fileKey);
 * const last = sealSegment(keys, 0, true, plaintext); // a file shorter than one segment
 * ```
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { IntegrityError, UsageError } from '../errors.js';

/** "\x89ACSEAL\n": a non-ASCII first byte and a trailing newline catch 7-bit and text-mode transfers (as PNG). */
export const SEALED_MAGIC: Buffer = Buffer.from([0x89, 0x41, 0x43, 0x53, 0x45, 0x41, 0x4c, 0x0a]);
export const SEALED_VERSION = 1;
/** Suite 1: HKDF-SHA256 key derivation, AES-256-CTR, HMAC-SHA256 tags. */
export const SUITE_AES256_CTR_HMAC_SHA256 = 1;
/** Recipient type 1: the file key wrapped with RSA-OAEP-SHA-256 (MGF1-SHA-256) and label {@link OAEP_LABEL}. */
export const RECIPIENT_RSA_OAEP_SHA256 = 1;
export const OAEP_LABEL = 'archive-crypt/v1';

export const FILE_KEY_LENGTH = 32;
export const SALT_LENGTH = 32;
export const TAG_LENGTH = 32;
export const KEY_ID_LENGTH = 8;
export const IV_LENGTH = 16;
/** Segments are 2^10 (1 KiB) to 2^24 (16 MiB) plaintext bytes; see FORMAT.md for why the bounds. */
export const MIN_LOG2_SEGMENT_SIZE = 10;
export const MAX_LOG2_SEGMENT_SIZE = 24;
export const DEFAULT_LOG2_SEGMENT_SIZE = 16;
export const MAX_RECIPIENTS = 64;
/** Room for RSA moduli up to 8192 bits. */
export const MAX_WRAPPED_KEY_LENGTH = 1024;
export const MAX_CONTEXT_LENGTH = 0xffff;

/** HKDF-SHA256 info strings, one per derived key (domain separation). */
export const HKDF_INFO = {
  header: 'archive-crypt/v1/header',
  encryption: 'archive-crypt/v1/encryption',
  mac: 'archive-crypt/v1/mac',
} as const;

/** Bytes before the context: magic, version, suite, log2 segment size, reserved, salt. */
const FIXED_PREFIX_LENGTH = SEALED_MAGIC.length + 4 + SALT_LENGTH;
const STANZA_FIXED_LENGTH = 1 + KEY_ID_LENGTH + 2;

/** One recipient's copy of the file key. */
export interface RecipientStanza {
  type: typeof RECIPIENT_RSA_OAEP_SHA256;
  /** SHA-256 of the recipient's SubjectPublicKeyInfo DER, first 8 bytes: lets a reader pick its stanza. */
  keyId: Uint8Array;
  wrappedKey: Uint8Array;
}

/** What a writer chooses; everything else in the header is fixed by version 1. */
export interface HeaderFields {
  log2SegmentSize?: number;
  /** 32 random bytes, fresh for every file. */
  salt: Uint8Array;
  /** Authenticated but NOT encrypted metadata (archive-crypt writes UTF-8 JSON). Never put secrets here. */
  context?: Uint8Array;
  recipients: readonly RecipientStanza[];
}

/** A parsed header. Its tag is not yet verified: that needs the file key ({@link openHeader}). */
export interface SealedHeader {
  version: number;
  suite: number;
  log2SegmentSize: number;
  segmentSize: number;
  salt: Buffer;
  context: Buffer;
  recipients: RecipientStanza[];
  tag: Buffer;
  /** The whole header as stored, tag included; `bytes.length` is the header length. */
  bytes: Buffer;
}

/** Keys derived from the file key and salt. */
export interface DerivedKeys {
  headerKey: Buffer;
  encryptionKey: Buffer;
  macKey: Buffer;
}

/**
 * Everything needed to seal or open any segment of one file. Plain bytes and numbers, so it can be
 * posted to a worker thread as is.
 */
export interface SegmentKeys {
  encryptionKey: Uint8Array;
  macKey: Uint8Array;
  /** The verified header tag: every segment tag covers it, binding the body to this exact header. */
  headerTag: Uint8Array;
  segmentSize: number;
}

export type HeaderParseResult =
  | { complete: true; header: SealedHeader }
  /**
   * `needed` is the total length the header is known to have at least, so far (> bytes given);
   * `missing` names the part that ends beyond the bytes given ("salt", "recipient 2 of 3", …).
   */
  | { complete: false; needed: number; missing: string };

/** The shortest possible header (no context, one recipient with a 1-byte wrapped key): reading this much never reads past a header. */
export const MIN_HEADER_LENGTH = FIXED_PREFIX_LENGTH + 2 + 2 + STANZA_FIXED_LENGTH + 1 + TAG_LENGTH;

/** HKDF-SHA256(file key, salt, info) for the header, encryption and MAC keys, 32 bytes each. */
export function deriveKeys(fileKey: Uint8Array, salt: Uint8Array): DerivedKeys {
  if (fileKey.length !== FILE_KEY_LENGTH) throw new UsageError(`file key must be ${FILE_KEY_LENGTH} bytes`);
  if (salt.length !== SALT_LENGTH) throw new UsageError(`salt must be ${SALT_LENGTH} bytes`);
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', fileKey, salt, info, 32));
  return { headerKey: derive(HKDF_INFO.header), encryptionKey: derive(HKDF_INFO.encryption), macKey: derive(HKDF_INFO.mac) };
}

/** Encodes a header and appends its tag, HMAC-SHA256(header key, every byte before the tag). */
export function encodeHeader(fields: HeaderFields, headerKey: Uint8Array): Buffer {
  const log2 = fields.log2SegmentSize ?? DEFAULT_LOG2_SEGMENT_SIZE;
  const context = fields.context ?? new Uint8Array(0);
  if (!Number.isInteger(log2) || log2 < MIN_LOG2_SEGMENT_SIZE || log2 > MAX_LOG2_SEGMENT_SIZE) {
    throw new UsageError(`log2SegmentSize must be an integer from ${MIN_LOG2_SEGMENT_SIZE} to ${MAX_LOG2_SEGMENT_SIZE}`);
  }
  if (fields.salt.length !== SALT_LENGTH) throw new UsageError(`salt must be ${SALT_LENGTH} bytes`);
  if (context.length > MAX_CONTEXT_LENGTH) throw new UsageError(`context must be at most ${MAX_CONTEXT_LENGTH} bytes`);
  if (fields.recipients.length < 1 || fields.recipients.length > MAX_RECIPIENTS) {
    throw new UsageError(`recipients must number 1 to ${MAX_RECIPIENTS}`);
  }
  const parts: Uint8Array[] = [
    SEALED_MAGIC,
    Uint8Array.of(SEALED_VERSION, SUITE_AES256_CTR_HMAC_SHA256, log2, 0),
    fields.salt,
    u16(context.length),
    context,
    u16(fields.recipients.length),
  ];
  for (const stanza of fields.recipients) {
    if (stanza.type !== RECIPIENT_RSA_OAEP_SHA256) throw new UsageError('recipient type must be 1 (rsa-oaep-sha256)');
    if (stanza.keyId.length !== KEY_ID_LENGTH) throw new UsageError(`recipient key id must be ${KEY_ID_LENGTH} bytes`);
    if (stanza.wrappedKey.length < 1 || stanza.wrappedKey.length > MAX_WRAPPED_KEY_LENGTH) {
      throw new UsageError(`wrapped key must be 1 to ${MAX_WRAPPED_KEY_LENGTH} bytes`);
    }
    parts.push(Uint8Array.of(stanza.type), stanza.keyId, u16(stanza.wrappedKey.length), stanza.wrappedKey);
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, hmac(headerKey, [body])]);
}

/**
 * Parses a header from the start of `bytes`, checking its structure but not its tag. Call it again with
 * more bytes while it answers `complete: false`; each field is checked as soon as its bytes are there,
 * so malformed bytes throw however few follow them (FORMAT.md §8 steps 1–4, in that order).
 *
 * @throws IntegrityError for a wrong magic, unknown version or suite, bad segment size, non-zero
 *   reserved byte, or out-of-range counts and lengths.
 */
export function parseHeader(bytes: Uint8Array): HeaderParseResult {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const incomplete = (needed: number, missing: string): HeaderParseResult => ({ complete: false, needed, missing });
  const magicSeen = Math.min(buf.length, SEALED_MAGIC.length);
  if (!buf.subarray(0, magicSeen).equals(SEALED_MAGIC.subarray(0, magicSeen))) {
    throw new IntegrityError('not a sealed archive-crypt file (bad magic)');
  }
  if (buf.length < 8) return incomplete(8, 'magic');
  const version = buf[8];
  if (version === undefined) return incomplete(9, 'version');
  if (version !== SEALED_VERSION) {
    throw new IntegrityError(`unsupported sealed format version ${version}; a newer archive-crypt may read it`);
  }
  const suite = buf[9];
  if (suite === undefined) return incomplete(10, 'cipher suite');
  if (suite !== SUITE_AES256_CTR_HMAC_SHA256) throw new IntegrityError(`unsupported sealed cipher suite ${suite}`);
  const log2SegmentSize = buf[10];
  if (log2SegmentSize === undefined) return incomplete(11, 'segment size');
  if (log2SegmentSize < MIN_LOG2_SEGMENT_SIZE || log2SegmentSize > MAX_LOG2_SEGMENT_SIZE) {
    throw new IntegrityError(`invalid sealed header: segment size 2^${log2SegmentSize} out of range`);
  }
  const reserved = buf[11];
  if (reserved === undefined) return incomplete(12, 'reserved byte');
  if (reserved !== 0) throw new IntegrityError('invalid sealed header: reserved byte is not zero');
  if (buf.length < FIXED_PREFIX_LENGTH) return incomplete(FIXED_PREFIX_LENGTH, 'salt');

  let offset = FIXED_PREFIX_LENGTH;
  if (buf.length < offset + 2) return incomplete(offset + 2, 'context length');
  const contextLength = buf.readUInt16BE(offset);
  offset += 2;
  if (buf.length < offset + contextLength) return incomplete(offset + contextLength, 'context');
  const context = Buffer.from(buf.subarray(offset, offset + contextLength));
  offset += contextLength;
  if (buf.length < offset + 2) return incomplete(offset + 2, 'recipient count');
  const count = buf.readUInt16BE(offset);
  offset += 2;
  if (count < 1 || count > MAX_RECIPIENTS) throw new IntegrityError(`invalid sealed header: ${count} recipients`);

  const recipients: RecipientStanza[] = [];
  for (let i = 0; i < count; i++) {
    const which = `recipient ${i + 1} of ${count}`;
    const type = buf[offset];
    if (type === undefined) return incomplete(offset + STANZA_FIXED_LENGTH, which);
    if (type !== RECIPIENT_RSA_OAEP_SHA256) throw new IntegrityError(`invalid sealed header: unknown recipient type ${type}`);
    if (buf.length < offset + STANZA_FIXED_LENGTH) return incomplete(offset + STANZA_FIXED_LENGTH, which);
    const keyId = Buffer.from(buf.subarray(offset + 1, offset + 1 + KEY_ID_LENGTH));
    const wrappedLength = buf.readUInt16BE(offset + 1 + KEY_ID_LENGTH);
    if (wrappedLength < 1 || wrappedLength > MAX_WRAPPED_KEY_LENGTH) {
      throw new IntegrityError(`invalid sealed header: wrapped key length ${wrappedLength}`);
    }
    offset += STANZA_FIXED_LENGTH;
    if (buf.length < offset + wrappedLength) return incomplete(offset + wrappedLength, `wrapped key of ${which}`);
    recipients.push({ type, keyId, wrappedKey: Buffer.from(buf.subarray(offset, offset + wrappedLength)) });
    offset += wrappedLength;
  }
  if (buf.length < offset + TAG_LENGTH) return incomplete(offset + TAG_LENGTH, 'header tag');
  const length = offset + TAG_LENGTH;
  const headerBytes = Buffer.from(buf.subarray(0, length));
  return {
    complete: true,
    header: {
      version,
      suite,
      log2SegmentSize,
      segmentSize: 2 ** log2SegmentSize,
      salt: Buffer.from(buf.subarray(FIXED_PREFIX_LENGTH - SALT_LENGTH, FIXED_PREFIX_LENGTH)),
      context,
      recipients,
      tag: headerBytes.subarray(offset),
      bytes: headerBytes,
    },
  };
}

/**
 * The error for input that ended inside the header: the bytes there are parsed first, so a file that
 * is not a sealed one, or is malformed before it ends, says so (parseHeader throws); else the message
 * names the part that is missing.
 */
export function truncatedHeaderError(bytes: Uint8Array): IntegrityError {
  const parsed = parseHeader(bytes);
  if (parsed.complete) throw new UsageError('the header is complete: not a truncation');
  const where = bytes.byteLength === 0 ? 'the file is empty' : `ends after ${bytes.byteLength} bytes, in the ${parsed.missing}`;
  return new IntegrityError(`truncated sealed file: header incomplete (${where})`);
}

/**
 * Writer side: derives the keys, encodes the header with its tag, and returns the segment keys.
 * The caller keeps `fileKey` only as long as it needs it (zero it after wrapping).
 */
export function sealHeader(fields: HeaderFields, fileKey: Uint8Array): { bytes: Buffer; keys: SegmentKeys } {
  const derived = deriveKeys(fileKey, fields.salt);
  const bytes = encodeHeader(fields, derived.headerKey);
  derived.headerKey.fill(0);
  const log2 = fields.log2SegmentSize ?? DEFAULT_LOG2_SEGMENT_SIZE;
  return {
    bytes,
    keys: {
      encryptionKey: derived.encryptionKey,
      macKey: derived.macKey,
      headerTag: bytes.subarray(bytes.length - TAG_LENGTH),
      segmentSize: 2 ** log2,
    },
  };
}

/**
 * Reader side: derives the keys from the unwrapped file key and verifies the header tag (constant
 * time). Because the tag is an HMAC keyed from the file key, a valid tag also commits to that key.
 *
 * @throws IntegrityError "invalid header tag" when any header byte or the file key is wrong.
 */
export function openHeader(header: SealedHeader, fileKey: Uint8Array): SegmentKeys {
  if (fileKey.length !== FILE_KEY_LENGTH) throw new IntegrityError('invalid wrapped file key');
  const derived = deriveKeys(fileKey, header.salt);
  const expected = hmac(derived.headerKey, [header.bytes.subarray(0, header.bytes.length - TAG_LENGTH)]);
  derived.headerKey.fill(0);
  // Constant time: a byte-by-byte early exit would let an attacker forge a tag one byte at a time.
  if (!timingSafeEqual(expected, header.tag)) throw new IntegrityError('invalid header tag');
  return { encryptionKey: derived.encryptionKey, macKey: derived.macKey, headerTag: header.tag, segmentSize: header.segmentSize };
}

/**
 * IV of segment `index`: u64 big-endian index ‖ last flag (0x01 on the final segment, else 0x00) ‖
 * seven zero bytes. AES-CTR counts blocks in the last bytes; a segment of at most 2^24 bytes uses
 * 2^20 counter values, so the count never carries into the flag or the index.
 */
export function segmentIv(index: number, isLast: boolean): Buffer {
  if (!Number.isSafeInteger(index) || index < 0) throw new UsageError('segment index must be a non-negative integer');
  const iv = Buffer.alloc(IV_LENGTH);
  writeSegmentIv(iv, index, isLast);
  return iv;
}

/** `segmentIv` into caller memory (16 bytes at `offset`), for the in-place run code. */
export function writeSegmentIv(target: Uint8Array, index: number, isLast: boolean, offset = 0): void {
  const view = new DataView(target.buffer, target.byteOffset + offset, IV_LENGTH);
  view.setBigUint64(0, BigInt(index));
  view.setUint8(8, isLast ? 1 : 0);
  for (let i = 9; i < IV_LENGTH; i += 1) view.setUint8(i, 0);
}

/** What failed in a segment: the one place its messages are worded (the streaming and run code share them). */
export type SegmentFailure = 'tag' | 'length' | 'missing-final';

export function segmentError(failure: SegmentFailure, index: number, isLast: boolean): IntegrityError {
  if (failure === 'missing-final') return new IntegrityError('truncated sealed file: final segment missing');
  return lastOrIndexed(isLast, index, failure === 'tag' ? 'invalid segment tag' : 'invalid segment length');
}

/**
 * Seals one segment: returns C ‖ T with C = AES-256-CTR(enc key, IV, P) and
 * T = HMAC-SHA256(mac key, header tag ‖ IV ‖ C). A non-final segment must be exactly `segmentSize`
 * bytes; the final one shorter (possibly empty).
 */
export function sealSegment(keys: SegmentKeys, index: number, isLast: boolean, plaintext: Uint8Array): Buffer {
  if (isLast ? plaintext.length >= keys.segmentSize : plaintext.length !== keys.segmentSize) {
    throw new UsageError(
      isLast ? `the final segment must be shorter than ${keys.segmentSize} bytes` : `a segment must be ${keys.segmentSize} bytes`,
    );
  }
  const iv = segmentIv(index, isLast);
  const cipher = createCipheriv('aes-256-ctr', keys.encryptionKey, iv);
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  return Buffer.concat([ciphertext, segmentTag(keys, iv, ciphertext)], ciphertext.length + TAG_LENGTH);
}

/**
 * Verifies one sealed segment (C ‖ T) and only then decrypts it.
 *
 * @throws IntegrityError when the length is impossible or the tag does not verify (modified,
 *   reordered, duplicated or truncated data, or a header from another file).
 */
export function openSegment(keys: SegmentKeys, index: number, isLast: boolean, sealed: Uint8Array): Buffer {
  const ciphertextLength = sealed.length - TAG_LENGTH;
  const lengthOk = isLast ? ciphertextLength >= 0 && ciphertextLength < keys.segmentSize : ciphertextLength === keys.segmentSize;
  if (!lengthOk) throw segmentError('length', index, isLast);
  const ciphertext = sealed.subarray(0, ciphertextLength);
  const iv = segmentIv(index, isLast);
  const expected = segmentTag(keys, iv, ciphertext);
  // Constant time, and before any decryption: no plaintext of an unverified segment ever exists.
  if (!timingSafeEqual(expected, sealed.subarray(ciphertextLength))) throw segmentError('tag', index, isLast);
  const decipher = createDecipheriv('aes-256-ctr', keys.encryptionKey, iv);
  const plaintext = decipher.update(ciphertext);
  decipher.final();
  return plaintext;
}

/** Where the sealed body starts and how long a full segment is; enough for all size arithmetic. */
export interface SealedLayout {
  headerLength: number;
  segmentSize: number;
}

/** Number of segments holding `plaintextSize` bytes: every full segment plus one final, shorter one. */
export function segmentCountForPlaintext(plaintextSize: number, segmentSize: number): number {
  return Math.floor(plaintextSize / segmentSize) + 1;
}

/** Total sealed file size for a plaintext of `plaintextSize` bytes. */
export function sealedSize(plaintextSize: number, layout: SealedLayout): number {
  if (!Number.isSafeInteger(plaintextSize) || plaintextSize < 0) throw new UsageError('plaintext size must be a non-negative integer');
  return layout.headerLength + plaintextSize + TAG_LENGTH * segmentCountForPlaintext(plaintextSize, layout.segmentSize);
}

/**
 * Number of segments of a sealed file of `sealedSize` bytes, from the length alone.
 *
 * @throws IntegrityError when no plaintext length gives this size (truncated or extended file).
 */
export function segmentCount(sealedSize: number, layout: SealedLayout): number {
  const body = sealedSize - layout.headerLength;
  const full = layout.segmentSize + TAG_LENGTH;
  // The final segment holds 0 to segmentSize-1 bytes plus its tag, so `body mod full` must be >= TAG_LENGTH.
  if (!Number.isSafeInteger(body) || body < TAG_LENGTH || body % full < TAG_LENGTH) {
    throw new IntegrityError('invalid sealed file length (truncated or extended)');
  }
  return Math.floor(body / full) + 1;
}

/** Plaintext size of a sealed file of `sealedSize` bytes. @throws IntegrityError as {@link segmentCount}. */
export function plaintextSize(sealedSize: number, layout: SealedLayout): number {
  return sealedSize - layout.headerLength - TAG_LENGTH * segmentCount(sealedSize, layout);
}

/** Byte range of sealed segment `index` within a file of `sealedSize` bytes, for ranged reads. */
export function sealedSegmentSpan(
  index: number,
  sealedSize: number,
  layout: SealedLayout,
): { offset: number; length: number; isLast: boolean } {
  const count = segmentCount(sealedSize, layout);
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) throw new UsageError(`segment index must be below ${count}`);
  const offset = layout.headerLength + index * (layout.segmentSize + TAG_LENGTH);
  const isLast = index === count - 1;
  return { offset, length: isLast ? sealedSize - offset : layout.segmentSize + TAG_LENGTH, isLast };
}

function segmentTag(keys: SegmentKeys, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  return hmac(keys.macKey, [keys.headerTag, iv, ciphertext]);
}

function hmac(key: Uint8Array, parts: readonly Uint8Array[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

function lastOrIndexed(isLast: boolean, index: number, what: string): IntegrityError {
  return new IntegrityError(
    isLast ? `${what} in final segment ${index} (truncated, extended or modified file)` : `${what} in segment ${index}`,
  );
}

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value);
  return b;
}
